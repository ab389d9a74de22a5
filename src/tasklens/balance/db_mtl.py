"""DB-MTL: balance loss scales by logarithms and gradient magnitudes by the largest norm."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from ._base import BalanceContext, BalanceMethod, check_positive_losses, check_real


class DBMTL(BalanceMethod):
    """Dual-balancing MTL (Lin et al. 2023, "Dual-Balancing for Multi-Task Learning",
    arXiv:2308.12029, Sec. 3, eq. 3–5; Lin et al. 2025 in 001_04ca9f643fb64e21.txt, Sec. 5).

    Formula: loss-scale balancing uses ``log Lᵢ``, whose gradient is ``gᵢ / Lᵢ``; the
    gradients are smoothed, ``ĝᵢ(t) = ḡᵢ(t) + (β / t^σ)(ĝᵢ(t−1) − ḡᵢ(t))`` with
    ``ḡᵢ = gᵢ/Lᵢ`` and ``ĝᵢ(1) = ḡᵢ(1)`` (the authors' code); gradient-magnitude balancing
    rescales every task to the largest norm, ``d = Σᵢ (maxⱼ ‖ĝⱼ‖ / ‖ĝᵢ‖) ĝᵢ``. The EMA makes
    ``d`` leave the span of the current gradients, so the method returns a direction.

    Scale: published (every task contributes the largest smoothed norm).

    Head gradient: ``task`` — a direction method: heads receive ``∇L_k``. Deviation: the
    authors' code (LibMTL ``DB_MTL``, which backpropagates every ``log L_k`` separately) gives
    head ``k`` ``∇ log L_k = ∇L_k / L_k``; the declaration has no such option.

    Parameters
    ----------
    beta : float
        EMA factor in [0, 1) (0.9, the authors' default).
    beta_sigma : float
        Decay exponent ``σ ≥ 0`` of the EMA factor (0.5, the authors' default).
    eps : float
        Added to the norms (1e-8).
    """

    name = "db_mtl"
    head_gradient: ClassVar[str] = "task"
    requires: ClassVar[frozenset[str]] = frozenset({"losses", "jacobian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    output = "direction"
    stateful = True

    def __init__(self, *, beta: float = 0.9, beta_sigma: float = 0.5, eps: float = 1e-8) -> None:
        self.beta = check_real(beta, "beta", low=0.0, high=1.0)
        self.beta_sigma = check_real(beta_sigma, "beta_sigma", low=0.0)
        self.eps = check_real(eps, "eps", low=0.0)
        self.reset()

    def reset(self) -> None:
        self._buffer: Tensor | None = None
        self._calls = 0

    def direction(self, ctx: BalanceContext) -> Tensor:
        self._check_context(ctx)
        jac, losses = ctx.jacobian, ctx.losses
        assert jac is not None and losses is not None
        losses = check_positive_losses(losses.detach(), self.name)
        log_grads = jac.detach() / losses.to(jac.dtype)[:, None]
        self._calls += 1
        if self._buffer is None or self._buffer.shape != log_grads.shape or self._calls == 1:
            self._buffer, self._calls = log_grads.clone(), 1
        else:
            factor = self.beta / self._calls**self.beta_sigma
            self._buffer = log_grads + factor * (self._buffer - log_grads)
        norms = self._buffer.norm(dim=1)
        alpha = norms.max() / (norms + self.eps)
        return alpha @ self._buffer
