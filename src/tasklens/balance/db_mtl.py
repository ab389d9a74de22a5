"""DB-MTL: balance loss scales by logarithms and gradient magnitudes by the largest norm."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ._base import BalanceContext, BalanceMethod, check_positive_losses, check_real


class DBMTL(BalanceMethod):
    """Dual-balancing MTL (Lin et al. 2023, "Dual-Balancing for Multi-Task Learning",
    arXiv:2308.12029, Sec. 3; Lin et al. 2025, Neural Networks, in Wu et al. 2026 (CORE-MTL),
    Sec. 5). The authors' code is LibMTL's ``LibMTL/weighting/DB_MTL.py``.

    Formula, step ``t = 1, 2, …`` (calls since :meth:`reset`): loss-scale balancing uses
    ``log Lᵢ``, whose gradient is ``ḡᵢ(t) = gᵢ / Lᵢ``; the gradients are smoothed by an EMA
    started at zero, ``ĝᵢ(0) = 0`` and ``ĝᵢ(t) = ḡᵢ(t) + (β / t^σ)(ĝᵢ(t−1) − ḡᵢ(t))``
    (no bias correction: ``ĝᵢ(1) = (1 − β) ḡᵢ(1)``); gradient-magnitude balancing rescales
    every task to the largest smoothed norm, ``d = Σᵢ (maxⱼ ‖ĝⱼ‖ / (‖ĝᵢ‖ + ε)) ĝᵢ``. The EMA
    makes ``d`` leave the span of the current gradients, so the method returns a direction.

    Decisions: the zero start, ``β = 0.9`` and ``σ = 0`` (a constant EMA factor) are the
    authors' code and its defaults (LibMTL ``config.py``: ``--DB_beta 0.9``,
    ``--DB_beta_sigma 0``). Remaining difference from that code: it takes ``log(Lᵢ + 10⁻⁸)``
    (head scales ``1 / (Lᵢ + 10⁻⁸)``) where we require ``Lᵢ > 0`` (a clear error otherwise)
    and take ``log Lᵢ`` (head scales ``1 / Lᵢ``); the two agree to a relative ``10⁻⁸ / Lᵢ``.
    Parameter level only, as in the authors' code: an EMA of representation-level gradients
    would average per-sample rows of different batches.

    Scale: published (every task contributes the largest smoothed norm).

    Head gradient: ``scaled`` with ``c_k = 1 / L_k`` (:meth:`head_scales`, this step's
    losses): head ``k`` receives ``∇ log L_k = ∇L_k / L_k``, as in the authors' code (LibMTL
    ``DB_MTL`` backpropagates every ``log L_k`` separately, which reaches head ``k`` only
    through ``L_k``); the shared parameters receive the direction.

    Parameters
    ----------
    beta : float
        EMA factor ``β`` in [0, 1] (0.9, the authors' default).
    beta_sigma : float
        Decay exponent ``σ ≥ 0`` of the EMA factor ``β / t^σ`` (0, the authors' default).
    eps : float
        Added to the norms (1e-8, as the authors' code).
    """

    name = "db_mtl"
    head_gradient: ClassVar[str] = "scaled"
    requires: ClassVar[frozenset[str]] = frozenset({"losses", "jacobian"})
    # parameter level only, as the authors' code (it refuses rep_grad): the EMA runs over
    # steps, and representation-level rows are per-sample gradients of *different* batches
    levels: ClassVar[frozenset[str]] = frozenset({"parameter"})
    output = "direction"
    stateful = True

    def __init__(self, *, beta: float = 0.9, beta_sigma: float = 0.0, eps: float = 1e-8) -> None:
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
        if self._buffer is None or self._buffer.shape != log_grads.shape:
            # the authors' code starts the EMA at zero (LibMTL DB_MTL.init_param)
            self._buffer = torch.zeros_like(log_grads)
            self._calls = 0
        self._calls += 1
        factor = self.beta / self._calls**self.beta_sigma
        self._buffer = log_grads + factor * (self._buffer.to(log_grads.dtype) - log_grads)
        # norms in float64: squares of float32 gradients overflow beyond ~1.8e19
        norms = torch.linalg.vector_norm(self._buffer, dim=1, dtype=torch.float64)
        alpha = norms.max() / (norms + self.eps)
        return alpha.to(self._buffer.dtype) @ self._buffer

    def head_scales(self, ctx: BalanceContext) -> Tensor:
        """``c_k = 1 / L_k`` (K,): head ``k`` receives ``∇ log L_k`` (requires ``L_k > 0``)."""
        if ctx.losses is None:
            raise ValueError(f"head_scales() of method {self.name!r} needs the losses in the "
                             "context")
        return 1.0 / check_positive_losses(ctx.losses.detach(), self.name)
