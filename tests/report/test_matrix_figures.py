"""plot_matrix and plot_grouping.

References: WCAG 2 relative luminance of known colours (white 1, black 0, sRGB red 0.2126);
viridis' darkest end (dark purple) and brightest end (yellow); colour limits and memberships
recomputed by explicit loops over the cells.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tasklens.report import plot_grouping, plot_matrix
from tasklens.report.style import relative_luminance, text_color_for

from ._png import TASKS7, render


def _sym(k: int, seed: int = 0) -> np.ndarray:
    a = np.random.default_rng(seed).uniform(-0.4, 0.6, (k, k))
    s = (a + a.T) / 2
    np.fill_diagonal(s, 1.0)
    return s


def _texts(ax) -> dict[tuple[int, int], object]:
    """Annotations keyed by their (row, column) cell."""
    return {(round(t.get_position()[1]), round(t.get_position()[0])): t for t in ax.texts}


def test_relative_luminance_known_colours() -> None:
    assert relative_luminance((1, 1, 1)) == pytest.approx(1.0)
    assert relative_luminance((0, 0, 0)) == pytest.approx(0.0)
    assert relative_luminance((1, 0, 0, 1)) == pytest.approx(0.2126)
    assert text_color_for((0.05, 0.05, 0.3)) == "white"
    assert text_color_for((1.0, 0.95, 0.6)) == "black"


@pytest.mark.parametrize("k", [2, 3, 7])
def test_matrix_renders_with_task_ticks(k: int, tmp_path: Path) -> None:
    names = list(TASKS7[:k])
    fig = plot_matrix(_sym(k), names, title="cosine", center=0.0, value_label="cos")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert ax.get_xlabel() == ax.get_ylabel() == "task"
    assert len(ax.texts) == k * k
    render(fig, tmp_path / f"m{k}.png")


def test_asymmetric_axes_say_target_and_source() -> None:
    fig = plot_matrix(np.arange(9.0).reshape(3, 3), ["a", "b", "c"], symmetric=False)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "target (row)"
    assert ax.get_xlabel() == "source (column)"
    assert "target" not in plot_matrix(_sym(3), ["a", "b", "c"]).axes[0].get_xlabel()


def test_annotation_colour_follows_cell_darkness() -> None:
    values = np.array([[0.0, 1.0], [0.5, 0.9]])
    ax = plot_matrix(values, ["a", "b"], cmap="viridis").axes[0]
    texts = _texts(ax)
    assert texts[(0, 0)].get_color() == "white"  # viridis minimum: dark purple
    assert texts[(0, 1)].get_color() == "black"  # viridis maximum: yellow
    ax = plot_matrix(np.array([[-1.0, 0.0], [0.0, 1.0]]), ["a", "b"], center=0.0).axes[0]
    texts = _texts(ax)
    assert texts[(0, 0)].get_color() == "white"  # dark blue end of RdBu_r
    assert texts[(1, 1)].get_color() == "white"  # dark red end
    assert texts[(0, 1)].get_color() == "black"  # near-white centre


def test_colour_limits_can_exclude_the_diagonal() -> None:
    k = 7
    m = _sym(k, seed=3)
    off = [m[i, j] for i in range(k) for j in range(k) if i != j]
    image = plot_matrix(m, list(TASKS7), exclude_diagonal_from_scale=True).axes[0].images[0]
    assert image.norm.vmin == pytest.approx(min(off))
    assert image.norm.vmax == pytest.approx(max(off))
    assert max(off) < 1.0  # the diagonal would otherwise set the top of the scale
    image = plot_matrix(m, list(TASKS7)).axes[0].images[0]
    assert image.norm.vmax == pytest.approx(1.0)
    image = plot_matrix(m, list(TASKS7), center=0.0,
                        exclude_diagonal_from_scale=True).axes[0].images[0]
    half = max(abs(v) for v in off)
    assert (image.norm.vmin, image.norm.vmax) == pytest.approx((-half, half))


def test_diagonal_outside_scale_is_still_written() -> None:
    m = _sym(3)
    ax = plot_matrix(m, ["a", "b", "c"], exclude_diagonal_from_scale=True, fmt=".1f").axes[0]
    assert _texts(ax)[(1, 1)].get_text() == "1.0"
    assert len(ax.patches) == 3  # the hatched diagonal cells


def test_matrix_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        plot_matrix(np.zeros((2, 2)), ["a", "b", "c"])
    with pytest.raises(ValueError, match="duplicates"):
        plot_matrix(np.zeros((2, 2)), ["a", "a"])
    with pytest.raises(ValueError, match="fmt"):
        plot_matrix(np.zeros((2, 2)), ["a", "b"], fmt="%d")


def test_matrix_accepts_a_task_matrix_and_nan() -> None:
    from tasklens.data.matrix import TaskMatrix

    values = np.array([[np.nan, 1.0], [2.0, np.nan]])
    tm = TaskMatrix(values, ("a", "b"), name="x")
    ax = plot_matrix(tm, ["a", "b"]).axes[0]
    assert len(ax.texts) == 2  # NaN cells stay blank


@pytest.mark.parametrize("k", [2, 3, 7])
def test_grouping_membership_grid(k: int, tmp_path: Path) -> None:
    names = list(TASKS7[:k])
    groups = [names[:1], names[max(1, k // 2) - 1:], names[-1:]]
    fig = plot_grouping(groups, names, title="groups")
    grid = np.asarray(fig.axes[0].images[0].get_array())
    for i, task in enumerate(names):
        for g, group in enumerate(groups):
            assert grid[i, g] == (1.0 if task in group else 0.0)
    render(fig, tmp_path / f"g{k}.png")


def test_grouping_marks_orphans_and_refuses_unknown_tasks() -> None:
    fig = plot_grouping([["a"]], ["a", "b"])
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["a", "b (in no network)"]
    with pytest.raises(ValueError, match="unknown task"):
        plot_grouping([["a", "z"]], ["a", "b"])
    with pytest.raises(TypeError, match="groups"):
        plot_grouping("ab", ["a", "b"])
