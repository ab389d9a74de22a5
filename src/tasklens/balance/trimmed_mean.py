"""Coordinate-wise trimmed mean of the task gradients (Byzantine-robust)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from tasklens._common.validation import check_positive_int

from ._base import BalanceContext, BalanceMethod


class TrimmedMean(BalanceMethod):
    """Coordinate-wise trimmed mean (Yin et al. 2018, "Byzantine-Robust Distributed Learning:
    Towards Optimal Statistical Rates", ICML; the coordinate-wise trimmed-mean rule).

    Formula: for every coordinate ``p``, sort ``{J₁ₚ, …, J_Kp}``, drop the ``b`` largest and the
    ``b`` smallest values and average the remaining ``K − 2b``. The result is not a combination
    of the task gradients with one weight vector (each coordinate keeps different rows), so
    the method returns a direction and needs the Jacobian.

    Scale: sum convention — ``K`` times the trimmed mean (``K`` identical gradients aggregate to
    ``K g``); TorchJD returns the mean.

    Parameters
    ----------
    trim : int
        ``b ≥ 0`` values removed at each end of every coordinate (1); needs ``K ≥ 2b + 1``
        (and ``K ≥ 3``: with two tasks there is nothing to be robust against).
    """

    name = "trimmed_mean"
    requires: ClassVar[frozenset[str]] = frozenset({"jacobian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    output = "direction"
    min_tasks = 3
    head_gradient: ClassVar[str] = "task"

    def __init__(self, *, trim: int = 1) -> None:
        self.trim = check_positive_int(trim, "trim", minimum=0)

    def check_num_tasks(self, num_tasks: int) -> None:
        needed = max(2 * self.trim + 1, self.min_tasks)
        if num_tasks < needed:
            raise ValueError(
                f"method 'trimmed_mean' with trim={self.trim} needs at least {needed} tasks "
                f"(2 * trim + 1), got {num_tasks}; lower trim"
            )

    def direction(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        assert ctx.jacobian is not None
        ordered = torch.sort(ctx.jacobian.detach(), dim=0).values
        kept = ordered[self.trim : k - self.trim]
        return k * kept.mean(dim=0)
