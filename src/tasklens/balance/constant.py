"""Constant: fixed, user-given task weights."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ._base import BalanceContext, BalanceMethod, reference_tensor
from .dualproj import check_pref, pref_or_ones


class Constant(BalanceMethod):
    """Constant (static) loss weights — the hand-tuned baseline of weighted-sum scalarisation
    (e.g. Kendall et al. 2018, "Multi-Task Learning Using Uncertainty to Weigh Losses for Scene
    Geometry and Semantics", CVPR, which motivates learning them instead; TorchJD's
    ``Constant`` aggregator).

    Formula: ``L = Σᵢ cᵢ Lᵢ``, i.e. ``w = c`` at every step and the direction ``Jᵀ c``.

    Scale: sum convention — ``c`` is used as given (``c = 1``, the default, is EW).

    Parameters
    ----------
    weights : sequence of float or None
        Non-negative ``c`` (K,). ``None`` means all ones.
    """

    name = "constant"
    requires: ClassVar[frozenset[str]] = frozenset()
    min_tasks = 1
    linear_under_scaling = True
    permutation_invariant = False
    head_gradient: ClassVar[str] = "weighted"

    def __init__(self, *, weights: tuple[float, ...] | None = None) -> None:
        self.weights_ = check_pref(weights, "weights")

    def hparams(self) -> dict[str, object]:
        return {"weights": self.weights_}

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        ref = reference_tensor(ctx)
        c = pref_or_ones(self.weights_, k, "weights")
        return torch.as_tensor(c, dtype=ref.dtype, device=ref.device)
