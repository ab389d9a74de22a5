"""λ-balanced closed form (tasklens.linear.lambda_balanced, Dominé et al. 2025) against
independent references: the test-only ODE of eq. 5 of Anon. 2025 (ICLR'26 sub.)
(tests/reference/linear_ode.py, each head integrated separately), the init itself at t = 0,
the zero-balanced Theorem 2 path of MTLDynamics as λ -> 0, and the lazy-regime property
(the neural tangent kernel moves less as |λ| grows)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasklens.linear.dynamics import MTLDynamics, zero_balanced_init
from tasklens.linear.lambda_balanced import (
    LambdaBalancedSolution,
    lambda_balanced_init,
    lambda_of,
)
from tests.reference.linear_ode import integrate_mtl_ode, qqt_from_weights

REL_TOL = 1e-8  # measured ~1e-10 (ODE at rtol 1e-10); the issue asks for <= 1e-6


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def problem(n_in, sizes, n_hidden, lam, seed=0, scale=0.1, ranks=None):
    rng = np.random.default_rng(seed)
    sigmas = []
    for i, m in enumerate(sizes):
        if ranks is None:
            sigmas.append(rng.standard_normal((m, n_in)))
        else:
            sigmas.append(
                rng.standard_normal((m, ranks[i])) @ rng.standard_normal((ranks[i], n_in))
            )
    ws, heads = lambda_balanced_init(n_in, n_hidden, sizes, lam, scale=scale, seed=seed + 100)
    return sigmas, ws, heads


def assert_matches_ode(model, sigmas, ws, heads, t):
    ws_t, heads_t, funcs = integrate_mtl_ode(sigmas, ws, heads, t)
    assert rel_err(model.qqt(t), qqt_from_weights(ws_t, heads_t)) < REL_TOL
    for got, want in zip(model.network_functions(t), funcs):
        assert rel_err(got, want) < REL_TOL
    want_loss = np.stack([np.sum((s - f) ** 2, axis=(1, 2)) for s, f in zip(sigmas, funcs)], 1)
    assert rel_err(model.losses(t), want_loss) < REL_TOL


# (N_i, task sizes, N_s, λ): both signs, small and large λ, N_i =, >, < sum N_io, 2 and 3 tasks
CASES = {
    "N_i = N_o, λ = 0.5": (4, [2, 2], 4, 0.5, None),
    "N_i = N_o, λ = -0.5": (4, [2, 2], 4, -0.5, None),
    "N_i > N_o, λ = 2": (6, [2, 1], 3, 2.0, None),
    "N_i > N_o, λ = -2, N_s = N_i": (4, [2, 1], 4, -2.0, None),
    "N_i < N_o, λ = 1, N_s = N_o > k": (3, [2, 3], 5, 1.0, None),
    "N_i < N_o, λ = -1": (3, [2, 3], 3, -1.0, None),
    "three tasks, λ = 10": (5, [1, 1, 1], 2, 10.0, None),
    "three tasks, λ = -10": (5, [1, 1, 2], 3, -10.0, None),
    "small λ = 1e-3": (4, [2, 2], 4, 1e-3, None),
    "rank-deficient xi, λ = 0.5": (5, [2, 2], 3, 0.5, [1, 1]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_ode(name):
    n_in, sizes, n_hidden, lam, ranks = CASES[name]
    sigmas, ws, heads = problem(n_in, sizes, n_hidden, lam, ranks=ranks)
    sol = LambdaBalancedSolution(sigmas, ws, heads)
    assert sol.lam == pytest.approx(lam, rel=1e-9)
    t = np.array([0.0, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 25.0])
    assert_matches_ode(sol, sigmas, ws, heads, t)
    # the same path through MTLDynamics (auto), with tau
    dyn = MTLDynamics(sigmas, ws, heads, tau=2.0)
    assert dyn.method == "lambda_balanced" and "λ-balanced" in dyn.reason
    ws_t, heads_t, _ = integrate_mtl_ode(sigmas, ws, heads, t, tau=2.0)
    assert rel_err(dyn.qqt(t), qqt_from_weights(ws_t, heads_t)) < REL_TOL
    record = json.loads(json.dumps(dyn.to_dict()))
    assert record["method"] == "lambda_balanced" and record["lam"] == pytest.approx(lam)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_in=st.integers(1, 5),
    sizes=st.lists(st.integers(1, 3), min_size=2, max_size=3),
    lam=st.floats(0.05, 20.0) | st.floats(-20.0, -0.05),
    seed=st.integers(0, 1000),
    data=st.data(),
)
def test_matches_ode_random(n_in, sizes, lam, seed, data):
    n_out = sum(sizes)
    n_hidden = data.draw(st.integers(1, n_out if lam > 0 else n_in))
    sigmas, ws, heads = problem(n_in, sizes, n_hidden, lam, seed=seed)
    try:
        sol = LambdaBalancedSolution(sigmas, ws, heads, cond_max=1e4)
    except ValueError as err:  # a near-saddle init: the documented refusal, not a wrong answer
        assert "ill-conditioned" in str(err)
        return
    assert_matches_ode(sol, sigmas, ws, heads, np.array([0.0, 0.3, 1.0, 4.0, 12.0]))


def test_qqt_at_zero_is_the_init():
    sigmas, ws, heads = problem(5, [2, 3], 4, 0.7)
    q = np.concatenate([ws.T, *heads], axis=0)
    got = LambdaBalancedSolution(sigmas, ws, heads).qqt(0.0)[0]
    np.testing.assert_allclose(got, q @ q.T, rtol=0, atol=1e-12 * np.abs(q @ q.T).max())


def test_lambda_to_zero_reproduces_zero_balanced_closed_form():
    n_in, sizes, n_hidden = 4, [2, 2], 4
    rng = np.random.default_rng(3)
    sigmas = [rng.standard_normal((m, n_in)) for m in sizes]
    t = np.linspace(0.0, 20.0, 9)
    # lambda_balanced_init draws W_S and the rotation in the same order for every λ >= 0,
    # so λ = 0 is a zero-balanced init and the family is continuous in λ
    ws0, heads0 = lambda_balanced_init(n_in, n_hidden, sizes, 0.0, scale=0.1, seed=5)
    assert lambda_of(ws0, heads0) == pytest.approx(0.0, abs=1e-15)
    zero = MTLDynamics(sigmas, ws0, heads0)
    assert zero.method == "closed_form"
    target = zero.qqt(t)
    # λ = 0 exactly in the λ-balanced solver: the same closed form
    assert rel_err(LambdaBalancedSolution(sigmas, ws0, heads0).qqt(t), target) < 1e-9
    errors = []
    for lam in (1e-2, 1e-4, 1e-6):
        ws, heads = lambda_balanced_init(n_in, n_hidden, sizes, lam, scale=0.1, seed=5)
        errors.append(rel_err(LambdaBalancedSolution(sigmas, ws, heads).qqt(t), target))
    assert errors[2] < 1e-4
    # continuous in λ (measured 3.9e-2, 3.0e-3, 3.6e-5: the init moves like sqrt(λ) along the
    # smallest singular directions of W_S W_S^T, then like λ)
    assert errors[0] > errors[1] > errors[2]
    assert errors[1] / errors[2] > 10


def ntk_relative_change(sol: LambdaBalancedSolution, t_end: float) -> float:
    """``||Θ(t) - Θ(0)|| / ||Θ(0)||`` with ``Θ = W_S^T W_S ⊗ I + I ⊗ W W^T`` (whitened inputs)."""
    n_in = sol.n_inputs
    X = sol.qqt(np.array([0.0, t_end]))
    eye_o, eye_i = np.eye(sol.n_outputs), np.eye(n_in)
    theta = [np.kron(x[:n_in, :n_in], eye_o) + np.kron(eye_i, x[n_in:, n_in:]) for x in X]
    return float(np.linalg.norm(theta[1] - theta[0]) / np.linalg.norm(theta[0]))


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_large_lambda_is_lazy(sign):
    """Dominé et al. 2025: large |λ| gives lazy dynamics; the kernel barely moves while the
    network still fits xi (checked at convergence)."""
    n_in, sizes, n_hidden = 4, [2, 2], 4
    rng = np.random.default_rng(7)
    sigmas = [rng.standard_normal((m, n_in)) for m in sizes]
    xi = np.concatenate(sigmas, axis=0)
    changes = []
    for lam in (0.1, 1.0, 10.0, 100.0):
        ws, heads = lambda_balanced_init(n_in, n_hidden, sizes, sign * lam, scale=0.1, seed=1)
        sol = LambdaBalancedSolution(sigmas, ws, heads)
        changes.append(ntk_relative_change(sol, 200.0))
        fit = np.concatenate(sol.network_functions(200.0), axis=1)[0]
        assert rel_err(fit, xi) < 1e-8
    assert all(a > b for a, b in itertools.pairwise(changes))
    assert changes[-1] < 0.05 < changes[0]


def test_large_times_are_finite_and_reach_steady_state():
    sigmas, ws, heads = problem(4, [2, 1], 3, -3.0)
    sol = LambdaBalancedSolution(sigmas, ws, heads)
    X = sol.qqt(np.array([1e3, 1e8, 1e300]))
    assert np.all(np.isfinite(X))
    steady = sol.steady_state()
    assert rel_err(X[-1], steady) < 1e-12
    # the limit fits xi: the network-function block of X(inf) equals xi
    np.testing.assert_allclose(steady[4:, :4], np.concatenate(sigmas, 0), atol=1e-10)
    dyn = MTLDynamics(sigmas, ws, heads)
    np.testing.assert_allclose(dyn.steady_state(), steady)


def test_steady_state_refuses_a_tie():
    sigmas, ws, heads = problem(5, [2, 2], 3, 0.5, ranks=[1, 1])
    with pytest.raises(ValueError, match="separated"):
        LambdaBalancedSolution(sigmas, ws, heads).steady_state()


# ---------------------------------------------------------------- λ detection and bad input
def test_lambda_of():
    ws, heads = lambda_balanced_init(3, 2, [2, 1], -0.25, seed=1)
    assert lambda_of(ws, heads) == pytest.approx(-0.25, rel=1e-10)
    ws0, heads0 = zero_balanced_init(3, 2, [2, 1], seed=1)
    assert lambda_of(ws0, heads0) == pytest.approx(0.0, abs=1e-12)
    rng = np.random.default_rng(0)
    assert lambda_of(rng.standard_normal((2, 3)), [rng.standard_normal((3, 2))]) is None
    with pytest.raises(ValueError, match="tol"):
        lambda_of(ws, heads, tol=-1.0)
    with pytest.raises(ValueError, match="heads0\\[0\\]"):
        lambda_of(ws, [np.ones((2, 5))])
    with pytest.raises(TypeError, match="list"):
        lambda_of(ws, np.ones((3, 2)))


def test_not_lambda_balanced_raises_with_fix():
    rng = np.random.default_rng(0)
    sigmas = [rng.standard_normal((2, 4)), rng.standard_normal((1, 4))]
    ws = 0.05 * rng.standard_normal((3, 4))
    heads = [0.05 * rng.standard_normal((2, 3)), 0.05 * rng.standard_normal((1, 3))]
    with pytest.raises(
        ValueError, match=r"W_S0 and heads0 are not λ-balanced.*lambda_balanced_init"
    ):
        LambdaBalancedSolution(sigmas, ws, heads)
    dyn = MTLDynamics(sigmas, ws, heads)
    assert dyn.method == "ode" and dyn.lam is None and "not λ-balanced" in dyn.reason
    with pytest.raises(ValueError, match="method='lambda_balanced' does not apply"):
        MTLDynamics(sigmas, ws, heads, method="lambda_balanced")
    ws0, heads0 = zero_balanced_init(4, 3, [2, 1])
    with pytest.raises(ValueError, match="zero-balanced"):
        MTLDynamics(sigmas, ws0, heads0, method="lambda_balanced")


def test_bad_input():
    sigmas, ws, heads = problem(4, [2, 1], 3, 1.0)
    bad = ws.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="W_S0"):
        LambdaBalancedSolution(sigmas, bad, heads)
    with pytest.raises(ValueError, match="heads0\\[1\\]"):
        LambdaBalancedSolution(sigmas, ws, [heads[0], np.ones((1, 2))])
    with pytest.raises(ValueError, match="tau"):
        LambdaBalancedSolution(sigmas, ws, heads, tau=0.0)
    sol = LambdaBalancedSolution(sigmas, ws, heads)
    with pytest.raises(ValueError, match="non-negative"):
        sol.qqt(-1.0)
    with pytest.raises(ValueError, match="t"):
        sol.qqt([np.nan])
    assert sol.qqt([0.0, 1.0]).shape == (2, 7, 7)
    assert [f.shape for f in sol.network_functions([0.0, 1.0, 2.0])] == [(3, 2, 4), (3, 1, 4)]
    assert sol.losses([0.0, 1.0]).shape == (2, 2)


def test_ill_conditioned_init_falls_back_to_ode():
    sigmas, ws, heads = problem(4, [2, 2], 4, 0.5)
    with pytest.raises(ValueError, match=r"ill-conditioned.*ode"):
        LambdaBalancedSolution(sigmas, ws, heads, cond_max=1.0)
    dyn = MTLDynamics(sigmas, ws, heads, lambda_cond_max=1.0)
    assert dyn.method == "ode" and "λ-balanced" in dyn.reason and dyn.lam == pytest.approx(0.5)


def test_lambda_balanced_init_checks_sizes():
    with pytest.raises(ValueError, match="n_hidden <= sum"):
        lambda_balanced_init(5, 4, [1, 2], 1.0)
    with pytest.raises(ValueError, match="n_hidden <= n_inputs"):
        lambda_balanced_init(2, 3, [2, 2], -1.0)
    with pytest.raises(ValueError, match="lam"):
        lambda_balanced_init(2, 2, [2], np.nan)
