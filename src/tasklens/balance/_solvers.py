"""Small exact solvers on the K×K Gramian, in float64 NumPy.

Every problem here is posed on the Gramian ``G = J Jᵀ`` only, through a square factor
``A`` with ``Aᵀ A = G`` (from an eigendecomposition, so rank-deficient Gramians are fine):
``‖Jᵀ w‖² = wᵀ G w = ‖A w‖²``. Problems are solved on a Gramian rescaled to unit mean
diagonal, which leaves every solution here unchanged or changes it by a known factor.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

import numpy as np
from scipy.optimize import nnls


def require_optional(module: str, extra: str, purpose: str) -> ModuleType:
    """Import an optional dependency or raise an ImportError naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{purpose} needs the optional package {module!r}; install it with "
            f"`pip install 'tasklens[{extra}]'` (or `pip install {module}`)"
        ) from exc


def gramian_scale(gram: np.ndarray) -> float:
    """Mean diagonal of ``gram`` (0 when every task gradient is zero)."""
    return float(np.mean(np.diag(gram)))


def psd_factor(gram: np.ndarray) -> np.ndarray:
    """Square ``A`` (K, K) with ``Aᵀ A = gram``, clipping round-off negative eigenvalues."""
    sym = 0.5 * (gram + gram.T)
    eigval, eigvec = np.linalg.eigh(sym)
    eigval = np.clip(eigval, 0.0, None)
    return np.sqrt(eigval)[:, None] * eigvec.T


def min_norm_simplex(gram: np.ndarray) -> np.ndarray:
    """Exact ``argmin_{α ∈ Δ} αᵀ G α`` through one non-negative least-squares problem.

    With ``β ≥ 0`` written as ``β = s α`` (``α ∈ Δ``, ``s = 1ᵀβ``), the NNLS objective
    ``‖A β‖² + (1ᵀβ − 1)²`` equals ``s² q + (s − 1)²`` with ``q = ‖A α‖²``; minimising over ``s``
    gives ``q / (1 + q)``, increasing in ``q``. So ``β*/1ᵀβ*`` is the min-norm point of the
    convex hull — Lawson–Hanson's active set makes it exact up to round-off.

    Parameters
    ----------
    gram : (K, K) array
        PSD Gramian.

    Returns
    -------
    (K,) array
        Convex weights ``α`` (non-negative, summing to one).
    """
    k = gram.shape[0]
    scale = gramian_scale(gram)
    if scale <= 0.0:
        return np.full(k, 1.0 / k)
    factor = psd_factor(gram / scale)
    design = np.vstack([factor, np.ones((1, k))])
    target = np.zeros(k + 1)
    target[-1] = 1.0
    beta, _ = nnls(design, target, maxiter=50 * k)
    total = beta.sum()
    if total <= 0.0:  # cannot happen in exact arithmetic: s = 1 / (1 + q) > 0
        return np.full(k, 1.0 / k)
    return beta / total


def frank_wolfe_min_norm(gram: np.ndarray, max_iter: int, tol: float) -> np.ndarray:
    """Frank–Wolfe for ``argmin_{α ∈ Δ} αᵀ G α`` (Sener & Koltun 2018, Algorithm 2).

    Starts from uniform weights; each step moves towards the vertex with the smallest
    ``(G α)_t`` with the exact line-search step, stopping when the step is below ``tol``.
    """
    k = gram.shape[0]
    alpha = np.full(k, 1.0 / k)
    for _ in range(max_iter):
        g_alpha = gram @ alpha
        t = int(np.argmin(g_alpha))
        a = float(g_alpha[t])  # αᵀ G e_t
        b = float(alpha @ g_alpha)  # αᵀ G α
        c = float(gram[t, t])  # e_tᵀ G e_t
        if c <= a:
            gamma = 1.0
        elif b <= a:
            gamma = 0.0
        else:
            gamma = (b - a) / (b + c - 2.0 * a)
        alpha = (1.0 - gamma) * alpha
        alpha[t] += gamma
        if gamma < tol:
            break
    return alpha


def project_dual_cone(gram: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Weights of the projections of ``Jᵀ uₘ`` onto the dual cone ``{x : J x ≥ 0}``.

    The projection of ``Jᵀ u`` is ``Jᵀ w`` with ``w = argmin_{v ≥ u} vᵀ G v`` (Quinton & Rey
    2024, Prop. 1). Substituting ``v = u + z`` gives the NNLS problem
    ``min_{z ≥ 0} ‖A z + A u‖²``; the factor ``A`` is computed once for all rows of ``lower``.

    Parameters
    ----------
    gram : (K, K) array
    lower : (M, K) array
        One weight vector ``u`` per row.

    Returns
    -------
    (M, K) array
        ``w ≥ u`` row by row.
    """
    scale = gramian_scale(gram)
    if scale <= 0.0:
        return lower.copy()
    factor = psd_factor(gram / scale)
    out = lower.astype(np.float64)
    for m, u in enumerate(lower):
        z, _ = nnls(factor, -factor @ u, maxiter=50 * len(u))
        out[m] = u + z
    return out


class NoFairSolutionError(ValueError):
    """``G w = w^(−1/α)`` has no positive solution (the gradients cancel with positive weights)."""

    def __init__(self, message: str, residual: float) -> None:
        super().__init__(message)
        self.residual = residual


def alpha_fair_weights(
    gram: np.ndarray, alpha: float, *, tol: float = 1e-10, max_iter: int = 200
) -> np.ndarray:
    """Positive ``w`` solving ``G w = w^(−1/α)`` elementwise, by damped Newton steps.

    ``α = 1`` is Nash-MTL's bargaining condition ``G w = 1/w`` (Navon et al. 2022, eq. 3 /
    Claim 3.2); general ``α > 0`` is FairGrad's (Ban & Ji 2024, eq. 4). Solved on the Gramian
    rescaled to unit mean diagonal (:func:`alpha_fair_normalized`), then scaled back.

    Raises
    ------
    NoFairSolutionError
        (a ValueError) When no positive root exists, or every task gradient is zero.
    """
    scale = gramian_scale(gram)
    if scale <= 0.0:
        raise NoFairSolutionError(
            "every task gradient is zero; the alpha-fair weights are undefined", float("inf"))
    w = alpha_fair_normalized(gram / scale, alpha, tol=tol, max_iter=max_iter)
    return w * alpha_fair_unscale(scale, alpha)


def alpha_fair_unscale(scale: float, alpha: float) -> float:
    """Factor from the weights on ``G / s`` to those on ``G`` (``s = scale``).

    ``(G/s) w = w^(−p)``  ⇔  ``G (w c) = (w c)^(−p)`` with ``c = s^(−1/(1+p))``, ``p = 1/α``.
    """
    return float(scale ** (-1.0 / (1.0 + 1.0 / alpha)))


def alpha_fair_normalized(
    g: np.ndarray, alpha: float, *, tol: float = 1e-10, max_iter: int = 200
) -> np.ndarray:
    """Positive root of ``g w = w^(−1/α)`` for a Gramian ``g`` of unit mean diagonal.

    The condition is the stationarity of the strictly convex
    ``φ(w) = ½ wᵀ g w − Σᵢ h(wᵢ)`` with ``h′(w) = w^(−1/α)`` (``h = log`` for ``α = 1``), so
    Newton with backtracking (keeping ``w > 0``) converges to the unique root whenever ``φ``
    is bounded below.

    Raises
    ------
    NoFairSolutionError
        When no positive root exists (``φ`` unbounded: the gradients can cancel out with
        positive weights, e.g. two exactly opposite gradients, or one task's gradient is zero).
    """
    k = g.shape[0]
    p = 1.0 / alpha

    def h(w: np.ndarray) -> np.ndarray:
        return np.log(w) if p == 1.0 else w ** (1.0 - p) / (1.0 - p)

    def phi(w: np.ndarray) -> float:
        return float(0.5 * w @ g @ w - h(w).sum())

    w = np.ones(k)
    value = phi(w)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(max_iter):
            grad = g @ w - w ** (-p)
            if np.max(np.abs(grad) * w) < tol:
                break
            w, value = _newton_step(g, w, value, grad, p, phi)
            if not np.isfinite(value) or not np.all(np.isfinite(w)) or w.max() > 1e12:
                break
        residual = float(np.max(np.abs(g @ w - w ** (-p)) * w))
    if not np.all(np.isfinite(w)) or w.max() > 1e12 or not residual <= 1e-6:
        how = (f"residual {residual:.2e}" if np.isfinite(residual)
               else "the weights grow without bound")
        raise NoFairSolutionError(
            "no positive solution of G w = w^(-1/alpha): the task gradients can cancel out "
            f"with positive weights ({how})",
            residual,
        )
    return w


def _newton_step(g: np.ndarray, w: np.ndarray, value: float, grad: np.ndarray, p: float,
                 phi: Callable[[np.ndarray], float]) -> tuple[np.ndarray, float]:
    """One damped Newton step on ``φ`` keeping ``w > 0`` (Armijo backtracking)."""
    hess = g + np.diag(p * w ** (-p - 1.0))
    try:
        step = np.linalg.solve(hess, grad)
    except np.linalg.LinAlgError:  # w ran off to infinity: φ is unbounded below
        return np.full_like(w, np.inf), float("-inf")
    decrement = float(grad @ step)  # Newton decrement², ≥ 0 (the Hessian is PD)
    t = 1.0
    # largest step keeping w > 0, then Armijo backtracking on the convex objective;
    # near the root φ's change is below round-off, so take the (clipped) Newton step
    neg = step > 0
    if neg.any():
        t = min(1.0, 0.99 * float(np.min(w[neg] / step[neg])))
    candidate = w - t * step
    cand_value = phi(candidate)
    if decrement > 1e-10:
        while t > 1e-16 and cand_value > value - 1e-4 * t * decrement:
            t *= 0.5
            candidate = w - t * step
            cand_value = phi(candidate)
    return candidate, cand_value


def project_simplex(v: np.ndarray, total: float = 1.0) -> np.ndarray:
    """Euclidean projection of ``v`` onto ``{x ≥ 0, Σ x = total}`` (sort-based, exact)."""
    u = np.sort(v)[::-1]
    cumulative = np.cumsum(u) - total
    index = np.arange(1, len(v) + 1)
    rho = int(np.nonzero(u - cumulative / index > 0)[0][-1])
    theta = cumulative[rho] / (rho + 1)
    return np.maximum(v - theta, 0.0)
