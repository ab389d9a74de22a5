"""Image figures (layer CKA, prediction gallery, reconstructions, counterfactual swaps): they
render without warnings and show the data, clipped to the data range."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from tasklens.data import TaskSet
from tasklens.report.figures import save_figure
from tasklens.report.image_figures import (
    plot_counterfactual_grid,
    plot_layer_cka,
    plot_prediction_gallery,
    plot_reconstructions,
)
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


def _image_axes(fig: object) -> list:
    return [ax for ax in fig.axes if ax.images]  # type: ignore[attr-defined]


@pytest.mark.parametrize("channels", [1, 3])
def test_reconstructions_show_clipped_pairs_without_warnings(tmp_path: Path,
                                                              channels: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.random((10, channels, 5, 5))
    rec = x + rng.normal(0.0, 0.6, x.shape)  # overshoots [0, 1] on both sides
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_reconstructions(x, rec, n_images=10, per_row=4)
        save_figure(fig, tmp_path / f"rec{channels}.png")
    shown = _image_axes(fig)
    assert len(shown) == 20  # 10 pairs, in 3 blocks of (input row, reconstruction row)
    rows = 2 * 3
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (rows, 4)

    def cell(row: int, col: int) -> np.ndarray:
        return np.asarray(fig.axes[row * 4 + col].images[0].get_array())

    def display(a: np.ndarray) -> np.ndarray:
        return a[0] if channels == 1 else np.moveaxis(a, 0, -1)

    # image 5 is block 1, column 1: input in row 2, reconstruction in row 3
    np.testing.assert_allclose(cell(2, 1), display(x[5]))
    np.testing.assert_allclose(cell(3, 1), display(np.clip(rec[5], 0.0, 1.0)))
    assert cell(3, 1).min() >= 0.0 and cell(3, 1).max() <= 1.0
    mse = float(((rec[5] - x[5]) ** 2).mean())
    assert fig.axes[3 * 4 + 1].get_title() == f"{mse:.3g}"


def test_reconstructions_data_range_and_bad_input() -> None:
    x = np.array([[[-2.0, 0.0], [2.0, 4.0]]])  # one 2x2 grey image, values in [-2, 4]
    rec = np.array([[[-3.0, 1.0], [2.0, 9.0]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_reconstructions(x, rec)  # default range: the originals' [-2, 4]
        np.testing.assert_allclose(np.asarray(fig.axes[1].images[0].get_array()),
                                   [[0.0, 0.5], [4 / 6, 1.0]])
        fig = plot_reconstructions(x.reshape(1, 4), rec.reshape(1, 4), data_range=(0, 2))
        np.testing.assert_allclose(np.asarray(fig.axes[1].images[0].get_array()),
                                   [[0.0, 0.5], [1.0, 1.0]])
    with pytest.raises(ValueError, match="originals' shape"):
        plot_reconstructions(x, rec[:, :1])
    with pytest.raises(ValueError, match="low < high"):
        plot_reconstructions(x, rec, data_range=(1, 1))
    with pytest.raises(ValueError, match="must be images"):
        plot_reconstructions(np.zeros((2, 2, 4, 4)), np.zeros((2, 2, 4, 4)))
    with pytest.raises(ValueError, match="NaN"):
        plot_reconstructions(x, rec * np.nan)


@pytest.mark.parametrize("channels", [1, 3])
def test_counterfactual_grid_rows_content_columns_style(tmp_path: Path, channels: int) -> None:
    rng = np.random.default_rng(1)
    content, style = rng.random((2, channels, 4, 4)), rng.random((3, channels, 4, 4))
    grid = rng.normal(0.5, 0.8, (2, 3, channels, 4, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_counterfactual_grid(grid, content, style)
        save_figure(fig, tmp_path / "swap.png")
    axes = fig.axes  # (3 rows, 4 columns), row-major

    def display(a: np.ndarray) -> np.ndarray:
        return a[0] if channels == 1 else np.moveaxis(a, 0, -1)

    np.testing.assert_allclose(axes[2].images[0].get_array(), display(style[1]))
    np.testing.assert_allclose(axes[2 * 4].images[0].get_array(), display(content[1]))
    # row 2 = content 1, column 3 = style 2
    np.testing.assert_allclose(axes[2 * 4 + 3].images[0].get_array(),
                               display(np.clip(grid[1, 2], 0.0, 1.0)))
    assert not axes[0].images  # the corner holds the legend text
    with pytest.raises(ValueError, match="differ in shape"):
        plot_counterfactual_grid(grid, content, style[:, :, :2])
