"""analyze_tasks: the chained forecast agrees with the known regimes of constructed pairs."""

from __future__ import annotations

import numpy as np
import pytest

from tasklens.data import TaskSet, correlated_pair_family
from tasklens.linear.analysis import analyze_tasks


def _pair(regime: str) -> TaskSet:
    fam = correlated_pair_family(regime, n_inputs=8, n_outputs=4, singular_values_1=[4, 3],
                               singular_values_2=[2, 1.5], seed=0)
    return fam.to_taskset(400, seed=0)


def test_aligned_pair_learns_simultaneously() -> None:
    a = analyze_tasks(_pair("aligned"), center=False, regime_tol=1e-4)
    assert a.alignment.regimes[0, 1] == "aligned"
    np.testing.assert_allclose(a.spectrum.nonzero(), [np.hypot(4, 2), np.hypot(3, 1.5)],
                               rtol=1e-4)
    # aligned tasks share every mode: their normalized curves reach half-way together
    assert abs(a.order.lag("task_1", "task_2")) < 0.02 * a.order.task_times[0]


def test_orthogonal_pair_learns_stronger_task_first() -> None:
    a = analyze_tasks(_pair("orthogonal"), center=False, regime_tol=1e-4)
    assert a.alignment.regimes[0, 1] == "orthogonal"
    np.testing.assert_allclose(a.spectrum.nonzero(), [4, 3, 2, 1.5], rtol=1e-4)
    assert a.order.order == ("task_1", "task_2")
    # per-mode sigmoid: half-way at t = ln(s/u0 − 1)/(2s) for u0 ≪ s (eq. 43), so the
    # weaker task (modes 2 and 1.5) lags by roughly that difference
    assert a.order.lag("task_2", "task_1") > 0.3


def test_summary_and_errors() -> None:
    a = analyze_tasks(_pair("conflicting"), center=False)
    text = "\n".join(a.summary_lines())
    assert "task_1 vs task_2: conflicting" in text and "predicted learning order" in text
    assert set(a.to_dict()) >= {"alignment", "spectrum", "order", "settings"}
    with pytest.raises(ValueError, match="at least two tasks"):
        analyze_tasks(_pair("aligned"), ["task_1"], center=False)
    with pytest.raises(ValueError, match="n_times"):
        analyze_tasks(_pair("aligned"), n_times=1)
