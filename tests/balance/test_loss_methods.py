"""Loss-based weightings (and GradNorm / DB-MTL / ExcessMTL state) on hand-computed examples.

References: the papers' formulas evaluated by hand in the test (numbers written out), torch
autograd of the scalarised objective (GLS, STCH) as a second route to the weights, and a
plain Adam written from Kingma & Ba's Algorithm 1 (tests/reference/balance_reference.py)
for the learnable states (UW, FAMO).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tasklens import balance
from tests.reference import balance_reference as ref

Ctx = balance.BalanceContext


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


# -------------------------------------------------------------------------------- RLW
def test_rlw_is_k_times_softmax_of_standard_normals_from_the_seed():
    method = balance.get("rlw", seed=3)
    rng = np.random.default_rng(3)
    for _ in range(3):
        z = rng.standard_normal(4)
        expected = 4 * np.exp(z) / np.exp(z).sum()
        np.testing.assert_allclose(method.weights(Ctx(losses=t(1, 1, 1, 1))).numpy(), expected)
    method.reset()
    z = np.random.default_rng(3).standard_normal(4)
    np.testing.assert_allclose(
        method.weights(Ctx(losses=t(1, 1, 1, 1))).numpy(), 4 * np.exp(z) / np.exp(z).sum()
    )


# --------------------------------------------------------------------------------- UW
def test_uw_starts_as_ew_and_follows_adam_on_its_objective():
    losses = np.array([0.5, 2.0, 4.0])
    method = balance.get("uw", lr=0.1)
    ctx = Ctx(losses=torch.as_tensor(losses))
    torch.testing.assert_close(method.weights(ctx), t(1, 1, 1))
    for _ in range(5):
        method.update(ctx)
    # ∂/∂s [exp(−s) L + s] = 1 − exp(−s) L
    expected = ref.adam_steps(np.zeros(3), [lambda s: 1 - np.exp(-s) * losses] * 5, lr=0.1)
    np.testing.assert_allclose(method.log_variances.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(method.weights(ctx).numpy(), np.exp(-expected), rtol=1e-12)


def test_uw_converges_to_inverse_losses():
    losses = t(0.5, 2.0, 4.0)
    method = balance.get("uw", lr=0.05)
    for _ in range(3000):
        method.update(Ctx(losses=losses))
    torch.testing.assert_close(method.log_variances, torch.log(losses), atol=1e-3, rtol=0)
    torch.testing.assert_close(method.weights(Ctx(losses=losses)), 1 / losses, atol=1e-3, rtol=0)


# -------------------------------------------------------------------------------- DWA
def test_dwa_hand_computed():
    method = balance.get("dwa", temperature=2.0)
    epoch_losses = {0: [(2.0, 4.0), (2.0, 4.0)], 1: [(0.5, 2.0), (1.5, 4.0)]}  # means (2,4),(1,3)
    for epoch, batches in epoch_losses.items():
        for batch in batches:
            ctx = Ctx(losses=t(*batch), epoch=epoch)
            torch.testing.assert_close(method.weights(ctx), t(1, 1))  # first two epochs
            method.update(ctx)
    w = method.weights(Ctx(losses=t(1, 1), epoch=2))
    r = np.array([1 / 2, 3 / 4])  # L(1)/L(0)
    expected = 2 * np.exp(r / 2) / np.exp(r / 2).sum()
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-12)
    assert expected[1] > expected[0]  # the task that improved less gets more weight
    method.reset()
    torch.testing.assert_close(method.weights(Ctx(losses=t(1, 1), epoch=2)), t(1, 1))


# -------------------------------------------------------------------------------- GLS
def test_gls_hand_computed_and_autograd():
    losses = t(1.0, 4.0)
    torch.testing.assert_close(balance.get("gls").weights(Ctx(losses=losses)), t(2.0, 0.5))
    x = t(0.3, 1.7, 2.2).requires_grad_()
    (x.prod() ** (1 / 3)).backward()
    torch.testing.assert_close(balance.get("gls").weights(Ctx(losses=x.detach())), 3 * x.grad)


# ------------------------------------------------------------------------------- STCH
def test_stch_hand_computed():
    w = balance.get("stch", mu=1.0, mode="raw").weights(Ctx(losses=t(1.0, 2.0)))
    e, e2 = math.e, math.e**2
    torch.testing.assert_close(w, t(2 * e / (e + e2), 2 * e2 / (e + e2)))


@settings(max_examples=20, deadline=None)
@given(
    losses=st.lists(st.floats(0.01, 10.0), min_size=2, max_size=5),
    mu=st.floats(0.05, 5.0),
)
def test_stch_weights_are_k_times_the_autograd_gradient(losses, mu):
    k = len(losses)
    pref = tuple(np.linspace(0.5, 1.5, k))
    ideal = tuple(np.linspace(0.0, 0.005, k))
    x = torch.tensor(losses, dtype=torch.float64, requires_grad=True)
    lam, z = torch.tensor(pref, dtype=torch.float64), torch.tensor(ideal, dtype=torch.float64)
    (mu * torch.logsumexp(lam * (x - z) / mu, dim=0)).backward()
    stch = balance.get("stch", mu=mu, pref=pref, ideal=ideal, mode="raw")
    w = stch.weights(Ctx(losses=x.detach()))
    torch.testing.assert_close(w, k * x.grad)


def test_stch_limits():
    losses = t(1.0, 3.0, 2.0)
    wide, sharp = (balance.get("stch", mu=mu, mode="raw") for mu in (1e6, 1e-3))
    torch.testing.assert_close(wide.weights(Ctx(losses=losses)), t(1, 1, 1), atol=1e-5, rtol=0)
    torch.testing.assert_close(sharp.weights(Ctx(losses=losses)), t(0, 3, 0), atol=1e-6, rtol=0)


# ------------------------------------------------------------------------------- FAMO
def test_famo_weights_and_update_hand_computed():
    method = balance.get("famo", lr=0.025, gamma=1e-3, eps=0.0)
    before, after = np.array([1.0, 2.0]), np.array([0.5, 1.8])
    w = method.weights(Ctx(losses=torch.as_tensor(before)))
    # z = (½, ½): w ∝ z / L = (½, ¼), scaled to sum K = 2
    torch.testing.assert_close(w, t(4 / 3, 2 / 3))
    method.update(Ctx(losses=torch.as_tensor(after)))
    delta = np.log(before) - np.log(after)

    def grad(xi: np.ndarray) -> np.ndarray:
        z = np.exp(xi) / np.exp(xi).sum()
        return z * (delta - z @ delta)

    expected = ref.adam_steps(np.zeros(2), [grad], lr=0.025, weight_decay=1e-3)
    np.testing.assert_allclose(method.logits.numpy(), expected, rtol=1e-12)
    # the task that decreased more (task 0) loses logit mass
    assert expected[0] < expected[1]
    z = np.exp(expected) / np.exp(expected).sum()
    w_next = z / np.array([1.0, 1.0])
    np.testing.assert_allclose(
        method.weights(Ctx(losses=t(1.0, 1.0))).numpy(), 2 * w_next / w_next.sum()
    )


def test_famo_update_without_weights_is_an_error():
    with pytest.raises(ValueError, match="weights"):
        balance.get("famo").update(Ctx(losses=t(1.0, 2.0)))


# --------------------------------------------------------------------------- GradNorm
def test_gradnorm_first_update_hand_computed():
    method = balance.get("gradnorm", alpha=1.5, lr=0.025)
    ctx = Ctx(losses=t(1.0, 1.0), gramian=torch.diag(t(1.0, 4.0)))
    torch.testing.assert_close(method.weights(ctx), t(1, 1))
    method.update(ctx)
    # norms (1, 2), w·norms = (1, 2), target = mean · r^α = 1.5; ∂/∂w = sign(·)·norm = (−1, 2);
    # Adam's first step moves each weight by lr against the gradient's sign; sum stays 2
    torch.testing.assert_close(method.weights(ctx), t(1.025, 0.975))


def test_gradnorm_equalises_weighted_gradient_norms():
    method = balance.get("gradnorm", alpha=0.0, lr=0.01)
    ctx = Ctx(losses=t(1.0, 1.0, 1.0), gramian=torch.diag(t(1.0, 4.0, 9.0)))
    for _ in range(2000):
        method.update(ctx)
    w = method.weights(ctx)
    weighted = w * t(1.0, 2.0, 3.0)
    torch.testing.assert_close(weighted, weighted.mean().expand(3), atol=0.05, rtol=0)
    assert float(w.sum()) == pytest.approx(3.0)


# ----------------------------------------------------------------------------- DB-MTL
def test_db_mtl_two_steps_hand_computed():
    beta, sigma = 0.9, 0.5
    method = balance.get("db_mtl", beta=beta, beta_sigma=sigma, eps=0.0)
    j1, l1 = np.array([[3.0, 0.0], [0.0, 1.0]]), np.array([1.0, 0.5])
    j2, l2 = np.array([[1.0, 1.0], [2.0, 0.0]]), np.array([2.0, 1.0])
    d1 = method.aggregate(torch.as_tensor(j1), losses=torch.as_tensor(l1)).numpy()
    buf = (1 - beta) * j1 / l1[:, None]  # EMA from zero; rows ∝ (3, 0), (0, 2): norms 3, 2
    np.testing.assert_allclose(d1, buf[0] + 1.5 * buf[1])
    d2 = method.aggregate(torch.as_tensor(j2), losses=torch.as_tensor(l2)).numpy()
    g = j2 / l2[:, None]
    buf = g + beta / 2**sigma * (buf - g)
    norms = np.linalg.norm(buf, axis=1)
    np.testing.assert_allclose(d2, (norms.max() / norms) @ buf)


# ------------------------------------------------------------------------- ExcessMTL
def test_excess_mtl_warmup_then_exponentiated_step():
    method = balance.get("excess_mtl", step_size=1.0, warmup_steps=1)
    j1 = np.array([[1.0, 0.0], [0.0, 2.0]])
    w1 = method.aggregate(torch.as_tensor(j1)).numpy()
    np.testing.assert_allclose(w1, j1.sum(axis=0))  # warm-up: uniform (EW) weights
    # second call, same gradients: S = 2 J², e = Σ J² / √(2 J² + 1e-7), baseline e⁰ from call 1
    e0 = (j1**2 / np.sqrt(j1**2 + 1e-7)).sum(axis=1)
    e = (j1**2 / np.sqrt(2 * j1**2 + 1e-7)).sum(axis=1)
    w = np.exp(e / (e0 + 1e-7))
    w = 2 * w / w.sum()
    np.testing.assert_allclose(method.aggregate(torch.as_tensor(j1)).numpy(), w @ j1)
