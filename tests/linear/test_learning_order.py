"""Learning-order metrics (Anon. 2025 (ICLR'26 sub.), Section 4).

References: hand-made curves with known crossing times (piecewise-linear and exponential);
the qualitative statements of Section 4 on the closed form (aligned tasks learned together,
orthogonal tasks in the order of their mode strengths, B.6 learning times).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tasklens.linear.learning_order import learning_order, rise_time, time_to_fraction
from tasklens.linear.tabula_rasa import mode_learning_time, tabula_rasa_solution
from tests.reference import linear_part1_constructions as ref


def _piecewise_losses(t: np.ndarray) -> np.ndarray:
    a = np.clip(1 - t / 10, 0, None)  # 1 -> 0 over [0, 10]: half at t = 5
    b = 2 * np.clip(1 - (t - 20) / 10, 0, 1)  # flat 2 until 20, then 0 at 30: half at 25
    return np.column_stack([a, b])


def test_piecewise_linear_crossing_times_and_lags():
    t = np.linspace(0, 40, 17)  # coarse grid (step 2.5): crossings need interpolation
    order = learning_order(t, _piecewise_losses(t), task_names=["a", "b"], fraction=0.5)
    np.testing.assert_allclose(order.task_times, [5.0, 25.0])
    assert order.lag("b", "a") == pytest.approx(20.0)
    np.testing.assert_allclose(order.lags, [[0, -20], [20, 0]])
    assert order.order == ("a", "b")
    np.testing.assert_allclose(time_to_fraction(t, _piecewise_losses(t), 0.9), [9.0, 29.0])
    json.dumps(order.to_dict())


def test_exponential_curves_with_given_final_loss():
    t = np.linspace(0, 20, 4001)
    taus = np.array([1.0, 3.0])
    losses = np.exp(-t[:, None] / taus[None, :])
    got = time_to_fraction(t, losses, 0.9, final=0.0)
    np.testing.assert_allclose(got, taus * np.log(10), rtol=1e-5)


def test_flat_task_never_reaches_and_sorts_last():
    t = np.arange(10.0)
    losses = np.column_stack([np.ones(10), np.linspace(1, 0, 10)])
    order = learning_order(t, losses, task_names=["flat", "learns"])
    assert np.isnan(order.task_times[0])
    assert order.order == ("learns", "flat")
    assert order.to_dict()["task_times"][0] is None


def test_rise_time_of_ramps_and_per_task_modes():
    t = np.linspace(0, 10, 11)
    ramps = np.column_stack([np.clip(t / 4, 0, 1), np.clip((t - 2) / 4, 0, 1)])
    np.testing.assert_allclose(rise_time(t, ramps, 0.5), [2.0, 4.0])
    losses = 1 - ramps
    per_task = np.stack([ramps * [1.0, 0.0], ramps * [0.3, 1.0]], axis=1)  # (T, 2 tasks, 2 modes)
    order = learning_order(t, losses, strengths=per_task, threshold=0.1)
    assert order.task_modes == {"task0": [0], "task1": [0, 1]}
    assert order.mode_times.shape == (2, 2)


def test_closed_form_section4_statements():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 10, 2001)
    # aligned: losses are proportional, so both tasks reach every fraction together
    a, b = ref.task_pair("aligned", [4, 3], [2, 1.5], n_in=4, n_out=2, rng=rng)
    sol = tabula_rasa_solution({"a": a, "b": b}, t, u0=1e-4)
    order = learning_order(t, sol.losses, task_names=["a", "b"], fraction=0.9)
    assert abs(order.lag("a", "b")) < 1e-9
    # orthogonal with weaker task b: a's modes are learned first, b lags (Figure 3c)
    a, b = ref.task_pair("orthogonal", [4, 3], [2, 1.5], n_in=4, n_out=2, rng=rng)
    sol = tabula_rasa_solution({"a": a, "b": b}, t, u0=1e-4)
    order = learning_order(t, sol.losses, task_names=["a", "b"], fraction=0.9,
                           final_losses=0.0, strengths=sol.mode_strengths,
                           final_strengths=sol.spectrum.nonzero(),
                           loadings=sol.loadings.gamma)
    assert order.order == ("a", "b") and order.lag("b", "a") > 0.5
    assert order.mode_order == (0, 1, 2, 3)
    assert order.task_modes == {"a": [0, 1], "b": [2, 3]}
    # mode rise times agree with the inverted closed form (App. B.6, eq. 77 with K = 1)
    np.testing.assert_allclose(order.mode_times,
                               mode_learning_time(sol.spectrum.nonzero(), 1e-4, 0.9),
                               atol=1e-3)


def test_bad_inputs_name_the_argument():
    t = np.linspace(0, 1, 5)
    losses = np.ones((5, 2))
    with pytest.raises(ValueError, match="times"):
        learning_order(t[:4], losses)
    with pytest.raises(ValueError, match="increasing"):
        learning_order(t[::-1], losses)
    with pytest.raises(ValueError, match="fraction"):
        learning_order(t, losses, fraction=0.0)
    with pytest.raises(ValueError, match="task_names"):
        learning_order(t, losses, task_names=["a"])
    bad = losses.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="losses"):
        learning_order(t, bad)
    with pytest.raises(ValueError, match="loadings"):
        learning_order(t, losses, strengths=np.ones((5, 3)), loadings=np.ones((3, 3)))
    with pytest.raises(ValueError, match="strengths"):
        learning_order(t, losses, loadings=np.ones((2, 3)))
    with pytest.raises(ValueError, match="threshold"):
        learning_order(t, losses, threshold=2.0)
