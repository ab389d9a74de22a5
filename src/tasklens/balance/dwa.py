"""DWA: weights from the rate of change of each task's epoch loss."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from ._base import (
    BalanceContext,
    BalanceMethod,
    check_positive_losses,
    check_real,
    reference_tensor,
)


class DWA(BalanceMethod):
    """Dynamic weight average (Liu et al. 2019, "End-to-End Multi-Task Learning with Attention",
    CVPR, eq. 7).

    Formula: ``wₖ(t) = K exp(rₖ(t−1)/T) / Σᵢ exp(rᵢ(t−1)/T)`` with ``rₖ(t−1) = Lₖ(t−1)/Lₖ(t−2)``,
    where ``Lₖ(t)`` is task k's mean training loss over epoch ``t``; ``wₖ = 1`` for the first two
    epochs. :meth:`update` accumulates the step's losses into the epoch of ``ctx.epoch``; an
    epoch counts as finished once a context with a later epoch arrives.

    Scale: sum convention (already in the paper: the weights sum to K).

    Head gradient: ``weighted`` — the gradient of ``Σ_k λ_k L_k`` (Liu et al. 2019, the MTAN
    code backpropagates it).

    Parameters
    ----------
    temperature : float
        ``T > 0`` (2.0 in the paper).
    """

    name = "dwa"
    head_gradient: ClassVar[str] = "weighted"
    requires: ClassVar[frozenset[str]] = frozenset({"losses"})
    stateful = True
    update_requires: ClassVar[frozenset[str]] = frozenset({"losses"})

    def __init__(self, *, temperature: float = 2.0) -> None:
        self.temperature = check_real(temperature, "temperature", low=0.0, low_open=True)
        self.reset()

    def reset(self) -> None:
        self._epoch_means: dict[int, np.ndarray] = {}
        self._current: int | None = None
        self._sum: np.ndarray | None = None
        self._count = 0

    def _close_epochs_before(self, epoch: int) -> None:
        if self._current is not None and epoch > self._current and self._count > 0:
            assert self._sum is not None
            self._epoch_means[self._current] = self._sum / self._count
            self._current, self._sum, self._count = None, None, 0

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        self._close_epochs_before(ctx.epoch)
        prev, prev2 = self._epoch_means.get(ctx.epoch - 1), self._epoch_means.get(ctx.epoch - 2)
        ref = reference_tensor(ctx)
        if prev is None or prev2 is None or len(prev) != k:
            return torch.ones(k, dtype=ref.dtype, device=ref.device)
        logits = (prev / prev2) / self.temperature
        e = np.exp(logits - logits.max())
        return torch.as_tensor(k * e / e.sum(), dtype=ref.dtype, device=ref.device)

    def update(self, ctx: BalanceContext) -> None:
        self._check_context(ctx)
        assert ctx.losses is not None
        losses = check_positive_losses(ctx.losses, self.name).detach().to("cpu", torch.float64)
        self._close_epochs_before(ctx.epoch)
        if self._current is None:
            self._current, self._sum, self._count = ctx.epoch, np.zeros(len(losses)), 0
        elif ctx.epoch < self._current:
            raise ValueError(
                f"epoch went back from {self._current} to {ctx.epoch}; call reset() between runs"
            )
        assert self._sum is not None
        self._sum = self._sum + losses.numpy()
        self._count += 1
