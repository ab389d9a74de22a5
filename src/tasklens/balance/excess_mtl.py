"""ExcessMTL: up-weight the tasks with the largest estimated excess risk."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from tasklens._common.validation import check_positive_int

from ._base import BalanceContext, BalanceMethod, check_real


class ExcessMTL(BalanceMethod):
    """Excess-risk weighting (He et al. 2024, "Robust Multi-Task Learning with Excess Risks",
    ICML, eq. 6–7 and 9, Sec. 3.2; a baseline of
    001_04ca9f643fb64e21.txt, Sec. 4.1).

    Formula: the excess risk of task ``i`` is estimated by a second-order expansion with an
    AdaGrad diagonal Hessian, ``eᵢ = Σₚ Jᵢₚ² / √(Sᵢₚ + 10⁻⁷)`` where ``Sᵢₚ`` accumulates
    ``Jᵢₚ²`` over all calls (including the current one); the scale processing divides by the
    baseline ``eᵢ⁰`` (mean of ``eᵢ`` over the first ``warmup_steps`` calls); then the
    exponentiated-gradient step ``wᵢ ← wᵢ exp(η eᵢ/eᵢ⁰)``, renormalised. During warm-up the
    weights stay uniform. It needs elementwise squares of the gradients, hence the Jacobian
    (and K×P memory for ``S``) — it weights losses, but cannot be computed from losses alone.

    Decision: with ``warmup_steps = 1`` (default) the first call only sets the baseline; the
    authors' code instead applies the raw (unscaled) ``eᵢ`` on the first call, which depends on
    the gradients' units. From the second call on both agree (TorchJD ``n_warmup_steps=1``).

    Scale: sum convention — weights ``K w`` (``w`` on the simplex).

    Head gradient: ``weighted`` — the official code (He et al. 2024,
    github.com/yifei-he/ExcessMTL, ``LibMTL/weighting/ExcessMTL.py``) backpropagates ``Σ_k w_k
    L_k``.

    Parameters
    ----------
    step_size : float
        ``η > 0`` (1.0, the authors' default ``robust_step_size``).
    warmup_steps : int
        Calls used to set the baseline ``e⁰`` (≥ 1; the paper's appendix C.1 suggests 3 epochs).
    """

    name = "excess_mtl"
    head_gradient: ClassVar[str] = "weighted"
    requires: ClassVar[frozenset[str]] = frozenset({"jacobian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    stateful = True

    def __init__(self, *, step_size: float = 1.0, warmup_steps: int = 1) -> None:
        self.step_size = check_real(step_size, "step_size", low=0.0, low_open=True)
        self.warmup_steps = check_positive_int(warmup_steps, "warmup_steps")
        self.reset()

    def reset(self) -> None:
        self._sq_sum: Tensor | None = None
        self._weights: Tensor | None = None
        self._baseline_sum: Tensor | None = None
        self._calls = 0

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        jac = ctx.jacobian
        assert jac is not None
        sq = jac.detach() ** 2  # state kept in the gradients' dtype: K×P can be large
        if self._sq_sum is None or self._sq_sum.shape != sq.shape or self._sq_sum.dtype != sq.dtype:
            self._sq_sum = torch.zeros_like(sq)
            self._weights = torch.full((k,), 1.0 / k, dtype=sq.dtype, device=sq.device)
            self._baseline_sum = torch.zeros(k, dtype=sq.dtype, device=sq.device)
            self._calls = 0
        assert self._weights is not None and self._baseline_sum is not None
        self._sq_sum += sq
        excess = (sq / torch.sqrt(self._sq_sum + 1e-7)).sum(dim=1)
        self._calls += 1
        if self._calls <= self.warmup_steps:
            self._baseline_sum += excess
        else:
            baseline = self._baseline_sum / self.warmup_steps
            scaled = excess / (baseline + 1e-7)
            self._weights = torch.softmax(torch.log(self._weights) + self.step_size * scaled, dim=0)
        return (k * self._weights).to(dtype=jac.dtype)
