"""SDMGrad: stochastic direction-oriented multi-objective gradient descent."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from tasklens._common.validation import check_positive_int

from ._base import BalanceContext, BalanceMethod, check_real, gramian_numpy, reference_tensor
from .dualproj import check_pref
from .modo import check_cross_gramian, project_simplex_stable


class SDMGrad(BalanceMethod):
    """Stochastic direction-oriented multi-objective gradient (Xiao, Ban & Ji 2023,
    "Direction-oriented Multi-objective Learning: Simple and Provable Stochastic Algorithms",
    NeurIPS, Algorithm 1; arXiv:2305.18409).

    Formula: the direction is ``d = Jᵀ (w + λ w̃) / (1 + λ)``, the solution of
    ``min_{w ∈ Δ} ½ ‖Jᵀ(w + λ w̃)‖²`` , which keeps ``d`` close to the target direction
    ``Jᵀ w̃`` (the mean gradient for the default ``w̃ = 1/K``). ``w`` (initially uniform, kept
    across steps as a warm start) takes ``n_iter`` projected steps with momentum,
    ``v ← μ v + A (w + λ w̃)``, ``w ← Π_Δ(w − η v)``, on the Gramian normalised as
    ``A = G / s²`` with ``s`` the mean gradient norm (the authors' code; Sec. 6.1), so ``η`` is
    free of the gradients' scale.

    What is approximated, and why: the paper's ``A = J_ξ J_ξ'ᵀ`` uses two independent
    mini-batches (unbiased for ``∇F ∇Fᵀ``) and a third for the direction. The protocol hands a
    method one Jacobian per step, so one batch's ``J Jᵀ`` serves for all (biased by the
    covariance of the batch gradients; exact with full-batch gradients). A loop that draws
    the batches itself can run the exact step with :meth:`weights_from_cross_gramian`.

    Scale: sum convention — weights ``K (w + λ w̃)/(1 + λ)``.

    Parameters
    ----------
    lambda_ : float
        Pull ``λ ≥ 0`` towards the target direction (0.3, the authors' experiments).
    lr : float
        Inner step size ``η > 0`` (10, the authors' code).
    momentum : float
        Inner momentum ``μ ∈ [0, 1)`` (0.5).
    n_iter : int
        Inner iterations per step (20).
    pref : sequence of float or None
        Target weights ``w̃`` (K,), non-negative; ``None`` means ``1/K`` (the mean gradient).
    """

    name = "sdmgrad"
    requires: ClassVar[frozenset[str]] = frozenset({"gramian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    stateful = True
    head_gradient: ClassVar[str] = "task"

    def __init__(
        self,
        *,
        lambda_: float = 0.3,
        lr: float = 10.0,
        momentum: float = 0.5,
        n_iter: int = 20,
        pref: tuple[float, ...] | None = None,
    ) -> None:
        self.lambda_ = check_real(lambda_, "lambda_", low=0.0)
        self.lr = check_real(lr, "lr", low=0.0, low_open=True)
        self.momentum = check_real(momentum, "momentum", low=0.0)
        if self.momentum >= 1.0:
            raise ValueError(f"momentum must be < 1, got {momentum}")
        self.n_iter = check_positive_int(n_iter, "n_iter")
        self.pref = check_pref(pref)
        self.reset()

    def reset(self) -> None:
        self._w: np.ndarray | None = None

    def weights(self, ctx: BalanceContext) -> Tensor:
        self._check_context(ctx)
        ref = reference_tensor(ctx)
        return torch.as_tensor(self._step(gramian_numpy(ctx)), dtype=ref.dtype, device=ref.device)

    def weights_from_cross_gramian(self, cross: Tensor) -> Tensor:
        """The paper's exact step, for a loop that draws the independent batches itself.

        Parameters
        ----------
        cross : (K, K) tensor
            ``J_ξ J_ξ'ᵀ`` from two independent mini-batches (not symmetric in general).

        Returns
        -------
        (K,) tensor
            Weights (sum convention) for the direction ``J_ζᵀ w`` of a third batch.
        """
        check_cross_gramian(cross, self.min_tasks)
        matrix = cross.detach().to("cpu", torch.float64).numpy()
        return torch.as_tensor(self._step(matrix), dtype=cross.dtype, device=cross.device)

    def _step(self, matrix: np.ndarray) -> np.ndarray:
        k = matrix.shape[0]
        if self.pref is None:
            target = np.full(k, 1.0 / k)
        elif len(self.pref) != k:
            raise ValueError(f"pref has {len(self.pref)} entries but there are {k} tasks")
        else:
            target = np.asarray(self.pref)
        w = np.full(k, 1.0 / k) if self._w is None or len(self._w) != k else self._w
        scale = float(np.mean(np.sqrt(np.clip(np.diag(matrix), 0.0, None))))
        if scale > 0.0:
            a = matrix / scale**2
            velocity = np.zeros(k)
            for it in range(self.n_iter):
                grad = a @ (w + self.lambda_ * target)
                velocity = grad if it == 0 else self.momentum * velocity + grad
                w = project_simplex_stable(w - self.lr * velocity)
        self._w = w
        return k * (w + self.lambda_ * target) / (1.0 + self.lambda_)
