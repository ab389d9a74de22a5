"""Nash-MTL / FairGrad when the task gradients cancel: keep the previous weights, warn, never
crash mid-run; report runaway (nearly cancelling) weights.

References are independent of ``_solvers``: SciPy's ``least_squares`` on the fairness
condition ``G w = w^(−1/α)``, and the cancellation factor recomputed from the Jacobian rows.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from scipy.optimize import least_squares
from torch import nn

from tasklens import balance
from tasklens.balance import BalanceContext
from tasklens.balance._alpha_fair import cancellation_factor
from tasklens.balance.engine import backward

METHODS = [("nash_mtl", {}, 1.0), ("fairgrad", {"alpha": 2.0}, 2.0)]


def _reference_weights(gram: np.ndarray, alpha: float) -> np.ndarray:
    """Positive root of G w = w^(-1/alpha) by SciPy least squares in log-coordinates."""
    def residual(log_w: np.ndarray) -> np.ndarray:
        w = np.exp(log_w)
        return (gram @ w - w ** (-1.0 / alpha)) * w
    sol = least_squares(residual, np.zeros(len(gram)), xtol=1e-15, ftol=1e-15, gtol=1e-15)
    return np.exp(sol.x)


def _ctx(jac: np.ndarray, step: int = 0, epoch: int = 0) -> BalanceContext:
    return BalanceContext(jacobian=torch.as_tensor(jac, dtype=torch.float64), step=step,
                          epoch=epoch)


CANCELLING = np.array([[1.0, 2.0, 0.0], [-1.0, -2.0, 0.0], [0.0, 0.0, 1.0]])


@pytest.mark.parametrize(("name", "hparams", "alpha"), METHODS)
def test_first_step_without_solution_uses_ones_and_warns(name, hparams, alpha, caplog):
    method = balance.get(name, **hparams)
    with caplog.at_level(logging.WARNING, logger="tasklens"):
        w = method.weights(_ctx(CANCELLING, step=3, epoch=1)).numpy()
    scale = np.mean(np.sum(CANCELLING**2, axis=1))
    # all-ones on the unit-mean-diagonal Gramian, rescaled: s^(-1/(1+1/alpha))
    np.testing.assert_allclose(w, np.full(3, scale ** (-1.0 / (1.0 + 1.0 / alpha))))
    assert method.fallbacks == 1
    message = caplog.text
    assert name in message and "step 3 (epoch 1)" in message and "cancel" in message


@pytest.mark.parametrize(("name", "hparams", "alpha"), METHODS)
def test_keeps_previous_weights_rescaled(name, hparams, alpha, caplog):
    rng = np.random.default_rng(0)
    good = rng.standard_normal((3, 3)) + 2.0 * rng.standard_normal(3)
    method = balance.get(name, **hparams)
    w_good = method.weights(_ctx(good)).numpy()
    gram_good = good @ good.T
    np.testing.assert_allclose(w_good, _reference_weights(gram_good, alpha), rtol=1e-7)
    bad = 10.0 * CANCELLING  # another gradient scale: the kept weights follow it
    with caplog.at_level(logging.WARNING, logger="tasklens"):
        w_bad = method.weights(_ctx(bad, step=7, epoch=2)).numpy()
    exponent = -1.0 / (1.0 + 1.0 / alpha)
    s_good = np.mean(np.diag(gram_good))
    s_bad = np.mean(np.sum(bad**2, axis=1))
    expected = w_good / s_good**exponent * s_bad**exponent  # normalised weights, new scale
    np.testing.assert_allclose(w_bad, expected, rtol=1e-12)
    assert "step 7 (epoch 2)" in caplog.text and "previous step's" in caplog.text
    assert method.fallbacks == 1
    method.reset()
    assert method.fallbacks == 0


@pytest.mark.parametrize(("name", "hparams", "alpha"), METHODS)
def test_zero_gradient_task_and_all_zero_do_not_crash(name, hparams, alpha, caplog):
    method = balance.get(name, **hparams)
    one_zero = np.array([[1.0, 0.0], [0.0, 0.0]])
    with caplog.at_level(logging.WARNING, logger="tasklens"):
        w = method.weights(_ctx(one_zero)).numpy()
        w0 = method.weights(_ctx(np.zeros((2, 2)))).numpy()
    assert np.all(np.isfinite(w)) and np.all(np.isfinite(w0))
    assert method.fallbacks == 2


def test_near_cancellation_warns_once_per_excursion(caplog):
    delta = 1e-5
    jac = np.array([[1.0, 0.0], [-1.0, delta]])  # cos = -1 + O(delta²)
    method = balance.get("nash_mtl")
    with caplog.at_level(logging.WARNING, logger="tasklens"):
        w = method.weights(_ctx(jac)).numpy()
        method.weights(_ctx(jac, step=1))
    gram = jac @ jac.T
    # the bargaining condition itself (cancellation costs ~w·1e-16 relative accuracy), and
    # its asymptotics: w1 ≈ w2 ≈ √2/δ (sum the two rows of G w = 1/w)
    np.testing.assert_allclose(gram @ w * w, 1.0, rtol=1e-4)
    np.testing.assert_allclose(w, np.sqrt(2.0) / delta, rtol=1e-4)
    kappa = np.abs(w) @ np.linalg.norm(jac, axis=1) / np.linalg.norm(w @ jac)
    assert kappa > 1e3
    np.testing.assert_allclose(cancellation_factor(gram, w), kappa, rtol=1e-6)
    warnings = [r for r in caplog.records if "nearly cancel" in r.getMessage()]
    assert len(warnings) == 1 and "step 0 (epoch 0)" in warnings[0].getMessage()
    method.weights(_ctx(np.eye(2), step=2))  # back to well-posed: re-arms the warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tasklens"):
        method.weights(_ctx(jac, step=3))
    assert "step 3" in caplog.text


def test_training_step_with_opposite_losses_does_not_crash(caplog):
    torch.manual_seed(0)
    shared = nn.Linear(3, 2).double()
    method = balance.get("nash_mtl")
    x = torch.randn(8, 3, dtype=torch.float64)
    opt = torch.optim.SGD(shared.parameters(), lr=0.1)
    with caplog.at_level(logging.WARNING, logger="tasklens"):
        for step in range(3):
            opt.zero_grad()
            out = shared(x).sum()
            losses = torch.stack([out, -out, (shared(x) ** 2).mean()])
            result = backward(losses, None, method, shared_params=list(shared.parameters()),
                              level="parameter", step=step, epoch=0)
            assert result.weights is not None and bool(torch.isfinite(result.weights).all())
            opt.step()
    assert method.fallbacks == 3 and "step 2 (epoch 0)" in caplog.text
