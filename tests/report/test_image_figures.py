"""Layer-CKA heatmap and prediction gallery: they render without warnings and show the data."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from tasklens.data import TaskSet
from tasklens.report.figures import save_figure
from tasklens.report.image_figures import plot_layer_cka, plot_prediction_gallery
from tasklens.represent import layer_cka_matrix


def _gallery_taskset(n: int = 12) -> TaskSet:
    rng = np.random.default_rng(0)
    x = rng.random((n, 1, 6, 6)).astype(np.float32)
    return TaskSet.from_arrays(x, {"digit": np.arange(n) % 3, "odd": (np.arange(n) % 2)},
                               {"digit": "classification", "odd": "binary"}, name="toy")


def test_layer_cka_heatmap_shows_the_matrix(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(30, 4))
    result = layer_cka_matrix({"conv1": a, "conv2": a @ rng.normal(size=(4, 9)),
                               "fc": rng.normal(size=(30, 2))})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_layer_cka(result)
        shown = fig.axes[0].images[0].get_array()
        np.testing.assert_allclose(np.asarray(shown), result.matrix)
        assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["conv1", "conv2", "fc"]
        assert len(fig.axes[0].texts) == 9
        save_figure(fig, tmp_path / "cka.png")
    assert (tmp_path / "cka.png").stat().st_size > 0
    with pytest.raises(TypeError, match="must be a LayerCKA"):
        plot_layer_cka(result.matrix)


def test_prediction_gallery_frames_exactly_the_mistakes(tmp_path: Path) -> None:
    ts = _gallery_taskset()
    digit_logits = np.eye(3)[ts["digit"].targets.astype(int)]
    digit_logits[[1, 4]] = np.eye(3)[[0, 0]]  # rows 1 and 4 (true 1) predicted 0: wrong
    odd_logits = np.where(ts["odd"].targets > 0, 2.0, -2.0)
    odd_logits[7] = -2.0  # row 7 is odd: wrong
    wrong_rows = {1, 4, 7}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_prediction_gallery(ts, {"digit": digit_logits, "odd": odd_logits},
                                      n_images=8, seed=0)
        save_figure(fig, tmp_path / "gallery.png")
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert len(titled) == 8
    red = [ax for ax in titled if ax.get_title().count("✗")]
    assert len(red) == len(wrong_rows)
    assert titled[:3] == red  # errors come first
    assert sum(ax.get_title().count("✗") for ax in red) == 3
    assert "3 of 12 images with an error" in fig._suptitle.get_text()
    # class indices instead of logits give the same gallery
    fig2 = plot_prediction_gallery(ts, {"digit": digit_logits.argmax(1)}, n_images=8)
    assert sum("✗" in ax.get_title() for ax in fig2.axes) == 2
    fig2.clf()


def test_prediction_gallery_bad_input() -> None:
    ts = _gallery_taskset()
    with pytest.raises(ValueError, match="one prediction per row"):
        plot_prediction_gallery(ts, {"digit": np.zeros((3, 3))})
    with pytest.raises(ValueError, match="no classification or binary task"):
        plot_prediction_gallery(ts, {})
    flat = TaskSet.from_arrays(np.zeros((4, 3), np.float32), {"c": np.arange(4) % 2},
                               {"c": "classification"})
    with pytest.raises(ValueError, match="no image inputs"):
        plot_prediction_gallery(flat, {"c": np.zeros(4)})
