"""FairGrad: α-fair allocation of the update between tasks."""

from __future__ import annotations

from typing import ClassVar

from ._alpha_fair import AlphaFairMethod
from ._base import check_real


class FairGrad(AlphaFairMethod):
    """Fair resource allocation (Ban & Ji 2024, "Fair Resource Allocation in Multi-Task
    Learning", ICML, eq. 4 and Algorithm 1; a baseline of
    Wu et al. 2026 (CORE-MTL), Sec. 4.1).

    Formula: the direction ``d = Σᵢ wᵢ gᵢ`` maximises the α-fair utility
    ``Σᵢ (gᵢᵀ d)^(1−α) / (1−α)`` in a ball; its weights are the positive solution of
    ``G w = w^(−1/α)`` (elementwise), i.e. ``gᵢᵀ d = wᵢ^(−1/α)``. ``α = 1`` is Nash-MTL
    (proportional fairness), ``α → ∞`` tends to max-min fairness. The authors solve the system
    with ``scipy.optimize.least_squares``; we solve it exactly as the stationarity of a strictly
    convex function (damped Newton, see ``_solvers``).

    Scale: published (intrinsic to the fairness condition): scaling every gradient by ``s``
    scales the weights by ``s^(−2α/(1+α))`` and the direction by ``s^((1−α)/(1+α))``.

    No solution (the gradients can cancel with positive weights): the previous step's weights
    are reused with a warning (the authors' least-squares solve instead returns whatever point
    it stops at); near-cancellation (runaway weights) is reported too. See
    :mod:`tasklens.balance._alpha_fair`.

    Head gradient: ``task`` — the official code (Ban & Ji 2024, github.com/OptMN-Lab/fairgrad)
    backpropagates every ``L_k``, resets only the shared gradients between tasks and overwrites
    them with the FairGrad direction, so head ``k`` keeps ``∇L_k``.

    Parameters
    ----------
    alpha : float
        Fairness degree, ``α > 0``. The paper tunes it per benchmark; there is no single
        published default, so we default to 1.0 (proportional fairness).
    """

    name = "fairgrad"
    non_conflicting = True
    head_gradient: ClassVar[str] = "task"

    def __init__(self, *, alpha: float = 1.0) -> None:
        self.alpha = check_real(alpha, "alpha", low=0.0, low_open=True)
        self.reset()

    @property
    def fairness(self) -> float:
        return self.alpha
