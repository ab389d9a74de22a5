"""FAMO: fast adaptive multitask optimisation, learning logits from the loss decrease."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ._base import (
    BalanceContext,
    BalanceMethod,
    check_positive_losses,
    check_real,
    reference_tensor,
)


class FAMO(BalanceMethod):
    """FAMO (Liu et al. 2023, "FAMO: Fast Adaptive Multitask Optimization", NeurIPS,
    Sec. 3, eq. 6–8 and Algorithm 1).

    Formula: logits ``ξ`` (initially 0), ``z = softmax(ξ)``. The step descends
    ``Σᵢ zᵢ log(Lᵢ − Lᵢ*) / c`` with ``c = Σᵢ zᵢ / (Lᵢ − Lᵢ*)`` held constant, i.e. loss weights
    ``wᵢ = zᵢ / (c (Lᵢ − Lᵢ*))`` (summing to one). After the step, with
    ``δᵢ = log(Lᵢ − Lᵢ*)_before − log(Lᵢ − Lᵢ*)_after`` (same batch), ``ξ`` takes one step along
    ``(∂z/∂ξ)ᵀ δ`` with weight decay ``γ`` — Adam, as in the authors' code (their Algorithm 1
    writes plain gradient descent). ``Lᵢ*`` (``min_losses``) defaults to 0.

    Scale: sum convention — weights ``K w``.

    Head gradient: ``weighted`` — the gradient of the weighted objective (the official FAMO
    code, Liu et al. 2023, backpropagates its weighted log-loss objective).

    Parameters
    ----------
    lr : float
        Step size ``β`` for ``ξ`` (0.025 in the paper).
    gamma : float
        Weight decay ``γ`` on ``ξ`` (1e-3 in the paper).
    min_losses : float
        Lower bound ``L*`` subtracted from every loss (0).
    eps : float
        Added inside the logarithms (1e-8, the authors' code).
    """

    name = "famo"
    head_gradient: ClassVar[str] = "weighted"
    requires: ClassVar[frozenset[str]] = frozenset({"losses"})
    stateful = True
    update_batch = "same"
    update_requires: ClassVar[frozenset[str]] = frozenset({"losses"})

    def __init__(
        self, *, lr: float = 0.025, gamma: float = 1e-3, min_losses: float = 0.0, eps: float = 1e-8
    ) -> None:
        self.lr = check_real(lr, "lr", low=0.0, low_open=True)
        self.gamma = check_real(gamma, "gamma", low=0.0)
        self.min_losses = check_real(min_losses, "min_losses")
        self.eps = check_real(eps, "eps", low=0.0)
        self.reset()

    def reset(self) -> None:
        self._logits: torch.Tensor | None = None
        self._optim: torch.optim.Optimizer | None = None
        self._last: torch.Tensor | None = None

    @property
    def logits(self) -> Tensor | None:
        """Current ``ξ`` (K,), or None before the first call."""
        return None if self._logits is None else self._logits.detach().clone()

    def _ensure(self, k: int) -> torch.Tensor:
        if self._logits is None or len(self._logits) != k:
            self._logits = torch.zeros(k, dtype=torch.float64, requires_grad=True)
            self._optim = torch.optim.Adam([self._logits], lr=self.lr, weight_decay=self.gamma)
        return self._logits

    def _shifted(self, losses: Tensor) -> Tensor:
        shifted = losses.detach().to("cpu", torch.float64) - self.min_losses
        return check_positive_losses(shifted, self.name) + self.eps

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        assert ctx.losses is not None
        z = torch.softmax(self._ensure(k).detach(), dim=0)
        shifted = self._shifted(ctx.losses)
        self._last = shifted
        w = z / shifted
        ref = reference_tensor(ctx)
        return (k * w / w.sum()).to(dtype=ref.dtype, device=ref.device)

    def update(self, ctx: BalanceContext) -> None:
        """One step on ``ξ``; ``ctx.losses`` must be the same batch's losses after the step."""
        k = self._check_context(ctx)
        if self._last is None or len(self._last) != k:
            raise ValueError("FAMO.update() needs a weights() call on the same batch before it")
        assert ctx.losses is not None and self._optim is not None
        logits = self._ensure(k)
        delta = torch.log(self._last) - torch.log(self._shifted(ctx.losses))
        z = torch.softmax(logits.detach(), dim=0)
        self._optim.zero_grad()
        logits.grad = z * (delta - (z * delta).sum())  # (∂z/∂ξ)ᵀ δ for the softmax Jacobian
        self._optim.step()
        self._last = None
