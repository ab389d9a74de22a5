"""MOML: meta-learn the loss weights on a held-out split, as a multi-objective problem."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from ._base import BalanceContext, BalanceMethod, check_real, reference_tensor
from ._solvers import min_norm_simplex, project_simplex


class MOML(BalanceMethod):
    """Multi-objective meta learning of loss weights (Ye et al. 2021, "Multi-Objective Meta
    Learning", NeurIPS, Sec. 3–4; a baseline of Wu et al. 2026 (CORE-MTL), Sec. 4.1).

    Formula: bi-level problem ``min_λ (F₁(θ*(λ)), …, F_K(θ*(λ)))`` with
    ``θ*(λ) = argmin_θ Σᵢ λᵢ Lᵢ(θ)`` on the training split and ``Fⱼ`` task ``j``'s loss on a
    held-out split. We use the one-step (first-order) approximation of the lower level: after
    the step ``θ⁺ = θ − η Σᵢ λᵢ gᵢ(θ)``, the hypergradients are
    ``∂Fⱼ(θ⁺)/∂λᵢ = −η ⟨∇Fⱼ(θ⁺), gᵢ(θ)⟩`` — rows of ``H = −η C`` with the cross-Gramian
    ``C = J_held-out(θ⁺) J_train(θ)ᵀ``. The K upper-level objectives are combined by MGDA,
    ``γ = argmin_{γ ∈ Δ} ‖Hᵀ γ‖``, and ``λ ← Π_Δ(λ − β Hᵀ γ)`` (a common descent direction for
    every held-out loss). ``η`` is absorbed into ``β`` (``meta_lr``).

    Hooks: ``requires = {"jacobian"}`` so that :meth:`weights` can keep the step's training
    Jacobian; ``update_batch = "held_out"``: after the optimiser step the trainer evaluates a
    held-out batch at ``θ⁺`` and calls :meth:`update` with a context whose ``jacobian`` holds
    the held-out task gradients at the same level (same P).

    Scale: sum convention — weights ``K λ`` (``λ`` on the simplex, initially uniform: EW).

    Head gradient: ``weighted`` — the meta-learned weights define the objective ``Σ_k w_k L_k``
    whose gradient every parameter receives.

    Parameters
    ----------
    meta_lr : float
        ``β`` (times the inner learning rate ``η``); there is no published default for this
        first-order variant (1e-2).
    """

    name = "moml"
    head_gradient: ClassVar[str] = "weighted"
    requires: ClassVar[frozenset[str]] = frozenset({"jacobian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    stateful = True
    update_batch = "held_out"
    update_requires: ClassVar[frozenset[str]] = frozenset({"jacobian"})

    def __init__(self, *, meta_lr: float = 1e-2) -> None:
        self.meta_lr = check_real(meta_lr, "meta_lr", low=0.0, low_open=True)
        self.reset()

    def reset(self) -> None:
        self._lambda: np.ndarray | None = None
        self._train_jacobian: Tensor | None = None

    @property
    def simplex_weights(self) -> np.ndarray | None:
        """Current ``λ`` (K,) on the simplex, or None before the first call."""
        return None if self._lambda is None else self._lambda.copy()

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        if self._lambda is None or len(self._lambda) != k:
            self._lambda = np.full(k, 1.0 / k)
        assert ctx.jacobian is not None
        self._train_jacobian = ctx.jacobian.detach()
        ref = reference_tensor(ctx)
        return torch.as_tensor(k * self._lambda, dtype=ref.dtype, device=ref.device)

    def update(self, ctx: BalanceContext) -> None:
        """One meta step; ``ctx.jacobian``: held-out task gradients (K, P) after the step."""
        k = self._check_context(ctx)
        train = self._train_jacobian
        if train is None or self._lambda is None or train.shape[0] != k:
            raise ValueError("MOML.update() needs a weights() call on a training step before it")
        held_out = ctx.jacobian
        assert held_out is not None
        if held_out.shape != train.shape:
            raise ValueError(
                f"held-out jacobian has shape {tuple(held_out.shape)} but the training step's "
                f"has {tuple(train.shape)}; take both at the same level and parameters"
            )
        cross = (held_out @ train.to(held_out.dtype).T).detach().to("cpu", torch.float64)
        hyper = -cross.numpy()  # row j: ∂F_j/∂λ up to the factor η
        gamma = min_norm_simplex(hyper @ hyper.T)
        self._lambda = project_simplex(self._lambda - self.meta_lr * (hyper.T @ gamma))
        self._train_jacobian = None
