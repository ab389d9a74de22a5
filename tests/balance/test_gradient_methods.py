"""Defining properties of the gradient-based methods on seeded, rank-controlled Jacobians.

References (tests/reference/balance_reference.py, vector-space formulations solved in R^P):
min-norm hull by multi-start SLSQP and a dense simplex grid (MGDA); dual-cone projection by
SLSQP (UPGrad); CAGrad's primal max-min problem by SLSQP; PCGrad's and GradVac's algorithms
run literally on vectors; IMTL-G's closed form (eq. 10); Aligned-MTL from the SVD; the
Nash / α-fair utility maximised on the unit ball by SLSQP. Plus mathematical properties
(non-conflict, equal projections, bargaining condition, invariances).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tasklens import balance
from tests.reference import balance_reference as ref

GRAMIAN_METHODS = [
    "mgda",
    "pcgrad",
    "cagrad",
    "gradvac",
    "imtl_g",
    "nash_mtl",
    "aligned_mtl",
    "fairgrad",
    "upgrad",
]


def jac_t(k: int, p: int, *, rank: int | None = None, seed: int = 0) -> torch.Tensor:
    return torch.as_tensor(ref.random_jacobian(k, p, rank=rank, seed=seed))


def positive_jac(k: int, p: int, seed: int) -> np.ndarray:
    """Gradients sharing a descent direction (needed by Nash-MTL / FairGrad)."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((k, p)) + 2.0 * rng.standard_normal(p)


# --------------------------------------------------------------------------- EW / convention
def test_ew_is_the_plain_sum():
    jac = jac_t(4, 7, seed=1)
    torch.testing.assert_close(balance.get("ew").aggregate(jac), jac.sum(dim=0))


SUM_CONVENTION = ["ew", "mgda", "pcgrad", "cagrad", "gradvac", "imtl_g", "aligned_mtl", "upgrad"]


@pytest.mark.parametrize("name", [*SUM_CONVENTION, "graddrop"])
def test_identical_gradients_aggregate_to_their_sum(name):
    g = torch.tensor([0.3, -1.2, 2.0, 0.5], dtype=torch.float64)
    jac = g.repeat(3, 1)
    method = balance.get(name, c=0.0) if name == "cagrad" else balance.get(name)
    torch.testing.assert_close(method.aggregate(jac), 3 * g, atol=1e-7, rtol=1e-7)


# --------------------------------------------------------------------------------- MGDA
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("shape", [(2, 5), (3, 4), (4, 10), (5, 3)])
def test_mgda_is_the_min_norm_point_of_the_hull(shape, seed):
    k, p = shape
    jac = jac_t(k, p, rank=min(k, p) - (seed % 2), seed=seed)
    got = balance.get("mgda").aggregate(jac).numpy() / k  # sum convention: K × hull point
    expected = ref.min_norm_hull_slsqp(jac.numpy(), seed=seed)
    assert got @ got <= expected @ expected + 1e-9
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("k", [2, 3])
def test_mgda_beats_a_dense_grid(k):
    jac = jac_t(k, 6, seed=11)
    got = balance.get("mgda").aggregate(jac).numpy() / k
    assert got @ got <= ref.min_norm_hull_grid(jac.numpy(), 200) + 1e-12


def test_mgda_frank_wolfe_agrees_with_exact_solver():
    jac = jac_t(4, 12, seed=3)
    exact = balance.get("mgda").aggregate(jac)
    fw = balance.get("mgda", solver="frank_wolfe", max_iter=20000, tol=1e-12).aggregate(jac)
    # Frank–Wolfe (no away steps) converges as O(1/t) in the objective: compare norms, and
    # the exact solver must never be worse
    assert float(exact @ exact) <= float(fw @ fw) + 1e-12
    assert float(fw @ fw) == pytest.approx(float(exact @ exact), rel=2e-3)


def test_mgda_weights_are_on_the_scaled_simplex():
    jac = jac_t(5, 9, seed=4)
    method = balance.get("mgda")
    ctx = balance.BalanceContext(jacobian=jac)
    alpha = method.convex_weights(ctx)
    assert bool((alpha >= 0).all())
    assert float(alpha.sum()) == pytest.approx(1.0)
    torch.testing.assert_close(method.weights(ctx), 5 * alpha)


# ------------------------------------------------------------------------------- PCGrad
@pytest.mark.parametrize("seed", range(10))
def test_pcgrad_two_tasks_leaves_no_conflict(seed):
    jac = jac_t(2, 6, seed=seed)
    d_parts = []
    # the direction is g₁ᴾᶜ + g₂ᴾᶜ; recover each projected gradient from the reference
    out = balance.get("pcgrad", seed=seed).aggregate(jac).numpy()
    j = jac.numpy()
    for i in range(2):
        other = 1 - i
        g = j[i].copy()
        if g @ j[other] < 0:
            g -= (g @ j[other]) / (j[other] @ j[other]) * j[other]
        d_parts.append(g)
        assert g @ j[other] >= -1e-10  # no projected gradient conflicts with the other task
    np.testing.assert_allclose(out, sum(d_parts), atol=1e-10)


def test_pcgrad_matches_the_literal_algorithm_with_the_same_orders():
    jac = jac_t(4, 5, seed=7)
    method = balance.get("pcgrad", seed=123)
    rng = np.random.default_rng(123)  # the method's documented stream: one permutation per task
    orders = [rng.permutation(4) for _ in range(4)]
    np.testing.assert_allclose(
        method.aggregate(jac).numpy(), ref.pcgrad_vectors(jac.numpy(), orders), atol=1e-10
    )


def test_pcgrad_is_deterministic_for_a_seed_and_reset_restarts():
    jac = jac_t(5, 8, seed=2)
    a, b = balance.get("pcgrad", seed=5), balance.get("pcgrad", seed=5)
    first = a.aggregate(jac)
    torch.testing.assert_close(first, b.aggregate(jac))
    a.aggregate(jac)
    a.reset()
    torch.testing.assert_close(a.aggregate(jac), first)


# ------------------------------------------------------------------------------- UPGrad
@settings(max_examples=25, deadline=None)
@given(
    k=st.integers(2, 6),
    p=st.integers(1, 8),
    seed=st.integers(0, 10_000),
    drop=st.integers(0, 2),
)
def test_upgrad_and_mgda_never_conflict(k, p, seed, drop):
    rank = max(1, min(k, p) - drop)
    jac = jac_t(k, p, rank=rank, seed=seed)
    scale = float(jac.abs().max()) ** 2
    d = balance.get("upgrad").aggregate(jac)
    assert bool((jac @ d >= -1e-9 * scale).all())
    # MGDA's min-norm point d* satisfies gⱼᵀ d* ≥ ‖d*‖² for every task (optimality on the hull)
    d = balance.get("mgda").aggregate(jac) / k
    assert bool((jac @ d >= d @ d - 1e-9 * scale).all())


@pytest.mark.parametrize("seed", range(4))
def test_upgrad_is_the_sum_of_dual_cone_projections(seed):
    jac = jac_t(3, 5, seed=seed)
    j = jac.numpy()
    expected = sum(ref.dual_cone_projection(j, j[i]) for i in range(3))
    np.testing.assert_allclose(balance.get("upgrad").aggregate(jac).numpy(), expected, atol=1e-6)


# ------------------------------------------------------------------------------- CAGrad
def test_cagrad_at_c0_is_ew_and_mean_gradient():
    jac = jac_t(4, 6, seed=9)
    got = balance.get("cagrad", c=0.0).aggregate(jac)
    torch.testing.assert_close(got, jac.sum(dim=0))
    torch.testing.assert_close(got / 4, jac.mean(dim=0))


@pytest.mark.parametrize("c", [0.2, 0.5, 0.9])
@pytest.mark.parametrize("seed", range(3))
def test_cagrad_solves_the_primal_max_min_problem(c, seed):
    k = 3
    jac = jac_t(k, 5, seed=seed)
    got = balance.get("cagrad", c=c, rescale=0).aggregate(jac).numpy() / k
    expected = ref.cagrad_primal(jac.numpy(), c)
    worst = lambda d: float(np.min(jac.numpy() @ d))  # noqa: E731
    assert worst(got) == pytest.approx(worst(expected), rel=1e-5, abs=1e-7)
    np.testing.assert_allclose(got, expected, atol=2e-4)


def test_cagrad_rescale_divides_by_one_plus_c_squared():
    jac = jac_t(3, 4, seed=1)
    raw = balance.get("cagrad", c=0.5, rescale=0).aggregate(jac)
    torch.testing.assert_close(balance.get("cagrad", c=0.5).aggregate(jac), raw / 1.25)
    torch.testing.assert_close(balance.get("cagrad", c=0.5, rescale=2).aggregate(jac), raw / 1.5)


# ------------------------------------------------------------------------------- IMTL-G
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [2, 3, 5])
def test_imtl_g_has_equal_projections_on_unit_gradients(k, seed):
    jac = jac_t(k, 8, seed=seed)
    d = balance.get("imtl_g").aggregate(jac)
    proj = (jac / jac.norm(dim=1, keepdim=True)) @ d
    torch.testing.assert_close(proj, proj.mean().expand(k), atol=1e-9, rtol=1e-9)
    np.testing.assert_allclose(d.numpy() / k, ref.imtl_g_closed_form(jac.numpy()), atol=1e-9)


# -------------------------------------------------------------------------- Aligned-MTL
@pytest.mark.parametrize("seed", range(4))
def test_aligned_mtl_matches_svd_form_and_aligns(seed):
    jac = jac_t(3, 7, seed=seed)
    method = balance.get("aligned_mtl")
    np.testing.assert_allclose(
        method.aggregate(jac).numpy(), ref.aligned_mtl_svd(jac.numpy()), atol=1e-9
    )
    b = method.balance_matrix(balance.BalanceContext(jacobian=jac))
    aligned = b @ jac.numpy()
    gram = aligned @ aligned.T
    lam_min = np.linalg.eigvalsh(jac.numpy() @ jac.numpy().T).min()
    np.testing.assert_allclose(gram, lam_min * np.eye(3), atol=1e-9)


# ----------------------------------------------------------------------- Nash / FairGrad
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [2, 3, 4])
def test_nash_mtl_satisfies_the_bargaining_condition(k, seed):
    jac = torch.as_tensor(positive_jac(k, 6, seed))
    alpha = balance.get("nash_mtl").weights(balance.BalanceContext(jacobian=jac))
    gram = jac @ jac.T
    assert bool((alpha > 0).all())
    torch.testing.assert_close(gram @ alpha, 1.0 / alpha, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_nash_mtl_maximises_the_log_utility_on_the_ball(seed):
    k = 3
    jac = positive_jac(k, 5, seed)
    d = balance.get("nash_mtl").aggregate(torch.as_tensor(jac)).numpy()
    # ‖d‖² = αᵀGα = Σ αᵢ (1/αᵢ) = K, so d is √K times the unit-ball bargaining solution
    assert d @ d == pytest.approx(k)
    np.testing.assert_allclose(d / np.sqrt(k), ref.alpha_fair_direction(jac, 1.0), atol=1e-4)


def test_nash_mtl_is_invariant_to_a_common_scale():
    jac = torch.as_tensor(positive_jac(3, 5, 0))
    method = balance.get("nash_mtl")
    torch.testing.assert_close(method.aggregate(7.0 * jac), method.aggregate(jac))


# cancelling gradients (no positive Nash / FairGrad solution):
# tests/balance/test_numerics_alpha_fair.py


@pytest.mark.parametrize("alpha", [0.5, 2.0, 5.0])
@pytest.mark.parametrize("seed", range(3))
def test_fairgrad_solves_its_fairness_condition(alpha, seed):
    jac = positive_jac(3, 6, seed)
    method = balance.get("fairgrad", alpha=alpha)
    w = method.weights(balance.BalanceContext(jacobian=torch.as_tensor(jac))).numpy()
    np.testing.assert_allclose(jac @ jac.T @ w, w ** (-1.0 / alpha), rtol=1e-7)
    d = w @ jac
    np.testing.assert_allclose(
        d / np.linalg.norm(d), ref.alpha_fair_direction(jac, alpha), atol=1e-4
    )


def test_fairgrad_with_alpha_one_is_nash_mtl():
    jac = torch.as_tensor(positive_jac(4, 6, 2))
    torch.testing.assert_close(
        balance.get("fairgrad", alpha=1.0).aggregate(jac), balance.get("nash_mtl").aggregate(jac)
    )


# ------------------------------------------------------------------------------ GradVac
def test_gradvac_matches_the_literal_algorithm_over_steps():
    k, beta = 3, 0.3
    method = balance.get("gradvac", beta=beta, seed=4, eps=0.0)
    rng = np.random.default_rng(4)
    target = np.zeros((k, k))
    for step in range(4):
        jac = ref.random_jacobian(k, 6, seed=100 + step)
        orders = [rng.permutation(k) for _ in range(k)]
        expected, target = ref.gradvac_vectors(jac, target, beta, orders)
        got = method.aggregate(torch.as_tensor(jac)).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-9)
        np.testing.assert_allclose(method.target, target, atol=1e-12)


def test_gradvac_first_call_equals_pcgrad():
    jac = jac_t(4, 6, seed=8)
    torch.testing.assert_close(
        balance.get("gradvac", seed=1).aggregate(jac),
        balance.get("pcgrad", seed=1).aggregate(jac),
        atol=1e-7,
        rtol=1e-7,
    )


# ------------------------------------------------------------------------------ GradDrop
def test_graddrop_keeps_one_sign_per_coordinate():
    jac = jac_t(4, 50, seed=3)
    d = balance.get("graddrop", seed=0).aggregate(jac)
    pos = jac.clamp(min=0).sum(dim=0)
    neg = jac.clamp(max=0).sum(dim=0)
    assert bool(((d - pos).abs() < 1e-12).logical_or((d - neg).abs() < 1e-12).all())


def test_graddrop_leak_one_is_ew_and_sign_frequency_follows_purity():
    jac = jac_t(3, 4, seed=5)
    torch.testing.assert_close(balance.get("graddrop", leak=1.0).aggregate(jac), jac.sum(dim=0))
    col = torch.tensor([[3.0], [-1.0]], dtype=torch.float64)  # purity P = ½(1 + 2/4) = 0.75
    method = balance.get("graddrop", seed=0)
    hits = sum(float(method.aggregate(col)[0]) == 3.0 for _ in range(4000))
    assert abs(hits / 4000 - 0.75) < 0.03


# ------------------------------------------------------------------- shared invariances
@pytest.mark.parametrize("name", ["mgda", "cagrad", "imtl_g", "aligned_mtl", "upgrad", "ew"])
def test_direction_is_permutation_invariant(name):
    jac = jac_t(4, 6, seed=12)
    perm = torch.tensor([2, 0, 3, 1])
    method = balance.get(name)
    torch.testing.assert_close(method.aggregate(jac[perm]), method.aggregate(jac), atol=1e-6,
                               rtol=1e-6)  # fmt: skip


@pytest.mark.parametrize("name", ["mgda", "cagrad", "imtl_g", "aligned_mtl", "upgrad", "pcgrad"])
def test_linear_under_scaling(name):
    jac = jac_t(3, 5, seed=13)
    torch.testing.assert_close(
        balance.get(name).aggregate(2.5 * jac), 2.5 * balance.get(name).aggregate(jac),
        atol=1e-6, rtol=1e-6,
    )  # fmt: skip


@pytest.mark.parametrize("name", GRAMIAN_METHODS)
def test_gramian_only_methods_agree_with_jacobian_path(name):
    jac = torch.as_tensor(positive_jac(3, 6, 1))
    gram = jac @ jac.T
    w_gram = balance.get(name).weights(balance.BalanceContext(gramian=gram))
    w_jac = balance.get(name).weights(balance.BalanceContext(jacobian=jac))
    torch.testing.assert_close(w_gram, w_jac)
    assert "jacobian" not in balance.get(name).requires


@pytest.mark.parametrize("name", balance.available())
def test_float32_input_gives_float32_output(name):
    jac = torch.as_tensor(positive_jac(3, 6, 1), dtype=torch.float32)
    losses = torch.tensor([1.0, 2.0, 0.5])
    out = balance.get(name).aggregate(jac, losses=losses)
    assert out.dtype == torch.float32 and out.shape == (6,)
    assert bool(torch.isfinite(out).all())
