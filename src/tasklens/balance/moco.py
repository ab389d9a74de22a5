"""MoCo: track the task gradients with moving averages and descend their MGDA-style combination."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from ._base import BalanceContext, BalanceMethod, check_real
from .modo import project_simplex_stable


class MoCo(BalanceMethod):
    """Multi-objective gradient correction (Fernando et al. 2023, "Mitigating Gradient Bias in
    Multi-objective Learning: A Provably Convergent Approach", ICLR, Algorithm 1).

    Formula: with step counter ``t = 1, 2, …``, ``βₜ = β / t^{σ_β}`` and ``γₜ = γ / t^{σ_γ}``:

    - tracking: ``Yₜ = Yₜ₋₁ − βₜ (Yₜ₋₁ − Jₜ)`` (``Y₀ = 0``, one row per task) — a moving
      average whose bias vanishes, unlike the stochastic ``Jₜ`` MGDA would use;
    - weights: ``λₜ = Π_Δ(λₜ₋₁ − γₜ (Yₜ Yₜᵀ + ρ I) λₜ₋₁)`` (``λ₀`` uniform);
    - direction: ``d = Yₜᵀ λₜ``.

    ``d`` is a combination of *tracked* gradients, not of this step's, so the method returns a
    direction and needs the Jacobian. The paper's optional projection of ``Y`` onto a ball of
    radius ``L_f`` is omitted (as in the authors' code). ``normalize=True`` replaces each row of
    ``Jₜ`` by ``gᵢ Lᵢ / ‖gᵢ‖`` before tracking (the authors' / LibMTL's practical variant; it then
    also needs the losses); LibMTL further swaps ``Π_Δ`` for a softmax, which we do not.

    Scale: sum convention — ``K Yₜᵀ λₜ``.

    Parameters
    ----------
    beta, beta_sigma : float
        Tracking step ``β ∈ (0, 1]`` (0.5) and its decay exponent ``σ_β ≥ 0`` (0.5).
    gamma, gamma_sigma : float
        Weight step ``γ > 0`` (0.1) and its decay exponent ``σ_γ ≥ 0`` (0.5).
    rho : float
        ``ℓ₂`` regularisation ``ρ ≥ 0`` of the weight update (0).
    normalize : bool
        Rescale each task gradient to the task's loss before tracking (False: the paper).
    """

    name = "moco"
    requires: ClassVar[frozenset[str]] = frozenset({"jacobian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    output = "direction"
    stateful = True
    head_gradient: ClassVar[str] = "task"

    def __init__(
        self,
        *,
        beta: float = 0.5,
        beta_sigma: float = 0.5,
        gamma: float = 0.1,
        gamma_sigma: float = 0.5,
        rho: float = 0.0,
        normalize: bool = False,
    ) -> None:
        self.beta = check_real(beta, "beta", low=0.0, high=1.0, low_open=True)
        self.beta_sigma = check_real(beta_sigma, "beta_sigma", low=0.0)
        self.gamma = check_real(gamma, "gamma", low=0.0, low_open=True)
        self.gamma_sigma = check_real(gamma_sigma, "gamma_sigma", low=0.0)
        self.rho = check_real(rho, "rho", low=0.0)
        if not isinstance(normalize, bool):
            raise TypeError(f"normalize must be a bool, got {type(normalize).__name__}")
        self.normalize = normalize
        self.reset()

    def reset(self) -> None:
        self._tracked: Tensor | None = None
        self._lambda: np.ndarray | None = None
        self._t = 0

    @property
    def simplex_weights(self) -> np.ndarray | None:
        """Current ``λ`` (K,) on the simplex, or None before the first call."""
        return None if self._lambda is None else self._lambda.copy()

    def _rows(self, ctx: BalanceContext) -> Tensor:
        assert ctx.jacobian is not None
        jac = ctx.jacobian.detach()
        if not self.normalize:
            return jac
        if ctx.losses is None:
            raise ValueError("MoCo with normalize=True needs the losses in the context")
        norms = jac.norm(dim=1, keepdim=True)
        scale = ctx.losses.detach().to(jac)[:, None] / torch.where(norms > 0, norms, 1.0)
        return jac * scale

    def direction(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        rows = self._rows(ctx)
        if self._tracked is None or self._tracked.shape != rows.shape:
            self._tracked = torch.zeros_like(rows)
            self._lambda = np.full(k, 1.0 / k)
            self._t = 0
        assert self._lambda is not None
        self._t += 1
        beta_t = self.beta / self._t**self.beta_sigma
        gamma_t = self.gamma / self._t**self.gamma_sigma
        self._tracked = self._tracked.to(rows) - beta_t * (self._tracked.to(rows) - rows)
        tracked64 = self._tracked.to(torch.float64)
        gram = (tracked64 @ tracked64.T).cpu().numpy()
        lam = self._lambda
        self._lambda = project_simplex_stable(lam - gamma_t * (gram @ lam + self.rho * lam))
        weights = torch.as_tensor(k * self._lambda, dtype=rows.dtype, device=rows.device)
        return weights @ self._tracked
