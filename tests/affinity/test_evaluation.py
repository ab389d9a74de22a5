"""Score-vs-gain evaluation: hand-made matrices with known ranks, scipy on the raw entries,
brute-force top-1 and sign loops; the affinity figures."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from tasklens.affinity.evaluation import evaluate_scores
from tasklens.data.matrix import TaskMatrix
from tasklens.report.affinity_figures import (
    plot_gain_matrix,
    plot_score_matrices,
    plot_score_vs_gain,
    plot_task_matrix,
    score_gain_points,
)
from tasklens.report.figures import save_figure

NAMES = ("a", "b", "c", "d")
# gain[a, b]: effect of b onto a; every row has distinct off-diagonal entries
GAIN = np.array([[0.0, 0.3, -0.1, 0.2],
                 [-0.2, 0.0, 0.5, 0.1],
                 [0.4, -0.3, 0.0, -0.5],
                 [0.05, 0.6, -0.4, 0.0]])


def _tm(values, name: str = "") -> TaskMatrix:
    return TaskMatrix(np.asarray(values, dtype=float), NAMES, name)


def _offdiag(m: np.ndarray) -> np.ndarray:
    return np.array([m[i, j] for i in range(len(m)) for j in range(len(m)) if i != j])


def test_monotone_score_is_perfect_and_reversed_is_worst() -> None:
    gain = _tm(GAIN, "multi-task gain")
    perfect = _tm(np.exp(GAIN) - 1.0)  # strictly increasing, keeps the sign
    reversed_ = _tm(-GAIN)
    ev = evaluate_scores({"gt": perfect, "bad": reversed_}, gain,
                         centers={"bad": "zero"})
    good, bad = ev.overall["gt"], ev.overall["bad"]
    assert good["spearman"] == pytest.approx(1.0) and good["kendall"] == pytest.approx(1.0)
    assert good["sign_agreement"] == 1.0 and good["top1_match"] == 1.0
    assert good["n_pairs"] == 12 and good["center"] == 0.0
    assert bad["spearman"] == pytest.approx(-1.0) and bad["kendall"] == pytest.approx(-1.0)
    assert bad["sign_agreement"] == 0.0 and bad["top1_match"] == 0.0
    for task in NAMES:
        assert ev.per_task["gt"][task]["spearman"] == pytest.approx(1.0)
        assert ev.per_task["bad"][task]["kendall"] == pytest.approx(-1.0)
    # hand-read best partners: a <- b (0.3), b <- c (0.5), c <- a (0.4), d <- b (0.6)
    assert [ev.per_task["gt"][t]["best_by_gain"] for t in NAMES] == [["b"], ["c"], ["a"], ["b"]]


def test_median_centering_for_scores_without_a_natural_zero() -> None:
    """A TD-like score (all ≤ 0) predicts "helps" for above-median pairs."""
    gain = _tm(GAIN)
    td = _tm(np.where(GAIN > 0, -1.0, -3.0) * (1 - np.eye(4)), "taxonomical distance (TD)")
    ev = evaluate_scores({"td": td}, gain)
    assert ev.overall["td"]["center"] == pytest.approx(np.median(_offdiag(td.values)))
    assert ev.overall["td"]["sign_agreement"] == 1.0
    # read at zero instead, every TD entry is negative: only the negative gains agree
    raw = evaluate_scores({"td": td}, gain, centers={"td": "zero"}).overall["td"]
    assert raw["sign_agreement"] == pytest.approx(np.mean(_offdiag(GAIN) < 0))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(3, 6))
def test_against_scipy_and_brute_force(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    names = tuple(f"t{i}" for i in range(k))
    gain = TaskMatrix(rng.normal(size=(k, k)), names)
    score = TaskMatrix(rng.normal(size=(k, k)) + 0.5 * gain.values, names, "gradient "
                       "transference (GT)")
    ev = evaluate_scores({"gt": score}, gain)
    row = ev.overall["gt"]
    s, g = _offdiag(score.values), _offdiag(gain.values)
    assert row["spearman"] == pytest.approx(stats.spearmanr(s, g)[0])
    assert row["kendall"] == pytest.approx(stats.kendalltau(s, g)[0])
    assert row["sign_agreement"] == pytest.approx(np.mean(np.sign(s) == np.sign(g)))
    hits = 0
    for i in range(k):
        best_s = max((j for j in range(k) if j != i), key=lambda j: score.values[i, j])
        best_g = max((j for j in range(k) if j != i), key=lambda j: gain.values[i, j])
        hits += best_s == best_g
        others = [j for j in range(k) if j != i]
        ref = stats.spearmanr(score.values[i, others], gain.values[i, others])[0]
        assert ev.per_task["gt"][names[i]]["spearman"] == pytest.approx(ref)
    assert row["top1_match"] == pytest.approx(hits / k)
    # the task order of the score does not matter
    perm = rng.permutation(k)
    shuffled = TaskMatrix(score.values[np.ix_(perm, perm)], tuple(names[p] for p in perm),
                          score.name)
    again = evaluate_scores({"gt": shuffled}, gain).overall["gt"]
    assert again["spearman"] == pytest.approx(row["spearman"])
    assert again["top1_match"] == pytest.approx(row["top1_match"])


def test_nan_entries_ties_and_ground_truth_input() -> None:
    li = GAIN.copy()
    np.fill_diagonal(li, np.nan)  # label injection has no diagonal
    li[0, 1] = np.nan
    ev = evaluate_scores({"li": _tm(li, "label injection (LI)")}, _tm(GAIN))
    assert ev.overall["li"]["n_pairs"] == 11 and ev.overall["li"]["spearman"] == pytest.approx(1)
    # ties: the chance that random tie-breaking picks the same partner on both sides
    tied = GAIN.copy()
    tied[0] = [0.0, 1.0, 1.0, 0.0]  # score ties b and c for target a; the gain's best is b
    ev2 = evaluate_scores({"gs": _tm(tied)}, _tm(GAIN))
    assert ev2.per_task["gs"]["a"]["best_by_score"] == ["b", "c"]
    assert ev2.per_task["gs"]["a"]["top1_match"] == pytest.approx(0.5)
    assert ev2.overall["gs"]["top1_match"] == pytest.approx((0.5 + 1 + 1 + 1) / 4)
    flat = GAIN.copy()
    flat[1] = [0.2, 0.0, 0.2, 0.2]  # target b gains the same from everyone: no best partner
    ev3 = evaluate_scores({"gs": _tm(GAIN)}, _tm(flat))
    assert ev3.per_task["gs"]["b"]["top1_match"] is None
    assert ev3.overall["gs"]["top1_match"] == pytest.approx(1.0)  # over the 3 other targets

    class Truth:  # duck-typed GroundTruth
        metric_gain = _tm(GAIN, "multi-task gain")

    assert evaluate_scores({"x": _tm(GAIN)}, Truth()).overall["x"]["spearman"] == pytest.approx(1)


def test_constant_row_gives_nan_not_an_error() -> None:
    score = GAIN.copy()
    score[2] = 0.7
    ev = evaluate_scores({"rsa": _tm(score)}, _tm(GAIN))
    assert math.isnan(ev.per_task["rsa"]["c"]["spearman"])
    assert math.isfinite(ev.overall["rsa"]["spearman"])


def test_tables(tmp_path) -> None:
    ev = evaluate_scores({"gt": _tm(GAIN), "rsa": _tm(-GAIN)}, _tm(GAIN))
    frame = ev.to_frame()
    assert list(frame.index) == ["gt", "rsa"] and frame.loc["gt", "spearman"] == pytest.approx(1)
    assert len(ev.per_task_frame()) == 8
    md = ev.to_markdown()
    assert md.splitlines()[0].startswith("| score | spearman") and "| gt | 1.000" in md
    ev.save(tmp_path)
    for name in ("evaluation.json", "evaluation.csv", "evaluation_per_task.csv",
                 "evaluation.md"):
        assert (tmp_path / name).is_file()


def test_errors() -> None:
    gain = _tm(GAIN)
    with pytest.raises(ValueError, match="no entries for task"):
        evaluate_scores({"x": TaskMatrix(np.zeros((3, 3)), ("a", "b", "c"))}, gain)
    with pytest.raises(ValueError, match="at least 3 tasks"):
        evaluate_scores({"x": gain}, TaskMatrix(np.zeros((2, 2)), ("a", "b")))
    with pytest.raises(ValueError, match="non-empty"):
        evaluate_scores({}, gain)
    with pytest.raises(TypeError, match="TaskMatrix"):
        evaluate_scores({"x": GAIN}, gain)
    with pytest.raises(TypeError, match="GroundTruth"):
        evaluate_scores({"x": gain}, GAIN)
    with pytest.raises(ValueError, match="centers"):
        evaluate_scores({"x": gain}, gain, centers={"x": "mean"})
    with pytest.raises(ValueError, match="no finite"):
        evaluate_scores({"x": _tm(np.full((4, 4), np.nan))}, gain)


# ----------------------------------------------------------------- figures
def test_score_vs_gain_figure_plots_every_off_diagonal_pair(tmp_path) -> None:
    score = _tm(np.exp(GAIN), "gradient transference (GT)")
    x, y = score_gain_points(score, _tm(GAIN))
    np.testing.assert_allclose(x, _offdiag(np.exp(GAIN)))
    np.testing.assert_allclose(y, _offdiag(GAIN))
    fig = plot_score_vs_gain({"gt": score, "rsa": _tm(-GAIN)}, _tm(GAIN))
    points = fig.axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(np.asarray(points), np.c_[x, y])
    assert "ρ=1.00" in fig.axes[0].get_title()
    assert fig.axes[2].tables  # the evaluation table panel
    save_figure(fig, tmp_path / "scatter.png")
    assert (tmp_path / "scatter.png").stat().st_size > 0


def test_heatmaps(tmp_path) -> None:
    se = _tm(np.full((4, 4), 0.01))
    fig = plot_gain_matrix(_tm(GAIN, "multi-task gain"), se)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "0.3\n±0.01" in texts and texts[0] == ""  # diagonal blank
    lo, hi = fig.axes[0].images[0].get_clim()
    assert lo == pytest.approx(-0.6) and hi == pytest.approx(0.6)  # centred at 0
    save_figure(fig, tmp_path / "gain.png")
    grid = plot_score_matrices({"a": _tm(GAIN), "b": _tm(GAIN), "c": _tm(GAIN),
                                "d": _tm(GAIN)}, ncols=3)
    assert sum(ax.axison for ax in grid.axes if ax.images) == 4
    save_figure(grid, tmp_path / "grid.png")
    one = plot_task_matrix(_tm(GAIN), annotate=False)
    assert not one.axes[0].texts
    save_figure(one, tmp_path / "one.png")
    with pytest.raises(TypeError, match="TaskMatrix"):
        plot_task_matrix(GAIN)
    with pytest.raises(ValueError, match="kind"):
        plot_gain_matrix(_tm(GAIN), kind="accuracy")
