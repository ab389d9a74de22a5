"""Tabula-rasa solution and task loadings (Anon. 2025 (ICLR'26 sub.), App. B.3-B.6, eq. 42-45).

References: scipy solve_ivp on the scalar mode ODE τ du/dt = 2u(s - u) (eq. 50, rtol 1e-10)
and on the full two-layer MTL gradient flow (eq. 5) from a tabula-rasa initialisation
(tests/reference/linear_part1_constructions.py); published aligned values (Figure 3).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from tasklens.linear.alignment import shared_spectrum
from tasklens.linear.tabula_rasa import (
    mode_learning_time,
    mode_strength,
    tabula_rasa_solution,
    task_loadings,
)
from tests.reference import linear_part1_constructions as ref


def _ode_reference(s: float, u0: float, tau: float, times: np.ndarray) -> np.ndarray:
    sol = solve_ivp(lambda _t, u: 2 * u * (s - u) / tau, (0, times[-1]), [u0], t_eval=times,
                    method="DOP853", rtol=1e-10, atol=1e-14)
    assert sol.success
    return sol.y[0]


@pytest.mark.parametrize(("s", "u0", "tau"), [
    (4.0, 1e-3, 1.0), (0.7, 1e-2, 2.0), (2.0, 5.0, 1.0), (0.0, 0.3, 1.0), (3.0, 3.0, 0.5),
])
def test_mode_strength_matches_numerical_ode(s, u0, tau):
    times = np.linspace(0, 8, 41)
    got = mode_strength(times, [s], u0, tau)[:, 0]
    np.testing.assert_allclose(got, _ode_reference(s, u0, tau, times), rtol=1e-8, atol=1e-12)


def test_overflow_free_form_stays_finite_at_late_times():
    s = np.array([4.0, 1.5, 1e-3, 0.0])
    got = mode_strength([1e4, 1e6], s, 1e-4)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got[:, :2], [[4.0, 1.5]] * 2, rtol=1e-12)
    # the formula exactly as printed in eq. 43 overflows here
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(2 * 4.0 * 1e4)
        printed = e * 4.0 / (4.0 / 1e-4 + e - 1)
    assert not np.isfinite(printed)
    assert got[0, 3] == pytest.approx(1e-4 / (1 + 2e-4 * 1e4))  # s = 0: u0 / (1 + 2 u0 t)


@settings(max_examples=25, deadline=None)
@given(s=st.floats(0.1, 5.0), u0=st.floats(1e-4, 1e-2), frac=st.floats(0.1, 0.95))
def test_mode_learning_time_is_when_the_ode_crosses(s, u0, frac):
    t_star = mode_learning_time([s], u0, frac)[0]
    sol = solve_ivp(lambda _t, u: 2 * u * (s - u), (0, 10 * t_star + 10), [u0],
                    events=lambda _t, u: u[0] - frac * s, method="DOP853", rtol=1e-10,
                    atol=1e-14)
    assert t_star == pytest.approx(sol.t_events[0][0], rel=1e-6)


def test_mode_learning_time_edge_cases():
    np.testing.assert_array_equal(mode_learning_time([2.0, 0.0], [5.0, 1e-3], 0.5), [0.0, np.inf])
    with pytest.raises(ValueError, match="fraction"):
        mode_learning_time([1.0], 1e-3, 1.5)
    with pytest.raises(ValueError, match="u0"):
        mode_learning_time([1.0], 0.0)


def test_loadings_aligned_orthogonal_and_unit_columns():
    rng = np.random.default_rng(0)
    a, b = ref.task_pair("aligned", [4, 3], [2, 1.5], n_in=4, n_out=2, rng=rng)
    lo = task_loadings({"a": a, "b": b})
    # aligned: Σ_b = c Σ_a per mode with c = 1/2, so γ = (1, c)/√(1 + c²) on both modes
    np.testing.assert_allclose(lo.gamma, [[2 / np.sqrt(5)] * 2, [1 / np.sqrt(5)] * 2],
                               atol=1e-12)
    np.testing.assert_allclose(lo.singular_values, [np.sqrt(20), np.sqrt(11.25)])
    assert lo.dominant_task() == ["a", "a"]
    a, b = ref.task_pair("orthogonal", [4, 1.5], [3, 0.5], n_in=4, n_out=2, rng=rng)
    lo = task_loadings({"a": a, "b": b})
    np.testing.assert_allclose(lo.gamma, [[1, 0, 1, 0], [0, 1, 0, 1]], atol=1e-12)
    assert lo.dominant_task() == ["a", "b", "a", "b"]
    assert lo.task_modes() == {"a": [0, 2], "b": [1, 3]}
    a, b = ref.task_pair("conflicting", [4, 3], [2, 1.5], n_in=4, n_out=2, rng=rng)
    lo = task_loadings(shared_spectrum([a, b]))
    np.testing.assert_allclose(np.linalg.norm(lo.gamma, axis=0), 1.0, atol=1e-12)
    json.dumps(lo.to_dict())


@pytest.mark.parametrize("kind", ["aligned", "conflicting", "orthogonal"])
def test_closed_form_matches_full_gradient_flow_from_tabula_rasa(kind):
    rng = np.random.default_rng(1)
    n_in, n_out, n_hidden, tau = 4, 2, 5, 1.0
    a, b = ref.task_pair(kind, [4, 3], [2, 1.5], n_in=n_in, n_out=n_out, rng=rng)
    spec = shared_spectrum({"a": a, "b": b})
    r = spec.rank
    u0 = np.full(r, 1e-3)
    # tabula rasa: W_S = R diag(√u0) V_ξᵀ, W_MTL = U_ξ diag(√u0) Rᵀ with orthonormal R
    rot = ref.orthonormal(n_hidden, r, rng)
    w_shared = (rot * np.sqrt(u0)) @ spec.v[:, :r].T
    w_mtl = (spec.u[:, :r] * np.sqrt(u0)) @ rot.T
    heads = [w_mtl[spec.slices["a"]], w_mtl[spec.slices["b"]]]
    times = np.array([0.0, 0.5, 1.0, 2.0, 4.0, 8.0])
    maps = ref.integrate_mtl_gradient_flow([a, b], w_shared, heads, times, tau)
    sol = tabula_rasa_solution({"a": a, "b": b}, times, u0=u0, tau=tau)
    for k in range(len(times)):
        for j, (name, sig) in enumerate((("a", a), ("b", b))):
            np.testing.assert_allclose(sol.network_function(name, k), maps[k][j], atol=1e-7)
            assert sol.losses[k, j] == pytest.approx(
                np.sum((sig - maps[k][j]) ** 2), rel=1e-6, abs=1e-9)
    # eq. 45: per-task strength is γ u; at convergence each task's map equals its Σ
    np.testing.assert_allclose(sol.task_strengths[:, 0, :],
                               sol.loadings.gamma[0] * sol.mode_strengths)
    late = tabula_rasa_solution({"a": a, "b": b}, [1e4], u0=u0)
    np.testing.assert_allclose(late.network_function("a"), a, atol=1e-10)
    json.dumps(sol.to_dict())


def test_bad_inputs():
    with pytest.raises(ValueError, match="t must be"):
        mode_strength([-1.0], [1.0])
    with pytest.raises(ValueError, match="tau"):
        mode_strength([1.0], [1.0], tau=0.0)
    with pytest.raises(ValueError, match="u0"):
        mode_strength([1.0], [1.0], u0=-1.0)
    with pytest.raises(ValueError, match="singular_values"):
        mode_strength([1.0], [-1.0])
    with pytest.raises(ValueError, match="t "):
        mode_strength([np.nan], [1.0])
    with pytest.raises(ValueError, match=r"sigmas\['b'\]"):
        tabula_rasa_solution({"a": np.eye(2), "b": np.zeros((2, 2))}, [0.0, 1.0])
