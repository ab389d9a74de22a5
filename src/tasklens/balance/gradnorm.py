"""GradNorm: learn loss weights that equalise weighted gradient norms, paced by loss ratios."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ._base import BalanceContext, BalanceMethod, check_positive_losses, check_real, gramian_numpy


class GradNorm(BalanceMethod):
    """GradNorm (Chen et al. 2018, "GradNorm: Gradient Normalization for Adaptive Loss
    Balancing in Deep Multitask Networks", ICML, Sec. 3.2, eq. 1–2 and Algorithm 1; a baseline of
    Wu et al. 2026 (CORE-MTL), Sec. 4.1).

    Formula: with ``G_W⁽ⁱ⁾ = wᵢ ‖gᵢ‖`` (``‖gᵢ‖² = Gᵢᵢ``, gradients w.r.t. the last shared
    layer — or the shared features), ``Ḡ_W`` their mean, ``L̃ᵢ = Lᵢ(t)/Lᵢ(0)`` and
    ``rᵢ = L̃ᵢ / mean(L̃)``, :meth:`update` descends ``L_grad = Σᵢ |G_W⁽ⁱ⁾ − Ḡ_W rᵢ^α|`` in ``w``
    with the target ``Ḡ_W rᵢ^α`` held constant (``∂L_grad/∂wᵢ = sign(·) ‖gᵢ‖``), then
    renormalises ``Σ wᵢ = K``. ``Lᵢ(0)`` is the loss at the first update. The paper trains ``w``
    with the network's optimiser; we keep an internal Adam with rate ``lr``.

    Scale: sum (as published: ``Σ wᵢ = K``, initial ``w = 1``).

    Head gradient: ``weighted`` — Chen et al. 2018 train the network on ``Σ_i w_i(t) L_i``
    (their eq. 1); heads receive ``w_k ∇L_k``.

    Parameters
    ----------
    alpha : float
        Restoring-force asymmetry ``α ≥ 0`` (1.5 in the paper's NYUv2 experiments).
    lr : float
        Adam learning rate for ``w`` (0.025; the paper reuses the network's).
    """

    name = "gradnorm"
    head_gradient: ClassVar[str] = "weighted"
    requires: ClassVar[frozenset[str]] = frozenset({"losses", "gramian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    stateful = True
    update_requires: ClassVar[frozenset[str]] = frozenset({"losses", "gramian"})

    def __init__(self, *, alpha: float = 1.5, lr: float = 0.025) -> None:
        self.alpha = check_real(alpha, "alpha", low=0.0)
        self.lr = check_real(lr, "lr", low=0.0, low_open=True)
        self.reset()

    def reset(self) -> None:
        self._w: torch.Tensor | None = None
        self._optim: torch.optim.Optimizer | None = None
        self._initial: Tensor | None = None

    def _ensure(self, k: int) -> torch.Tensor:
        if self._w is None or len(self._w) != k:
            self._w = torch.ones(k, dtype=torch.float64, requires_grad=True)
            self._optim = torch.optim.Adam([self._w], lr=self.lr)
            self._initial = None
        return self._w

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        ref = ctx.losses if ctx.losses is not None else ctx.gramian_or_compute()
        return self._ensure(k).detach().to(dtype=ref.dtype, device=ref.device)

    def update(self, ctx: BalanceContext) -> None:
        k = self._check_context(ctx)
        w = self._ensure(k)
        assert ctx.losses is not None and self._optim is not None
        losses = check_positive_losses(ctx.losses.detach(), self.name).to("cpu", torch.float64)
        if self._initial is None:
            self._initial = losses.clone()
        norms = torch.sqrt(torch.clamp(torch.diagonal(torch.as_tensor(gramian_numpy(ctx))), 0))
        ratio = losses / self._initial
        rate = ratio / ratio.mean()
        weighted = w.detach() * norms
        target = weighted.mean() * rate**self.alpha
        self._optim.zero_grad()
        w.grad = torch.sign(weighted - target) * norms
        self._optim.step()
        with torch.no_grad():
            w.clamp_(min=1e-8)
            w.mul_(k / w.sum())
