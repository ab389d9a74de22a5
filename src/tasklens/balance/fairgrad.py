"""FairGrad: α-fair allocation of the update between tasks."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ._base import BalanceContext, BalanceMethod, check_real, gramian_numpy, reference_tensor
from ._solvers import alpha_fair_weights


class FairGrad(BalanceMethod):
    """Fair resource allocation (Ban & Ji 2024, "Fair Resource Allocation in Multi-Task
    Learning", ICML, eq. 4 and Algorithm 1; a baseline of
    001_04ca9f643fb64e21.txt, Sec. 4.1).

    Formula: the direction ``d = Σᵢ wᵢ gᵢ`` maximises the α-fair utility
    ``Σᵢ (gᵢᵀ d)^(1−α) / (1−α)`` in a ball; its weights are the positive solution of
    ``G w = w^(−1/α)`` (elementwise), i.e. ``gᵢᵀ d = wᵢ^(−1/α)``. ``α = 1`` is Nash-MTL
    (proportional fairness), ``α → ∞`` tends to max-min fairness. The authors solve the system
    with ``scipy.optimize.least_squares``; we solve it exactly as the stationarity of a strictly
    convex function (damped Newton, see ``_solvers``).

    Scale: published (intrinsic to the fairness condition).

    Parameters
    ----------
    alpha : float
        Fairness degree, ``α > 0``. The paper tunes it per benchmark; there is no single
        published default, so we default to 1.0 (proportional fairness).
    """

    name = "fairgrad"
    requires: ClassVar[frozenset[str]] = frozenset({"gramian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    non_conflicting = True

    def __init__(self, *, alpha: float = 1.0) -> None:
        self.alpha = check_real(alpha, "alpha", low=0.0, low_open=True)

    def weights(self, ctx: BalanceContext) -> Tensor:
        self._check_context(ctx)
        w = alpha_fair_weights(gramian_numpy(ctx), self.alpha)
        ref = reference_tensor(ctx)
        return torch.as_tensor(w, dtype=ref.dtype, device=ref.device)
