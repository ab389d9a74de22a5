"""MGDA: the min-norm point of the convex hull of the task gradients."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from tasklens._common.validation import check_choice, check_positive_int

from ._base import BalanceContext, BalanceMethod, check_real, gramian_numpy, reference_tensor
from ._solvers import frank_wolfe_min_norm, min_norm_simplex


class MGDA(BalanceMethod):
    """Multiple-gradient descent (Désidéri 2012; Sener & Koltun 2018, "Multi-Task Learning as
    Multi-Objective Optimization", NeurIPS).

    Formula: ``α* = argmin_{α ∈ Δ_K} ‖Σᵢ αᵢ gᵢ‖² = argmin_{α ∈ Δ_K} αᵀ G α`` (Sener & Koltun,
    eq. 3); the direction ``Σᵢ αᵢ* gᵢ`` is the min-norm point of the convex hull of the task
    gradients and is non-conflicting (``gⱼᵀ d ≥ ‖d‖² ≥ 0``). At the representation level this is
    MGDA-UB (their Sec. 3.3: gradients w.r.t. the shared features).

    Scale: sum convention — returned weights are ``K α*`` (the paper's direction times K).

    Head gradient: ``task`` — Sener & Koltun 2018, Algorithm 2 updates each task's parameters
    with ``∇L_t`` alone and only the shared ones with ``Σ_t α_t ∇L_t``. (Their training script,
    and the Nash-MTL code base's port, backpropagate ``Σ_t α_t L_t`` instead, so a task with
    ``α_t = 0`` there never trains its head; we follow the algorithm.)

    Parameters
    ----------
    solver : {"nnls", "frank_wolfe"}
        ``"nnls"`` (default) solves the QP exactly through one non-negative least-squares
        problem; ``"frank_wolfe"`` is the paper's Algorithm 2 (approximate).
    max_iter : int
        Frank–Wolfe iterations (250, the authors' code). Ignored by ``"nnls"``.
    tol : float
        Frank–Wolfe stops when the step size falls below ``tol`` (1e-5, the authors' code).
    """

    name = "mgda"
    head_gradient: ClassVar[str] = "task"
    requires: ClassVar[frozenset[str]] = frozenset({"gramian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    non_conflicting = True

    def __init__(self, *, solver: str = "nnls", max_iter: int = 250, tol: float = 1e-5) -> None:
        self.solver = check_choice(solver, "solver", ("nnls", "frank_wolfe"))
        self.max_iter = check_positive_int(max_iter, "max_iter")
        self.tol = check_real(tol, "tol", low=0.0, low_open=True)

    def convex_weights(self, ctx: BalanceContext) -> Tensor:
        """The paper's simplex weights ``α*`` (K,), summing to one."""
        self._check_context(ctx)
        gram = gramian_numpy(ctx)
        if self.solver == "nnls":
            alpha = min_norm_simplex(gram)
        else:
            alpha = frank_wolfe_min_norm(gram, self.max_iter, self.tol)
        ref = reference_tensor(ctx)
        return torch.as_tensor(alpha, dtype=ref.dtype, device=ref.device)

    def weights(self, ctx: BalanceContext) -> Tensor:
        return ctx.num_tasks * self.convex_weights(ctx)
