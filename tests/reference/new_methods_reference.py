"""Literal, vector-space references for the methods added in this release (NumPy / SciPy).

Each function follows the paper's algorithm as printed, on the task gradients themselves
(rows of ``jac``), never through the Gramian forms the library uses. Nothing here is imported
by the library.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize

from .balance_reference import dual_cone_projection, imtl_g_closed_form


def simplex_projection_sort(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto the probability simplex by bisection on the threshold."""
    lo, hi = float(v.min()) - 1.0, float(v.max())
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.maximum(v - mid, 0.0).sum() > 1.0:
            lo = mid
        else:
            hi = mid
    return np.maximum(v - 0.5 * (lo + hi), 0.0)


def config_direction(jac: np.ndarray, pref: np.ndarray | None = None) -> np.ndarray:
    """Liu et al. 2024 (ConFIG), eq. 2: least-squares unit direction with Uû ∝ p, length Σ gᵢᵀû."""
    pref = np.ones(jac.shape[0]) if pref is None else pref
    units = jac / np.linalg.norm(jac, axis=1, keepdims=True)
    best, *_ = np.linalg.lstsq(units, pref, rcond=None)  # min-norm solution of U x = p
    unit = best / np.linalg.norm(best)
    return float(np.sum(jac @ unit)) * unit


def krum_direction(jac: np.ndarray, f: int, m: int) -> np.ndarray:
    """Blanchard et al. 2017: scores with squared distances to the K − f − 2 nearest rows;
    mean of the m best rows (Multi-Krum)."""
    k = jac.shape[0]
    scores = []
    for i in range(k):
        d2 = sorted(float(np.sum((jac[i] - jac[j]) ** 2)) for j in range(k) if j != i)
        scores.append(sum(d2[: k - f - 2]))
    chosen = sorted(range(k), key=lambda i: (scores[i], i))[:m]
    return jac[chosen].mean(axis=0)


def trimmed_mean(jac: np.ndarray, b: int) -> np.ndarray:
    """Yin et al. 2018: per coordinate, drop the b largest and b smallest values, average."""
    out = np.empty(jac.shape[1])
    for p in range(jac.shape[1]):
        column = sorted(jac[:, p])
        out[p] = np.mean(column[b : len(column) - b])
    return out


def dualproj_direction(jac: np.ndarray) -> np.ndarray:
    """argmin_y ‖y − Σᵢ gᵢ‖² s.t. J y ≥ 0, by SLSQP in R^P."""
    return dual_cone_projection(jac, jac.sum(axis=0))


def modo_steps(jacs: Sequence[np.ndarray], gamma: float, rho: float) -> list[np.ndarray]:
    """Chen et al. 2023 (MoDo), eq. 2.9a with the same batch for both samples: λ per step."""
    k = jacs[0].shape[0]
    lam = np.full(k, 1.0 / k)
    out = []
    for jac in jacs:
        grad = np.array([jac[i] @ (jac.T @ lam) for i in range(k)]) + rho * lam
        lam = simplex_projection_sort(lam - gamma * grad)
        out.append(jac.T @ lam)
    return out


def sdmgrad_steps(
    jacs: Sequence[np.ndarray], lam: float, lr: float, momentum: float, n_iter: int
) -> list[np.ndarray]:
    """Xiao et al. 2023 (SDMGrad), Algorithm 1 on vectors: inner projected momentum SGD on
    ½‖Jᵀ(w + λ w̃)‖² with the gradient normalised by the squared mean gradient norm."""
    k = jacs[0].shape[0]
    target = np.full(k, 1.0 / k)
    w = np.full(k, 1.0 / k)
    out = []
    for jac in jacs:
        norm2 = np.mean(np.linalg.norm(jac, axis=1)) ** 2
        vel = None
        for _ in range(n_iter):
            combined = jac.T @ (w + lam * target)
            grad = jac @ combined / norm2
            vel = grad if vel is None else momentum * vel + grad
            w = simplex_projection_sort(w - lr * vel)
        out.append(jac.T @ (w + lam * target) / (1.0 + lam))
    return out


def moco_steps(
    jacs: Sequence[np.ndarray], beta: float, beta_sigma: float, gamma: float,
    gamma_sigma: float, rho: float,
) -> list[np.ndarray]:  # fmt: skip
    """Fernando et al. 2023 (MoCo), Algorithm 1: tracked gradients, projected λ, d = Yᵀλ."""
    k, p = jacs[0].shape
    y = np.zeros((k, p))
    lam = np.full(k, 1.0 / k)
    out = []
    for t, jac in enumerate(jacs, start=1):
        y = y - beta / t**beta_sigma * (y - jac)
        lam = simplex_projection_sort(lam - gamma / t**gamma_sigma * ((y @ y.T) @ lam + rho * lam))
        out.append(y.T @ lam)
    return out


def imtl_steps(
    jacs: Sequence[np.ndarray], losses: Sequence[np.ndarray], lr: float
) -> list[np.ndarray]:
    """Liu et al. 2021 (IMTL hybrid): IMTL-G (eq. 10, closed form) on the gradients of
    e^s L − s, then one Adam step on s with ∂/∂s = e^s L − 1 (Kingma & Ba, Algorithm 1)."""
    k = jacs[0].shape[0]
    s = np.zeros(k)
    m = np.zeros(k)
    v = np.zeros(k)
    out = []
    for t, (jac, loss) in enumerate(zip(jacs, losses, strict=True), start=1):
        out.append(imtl_g_closed_form(np.exp(s)[:, None] * jac))
        g = np.exp(s) * loss - 1.0
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        s = s - lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return out


def pcd_direction(
    jac: np.ndarray, tau: float, scales: np.ndarray
) -> np.ndarray:
    """PCD's QP in R^P by SLSQP (normalised gradients), rescaled to ‖g₀‖; g₀ if infeasible."""
    norm = jac * scales[:, None]
    g0 = norm[0]
    cons = [
        {"type": "ineq", "fun": (lambda d, j=j: norm[j] @ d - tau * norm[j] @ norm[j]),
         "jac": (lambda d, j=j: norm[j])}
        for j in range(1, jac.shape[0])
    ]  # fmt: skip
    res = minimize(lambda d: 0.5 * float(np.sum((d - g0) ** 2)), g0.copy(),
                   jac=lambda d: d - g0, method="SLSQP", constraints=cons,
                   options={"ftol": 1e-15, "maxiter": 1000})  # fmt: skip
    if not res.success:
        return jac[0].copy()
    d = res.x
    return d * np.linalg.norm(jac[0]) / np.linalg.norm(d)


def ema_scales(sq_norm_history: Sequence[np.ndarray], beta: float, eps: float) -> np.ndarray:
    """Bias-corrected EMA of the squared gradient norms → 1/√(v̂ + ε) after the last step."""
    v = np.zeros_like(sq_norm_history[0])
    for sq in sq_norm_history:
        v = beta * v + (1.0 - beta) * sq
    v_hat = v / (1.0 - beta ** len(sq_norm_history))
    return 1.0 / np.sqrt(v_hat + eps)


def brute_force_non_conflicting_check(jac: np.ndarray, d: np.ndarray, tol: float) -> bool:
    """gₖᵀ d ≥ −tol ‖gₖ‖ ‖d‖ for every task k."""
    norms = np.linalg.norm(jac, axis=1) * np.linalg.norm(d)
    return bool(np.all(jac @ d >= -tol * norms))


def permutations(k: int, count: int, seed: int = 0) -> list[tuple[int, ...]]:
    """``count`` distinct non-identity permutations of range(k) (all of them for small k)."""
    rng = np.random.default_rng(seed)
    every = [p for p in itertools.permutations(range(k)) if p != tuple(range(k))]
    picks = rng.choice(len(every), size=min(count, len(every)), replace=False)
    return [every[i] for i in picks]
