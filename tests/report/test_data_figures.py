"""plot_class_balance and class_balance_inputs.

References: class proportions and histogram totals recomputed from the raw labels with
numpy.unique / len.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tasklens.report import class_balance_inputs, plot_class_balance

from ._png import TASKS7, render

KIND_CYCLE = ("binary", "classification", "regression", "multilabel")


def _data(k: int, rng: np.random.Generator):
    names = list(TASKS7[:k])
    kinds = {n: KIND_CYCLE[i % 4] for i, n in enumerate(names)}
    counts = {}
    for n, kind in kinds.items():
        if kind == "binary":
            counts[n] = {"no": 70, "yes": 30}
        elif kind == "classification":
            counts[n] = {f"c{i}": int(rng.integers(1, 50)) for i in range(20)}
        elif kind == "regression":
            counts[n] = rng.normal(size=500)
        else:
            counts[n] = {str(i): int(rng.integers(0, 100)) for i in range(4)}
    return names, counts, kinds


@pytest.mark.parametrize("k", [2, 3, 7])
def test_class_balance_panels(k: int, tmp_path: Path) -> None:
    names, counts, kinds = _data(k, np.random.default_rng(k))
    fig = plot_class_balance(names, counts, kinds, title="data")
    used = [ax for ax in fig.axes if ax.axison]
    assert len(used) == k  # one panel per task and no colour-bar axes
    binary = used[0]
    assert [t.get_text() for t in binary.get_xticklabels()] == ["no", "yes"]
    assert [p.get_height() for p in binary.patches] == pytest.approx([0.7, 0.3])
    if k >= 3:
        hist = used[2]
        assert sum(p.get_height() for p in hist.patches) == 500
    if k >= 2:
        many = used[1]
        assert len(many.patches) == 12  # 11 largest classes + "other"
        assert sum(p.get_height() for p in many.patches) == pytest.approx(1.0)
    render(fig, tmp_path / f"bal{k}.png")


def test_class_balance_bad_input() -> None:
    with pytest.raises(ValueError, match="missing from kinds"):
        plot_class_balance(["a"], {"a": {"x": 1}}, {})
    with pytest.raises(ValueError, match="kinds"):
        plot_class_balance(["a"], {"a": {"x": 1}}, {"a": "ranking"})
    with pytest.raises(TypeError, match="mapping"):
        plot_class_balance(["a"], {"a": [1, 2]}, {"a": "binary"})


def test_class_balance_inputs_from_a_taskset() -> None:
    from tasklens.data import TaskSet

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 40)
    reg = rng.normal(size=40)
    ts = TaskSet.from_arrays(rng.normal(size=(40, 3)), {"flag": labels, "size": reg},
                             kinds={"flag": "binary", "size": "regression"})
    names, counts, kinds = class_balance_inputs(ts)
    assert names == ["flag", "size"]
    assert kinds == {"flag": "binary", "size": "regression"}
    _, n = np.unique(labels, return_counts=True)
    assert sorted(counts["flag"].values()) == sorted(n.tolist())
    np.testing.assert_allclose(counts["size"], reg, rtol=1e-6)
    fig = plot_class_balance(names, counts, kinds)
    assert len(fig.axes[0].patches) == 2  # binary: two categorical bars


def test_regression_histogram_given_as_edges_and_counts() -> None:
    values = np.random.default_rng(3).normal(size=400)
    n, edges = np.histogram(values, bins=12)
    fig = plot_class_balance(["r"], {"r": {"edges": edges, "counts": n}}, {"r": "regression"})
    (stairs,) = fig.axes[0].patches
    np.testing.assert_allclose(stairs.get_data().values, n)
    np.testing.assert_allclose(stairs.get_data().edges, edges)
    with pytest.raises(ValueError, match="B \\+ 1 increasing edges"):
        plot_class_balance(["r"], {"r": {"edges": edges[:-2], "counts": n}},
                           {"r": "regression"})
    with pytest.raises(TypeError, match="histogram"):
        plot_class_balance(["r"], {"r": {"bins": edges}}, {"r": "regression"})
