"""ConFIG: the unit direction with equal cosine to every task gradient, scaled by their sum."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from ._base import BalanceContext, BalanceMethod, gramian_numpy, reference_tensor
from .dualproj import check_pref, pref_or_ones


class ConFIG(BalanceMethod):
    """Conflict-free inverse gradients (Liu, Chu & Thuerey 2024, "ConFIG: Towards
    Conflict-free Training of Physics Informed Neural Networks", arXiv:2408.11104, eq. 2).

    Formula: with unit gradients ``uᵢ = gᵢ/‖gᵢ‖`` (rows of ``U``; a zero gradient gives a zero
    row), ``d_u = U⁺ p`` and ``û = d_u/‖d_u‖``, the update is ``d = (Σᵢ gᵢᵀ û) û``. For full row
    rank ``U û ∝ p``: every task gets the same cosine (for ``p = 1``) and ``gᵢᵀ d > 0``. In
    Gramian form, with ``N = diag(‖gᵢ‖)`` and ``C = N⁻¹ G N⁻¹`` (the cosine matrix),
    ``d_u = Jᵀ v`` with ``v = N⁻¹ C⁺ p``; then ``‖d_u‖² = vᵀ G v`` and ``d = Jᵀ w`` with
    ``w = v (1ᵀ G v) / (vᵀ G v)``. Rescaling a task's gradient by ``c > 0`` leaves ``û``
    unchanged, so ``d`` is linear under a per-task rescaling.

    Scale: sum (as published: the length is the sum of the projections ``gᵢᵀ û``).

    Parameters
    ----------
    pref : sequence of float or None
        Non-negative preference ``p`` (K,) for the target cosines. ``None`` means all ones.
    """

    name = "config"
    requires: ClassVar[frozenset[str]] = frozenset({"gramian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    non_conflicting = True
    linear_under_scaling = True
    head_gradient: ClassVar[str] = "task"

    def __init__(self, *, pref: tuple[float, ...] | None = None) -> None:
        self.pref = check_pref(pref)

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        pref = pref_or_ones(self.pref, k)
        gram = gramian_numpy(ctx)
        ref = reference_tensor(ctx)
        norms = np.sqrt(np.clip(np.diag(gram), 0.0, None))
        inv = np.divide(1.0, norms, out=np.zeros(k), where=norms > 0.0)
        cosine = gram * np.outer(inv, inv)
        # C⁺ through its eigenvalues (= squared singular values of U); eigenvalues below
        # 1e-12·K of the largest are round-off of exactly dependent gradients and count as zero
        eigval, eigvec = np.linalg.eigh(cosine)
        keep = eigval > 1e-12 * k * max(float(eigval[-1]), 0.0)
        v = inv * (eigvec[:, keep] @ ((eigvec[:, keep].T @ pref) / eigval[keep]))
        sq_norm = float(v @ gram @ v)
        if not sq_norm > 0.0:
            return torch.zeros(k, dtype=ref.dtype, device=ref.device)
        w = v * float(np.ones(k) @ gram @ v) / sq_norm
        return torch.as_tensor(w, dtype=ref.dtype, device=ref.device)
