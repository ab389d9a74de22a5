"""Nash-MTL: the Nash bargaining solution between tasks."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ._base import BalanceContext, BalanceMethod, gramian_numpy, reference_tensor
from ._solvers import alpha_fair_weights


class NashMTL(BalanceMethod):
    """Nash bargaining for MTL (Navon et al. 2022, "Multi-Task Learning as a Bargaining Game",
    ICML, Sec. 3, eq. 3 / Claim 3.2).

    Formula: the bargaining direction ``d = Σᵢ αᵢ gᵢ`` maximises ``Σᵢ log(gᵢᵀ d)`` in a ball;
    its weights are the positive solution of ``G α = 1/α`` (elementwise; with ``G = J Jᵀ``),
    so every task gets ``gᵢᵀ d = 1/αᵢ``. We solve this condition exactly: it is the stationarity
    of the strictly convex ``½ αᵀ G α − Σᵢ log αᵢ`` (damped Newton, see ``_solvers``). The
    authors' code approximates the same point with 20 sequential convex (CCP) steps via cvxpy,
    optionally recomputing it only every few steps; we recompute it every call.

    Scale: published (intrinsic): ``d`` does not change when all gradients are scaled by the
    same factor (``α`` scales inversely). Undefined when the gradients can cancel with positive
    weights (e.g. two exactly opposite gradients): a ValueError says so.
    """

    name = "nash_mtl"
    requires: ClassVar[frozenset[str]] = frozenset({"gramian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    non_conflicting = True

    def __init__(self) -> None:
        pass

    def weights(self, ctx: BalanceContext) -> Tensor:
        self._check_context(ctx)
        alpha = alpha_fair_weights(gramian_numpy(ctx), 1.0)
        ref = reference_tensor(ctx)
        return torch.as_tensor(alpha, dtype=ref.dtype, device=ref.device)
