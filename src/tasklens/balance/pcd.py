"""PCD: follow a primary task's gradient, guaranteeing every secondary task some progress."""

from __future__ import annotations

import itertools
from typing import ClassVar

import numpy as np
import torch
from scipy.linalg import solve_triangular
from scipy.optimize import nnls
from torch import Tensor

from ._base import BalanceContext, BalanceMethod, check_real, gramian_numpy, reference_tensor

MAX_TASKS = 16
"""Linearly dependent secondary gradients make PCD enumerate active sets (2^(K−1) solves)."""


class PCD(BalanceMethod):
    """Priority-constrained descent (Varam et al. 2026, "Not All Objectives Are Born Equal:
    Priority-Constrained Descent for Hierarchical Multi-Objective Optimization", TMLR,
    arXiv:2606.29521; TorchJD 0.18's ``PCD``).

    Formula: task 0 is the primary objective. With normalised gradients ``g̃ᵢ = sᵢ gᵢ``,
    ``sᵢ = 1/√(v̂ᵢ + ε)`` and ``v̂ᵢ`` the bias-corrected moving average (decay ``β``) of
    ``‖gᵢ‖²`` over the steps,

    ``d̃ = argmin_d ½ ‖d − g̃₀‖²``  s.t.  ``g̃ⱼᵀ d ≥ τ ‖g̃ⱼ‖²`` for every secondary ``j``,

    and the update is ``d̃`` rescaled to ``‖g₀‖``. By the KKT conditions ``d̃ = g̃₀ + Σⱼ μⱼ g̃ⱼ``
    with ``μ ≥ 0``, so the weights are ``s ∘ (1, μ)`` times the rescaling, all from the
    Gramian. ``μ`` solves the dual ``min_{μ ≥ 0} ½ μᵀ H μ + μᵀ q`` (``H``: Gramian of the
    normalised secondary gradients, ``qⱼ = g̃ⱼᵀ g̃₀ − τ ‖g̃ⱼ‖²``); with ``H = L Lᵀ`` positive
    definite this is the exact non-negative least-squares problem ``min ‖Lᵀ μ + L⁻¹ q‖``.
    When the secondary gradients are linearly dependent we enumerate the active sets instead
    (the reference implementation's approach, their App. B.2; ``K ≤ 16``): the optimum is the
    set whose equality-constrained ``μ`` is ``≥ 0`` and satisfies the other constraints.
    Infeasible constraints (possible for ``K ≥ 3``) are dropped: the update is ``g₀``.
    ``g₀ = 0`` or ``d̃ = 0`` give a zero update.

    Scale: its own (as published): the update has the primary gradient's norm ``‖g₀‖``.

    Parameters
    ----------
    tau : float or sequence of float
        Guaranteed fraction ``τ ∈ [0, 1]`` of normalised progress per secondary task (0.02);
        a sequence gives one value per secondary task (length ``K − 1``).
    beta : float
        Decay ``β ∈ [0, 1)`` of the squared-norm moving average (0.999).
    eps : float
        Added to ``v̂`` before the inverse square root (1e-8).
    """

    name = "pcd"
    requires: ClassVar[frozenset[str]] = frozenset({"gramian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    stateful = True
    permutation_invariant = False
    head_gradient: ClassVar[str] = "task"

    def __init__(
        self, *, tau: float | tuple[float, ...] = 0.02, beta: float = 0.999, eps: float = 1e-8
    ) -> None:
        if isinstance(tau, (list, tuple, np.ndarray)):
            tau = tuple(check_real(t, "tau", low=0.0, high=1.0) for t in tau)
        else:
            tau = check_real(tau, "tau", low=0.0, high=1.0)
        self.tau = tau
        self.beta = check_real(beta, "beta", low=0.0)
        if self.beta >= 1.0:
            raise ValueError(f"beta must be < 1, got {beta}")
        self.eps = check_real(eps, "eps", low=0.0)
        self.reset()

    def reset(self) -> None:
        self._ema: np.ndarray | None = None
        self._steps = 0

    def _scales(self, sq_norms: np.ndarray) -> np.ndarray:
        if self._ema is None or len(self._ema) != len(sq_norms):
            self._ema, self._steps = np.zeros(len(sq_norms)), 0
        self._steps += 1
        self._ema = self.beta * self._ema + (1.0 - self.beta) * sq_norms
        denom = np.sqrt(self._ema / (1.0 - self.beta**self._steps) + self.eps)
        return np.divide(1.0, denom, out=np.zeros_like(denom), where=denom > 0.0)

    def _taus(self, k: int) -> np.ndarray:
        if isinstance(self.tau, tuple):
            if len(self.tau) != k - 1:
                raise ValueError(
                    f"tau has {len(self.tau)} entries but there are {k - 1} secondary tasks "
                    "(one per task after the primary task 0)"
                )
            return np.concatenate([[0.0], self.tau])
        return np.full(k, self.tau)

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        gram = gramian_numpy(ctx)
        ref = reference_tensor(ctx)
        sq_norms = np.clip(np.diag(gram), 0.0, None)
        scales = self._scales(sq_norms)
        out = np.zeros(k)
        if sq_norms[0] > 0.0:
            normalised = gram * np.outer(scales, scales)
            w = _solve_pcd_qp(normalised, self._taus(k))
            sq = float(w @ normalised @ w)
            magnitude = float(np.abs(w) @ np.sqrt(np.clip(np.diag(normalised), 0.0, None))) ** 2
            if sq > 1e-12 * magnitude:
                out = w * scales * np.sqrt(sq_norms[0] / sq)
        return torch.as_tensor(out, dtype=ref.dtype, device=ref.device)


def _solve_pcd_qp(gram: np.ndarray, tau: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Weights ``(1, μ)`` of ``argmin ½‖d − g₀‖²`` s.t. ``gⱼᵀ d ≥ τ ‖gⱼ‖²`` (Gramian only)."""
    scale = max(float(np.max(np.diag(gram))), np.finfo(np.float64).tiny)
    g = gram / scale  # the multipliers are invariant to a common rescaling
    bound = tau * np.diag(g)
    w = _dual_nnls(g, bound, tol)
    return w if w is not None else _enumerate_active_sets(g, bound, tol)


def _dual_nnls(g: np.ndarray, bound: np.ndarray, tol: float) -> np.ndarray | None:
    """The dual as NNLS through a Cholesky factor; None when ``H`` is (nearly) singular."""
    k = g.shape[0]
    h = g[1:, 1:]
    eig = np.linalg.eigvalsh(h)
    if eig[0] <= 1e-10 * max(eig[-1], np.finfo(np.float64).tiny):
        return None
    chol = np.linalg.cholesky(h)
    r = solve_triangular(chol, g[1:, 0] - bound[1:], lower=True)  # L r = q
    mu, _ = nnls(chol.T, -r, maxiter=50 * k)
    w = np.concatenate([[1.0], mu])
    if np.any((g @ w - bound)[1:] < -tol * max(1.0, float(np.abs(w).max()))):
        return None  # cannot happen for H ≻ 0 (the primal is then feasible); be safe
    return w


def _enumerate_active_sets(g: np.ndarray, bound: np.ndarray, tol: float) -> np.ndarray:
    """Exact KKT search over the active sets by size; ``e₀`` when none is feasible."""
    k = g.shape[0]
    if k > MAX_TASKS:
        raise ValueError(
            f"method 'pcd': the secondary task gradients are linearly dependent, which makes "
            f"the exact QP solve enumerate 2^(K-1) active sets; supported for at most "
            f"{MAX_TASKS} tasks, got {k}. Drop or merge redundant secondary tasks"
        )
    for size in range(k):
        for active in itertools.combinations(range(1, k), size):
            w = np.zeros(k)
            w[0] = 1.0
            if active:
                idx = list(active)
                rhs = bound[idx] - g[idx, 0]
                mu, *_ = np.linalg.lstsq(g[np.ix_(idx, idx)], rhs, rcond=None)
                if np.any(mu < -tol) or np.max(np.abs(g[np.ix_(idx, idx)] @ mu - rhs)) > tol:
                    continue
                w[idx] = np.clip(mu, 0.0, None)
            if np.all((g @ w - bound)[1:] >= -tol):
                return w
    out = np.zeros(k)
    out[0] = 1.0
    return out
