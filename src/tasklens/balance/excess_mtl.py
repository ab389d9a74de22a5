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
    Wu et al. 2026 (CORE-MTL), Sec. 4.1).

    Formula: the excess risk of task ``i`` is estimated by a second-order expansion with an
    AdaGrad diagonal Hessian, ``eᵢ = Σₚ Jᵢₚ² / √(Sᵢₚ + 10⁻⁷)`` where ``Sᵢₚ`` accumulates
    ``Jᵢₚ²`` over all calls (including the current one); the scale processing divides by the
    baseline ``eᵢ⁰`` (mean of ``eᵢ`` over the first ``warmup_steps`` calls); then the
    exponentiated-gradient step ``wᵢ ← wᵢ exp(η eᵢ/eᵢ⁰)``, renormalised. During warm-up the
    weights stay uniform. It needs elementwise squares of the gradients, hence the Jacobian
    (and K×P memory for ``S``) — it weights losses, but cannot be computed from losses alone.

    Decision: with ``warmup_steps = 1`` (default) the first call only sets the baseline
    ``e⁰ = e(1)`` and returns uniform weights; from the second call on, ``e / e⁰`` drives the
    step. This is what the authors' code does (``yifei-he/ExcessMTL``,
    ``LibMTL/LibMTL/weighting/ExcessMTL.py``, and LibMTL's copy): its first call stores
    ``initial_w`` and keeps the weights at 1. Remaining differences from that code: it divides
    by ``e⁰`` without the ``10⁻⁷`` guard, and starts from weights 1 (sum K) where we start from
    ``1/K`` (reported ×K, the same numbers). TorchJD 0.18's ``ExcessMTL(n_warmup_steps=0)``
    (its default) instead applies the raw, unscaled ``eᵢ`` on the first call;
    ``n_warmup_steps=1`` equals ours.

    Limitation: at the representation level the authors' code first sums each task's
    per-sample gradients over the batch, giving one (d,) row per task, before accumulating
    ``S``; the context here holds the flattened (K, N·d) rows, so ``S`` accumulates per
    (sample position, feature) across batches. Prefer the parameter level.

    Scale: sum convention — weights ``K w`` (``w`` on the simplex).

    Head gradient: ``weighted`` — the official code (He et al. 2024,
    github.com/yifei-he/ExcessMTL, ``LibMTL/weighting/ExcessMTL.py``) backpropagates ``Σ_k w_k
    L_k``.

    Parameters
    ----------
    step_size : float
        ``η > 0`` (0.01, the authors' default ``--robust_step_size 1e-2`` in
        ``LibMTL/LibMTL/config.py`` of ``yifei-he/ExcessMTL``, also LibMTL's; TorchJD's
        default is 1.0).
    warmup_steps : int
        Calls used to set the baseline ``e⁰`` (≥ 1; the paper's appendix C.1 suggests 3 epochs).
    """

    name = "excess_mtl"
    head_gradient: ClassVar[str] = "weighted"
    requires: ClassVar[frozenset[str]] = frozenset({"jacobian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    stateful = True

    def __init__(self, *, step_size: float = 0.01, warmup_steps: int = 1) -> None:
        self.step_size = check_real(step_size, "step_size", low=0.0, low_open=True)
        self.warmup_steps = check_positive_int(warmup_steps, "warmup_steps")
        self.reset()

    def reset(self) -> None:
        self._root: Tensor | None = None
        self._weights: Tensor | None = None
        self._baseline_sum: Tensor | None = None
        self._calls = 0

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        jac = ctx.jacobian
        assert jac is not None
        grad = jac.detach().abs()
        # The K×P state is kept in the gradients' dtype (it can be large) as the root of the
        # sum of squares, r = sqrt(Σ g²), updated with hypot: squares of float32 gradients
        # overflow beyond ~1.8e19 (and underflow below ~1e-19), hypot does neither.
        if self._root is None or self._root.shape != grad.shape or self._root.dtype != grad.dtype:
            self._root = torch.zeros_like(grad)
            self._weights = torch.full((k,), 1.0 / k, dtype=torch.float64, device=grad.device)
            self._baseline_sum = torch.zeros(k, dtype=torch.float64, device=grad.device)
            self._calls = 0
        assert self._weights is not None and self._baseline_sum is not None
        self._root = torch.hypot(self._root, grad)
        # g² / sqrt(Σ g² + 1e-7) = |g| · (|g| / hypot(r, sqrt(1e-7))), the ratio in [0, 1];
        # the product and the sum over P in float64 (no underflow of the tiny terms)
        ratio = grad / torch.hypot(self._root, torch.tensor(1e-7 ** 0.5, dtype=grad.dtype,
                                                            device=grad.device))
        excess = (grad.to(torch.float64) * ratio.to(torch.float64)).sum(dim=1)
        self._calls += 1
        if self._calls <= self.warmup_steps:
            self._baseline_sum += excess
        else:
            baseline = self._baseline_sum / self.warmup_steps
            scaled = excess / (baseline + 1e-7)
            self._weights = torch.softmax(torch.log(self._weights) + self.step_size * scaled, dim=0)
        return (k * self._weights).to(dtype=jac.dtype)
