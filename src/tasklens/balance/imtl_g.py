"""IMTL-G: the direction with equal projections onto every unit task gradient."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from ._base import BalanceContext, BalanceMethod, gramian_numpy, reference_tensor


class IMTLG(BalanceMethod):
    """Impartial MTL, gradient part (Liu et al. 2021, "Towards Impartial Multi-task Learning",
    ICLR, Sec. 3.2, eq. 9–10).

    Formula: find ``d = Σᵢ αᵢ gᵢ`` with ``Σᵢ αᵢ = 1`` and equal projections
    ``dᵀ uᵢ = dᵀ uⱼ`` onto the unit gradients ``uᵢ = gᵢ/‖gᵢ‖``. In Gramian form
    ``Jᵀ α · uᵢ = (G α)ᵢ / √Gᵢᵢ`` must be constant, so ``G α ∝ n`` with ``n = √diag(G)`` and
    ``α = G⁺ n / 1ᵀ G⁺ n`` (the pseudo-inverse extends the paper's closed form, eq. 10, to
    linearly dependent gradients, as in Quinton & Rey 2024). When ``1ᵀ G⁺ n = 0`` the weights
    are zero.

    Scale: sum convention — weights ``K α``.

    Head gradient: ``task`` — Liu et al. 2021 (ICLR), Algorithm 1 updates the task-specific
    parameters with their own task's loss gradient; LibMTL's IMTL does the same. (The Nash-MTL
    code base's IMTL-G port backpropagates ``Σ_k α_k L_k``.)
    """

    name = "imtl_g"
    head_gradient: ClassVar[str] = "task"
    requires: ClassVar[frozenset[str]] = frozenset({"gramian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})

    def __init__(self) -> None:
        pass

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        gram = gramian_numpy(ctx)
        norms = np.sqrt(np.clip(np.diag(gram), 0.0, None))
        scale = float(np.mean(np.diag(gram)))
        if scale <= 0.0:
            alpha = np.zeros(k)
        else:
            # rescaling G by s leaves α unchanged; pinv's cut-off is relative to the largest
            # singular value, which is what decides "linearly dependent" here
            v = np.linalg.pinv(gram / scale, hermitian=True) @ (norms / np.sqrt(scale))
            total = v.sum()
            alpha = np.zeros(k) if abs(total) <= 1e-12 * np.abs(v).sum() else v / total
        ref = reference_tensor(ctx)
        return torch.as_tensor(k * alpha, dtype=ref.dtype, device=ref.device)
