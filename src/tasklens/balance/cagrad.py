"""CAGrad: the best worst-case improvement within a ball around the average gradient."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from scipy.optimize import minimize
from torch import Tensor

from tasklens._common.validation import check_positive_int

from ._base import BalanceContext, BalanceMethod, check_real, gramian_numpy, reference_tensor


class CAGrad(BalanceMethod):
    """Conflict-averse gradient descent (Liu et al. 2021, "Conflict-Averse Gradient Descent for
    Multi-task Learning", NeurIPS, eq. 2 and Algorithm 1).

    Formula: with ``g₀ = (1/K) Σᵢ gᵢ`` and ``φ = c² ‖g₀‖²``, the primal problem
    ``max_{‖d − g₀‖ ≤ √φ} minᵢ gᵢᵀ d`` is solved through its dual over the simplex,
    ``w* = argmin_{w ∈ Δ} g_wᵀ g₀ + √φ ‖g_w‖`` with ``g_w = Σᵢ wᵢ gᵢ``, and
    ``d = g₀ + (√φ / ‖g_w*‖) g_w*`` — all in Gramian form (``g_wᵀ g₀ = wᵀ G 1 / K``).
    ``c = 0`` gives the mean gradient.

    Scale: sum convention — ``K d / r`` where ``r`` is the ``rescale`` divisor below.

    Head gradient: ``task`` — the official code (Liu et al. 2021,
    github.com/Cranial-XIX/CAGrad) backpropagates every ``L_k``, resets only the shared
    gradients between tasks and overwrites them with the CAGrad direction, so head ``k`` keeps
    ``∇L_k``; so does the Nash-MTL code base's port.

    Parameters
    ----------
    c : float
        Radius factor, ``c ≥ 0`` (0.4: the paper's NYUv2 / Cityscapes setting).
    rescale : {0, 1, 2}
        Divide ``d`` by 1, ``1 + c²`` or ``1 + c`` (the authors' code; default 1, ``1 + c²``).
    max_iter : int
        SLSQP iterations for the dual problem.
    """

    name = "cagrad"
    head_gradient: ClassVar[str] = "task"
    requires: ClassVar[frozenset[str]] = frozenset({"gramian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})

    def __init__(self, *, c: float = 0.4, rescale: int = 1, max_iter: int = 200) -> None:
        self.c = check_real(c, "c", low=0.0)
        if isinstance(rescale, bool) or rescale not in (0, 1, 2):
            raise ValueError(f"rescale must be 0, 1 or 2, got {rescale!r}")
        self.rescale = int(rescale)
        self.max_iter = check_positive_int(max_iter, "max_iter")

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        gram = gramian_numpy(ctx)
        scale = float(np.mean(np.diag(gram)))
        weights = np.full(k, 1.0 / k)
        if self.c > 0.0 and scale > 0.0:
            g = gram / scale  # the dual's minimiser does not depend on a global scale
            b = g @ np.full(k, 1.0 / k)  # Gram column of g₀
            sqrt_phi = self.c * np.sqrt(max(float(np.full(k, 1.0 / k) @ b), 0.0))
            if sqrt_phi > 0.0:
                w_star = _solve_dual(g, b, sqrt_phi, self.max_iter)
                gw_norm = np.sqrt(max(float(w_star @ g @ w_star), 0.0))
                if gw_norm > 1e-12:
                    weights = weights + (sqrt_phi / gw_norm) * w_star
        divisor = {0: 1.0, 1: 1.0 + self.c**2, 2: 1.0 + self.c}[self.rescale]
        ref = reference_tensor(ctx)
        return torch.as_tensor(k * weights / divisor, dtype=ref.dtype, device=ref.device)


def _solve_dual(g: np.ndarray, b: np.ndarray, sqrt_phi: float, max_iter: int) -> np.ndarray:
    """``argmin_{w ∈ Δ} wᵀ b + √φ √(wᵀ G w)`` by SLSQP (as in the authors' code)."""
    k = len(b)

    def objective(w: np.ndarray) -> tuple[float, np.ndarray]:
        gw = g @ w
        norm = np.sqrt(max(float(w @ gw), 1e-20))
        return float(w @ b) + sqrt_phi * norm, b + sqrt_phi * gw / norm

    result = minimize(
        objective,
        np.full(k, 1.0 / k),
        jac=True,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * k,
        constraints=({"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(k)},),
        options={"maxiter": max_iter, "ftol": 1e-12},
    )
    w = np.clip(result.x, 0.0, None)
    return w / w.sum()
