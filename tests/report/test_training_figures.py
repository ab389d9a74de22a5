"""plot_loss_curves, plot_gradient_cosine and the x-range helpers.

References: for y = exp(-t / tau) the curve has made 99 % of its change at t = tau ln 100
(closed form); moving averages and the most negative pairs recomputed by explicit loops.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tasklens.report import plot_gradient_cosine, plot_loss_curves
from tasklens.report.style import informative_xmax, settled_index
from tasklens.report.training_figures import moving_average

from ._png import TASKS7, render


def _pairs(names: list[str]) -> list[str]:
    return [f"{a} ↔ {b}" for i, a in enumerate(names) for b in names[i + 1:]]


def test_settled_index_matches_closed_form() -> None:
    t = np.arange(0, 1000, 0.5)
    for tau in (3.0, 20.0, 100.0):
        y = np.exp(-t / tau) + 0.2
        want = tau * math.log(100)  # |y - y_end| <= 1 % of the change from here on
        assert t[settled_index(y, 0.99)] == pytest.approx(want, abs=1.0)


def test_settled_index_tolerates_noise_and_straight_lines() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(2000.0)
    y = np.exp(-t / 30) + 0.02 * rng.standard_normal(t.size)
    assert 60 < t[settled_index(y)] < 400  # the tail's noise is not "still changing"
    # a straight line is within 1 % of its end only over its last 1 %: no crop to speak of
    assert abs(settled_index(t) - 0.99 * (t.size - 1)) <= 1.0
    assert settled_index(np.array([1.0])) == 0
    with pytest.raises(ValueError, match="fraction"):
        settled_index(y, 0.0)


def test_informative_xmax_covers_the_slowest_curve() -> None:
    t = np.arange(500.0)
    curves = [np.exp(-t / 2), np.exp(-t / 4)]
    xmax = informative_xmax(t, curves)
    assert 4 * math.log(100) <= xmax < 40  # shows the slow curve, crops the flat tail


@pytest.mark.parametrize("k", [2, 3, 7])
def test_loss_curves_render_and_crop(k: int, tmp_path: Path) -> None:
    names = list(TASKS7[:k])
    steps = np.arange(460)
    taus = {n: 1.5 + i for i, n in enumerate(names)}
    losses = {n: np.exp(-steps / tau) + 0.1 for n, tau in taus.items()}
    pred = {n: np.exp(-steps / (1.2 * tau)) + 0.1 for n, tau in taus.items()}
    fig = plot_loss_curves(steps, losses, predicted=pred, title="losses")
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    slowest = 1.2 * max(taus.values()) * math.log(100)
    assert lo == 0 and slowest <= hi < 100  # covers all change, not the tail up to 460
    assert ax.get_yscale() == "log"
    lines = ax.get_lines()
    solid = [ln for ln in lines if ln.get_linestyle() == "-" and len(ln.get_xdata()) == 460]
    dashed = [ln for ln in lines if ln.get_linestyle() == "--" and len(ln.get_xdata()) == 460]
    assert len(solid) == len(dashed) == k
    for s, d in zip(solid, dashed):
        assert s.get_color() == d.get_color()  # prediction in its task's colour
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [*names, "trained", "predicted"]
    render(fig, tmp_path / f"loss{k}.png")


def test_loss_curves_options_and_errors() -> None:
    steps = np.arange(50)
    losses = {"a": np.linspace(1.0, -1.0, 50)}
    ax = plot_loss_curves(steps, losses, crop=False).axes[0]
    assert ax.get_yscale() == "linear"  # negative values: no log axis
    assert ax.get_xlim()[1] >= 49
    with pytest.raises(ValueError, match="one value per step"):
        plot_loss_curves(steps, {"a": np.ones(10)})
    with pytest.raises(TypeError, match="mapping"):
        plot_loss_curves(steps, [np.ones(50)])


def test_moving_average_against_loop() -> None:
    y = np.random.default_rng(1).normal(size=37)
    y[5] = np.nan
    w = 5
    got = moving_average(y, w)
    for i in range(len(y)):
        window = [y[j] for j in range(i - w // 2, i + w // 2 + 1)
                  if 0 <= j < len(y) and np.isfinite(y[j])]
        assert got[i] == pytest.approx(sum(window) / len(window))


@pytest.mark.parametrize("k", [2, 3])
def test_gradient_cosine_one_line_per_pair(k: int, tmp_path: Path) -> None:
    names = list(TASKS7[:k])
    steps = np.arange(100)
    cos = {p: np.cos(steps / 10 + j) for j, p in enumerate(_pairs(names))}
    fig = plot_gradient_cosine(steps, cos, title="cos")
    ax = fig.axes[0]
    assert ax.get_ylim() == pytest.approx((-1.05, 1.05))
    assert any(np.allclose(ln.get_ydata(), 0.0) for ln in ax.get_lines())  # the zero line
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(cos)
    render(fig, tmp_path / f"cos{k}.png")


def test_gradient_cosine_many_pairs_summarised(tmp_path: Path) -> None:
    pairs = _pairs(list(TASKS7))
    assert len(pairs) == 21
    rng = np.random.default_rng(2)
    steps = np.arange(300)
    cos = {p: np.clip(rng.normal(0.3 - 0.05 * j, 0.1, steps.size), -1, 1)
           for j, p in enumerate(pairs)}
    fig = plot_gradient_cosine(steps, cos, smooth=1)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    worst = sorted(pairs, key=lambda p: cos[p].mean())[:3]  # most negative mean cosine
    assert labels[0] == "range over 21 pairs" and labels[1] == "mean over pairs"
    assert [lab.split(" (mean")[0] for lab in labels[2:]] == worst
    band = fig.axes[0].collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == pytest.approx(min(c.min() for c in cos.values()))
    render(fig, tmp_path / "cos21.png")


def test_gradient_cosine_with_unmeasured_steps_and_pairs(recwarn) -> None:
    steps = np.arange(40.0)
    cos = {f"p{j}": np.where(steps < 5, np.nan, np.cos(steps / 7 + j) - 0.1 * j)
           for j in range(12)}
    cos["p11"][:] = np.nan  # a pair never measured cannot be among the most negative
    fig = plot_gradient_cosine(steps, cos, smooth=1)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    means = {k: np.nanmean(v) for k, v in cos.items() if k != "p11"}
    worst = sorted(means, key=means.get)[:3]
    assert [lab.split(" (mean")[0] for lab in labels[2:]] == worst
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    ax = plot_loss_curves(steps, {"a": np.exp(-steps)}, xlabel="epoch").axes[0]
    assert ax.get_xlabel() == "epoch"


def test_one_logged_point_draws_without_a_singular_x_range_warning() -> None:
    # a one-epoch analysis logs one point per curve: matplotlib warned about identical xlims
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_loss_curves([1], {"a": [0.5], "b": [0.7]})
        lo, hi = fig.axes[0].get_xlim()
        assert lo < 1 < hi
        fig = plot_gradient_cosine([3], {"a ↔ b": [0.2]})
        lo, hi = fig.axes[0].get_xlim()
        assert lo < 3 < hi
