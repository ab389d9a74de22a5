"""Property checks shared by every registered balancing method, driven by its declarations.

Each ``check_*`` function takes a method *name* (a fresh instance is built for every call, so
stateful methods are checked on their first step and seeded ones replay the same draws) and
raises ``AssertionError`` with the offending numbers when the property fails. The class-level
declarations say which properties a method claims:

``non_conflicting``
    ``gₖᵀ d ≥ 0`` for every task ``k`` (checked on full-row-rank Jacobians, ``K ≤ P``).
``permutation_invariant``
    Permuting the tasks (rows of ``J`` and the losses) permutes the weights and leaves the
    direction unchanged.
``linear_under_scaling``
    ``c ↦ d(diag(c) J)`` is linear on ``c > 0`` (Quinton & Rey 2024, "Jacobian Descent for
    Multi-Objective Optimization", arXiv:2406.16232, "linear under scaling"): checked as
    ``d(diag(a c₁ + b c₂) J) = a d(diag(c₁) J) + b d(diag(c₂) J)`` for ``a, b > 0``.

:func:`check_finite` applies to every method: float32 inputs scaled to extreme magnitudes must
give a finite output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tasklens import balance
from tests.reference import balance_reference as bref

HPARAMS: dict[str, dict[str, Any]] = {}
"""Constructor keyword arguments for the property runs (the registry defaults otherwise)."""


def make(name: str) -> balance.BalanceMethod:
    """A fresh instance of the registered method ``name``."""
    return balance.get(name, **HPARAMS.get(name, {}))


def problem(
    k: int, p: int, *, seed: int, dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, torch.Tensor]:
    """A full-row-rank (K, P) Jacobian (singular values in [1, 10]) and positive losses (K,)."""
    jac = bref.random_jacobian(k, p, seed=seed)
    losses = np.random.default_rng(seed + 1000).uniform(0.5, 2.0, k)
    return torch.as_tensor(jac, dtype=dtype), torch.as_tensor(losses, dtype=dtype)


def context_for(
    method: balance.BalanceMethod, jac: torch.Tensor, losses: torch.Tensor
) -> balance.BalanceContext:
    """A context holding exactly what the method declares (losses are always present)."""
    fields: dict[str, torch.Tensor] = {"losses": losses}
    if "jacobian" in method.requires or method.output == "direction":
        fields["jacobian"] = jac
    elif "gramian" in method.requires:
        fields["gramian"] = jac @ jac.T
    level = "parameter" if method.needs_gradients else None
    return balance.BalanceContext(**fields, level=level)


def step(
    name: str, jac: torch.Tensor, losses: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(direction, weights or None)`` of a fresh instance's first step."""
    method = make(name)
    ctx = context_for(method, jac, losses)
    if method.output == "direction":
        return method.direction(ctx), None
    w = method.weights(ctx)
    return w.to(jac.dtype) @ jac, w


def _close(actual: torch.Tensor, expected: torch.Tensor, rtol: float, what: str) -> None:
    scale = max(float(expected.abs().max()), float(actual.abs().max()), 1e-300)
    err = float((actual - expected).abs().max())
    assert err <= rtol * scale, f"{what}: max |diff| {err:.3e} > {rtol:.1e} × {scale:.3e}"


def check_non_conflicting(name: str, jac: torch.Tensor, losses: torch.Tensor,
                          tol: float = 1e-9) -> None:  # fmt: skip
    """``gₖᵀ d ≥ −tol ‖gₖ‖ ‖d‖`` for every task."""
    d, _ = step(name, jac, losses)
    inner = jac @ d
    bound = -tol * jac.norm(dim=1) * d.norm()
    assert bool((inner >= bound).all()), f"{name}: gₖᵀd = {inner.tolist()} (conflict)"


def check_permutation(name: str, jac: torch.Tensor, losses: torch.Tensor,
                      perm: tuple[int, ...], rtol: float = 1e-6) -> None:  # fmt: skip
    """Permuted tasks: same direction, permuted weights."""
    index = torch.as_tensor(perm)
    d, w = step(name, jac, losses)
    d_perm, w_perm = step(name, jac[index], losses[index])
    _close(d_perm, d, rtol, f"{name}: direction after permuting the tasks by {perm}")
    if w is not None and w_perm is not None:
        _close(w_perm, w[index], rtol, f"{name}: weights after permuting the tasks by {perm}")


def check_linear_under_scaling(name: str, jac: torch.Tensor, losses: torch.Tensor,
                               seed: int, rtol: float = 1e-6) -> None:  # fmt: skip
    """``d(diag(a c₁ + b c₂) J) = a d(diag(c₁) J) + b d(diag(c₂) J)`` for random c, a, b > 0."""
    rng = np.random.default_rng(seed)
    k = jac.shape[0]
    c1, c2 = (torch.as_tensor(rng.uniform(0.2, 3.0, k), dtype=jac.dtype) for _ in range(2))
    a, b = (float(x) for x in rng.uniform(0.2, 3.0, 2))

    def d_of(c: torch.Tensor) -> torch.Tensor:
        return step(name, c[:, None] * jac, losses)[0]

    _close(d_of(a * c1 + b * c2), a * d_of(c1) + b * d_of(c2), rtol,
           f"{name}: d(diag(a c1 + b c2) J) vs a d(diag(c1) J) + b d(diag(c2) J)")  # fmt: skip


def check_finite(name: str, jac: torch.Tensor, losses: torch.Tensor, scale: float) -> None:
    """float32 gradients and losses multiplied by ``scale`` give a finite output."""
    jac32 = (jac.double() * scale).float()
    losses32 = (losses.double() * scale).float()
    d, w = step(name, jac32, losses32)
    assert bool(torch.isfinite(d).all()), f"{name}: non-finite direction at scale {scale:g}"
    if w is not None:
        assert bool(torch.isfinite(w).all()), f"{name}: non-finite weights at scale {scale:g}"
