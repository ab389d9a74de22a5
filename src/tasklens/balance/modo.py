"""MoDo: stochastic multi-objective descent with a projected-gradient step on the weights."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from ._base import BalanceContext, BalanceMethod, check_real, gramian_numpy, reference_tensor
from ._solvers import project_simplex


class MoDo(BalanceMethod):
    """Multi-objective gradient with double sampling (Chen et al. 2023, "Three-Way Trade-Off in
    Multi-Objective Learning: Optimization, Generalization and Conflict-Avoidance", NeurIPS;
    journal version JMLR 2024, Algorithm 1, eq. 2.9).

    Formula: weights ``λ`` on the simplex (initially uniform); each step
    ``λ ← Π_Δ(λ − γ (J₁ J₂ᵀ λ + ρ λ))`` and then the parameters descend ``J₃ᵀ λ``.

    What is approximated, and why: the paper draws two *independent* mini-batches for
    ``J₁ J₂ᵀ`` (an unbiased estimate of ``∇F ∇Fᵀ``) and a third (or their average) for the
    parameter step. The protocol hands a method one Jacobian per step, of one batch, so we use
    that batch's Gramian ``J Jᵀ`` for all three. Its expectation is ``∇F ∇Fᵀ + Σ`` (Σ: the
    covariance of the batch gradients), so the λ-step is biased towards tasks with noisier
    gradients by ``γ Σ λ``; the bias vanishes with the batch noise (large batches) and the
    update is otherwise the paper's. With a full-batch (deterministic) Jacobian it is exact.
    A loop that draws two batches itself can run the exact step with
    :meth:`weights_from_cross_gramian` (``J₁ J₂ᵀ``) and descend ``J₃ᵀ w``.

    Scale: sum convention — weights ``K λ``.

    Parameters
    ----------
    gamma : float
        Step size ``γ > 0`` of the weight update (0.1, TorchJD's default).
    rho : float
        ``ℓ₂`` regularisation ``ρ ≥ 0`` of the weights (0.1, TorchJD's default).
    """

    name = "modo"
    requires: ClassVar[frozenset[str]] = frozenset({"gramian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    stateful = True
    head_gradient: ClassVar[str] = "task"

    def __init__(self, *, gamma: float = 0.1, rho: float = 0.1) -> None:
        self.gamma = check_real(gamma, "gamma", low=0.0, low_open=True)
        self.rho = check_real(rho, "rho", low=0.0)
        self.reset()

    def reset(self) -> None:
        self._lambda: np.ndarray | None = None

    @property
    def simplex_weights(self) -> np.ndarray | None:
        """Current ``λ`` (K,) on the simplex, or None before the first call."""
        return None if self._lambda is None else self._lambda.copy()

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        ref = reference_tensor(ctx)
        return torch.as_tensor(k * self._step(gramian_numpy(ctx)), dtype=ref.dtype,
                               device=ref.device)  # fmt: skip

    def weights_from_cross_gramian(self, cross: Tensor) -> Tensor:
        """The paper's exact step, for a loop that draws two independent batches itself.

        Parameters
        ----------
        cross : (K, K) tensor
            ``J₁ J₂ᵀ`` from two independent mini-batches (not symmetric in general).

        Returns
        -------
        (K,) tensor
            Weights ``K λ`` (sum convention) for the parameter step ``J₃ᵀ (K λ)``.
        """
        check_cross_gramian(cross, self.min_tasks)
        k = cross.shape[0]
        matrix = cross.detach().to("cpu", torch.float64).numpy()
        return torch.as_tensor(k * self._step(matrix), dtype=cross.dtype, device=cross.device)

    def _step(self, matrix: np.ndarray) -> np.ndarray:
        k = matrix.shape[0]
        lam = np.full(k, 1.0 / k) if self._lambda is None or len(self._lambda) != k \
            else self._lambda  # fmt: skip
        self._lambda = project_simplex_stable(lam - self.gamma * (matrix @ lam + self.rho * lam))
        return self._lambda


def check_cross_gramian(cross: Tensor, min_tasks: int) -> None:
    """``cross`` must be a finite, floating-point (K, K) tensor with ``K ≥ min_tasks``."""
    if not isinstance(cross, Tensor) or not cross.is_floating_point():
        raise TypeError(f"cross must be a floating-point torch.Tensor, got {type(cross).__name__}")
    if cross.ndim != 2 or cross.shape[0] != cross.shape[1] or cross.shape[0] < min_tasks:
        raise ValueError(
            f"cross must be a square (K, K) matrix J1 @ J2.T with K >= {min_tasks}, got shape "
            f"{tuple(cross.shape)}"
        )
    if not bool(torch.isfinite(cross).all()):
        raise ValueError("cross contains NaN or infinite values; check the two batches' gradients")


def project_simplex_stable(v: np.ndarray) -> np.ndarray:
    """Projection onto the probability simplex, shifted first so that ``max(v) = 0``.

    The projection commutes with adding a constant to every entry, and the shift keeps the
    sort-based threshold search exact when the entries are huge (a step ``γ G λ`` with
    gradients of norm 1e15 would otherwise lose every entry to round-off).
    """
    return project_simplex(v - np.max(v))
