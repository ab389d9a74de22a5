"""Batched kernels of the fast closed-form loss path (issue 3) against independent references:
``numpy.linalg.inv`` / ``numpy.linalg.svd`` (LAPACK), mathematical properties (orthonormality,
reconstruction, a partition of the time points), and the test-only ODE of eq. 5
(tests/reference/linear_ode.py) on a problem with k = 20 modes, the size of the benchmark."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasklens.linear.dynamics import MTLDynamics, zero_balanced_init
from tasklens.linear.riccati import GRAM_COND_MAX, lower_triangular_inverse, thin_svd
from tasklens.linear.riccati_losses import _batches, closed_form_losses
from tests.reference.linear_ode import integrate_mtl_ode

EPS = np.finfo(float).eps


def random_lower(rng: np.random.Generator, T: int, n: int) -> np.ndarray:
    L = np.tril(rng.standard_normal((T, n, n)))
    L[:, np.arange(n), np.arange(n)] = rng.uniform(0.5, 2.0, (T, n)) * rng.choice([-1, 1], (T, n))
    return L


def spd_with_condition(rng: np.random.Generator, T: int, n: int, cond: float) -> np.ndarray:
    """Random SPD matrices with eigenvalues log-spaced on [1/cond, 1]."""
    q = np.linalg.qr(rng.standard_normal((T, n, n)))[0]
    lam = np.logspace(-np.log10(cond), 0.0, n)
    return (q * lam[None, None, :]) @ q.swapaxes(1, 2)


# ------------------------------------------------------------------ triangular inverse
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 24), leaf=st.integers(1, 6), T=st.integers(1, 9), seed=st.integers(0, 999))
def test_lower_triangular_inverse_matches_lapack(n, leaf, T, seed):
    rng = np.random.default_rng(seed)
    L = random_lower(rng, T, n)
    want = np.linalg.inv(L)
    got = lower_triangular_inverse(L, leaf=leaf)
    # forward-substitution bound: |error| <= c n eps cond(L) |L^-1|
    cond = np.linalg.cond(L).max()
    assert np.abs(got - want).max() <= 10 * n * EPS * cond * np.abs(want).max()
    assert np.all(np.triu(got, 1) == 0.0)


def test_lower_triangular_inverse_ignores_upper_part_and_fills_out():
    rng = np.random.default_rng(1)
    L = random_lower(rng, 6, 13)
    noisy = L + np.triu(rng.standard_normal(L.shape), 1)
    out = np.full(L.shape, np.nan)
    got = lower_triangular_inverse(noisy, out=out)
    assert got is out
    assert np.allclose(got, np.linalg.inv(L), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cond", [1e2, 1e6, 1e10])
def test_cholesky_inverse_of_ill_conditioned_spd(cond):
    """The closed form's use: C^{-1} = W^T W with W = chol(C)^{-1}, against numpy.linalg.inv."""
    rng = np.random.default_rng(2)
    C = spd_with_condition(rng, 50, 20, cond)
    W = lower_triangular_inverse(np.linalg.cholesky(C))
    got = W.swapaxes(1, 2) @ W
    want = np.linalg.inv(C)
    err = np.abs(got - want).max(axis=(1, 2)) / np.abs(want).max(axis=(1, 2))
    assert err.max() <= 100 * 20 * EPS * cond


# ------------------------------------------------------------------ thin SVD
def wide_matrix(rng: np.random.Generator, m: int, n: int, s: np.ndarray) -> np.ndarray:
    u = np.linalg.qr(rng.standard_normal((m, m)))[0]
    v = np.linalg.qr(rng.standard_normal((n, m)))[0]
    return (u * s) @ v.T


@pytest.mark.parametrize(
    "singular_values",
    [
        np.linspace(2.0, 0.3, 20),  # the benchmark's spread: Gram path
        np.array([3.0, 3.0, 3.0, 1.0, 1.0, 0.5]),  # repeated values: Gram path
        np.logspace(0, -6, 10),  # cond 1e6: QR fallback
        np.array([2.0, 1.0, 0.5, 0.0, 0.0]),  # rank-deficient: QR fallback
    ],
)
def test_thin_svd_matches_lapack(singular_values):
    rng = np.random.default_rng(3)
    m = singular_values.size
    M = wide_matrix(rng, m, 60 * m, singular_values)
    u, s, vt = thin_svd(M)
    want = np.linalg.svd(M, compute_uv=False)
    scale = want[0]
    assert np.abs(s - want).max() <= 1e-12 * scale
    assert np.all(np.diff(s) <= 0.0)
    assert np.abs((u * s) @ vt - M).max() <= 1e-12 * scale
    assert np.allclose(u.T @ u, np.eye(m), atol=1e-12)
    nonzero = s > 1e-10 * scale
    assert np.allclose((vt @ vt.T)[np.ix_(nonzero, nonzero)], np.eye(nonzero.sum()), atol=1e-11)


def test_thin_svd_gram_threshold_is_the_accuracy_bound():
    """At cond = GRAM_COND_MAX the Gram path's relative error in s_min stays <= ~eps cond^2."""
    rng = np.random.default_rng(4)
    s_true = np.logspace(0, -np.log10(GRAM_COND_MAX) + 1e-9, 12)
    M = wide_matrix(rng, 12, 800, s_true)
    _, s, _ = thin_svd(M)
    want = np.linalg.svd(M, compute_uv=False)
    assert np.abs(s / want - 1.0).max() <= 10 * EPS * GRAM_COND_MAX**2


# ------------------------------------------------------------------ batching of time points
@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.integers(0, 40), min_size=0, max_size=25),
    k=st.integers(1, 20),
    block=st.one_of(st.none(), st.integers(1, 50)),
)
def test_batches_partition_the_active_points(steps, k, block):
    steps_arr = np.array(steps, dtype=int)
    lead = np.minimum(np.cumsum(steps_arr % 3 == 0), k)
    lead = np.repeat(lead, 1 + steps_arr % 7)  # runs of several equal values
    batches = _batches(lead, k, block)
    covered = np.zeros(lead.shape[0], dtype=int)
    for start, stop, j0 in batches:
        assert start < stop
        assert j0 <= lead[start:stop].min()  # every active mode is kept
        if block is not None:
            assert stop - start <= block
        covered[start:stop] += 1
    assert np.array_equal(covered, (lead < k).astype(int))


# ------------------------------------------------------------------ loss curves vs the ODE
@pytest.fixture(scope="module")
def k20_problem():
    """Two 10-way tasks on N_i = 60 inputs, N_s = 20: k = 20 like the benchmark's problem (b)."""
    rng = np.random.default_rng(5)
    n_in = 60
    V1 = np.linalg.qr(rng.standard_normal((n_in, 10)))[0]
    V2 = np.linalg.qr(V1 + 0.7 * np.linalg.qr(rng.standard_normal((n_in, 10)))[0])[0]
    s = np.linspace(2.0, 0.3, 10)
    sigmas = [
        np.linalg.qr(rng.standard_normal((10, 10)))[0] @ np.diag(s) @ V1.T,
        np.linalg.qr(rng.standard_normal((10, 10)))[0] @ np.diag(0.8 * s) @ V2.T,
    ]
    ws, heads = zero_balanced_init(n_in, 20, [10, 10], 1e-2, 0)
    dyn = MTLDynamics(sigmas, ws, heads)
    assert dyn.method == "closed_form" and dyn.basis.k == 20
    return sigmas, ws, heads, dyn


@pytest.mark.parametrize("factor", [10.0, 60.0])
def test_k20_loss_curves_match_ode(k20_problem, factor):
    """Horizon 10/s_min (all batches of active modes) and 60/s_min (most modes converged)."""
    sigmas, ws, heads, dyn = k20_problem
    t = np.linspace(0.0, factor / dyn.basis.S.min(), 120)
    _, _, funcs = integrate_mtl_ode(sigmas, ws, heads, t)
    want = np.stack([np.sum((sg - f) ** 2, axis=(1, 2)) for sg, f in zip(sigmas, funcs)], 1)
    got = dyn.losses(t)
    assert np.abs(got - want).max() <= 1e-8 * np.abs(want).max()


def test_k20_losses_do_not_depend_on_order_or_batching(k20_problem):
    *_, dyn = k20_problem
    rng = np.random.default_rng(6)
    t = rng.permutation(np.linspace(0.0, 30.0 / dyn.basis.S.min(), 300))
    x = t / dyn.tau
    full = dyn.losses(t)
    lc = dyn._loss_constants
    assert lc is not None
    sorted_losses = closed_form_losses(dyn.basis.S, lc, np.sort(x))
    assert np.allclose(full[np.argsort(t, kind="stable")], sorted_losses, rtol=0, atol=1e-13)
    for block in (1, 7, 1000):
        again = closed_form_losses(dyn.basis.S, lc, x, block=block)
        assert np.abs(again - full).max() <= 1e-12 * np.abs(full).max()


def test_init_map_svd_from_the_balanced_gram_matches_lapack(k20_problem):
    """MTLDynamics takes the init map's singular pairs from W (W_S W_S^T) W^T when the init
    is zero-balanced; check them against numpy.linalg.svd of the map itself."""
    _, ws, heads, dyn = k20_problem
    M = np.concatenate(heads, axis=0) @ ws
    want = np.linalg.svd(M, compute_uv=False)
    assert np.abs(dyn._S0 - want).max() <= 1e-12 * want[0]
    recon = (dyn._U0 * dyn._S0) @ dyn._V0.T
    assert np.abs(recon - M).max() <= 1e-12 * want[0]
    assert np.allclose(dyn._V0.T @ dyn._V0, np.eye(dyn._V0.shape[1]), atol=1e-12)
