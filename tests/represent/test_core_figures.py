"""CORE-MTL figures draw the numbers they are given, and refuse mismatched inputs."""

from __future__ import annotations

import numpy as np
import pytest

from tasklens.report.core_mtl_figures import (
    plot_corruption,
    plot_counterfactual_grid,
    plot_gradient_cosines,
    plot_scm_gap,
    plot_sensitivity,
    plot_stability,
    plot_task_gradient_heatmap,
)
from tasklens.report.figures import save_figure
from tasklens.studies.core_mtl_analysis import StabilityResult, StabilityRow


def test_stability_bars_are_the_shifts(tmp_path) -> None:
    res = StabilityResult((StabilityRow("intra-domain", 0.2, 0.4, 2.0, 10),
                           StabilityRow("cross-domain", 0.3, 0.9, 3.0, 10)), "input", 0)
    fig = plot_stability(res)
    heights = sorted(round(p.get_height(), 6) for p in fig.axes[0].patches)
    assert heights == [0.2, 0.3, 0.4, 0.9]
    assert save_figure(fig, tmp_path / "s.png").stat().st_size > 0
    with pytest.raises(ValueError, match="no rows"):
        plot_stability(object())


def test_gradient_figures() -> None:
    rng = np.random.default_rng(0)
    fig = plot_gradient_cosines(np.arange(4), rng.uniform(-1, 1, (4, 2)), ["a", "b"],
                                baseline=rng.uniform(-1, 1, (4, 2)))
    assert len(fig.axes[0].lines) == 3  # two tasks and the zero line
    with pytest.raises(ValueError, match="cosines must be"):
        plot_gradient_cosines(np.arange(3), np.zeros((4, 2)), ["a", "b"])
    m = np.array([[1.0, -0.5], [-0.5, 1.0]])
    fig = plot_task_gradient_heatmap(m, ["a", "b"])
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), m)
    with pytest.raises(ValueError, match="task_task must be"):
        plot_task_gradient_heatmap(m, ["a"])


def test_grid_and_scm_figures() -> None:
    grid = np.random.default_rng(0).uniform(size=(2, 3, 3, 4, 4))
    fig = plot_counterfactual_grid(grid, grid[:, 0], grid[0])
    assert len(fig.axes) == 12
    np.testing.assert_allclose(fig.axes[4 + 1].images[0].get_array(),
                               np.moveaxis(grid[0, 0], 0, -1))
    with pytest.raises(ValueError, match="grid must be"):
        plot_counterfactual_grid(grid, grid[:1, 0], grid[0])
    fig = plot_scm_gap([0.0, 0.5], [0.0, 0.1], [0.01, 0.01], [0.0, 0.1])
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [0.0, 0.1])
    with pytest.raises(ValueError, match="same length"):
        plot_scm_gap([0.0], [0.0, 1.0], [0.0], [0.0])


def test_sensitivity_lines_are_the_means_with_se_bars(tmp_path) -> None:
    from types import SimpleNamespace

    grid = {"cka": (0.0, 1.0, 100.0), "cfa": (0.0, 5.0)}
    summary = {w: {v: {"source": (0.9, 0.01), "target": (0.5 + v / 1000, 0.02),
                       "gap": (0.4 - v / 1000, 0.03)} for v in vals}
               for w, vals in grid.items()}
    fig = plot_sensitivity(SimpleNamespace(grid=grid, summary=summary))
    assert len(fig.axes) == 2
    ys = sorted(round(float(y), 6) for line in fig.axes[0].lines for y in line.get_ydata())
    # the three means at every λ (caps add mean ± SE, which need not be checked here)
    assert {0.9, 0.5, 0.501, 0.6, 0.4, 0.399, 0.3} <= set(ys)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["0", "1", "100"]
    assert save_figure(fig, tmp_path / "sens.png").stat().st_size > 0
    with pytest.raises(ValueError, match="SensitivityResult"):
        plot_sensitivity(SimpleNamespace(grid=grid, summary=summary), weights=["rec"])


def test_corruption_curves_start_at_the_clean_accuracy(tmp_path) -> None:
    from types import SimpleNamespace

    curve = [(0.9, 0.01), (0.8, 0.02), (0.7, 0.0), (0.6, 0.0), (0.5, 0.0), (0.4, 0.0)]
    summary = {m: {"curve": {"blur": curve, "haze": curve}} for m in ("a", "b")}
    fig = plot_corruption(SimpleNamespace(methods=("a", "b"), summary=summary),
                          labels={"a": "A"})
    assert len(fig.axes) == 2
    ys = {round(float(y), 6) for line in fig.axes[0].lines for y in line.get_ydata()}
    assert {0.9, 0.8, 0.7, 0.4} <= ys
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()][:2] == ["clean", "1"]
    assert save_figure(fig, tmp_path / "c.png").stat().st_size > 0
    with pytest.raises(ValueError, match="CorruptionResult"):
        plot_corruption(SimpleNamespace(methods=("a",), summary={"a": {}}))
