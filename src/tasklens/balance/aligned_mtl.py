"""Aligned-MTL: make the task gradients orthogonal with equal norms, then add them."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from tasklens._common.validation import check_choice

from ._base import BalanceContext, BalanceMethod, gramian_numpy, reference_tensor


class AlignedMTL(BalanceMethod):
    """Aligned-MTL (Senushkin et al. 2023, "Independent Component Alignment for Multi-Task
    Learning", CVPR, Algorithm 1).

    Formula: with ``G = V Λ Vᵀ`` restricted to its ``R`` non-zero eigenvalues, the balance
    transformation ``B = √σ V Λ^(−1/2) Vᵀ`` maps the gradients to ``Ĵ = B J`` with
    ``Ĵ Ĵᵀ = σ I_R`` on the range (orthogonal, equal-norm aligned gradients, condition number 1),
    and the direction is ``Ĵᵀ p = Jᵀ (B p)``: weights ``B p``. ``σ`` is ``λ_min`` (paper,
    ``"min"``), the median (``"median"``) or the mean eigenvalue (``"rmse"``, the authors' code).
    Eigenvalues below ``λ_max · K · ε`` count as zero.

    Scale: sum convention (preference ``p = 1``); TorchJD's default ``p = 1/K`` gives
    ``1/K`` times this.

    Head gradient: ``task`` — the official code (Senushkin et al. 2023,
    github.com/SamsungLabs/MTL, ``AlignedMTLBalancer``) accumulates every task's head gradient
    while collecting the shared ones (``update_decoder_grads=True``) and by default does not
    rescale them (``scale_decoder_grad=False``).

    Parameters
    ----------
    scale_mode : {"min", "median", "rmse"}
    """

    name = "aligned_mtl"
    head_gradient: ClassVar[str] = "task"
    requires: ClassVar[frozenset[str]] = frozenset({"gramian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})

    def __init__(self, *, scale_mode: str = "min") -> None:
        self.scale_mode = check_choice(scale_mode, "scale_mode", ("min", "median", "rmse"))

    def balance_matrix(self, ctx: BalanceContext) -> np.ndarray:
        """The (K, K) balance transformation ``B`` (identity when every gradient is zero)."""
        gram = gramian_numpy(ctx)
        k = gram.shape[0]
        scale = float(np.max(np.diag(gram)))
        if scale <= 0.0:
            return np.eye(k)
        # B depends only on eigenvalue ratios (√σ / √λ): solve on G / max diag, which keeps
        # the eigendecomposition away from over- and underflow at any gradient scale
        eigval, eigvec = np.linalg.eigh(gram / scale)
        tol = max(float(eigval.max()), 0.0) * k * np.finfo(np.float64).eps
        keep = eigval > tol
        if not keep.any():
            return np.eye(k)
        lam, vec = eigval[keep], eigvec[:, keep]
        sigma = {"min": lam.min(), "median": np.median(lam), "rmse": lam.mean()}[self.scale_mode]
        return np.sqrt(sigma) * (vec / np.sqrt(lam)) @ vec.T

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        w = self.balance_matrix(ctx) @ np.ones(k)
        ref = reference_tensor(ctx)
        return torch.as_tensor(w, dtype=ref.dtype, device=ref.device)
