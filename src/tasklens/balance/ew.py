"""EW: equal weighting, the plain sum of the task losses."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ._base import BalanceContext, BalanceMethod, reference_tensor


class EW(BalanceMethod):
    """Equal weighting (Caruana 1997, "Multitask Learning"; the EW baseline of
    Wu et al. 2026 (CORE-MTL), Sec. 4.1).

    Formula: ``L = Σᵢ Lᵢ``, i.e. ``wᵢ = 1`` and the direction ``Σᵢ gᵢ``.

    Scale: this *defines* the sum convention every other method follows. Reads nothing but
    the number of tasks, so it needs no gradients (any level is accepted and ignored) and
    accepts a single task.

    Head gradient: ``weighted`` — the gradient of ``Σ_k L_k`` (both conventions coincide at ``w
    = 1``).
    """

    name = "ew"
    head_gradient: ClassVar[str] = "weighted"
    requires: ClassVar[frozenset[str]] = frozenset()
    min_tasks = 1
    linear_under_scaling = True

    def __init__(self) -> None:
        pass

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        ref = reference_tensor(ctx)
        return torch.ones(k, dtype=ref.dtype, device=ref.device)
