"""Faults fixed in the older figures: text colours, axis labels, colour scales, binary targets.

References: the darkest / brightest end of the colour map (known colours), the off-diagonal
extremes found by a loop, and the raw label counts from numpy.unique.
"""

from __future__ import annotations

import numpy as np
import pytest

from tasklens.data import TaskSet
from tasklens.data.matrix import TaskMatrix
from tasklens.report import (
    plot_code_embedding,
    plot_score_matrices,
    plot_task_matrix,
    plot_taskset_overview,
)

NAMES = ("a", "b", "c")


def _texts(ax) -> dict[tuple[int, int], object]:
    return {(round(t.get_position()[1]), round(t.get_position()[0])): t for t in ax.texts}


def test_task_matrix_text_readable_on_dark_cells() -> None:
    values = np.array([[0.0, 5.0, 1.0], [2.0, 0.5, 3.0], [4.0, 1.5, 2.5]])
    ax = plot_task_matrix(TaskMatrix(values, NAMES)).axes[0]  # viridis
    texts = _texts(ax)
    assert texts[(0, 0)].get_color() == "white"  # minimum: darkest cell
    assert texts[(0, 1)].get_color() == "black"  # maximum: yellow cell


def test_task_matrix_labels_follow_symmetry() -> None:
    sym = np.array([[1.0, 0.2, 0.3], [0.2, 1.0, 0.4], [0.3, 0.4, 1.0]])
    ax = plot_task_matrix(TaskMatrix(sym, NAMES)).axes[0]
    assert ax.get_xlabel() == ax.get_ylabel() == "task"
    asym = sym.copy()
    asym[0, 1] = -0.5
    ax = plot_task_matrix(TaskMatrix(asym, NAMES)).axes[0]
    assert (ax.get_ylabel(), ax.get_xlabel()) == ("target (row)", "source (column)")


def test_score_grid_scale_ignores_the_diagonal() -> None:
    rng = np.random.default_rng(0)
    gt = rng.uniform(-0.3, 0.3, (4, 4))
    np.fill_diagonal(gt, 5.0)  # a large single-task level on the diagonal
    names = ("w", "x", "y", "z")
    fig = plot_score_matrices({"GT": TaskMatrix(gt, names), "s": TaskMatrix(-gt, names)})
    off = [gt[i, j] for i in range(4) for j in range(4) if i != j]
    assert fig.axes[0].images[0].get_clim() == pytest.approx((min(off), max(off)))
    kept = plot_score_matrices({"GT": TaskMatrix(gt, names)}, exclude_diagonal_from_scale=False)
    assert kept.axes[0].images[0].get_clim()[1] == pytest.approx(5.0)


def _binary_taskset(classes: bool) -> TaskSet:
    rng = np.random.default_rng(1)
    flag = rng.integers(0, 2, 60).astype(np.float64)
    ts = TaskSet.from_arrays(rng.normal(size=(60, 3)), {"flag": flag, "r": rng.normal(size=60)},
                             kinds={"flag": "binary", "r": "regression"})
    if not classes:
        ts.tasks["flag"].__dict__["classes"] = None  # as a loader that records no classes
    return ts, flag


@pytest.mark.parametrize("classes", [True, False])
def test_overview_draws_binary_targets_as_two_categories(classes: bool) -> None:
    ts, flag = _binary_taskset(classes)
    fig = plot_taskset_overview(ts)
    ax = next(a for a in fig.axes if a.get_title().startswith("flag"))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1"]
    _, counts = np.unique(flag, return_counts=True)
    assert [p.get_height() for p in ax.patches] == counts.tolist()
    assert not any(a.get_label() == "<colorbar>" for a in fig.axes)


def test_embedding_colours_binary_floats_by_category() -> None:
    rng = np.random.default_rng(2)
    codes = rng.normal(size=(50, 3))
    flag = (rng.random(50) > 0.5).astype(np.float64)  # 0.0 / 1.0
    fig = plot_code_embedding(codes, flag, method="pca", label="flag")
    assert len(fig.axes) == 1  # no colour-bar axes
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["0", "1"]
    fig = plot_code_embedding(codes, rng.normal(size=50), method="pca")
    assert len(fig.axes) == 2  # a continuous factor keeps its colour bar
