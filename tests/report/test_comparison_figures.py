"""plot_method_comparison, plot_task_gains, plot_cka_per_task.

References: sort orders and sign colours recomputed with Python's sorted() and explicit
comparisons on the inputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_hex

from tasklens.report import plot_cka_per_task, plot_method_comparison, plot_task_gains
from tasklens.report.style import NEGATIVE_COLOR, POSITIVE_COLOR

from ._png import TASKS7, render

METHODS = ["EW", "UW", "MGDA", "PCGrad", "CAGrad"]


def _bars_top_down(ax) -> list[float]:
    bars = sorted(ax.patches, key=lambda p: -p.get_y())
    return [b.get_width() for b in bars]


@pytest.mark.parametrize("k", [2, 3, 7])
def test_method_comparison_sorted_with_per_task_panel(k: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(k)
    dm = rng.normal(0, 3, len(METHODS))
    se = rng.uniform(0.1, 1, len(METHODS))
    per_task = {t: (rng.normal(size=len(METHODS)), rng.uniform(0.1, 1, len(METHODS)))
                for t in TASKS7[:k]}
    fig = plot_method_comparison(METHODS, dm, se, per_task=per_task, title="Δm")
    ax = fig.axes[0]
    want = sorted(zip(dm, METHODS), reverse=True)  # best (largest Δm) on top
    assert _bars_top_down(ax) == pytest.approx([v for v, _ in want])
    ticks = [t.get_text() for t in ax.get_yticklabels()][::-1]
    assert ticks == [m for _, m in want]
    colours = [to_hex(p.get_facecolor()) for p in sorted(ax.patches, key=lambda p: -p.get_y())]
    assert colours == [POSITIVE_COLOR.lower() if v >= 0 else NEGATIVE_COLOR.lower()
                       for v, _ in want]
    assert len(fig.axes[1].get_legend().get_texts()) == k
    render(fig, tmp_path / f"meth{k}.png")


def test_method_comparison_lower_is_better_and_errors() -> None:
    dm = np.array([1.0, -2.0, 0.5])
    fig = plot_method_comparison(["a", "b", "c"], dm, np.full(3, np.nan),
                                 higher_is_better=False)
    ax = fig.axes[0]
    assert _bars_top_down(ax) == pytest.approx([-2.0, 0.5, 1.0])
    assert "lower is better" in ax.get_xlabel()
    with pytest.raises(ValueError, match="delta_m must have length 3"):
        plot_method_comparison(["a", "b", "c"], [1.0], [1.0, 1.0, 1.0])
    with pytest.raises(TypeError, match="per_task"):
        plot_method_comparison(["a"], [1.0], [0.1], per_task={"t": [1.0]})


@pytest.mark.parametrize("k", [2, 3, 7])
def test_task_gains_coloured_by_sign(k: int, tmp_path: Path) -> None:
    names = list(TASKS7[:k])
    gain = np.array([(-1) ** i * (i + 1.0) for i in range(k)])
    fig = plot_task_gains(names, gain, np.full(k, 0.3), title="gains")
    ax = fig.axes[0]
    bars = sorted(ax.patches, key=lambda p: p.get_x())
    assert [b.get_height() for b in bars] == pytest.approx(gain)
    assert [to_hex(b.get_facecolor()) for b in bars] == [
        POSITIVE_COLOR.lower() if g > 0 else NEGATIVE_COLOR.lower() for g in gain]
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert ax.get_ylabel() == "gain of multi-task training (%)"
    render(fig, tmp_path / f"gain{k}.png")


@pytest.mark.parametrize("k", [2, 3, 7])
def test_cka_bars_on_unit_axis(k: int, tmp_path: Path) -> None:
    names = list(TASKS7[:k])
    cka = np.linspace(0.1, 0.9, k)
    fig = plot_cka_per_task(names, cka, title="CKA")
    ax = fig.axes[0]
    assert ax.get_ylim()[0] == 0.0 and 1.0 <= ax.get_ylim()[1] <= 1.1
    heights = [b.get_height() for b in sorted(ax.patches, key=lambda p: p.get_x())]
    assert heights == pytest.approx(cka)
    render(fig, tmp_path / f"cka{k}.png")


def test_cka_refuses_values_outside_unit_interval() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plot_cka_per_task(["a", "b"], [0.5, 1.5])


def test_missing_values_are_marked_not_fatal(tmp_path: Path) -> None:
    fig = plot_method_comparison(["x", "y", "z"], [1.0, np.nan, -2.0], [0.1, 0.1, np.nan],
                                 per_task={"a": (np.array([1.0, np.nan, 2.0]),
                                                 np.full(3, np.nan))})
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()][::-1]
    assert ticks == ["x", "z", "y (n/a)"]  # measured methods sorted, the unmeasured last
    render(fig, tmp_path / "nan_methods.png")
    fig = plot_task_gains(["a", "b"], [np.nan, 1.0], [np.nan, 0.1])
    assert [t.get_text() for t in fig.axes[0].texts] == ["n/a"]
