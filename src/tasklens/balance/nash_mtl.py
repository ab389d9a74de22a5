"""Nash-MTL: the Nash bargaining solution between tasks."""

from __future__ import annotations

from typing import ClassVar

from ._alpha_fair import AlphaFairMethod


class NashMTL(AlphaFairMethod):
    """Nash bargaining for MTL (Navon et al. 2022, "Multi-Task Learning as a Bargaining Game",
    ICML, Sec. 3, eq. 3 / Claim 3.2).

    Formula: the bargaining direction ``d = Σᵢ αᵢ gᵢ`` maximises ``Σᵢ log(gᵢᵀ d)`` in a ball;
    its weights are the positive solution of ``G α = 1/α`` (elementwise; with ``G = J Jᵀ``),
    so every task gets ``gᵢᵀ d = 1/αᵢ``. We solve this condition exactly: it is the stationarity
    of the strictly convex ``½ αᵀ G α − Σᵢ log αᵢ`` (damped Newton, see ``_solvers``), in float64
    on the Gramian rescaled to unit mean diagonal. The authors' code approximates the same point
    with 20 sequential convex (CCP) steps via cvxpy, optionally recomputing it only every few
    steps; we recompute it every call.

    Scale: published (intrinsic): ``d`` does not change when all gradients are scaled by the
    same factor (``α`` scales inversely).

    No solution (the gradients can cancel with positive weights, e.g. two exactly opposite
    gradients): the previous step's weights are reused with a warning, as in the authors' code;
    near-cancellation (runaway weights) is reported too. See :mod:`tasklens.balance._alpha_fair`.

    Head gradient: ``weighted`` — the official code (Navon et al. 2022,
    github.com/AvivNavon/nash-mtl, ``methods/weight_methods.py``) backpropagates ``Σ_k α_k
    L_k``, so head ``k`` receives ``α_k ∇L_k``.
    """

    name = "nash_mtl"
    non_conflicting = True
    head_gradient: ClassVar[str] = "weighted"

    def __init__(self) -> None:
        self.reset()

    @property
    def fairness(self) -> float:
        return 1.0
