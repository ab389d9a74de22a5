"""UW: homoscedastic-uncertainty weighting with learnable log-variances."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ._base import BalanceContext, BalanceMethod, check_real, reference_tensor


class UW(BalanceMethod):
    """Uncertainty weighting (Kendall et al. 2018, "Multi-Task Learning Using Uncertainty to
    Weigh Losses for Scene Geometry and Semantics", CVPR, eq. 7 and 10).

    Formula: ``L = Σᵢ exp(−sᵢ) Lᵢ + sᵢ`` with learnable log-variances ``sᵢ = log σᵢ²``
    (initially 0). Network weights: ``wᵢ = exp(−sᵢ)``. :meth:`update` takes one Adam step on
    ``s`` with the step's (detached) losses, using ``∂L/∂sᵢ = 1 − exp(−sᵢ) Lᵢ``; at a fixed loss
    the optimum is ``sᵢ = log Lᵢ``, i.e. ``wᵢ = 1/Lᵢ``. The paper writes ``1/(2σ²)`` for
    regression and ``1/σ²`` for classification; the common simplification used here drops the
    ½ (a constant per-task rescale absorbed by ``s``) so that the initial weights equal EW.

    Scale: sum convention (``s = 0`` gives EW).

    Head gradient: ``weighted`` — the gradient of the uncertainty-weighted objective (Kendall
    et al. 2018; LibMTL's UW backpropagates it).

    Parameters
    ----------
    lr : float
        Adam learning rate for ``s`` (the paper trains ``s`` with the network's optimiser; 1e-3).
    """

    name = "uw"
    head_gradient: ClassVar[str] = "weighted"
    requires: ClassVar[frozenset[str]] = frozenset({"losses"})
    stateful = True
    update_requires: ClassVar[frozenset[str]] = frozenset({"losses"})

    def __init__(self, *, lr: float = 1e-3) -> None:
        self.lr = check_real(lr, "lr", low=0.0, low_open=True)
        self.reset()

    def reset(self) -> None:
        self._log_var: torch.Tensor | None = None
        self._optim: torch.optim.Optimizer | None = None

    @property
    def log_variances(self) -> Tensor | None:
        """Current ``s`` (K,), or None before the first call."""
        return None if self._log_var is None else self._log_var.detach().clone()

    def _ensure(self, k: int) -> torch.Tensor:
        if self._log_var is None or len(self._log_var) != k:
            self._log_var = torch.zeros(k, dtype=torch.float64, requires_grad=True)
            self._optim = torch.optim.Adam([self._log_var], lr=self.lr)
        return self._log_var

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        ref = reference_tensor(ctx)
        return torch.exp(-self._ensure(k).detach()).to(dtype=ref.dtype, device=ref.device)

    def update(self, ctx: BalanceContext) -> None:
        k = self._check_context(ctx)
        log_var = self._ensure(k)
        assert ctx.losses is not None and self._optim is not None
        losses = ctx.losses.detach().to("cpu", torch.float64)
        self._optim.zero_grad()
        objective = (torch.exp(-log_var) * losses + log_var).sum()
        objective.backward()
        self._optim.step()
