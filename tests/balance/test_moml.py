"""MOML's first-order meta step and the simplex projection it uses.

References: the min-norm point of the hypergradient hull by SLSQP and the simplex projection
by SLSQP (tests/reference/balance_reference.py), the first-order descent property of the
MGDA direction, and a finite-difference check of the hypergradient on a quadratic model.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from tasklens import balance
from tasklens.balance._solvers import project_simplex
from tests.reference import balance_reference as ref

Ctx = balance.BalanceContext


def _slsqp_simplex_projection(v: np.ndarray) -> np.ndarray:
    k = len(v)
    res = minimize(
        lambda x: float(np.sum((x - v) ** 2)),
        np.full(k, 1.0 / k),
        method="SLSQP",
        bounds=[(0.0, None)] * k,
        constraints=({"type": "eq", "fun": lambda x: x.sum() - 1.0},),
        options={"ftol": 1e-15},
    )
    return res.x


@pytest.mark.parametrize("seed", range(5))
def test_simplex_projection(seed):
    v = np.random.default_rng(seed).normal(0, 2, 5)
    np.testing.assert_allclose(project_simplex(v), _slsqp_simplex_projection(v), atol=1e-7)


def test_meta_step_hand_example():
    beta = 0.1
    method = balance.get("moml", meta_lr=beta)
    train = torch.eye(2, dtype=torch.float64)
    held_out = torch.tensor([[1.0, 0.5], [-0.2, 1.0]], dtype=torch.float64)
    w = method.weights(Ctx(jacobian=train))
    torch.testing.assert_close(w, torch.ones(2, dtype=torch.float64))  # starts as EW
    method.update(Ctx(jacobian=held_out))
    hyper = -held_out.numpy()  # ∂F_j/∂λ_i ∝ −⟨∇F_j(θ⁺), g_i(θ)⟩
    v = ref.min_norm_hull_slsqp(hyper)
    # MGDA direction: no held-out objective increases to first order when λ moves along −v
    assert np.all(hyper @ v >= v @ v - 1e-9)
    expected = _slsqp_simplex_projection(np.array([0.5, 0.5]) - beta * v)
    np.testing.assert_allclose(method.simplex_weights, expected, atol=1e-6)
    np.testing.assert_allclose(method.weights(Ctx(jacobian=train)).numpy(), 2 * expected, atol=1e-6)


def test_hypergradient_matches_finite_differences_on_a_quadratic():
    """F_j(θ − η Σ λ_i g_i) has ∂/∂λ_i = −η ⟨∇F_j(θ⁺), g_i⟩ (the quantity MOML uses)."""
    rng = np.random.default_rng(0)
    a = [rng.normal(size=(3, 3)) for _ in range(2)]
    hess = [m @ m.T + np.eye(3) for m in a]
    theta, lam, eta = rng.normal(size=3), np.array([0.3, 0.7]), 0.05
    train_grads = rng.normal(size=(2, 3))

    def held_out_loss(j: int, lam_: np.ndarray) -> float:
        t = theta - eta * lam_ @ train_grads
        return 0.5 * float(t @ hess[j] @ t)

    plus = theta - eta * lam @ train_grads
    analytic = -eta * np.array([[hess[j] @ plus @ g for g in train_grads] for j in range(2)])
    h = 1e-6
    numeric = np.array(
        [
            [(held_out_loss(j, lam + h * e) - held_out_loss(j, lam - h * e)) / (2 * h)
             for e in np.eye(2)]
            for j in range(2)
        ]
    )  # fmt: skip
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6)


def test_update_protocol_errors():
    method = balance.get("moml")
    with pytest.raises(ValueError, match="weights"):
        method.update(Ctx(jacobian=torch.ones(2, 3, dtype=torch.float64)))
    method.weights(Ctx(jacobian=torch.ones(2, 3, dtype=torch.float64)))
    with pytest.raises(ValueError, match="same level"):
        method.update(Ctx(jacobian=torch.ones(2, 4, dtype=torch.float64)))
    assert method.post_step_update and method.update_batch == "held_out"
