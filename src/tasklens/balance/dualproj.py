"""DualProj: project the (preference-weighted) sum of the task gradients onto their dual cone."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from ._base import BalanceContext, BalanceMethod, gramian_numpy, reference_tensor
from ._solvers import project_dual_cone


class DualProj(BalanceMethod):
    """Dual-cone projection of the combined gradient (Lopez-Paz & Ranzato 2017, "Gradient
    Episodic Memory for Continual Learning", NeurIPS, eq. 11; used as a Jacobian-descent
    aggregator by Quinton & Rey 2024, "Jacobian Descent for Multi-Objective Optimization",
    arXiv:2406.16232).

    Formula: ``d = argmin_{y : J y ≥ 0} ‖y − Jᵀ p‖`` — the projection of ``Jᵀ p`` onto the dual
    cone of the task gradients. In Gramian form ``d = Jᵀ w`` with
    ``w = argmin_{v ≥ p} vᵀ G v`` (Quinton & Rey, Prop. 1), solved exactly by one NNLS problem.
    The direction conflicts with no task (``gⱼᵀ d ≥ 0``), but unlike UPGrad it is not linear
    under a per-task rescaling of the gradients.

    Scale: sum convention (preference ``p = 1``); TorchJD's default ``p = 1/K`` gives ``1/K``
    times this direction.

    Parameters
    ----------
    pref : sequence of float or None
        Non-negative preference ``p`` (K,). ``None`` means all ones.
    """

    name = "dualproj"
    requires: ClassVar[frozenset[str]] = frozenset({"gramian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    non_conflicting = True
    head_gradient: ClassVar[str] = "task"

    def __init__(self, *, pref: tuple[float, ...] | None = None) -> None:
        self.pref = check_pref(pref)

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        pref = pref_or_ones(self.pref, k)
        w = project_dual_cone(gramian_numpy(ctx), pref[None, :])[0]
        ref = reference_tensor(ctx)
        return torch.as_tensor(w, dtype=ref.dtype, device=ref.device)


def check_pref(pref: tuple[float, ...] | None, name: str = "pref") -> tuple[float, ...] | None:
    """A preference vector as a tuple of finite non-negative floats (or None)."""
    if pref is None:
        return None
    arr = np.asarray(pref, dtype=np.float64)
    if arr.ndim != 1 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must be a 1-D sequence of finite values >= 0, got {pref}")
    return tuple(float(x) for x in arr)


def pref_or_ones(pref: tuple[float, ...] | None, k: int, name: str = "pref") -> np.ndarray:
    """The preference as a (K,) array, all ones when None; checks its length."""
    if pref is None:
        return np.ones(k)
    if len(pref) != k:
        raise ValueError(f"{name} has {len(pref)} entries but there are {k} tasks")
    return np.asarray(pref, dtype=np.float64)
