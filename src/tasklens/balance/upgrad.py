"""UPGrad: project every task gradient onto the dual cone of all of them, then add up."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from ._base import BalanceContext, BalanceMethod, gramian_numpy, reference_tensor
from ._solvers import project_dual_cone


class UPGrad(BalanceMethod):
    """Unconflicting projection of gradients (Quinton & Rey 2024, "Jacobian Descent for
    Multi-Objective Optimization", arXiv:2406.16232, Sec. 4 / eq. 5).

    Formula: ``d = Σᵢ πᵢ(gᵢ)``, where ``π(x) = argmin_{y : J y ≥ 0} ‖y − x‖`` is the projection
    onto the dual cone of the task gradients. In Gramian form ``πᵢ(gᵢ) = Jᵀ wⁱ`` with
    ``wⁱ = argmin_{v ≥ eᵢ} vᵀ G v`` (their Prop. 1), so the weights are ``Σᵢ wⁱ`` and only the
    Gramian is needed. The direction conflicts with no task: ``gⱼᵀ d ≥ 0`` for all ``j``.

    Scale: sum convention (preference ``1``); TorchJD's default preference ``1/K`` gives the
    mean, i.e. ``1/K`` times this direction.

    Head gradient: ``task`` — TorchJD's ``mtl_backward`` (Quinton & Rey 2024, arXiv:2406.16232)
    aggregates the Jacobian of the shared parameters only and gives each task's parameters the
    gradient of its own loss.

    Parameters
    ----------
    pref : sequence of float or None
        Non-negative preference ``p`` (K,): ``d = Σᵢ pᵢ πᵢ(gᵢ)``. ``None`` means all ones.
    """

    name = "upgrad"
    head_gradient: ClassVar[str] = "task"
    requires: ClassVar[frozenset[str]] = frozenset({"gramian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    non_conflicting = True
    linear_under_scaling = True

    def __init__(self, *, pref: tuple[float, ...] | None = None) -> None:
        if pref is not None:
            arr = np.asarray(pref, dtype=np.float64)
            if arr.ndim != 1 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise ValueError(f"pref must be a 1-D sequence of finite values >= 0, got {pref}")
            pref = tuple(float(x) for x in arr)
        self.pref = pref

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        pref = np.ones(k) if self.pref is None else np.asarray(self.pref)
        if len(pref) != k:
            raise ValueError(f"pref has {len(pref)} entries but there are {k} tasks")
        total = project_dual_cone(gramian_numpy(ctx), np.diag(pref)).sum(axis=0)
        ref = reference_tensor(ctx)
        return torch.as_tensor(total, dtype=ref.dtype, device=ref.device)
