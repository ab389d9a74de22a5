"""GLS: minimise the geometric mean of the task losses."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ._base import BalanceContext, BalanceMethod, check_positive_losses


class GLS(BalanceMethod):
    """Geometric loss strategy (Chennupati et al. 2019, "MultiNet++: Multi-Stream Feature
    Aggregation and Geometric Loss Strategy for Multi-Task Learning", CVPR Workshops, eq. 2).

    Formula: ``L = (Πᵢ Lᵢ)^(1/K)``, whose gradient is ``Σᵢ (L / (K Lᵢ)) ∇Lᵢ``.

    Scale: sum convention — weights ``wᵢ = K ∂L/∂Lᵢ = L_geo / Lᵢ`` (all ones when the losses are
    equal, like EW). Losses must be positive.

    Head gradient: ``weighted`` — the gradient of the geometric-mean objective (LibMTL's GLS
    backpropagates it).
    """

    name = "gls"
    head_gradient: ClassVar[str] = "weighted"
    requires: ClassVar[frozenset[str]] = frozenset({"losses"})

    def __init__(self) -> None:
        pass

    def weights(self, ctx: BalanceContext) -> Tensor:
        self._check_context(ctx)
        assert ctx.losses is not None
        losses = check_positive_losses(ctx.losses.detach(), self.name)
        log = torch.log(losses.to(torch.float64))
        return (torch.exp(log.mean() - log)).to(losses.dtype)
