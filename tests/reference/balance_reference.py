"""Slow, literal references for the tasklens.balance tests (NumPy / SciPy only).

Written from the papers' *vector-space* statements (optimisation over directions ``d`` in
R^P, or the algorithms as printed), never from the Gramian forms used by the library, so a
shared mistake is unlikely. Nothing here is imported by the library.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from scipy.optimize import minimize


def random_jacobian(
    k: int, p: int, *, rank: int | None = None, seed: int = 0, cond: float = 10.0
) -> np.ndarray:
    """(k, p) matrix of rank ``rank`` (default min(k, p)) with singular values in [1, cond]."""
    rng = np.random.default_rng(seed)
    r = min(k, p) if rank is None else rank
    left, _ = np.linalg.qr(rng.standard_normal((k, r)))
    right, _ = np.linalg.qr(rng.standard_normal((p, r)))
    sing = np.geomspace(cond, 1.0, r)
    return (left * sing) @ right.T


def simplex_grid(k: int, n: int) -> np.ndarray:
    """All points of the simplex Δ_k with coordinates in {0, 1/n, ..., 1}."""
    points = [c for c in itertools.product(range(n + 1), repeat=k - 1) if sum(c) <= n]
    return np.array([[*c, n - sum(c)] for c in points], dtype=np.float64) / n


def min_norm_hull_slsqp(jac: np.ndarray, starts: int = 5, seed: int = 0) -> np.ndarray:
    """Min-norm point of conv{rows of jac}: min ‖Jᵀα‖² on the simplex, multi-start SLSQP."""
    k = jac.shape[0]
    rng = np.random.default_rng(seed)
    best, best_val = None, np.inf
    for s in range(starts):
        x0 = np.full(k, 1.0 / k) if s == 0 else rng.dirichlet(np.ones(k))
        res = minimize(
            lambda a: float(np.sum((jac.T @ a) ** 2)),
            x0,
            jac=lambda a: 2.0 * jac @ (jac.T @ a),
            method="SLSQP",
            bounds=[(0.0, 1.0)] * k,
            constraints=({"type": "eq", "fun": lambda a: a.sum() - 1.0},),
            options={"ftol": 1e-15, "maxiter": 1000},
        )
        if res.fun < best_val:
            best, best_val = res.x, res.fun
    assert best is not None
    return jac.T @ best


def min_norm_hull_grid(jac: np.ndarray, n: int) -> float:
    """Smallest squared norm of ``Jᵀα`` over a dense simplex grid (an upper bound)."""
    grid = simplex_grid(jac.shape[0], n)
    return float(np.min(np.sum((grid @ jac) ** 2, axis=1)))


def dual_cone_projection(jac: np.ndarray, x: np.ndarray) -> np.ndarray:
    """argmin_y ‖y − x‖² s.t. J y ≥ 0, solved in R^P by SLSQP."""
    res = minimize(
        lambda y: float(np.sum((y - x) ** 2)),
        x.copy(),
        jac=lambda y: 2.0 * (y - x),
        method="SLSQP",
        constraints=({"type": "ineq", "fun": lambda y: jac @ y, "jac": lambda y: jac},),
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    return res.x


def cagrad_primal(jac: np.ndarray, c: float) -> np.ndarray:
    """max_{‖d − g₀‖ ≤ c‖g₀‖} minᵢ gᵢᵀ d in epigraph form (variables d, t), SLSQP."""
    g0 = jac.mean(axis=0)
    radius2 = c**2 * float(g0 @ g0)
    p = jac.shape[1]

    def neg_t(z: np.ndarray) -> float:
        return -z[-1]

    cons = (
        {"type": "ineq", "fun": lambda z: jac @ z[:p] - z[-1]},
        {"type": "ineq", "fun": lambda z: radius2 - np.sum((z[:p] - g0) ** 2)},
    )
    z0 = np.concatenate([g0, [float(np.min(jac @ g0)) - 1.0]])
    res = minimize(neg_t, z0, method="SLSQP", constraints=cons,
                   options={"ftol": 1e-14, "maxiter": 2000})  # fmt: skip
    return res.x[:p]


def pcgrad_vectors(jac: np.ndarray, orders: Sequence[Sequence[int]]) -> np.ndarray:
    """Yu et al. 2020, Algorithm 1, literally, with the visiting order of each task given."""
    total = np.zeros(jac.shape[1])
    for i, order in enumerate(orders):
        g = jac[i].copy()
        for j in order:
            if j == i:
                continue
            inner = g @ jac[j]
            if inner < 0:
                g = g - inner / (jac[j] @ jac[j]) * jac[j]
        total += g
    return total


def gradvac_vectors(
    jac: np.ndarray, target: np.ndarray, beta: float, orders: Sequence[Sequence[int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Wang et al. 2021, eq. 2–3 on vectors; returns (direction, updated targets)."""
    target = target.copy()
    total = np.zeros(jac.shape[1])
    for i, order in enumerate(orders):
        g = jac[i].copy()
        for j in order:
            if j == i:
                continue
            gj = jac[j]
            phi = g @ gj / (np.linalg.norm(g) * np.linalg.norm(gj))
            if phi < target[i, j]:
                t = target[i, j]
                coef = np.linalg.norm(g) * (t * np.sqrt(1 - phi**2) - phi * np.sqrt(1 - t**2))
                g = g + coef / (np.linalg.norm(gj) * np.sqrt(1 - t**2)) * gj
            target[i, j] = (1 - beta) * target[i, j] + beta * phi
        total += g
    return total, target


def imtl_g_closed_form(jac: np.ndarray) -> np.ndarray:
    """Liu et al. 2021 (IMTL), eq. 10: α₂..ₖ = g₁ Uᵀ (D Uᵀ)⁻¹, α₁ = 1 − Σ; returns Σ αᵢ gᵢ."""
    units = jac / np.linalg.norm(jac, axis=1, keepdims=True)
    diff_g = jac[0] - jac[1:]  # D: rows g₁ − gᵢ
    diff_u = units[0] - units[1:]  # U: rows u₁ − uᵢ
    alpha_rest = jac[0] @ diff_u.T @ np.linalg.inv(diff_g @ diff_u.T)
    alpha = np.concatenate([[1.0 - alpha_rest.sum()], alpha_rest])
    return alpha @ jac


def aligned_mtl_svd(jac: np.ndarray) -> np.ndarray:
    """Aligned-MTL from the thin SVD J = U Σ Vᵀ (full row rank): Ĵ = σ_min U Vᵀ; d = Ĵᵀ 1."""
    u, s, vt = np.linalg.svd(jac, full_matrices=False)
    aligned = s.min() * u @ vt
    return aligned.T @ np.ones(jac.shape[0])


def alpha_fair_direction(jac: np.ndarray, alpha: float) -> np.ndarray:
    """Unit-ball maximiser of Σᵢ u(gᵢᵀ d), u = log (α = 1) or x^(1−α)/(1−α), by SLSQP in R^P."""
    p = jac.shape[1]

    def utility(d: np.ndarray) -> float:
        s = np.maximum(jac @ d, 1e-12)
        return float(np.sum(np.log(s)) if alpha == 1.0 else np.sum(s ** (1 - alpha) / (1 - alpha)))

    start = jac.mean(axis=0)
    start = 0.5 * start / np.linalg.norm(start)
    res = minimize(
        lambda d: -utility(d),
        start,
        method="SLSQP",
        constraints=(
            {"type": "ineq", "fun": lambda d: 1.0 - d @ d},
            {"type": "ineq", "fun": lambda d: jac @ d - 1e-9},
        ),
        options={"ftol": 1e-15, "maxiter": 2000},
    )
    assert res.x.shape == (p,)
    return res.x


def adam_steps(
    x0: np.ndarray,
    grad_fns: Sequence,
    lr: float,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> np.ndarray:
    """Adam (Kingma & Ba 2015, Algorithm 1) with L2 weight decay added to the gradient.

    ``grad_fns[t]`` maps the current parameter to the gradient of step ``t``.
    """
    x = np.asarray(x0, dtype=np.float64).copy()
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    for t, grad_fn in enumerate(grad_fns, start=1):
        g = np.asarray(grad_fn(x), dtype=np.float64) + weight_decay * x
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        m_hat = m / (1 - betas[0] ** t)
        v_hat = v / (1 - betas[1] ** t)
        x = x - lr * m_hat / (np.sqrt(v_hat) + eps)
    return x
