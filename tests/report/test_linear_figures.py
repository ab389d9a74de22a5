"""plot_alignment and plot_predicted_losses.

References: every pair's overlaps read from the analysis and compared cell by cell; the
settling time of each predicted curve found by an explicit backwards scan.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tasklens.data import TaskSet
from tasklens.linear.analysis import analyze_tasks
from tasklens.report import plot_alignment, plot_predicted_losses

from ._png import render


def _analysis(k: int, outputs: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, 10))
    names = [f"t{i}" for i in range(k)]
    targets = {n: x @ rng.normal(size=(10, outputs)) if outputs > 1 else x @ rng.normal(size=10)
               for n in names}
    ts = TaskSet.from_arrays(x, targets, kinds=dict.fromkeys(names, "regression"))
    return analyze_tasks(ts)


@pytest.mark.parametrize("k", [2, 3, 7])
def test_alignment_of_one_output_tasks_is_a_task_matrix(k: int, tmp_path: Path) -> None:
    an = _analysis(k, 1)
    fig = plot_alignment(an)
    ax = fig.axes[0]
    names = list(an.task_names)
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert ax.get_xlabel() == ax.get_ylabel() == "task"
    assert "alignment" in ax.get_title() and "mode" not in ax.get_xlabel()
    shown = np.ma.filled(ax.images[0].get_array(), np.nan)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i < j:
                (alpha,) = an.alignment.overlaps[f"{a}|{b}"]
                assert shown[i, j] == pytest.approx(alpha)
                assert shown[j, i] == pytest.approx(alpha)
    assert ax.images[0].get_clim() == (0.0, 1.0)
    render(fig, tmp_path / f"align{k}.png")


def test_alignment_of_a_single_multi_output_pair_is_bars(tmp_path: Path) -> None:
    an = _analysis(2, 3)
    ax = plot_alignment(an).axes[0]
    alphas = an.alignment.overlaps["t0|t1"]
    heights = [p.get_height() for p in sorted(ax.patches, key=lambda p: p.get_x())]
    np.testing.assert_allclose(heights, alphas)
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(i + 1)
                                                          for i in range(len(alphas))]
    assert "t0 ↔ t1" in ax.get_title()
    render(ax.figure, tmp_path / "pair.png")


@pytest.mark.parametrize("k", [3, 7])
def test_alignment_shows_every_pair_and_integer_modes(k: int, tmp_path: Path) -> None:
    an = _analysis(k, 3)
    fig = plot_alignment(an)
    ax = fig.axes[0]
    names = list(an.task_names)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    assert len(pairs) == k * (k - 1) // 2  # 21 for 7 tasks: all of them
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"{a} ↔ {b}" for a, b in pairs]
    modes = [t.get_text() for t in ax.get_xticklabels()]
    assert modes == [str(i + 1) for i in range(len(modes))]
    shown = np.ma.filled(ax.images[0].get_array(), np.nan)
    for p, (a, b) in enumerate(pairs):
        alphas = an.alignment.overlaps[f"{a}|{b}"]
        np.testing.assert_allclose(shown[p, :len(alphas)], alphas)
    render(fig, tmp_path / f"align_modes{k}.png")


def test_alignment_max_pairs_still_limits() -> None:
    fig = plot_alignment(_analysis(4, 2), max_pairs=2)
    assert len(fig.axes[0].get_yticklabels()) == 2


def test_predicted_losses_axis_cropped_to_the_change(tmp_path: Path) -> None:
    an = _analysis(3, 1)
    fig = plot_predicted_losses(an)
    ax = fig.axes[0]
    times = an.dynamics.times
    lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == len(times)]
    settle = 0.0
    for line in lines:
        y = np.asarray(line.get_ydata())
        tol = 0.01 * abs(y[0] - y[-1])
        i = len(y) - 1
        while i > 0 and abs(y[i - 1] - y[-1]) <= tol:  # scan back while within 1 %
            i -= 1
        settle = max(settle, times[i])
    lo, hi = ax.get_xlim()
    assert lo == pytest.approx(times[0])
    assert settle <= hi < times[-1]
    assert hi <= settle + 0.5 * (settle - times[0])
    render(fig, tmp_path / "pred.png")
