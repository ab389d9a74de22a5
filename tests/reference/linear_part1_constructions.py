"""Test-only references for tasklens.linear part 1, written independently of the library.

- Task constructions with random orthonormal bases (Anon. 2025 (ICLR'26 sub.), App. D.1):
  aligned, orthogonal and conflicting pairs, and pairs with a chosen number of shared
  input directions.
- A brute-force integrator of the two-layer MTL gradient flow (eq. 5) with scipy's solve_ivp.
- A PSD matrix square root through an eigendecomposition.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp


def orthonormal(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """(n, k) matrix with orthonormal columns from the QR of a Gaussian matrix."""
    q, r = np.linalg.qr(rng.normal(size=(n, k)))
    return q * np.sign(np.diag(r))


def task_pair(kind: str, s1, s2, n_in: int, n_out: int, rng: np.random.Generator):
    """Two correlation matrices Σ_i = U_i diag(s_i) V_iᵀ with aligned/orthogonal/conflicting V."""
    s1, s2 = np.asarray(s1, float), np.asarray(s2, float)
    r = len(s1)
    u1, u2 = orthonormal(n_out, r, rng), orthonormal(n_out, r, rng)
    if kind == "aligned":
        v1 = v2 = orthonormal(n_in, r, rng)
    elif kind == "orthogonal":
        q = orthonormal(n_in, 2 * r, rng)
        v1, v2 = q[:, :r], q[:, r:]
    elif kind == "conflicting":
        v1, v2 = orthonormal(n_in, r, rng), orthonormal(n_in, r, rng)
    else:
        raise ValueError(kind)
    return (u1 * s1) @ v1.T, (u2 * s2) @ v2.T


def pair_with_shared_dims(r_a: int, r_b: int, k: int, n_in: int, rng: np.random.Generator,
                          n_out_a: int, n_out_b: int):
    """Tasks whose input subspaces share exactly k directions (and are otherwise orthogonal)."""
    q = orthonormal(n_in, r_a + r_b - k, rng)
    va = q[:, :r_a]
    vb = q[:, r_a - k: r_a - k + r_b]
    # mix the basis inside each subspace so the shared directions are not singular vectors
    va = va @ orthonormal(r_a, r_a, rng)
    vb = vb @ orthonormal(r_b, r_b, rng)
    sa = rng.uniform(0.5, 5.0, size=r_a)
    sb = rng.uniform(0.5, 5.0, size=r_b)
    ua, ub = orthonormal(n_out_a, r_a, rng), orthonormal(n_out_b, r_b, rng)
    return (ua * sa) @ va.T, (ub * sb) @ vb.T


def psd_sqrt(m: np.ndarray) -> np.ndarray:
    """Square root of a symmetric PSD matrix from eigh.

    Eigenvalues below 1e-12 of the largest are round-off of exact zeros (rank-deficient
    Gram matrices); their square roots (~1e-8) would swamp the comparison, so they are zeroed.
    """
    w, e = np.linalg.eigh((m + m.T) / 2)
    w = np.where(w > 1e-12 * w.max(), w, 0.0)
    return (e * np.sqrt(w)) @ e.T


def integrate_mtl_gradient_flow(sigmas, w_shared0, heads0, times, tau=1.0, rtol=1e-10,
                                atol=1e-12, return_weights=False):
    """Integrate eq. 5 with Σ_xx = I; return W_j W_S at each time, per task.

    With ``return_weights``, also return ``(W_S, [W_j])`` at the last time.

    τ dW_S/dt = Σ_j W_jᵀ (Σ_j - W_j W_S);  τ dW_j/dt = (Σ_j - W_j W_S) W_Sᵀ.
    """
    shapes = [w_shared0.shape] + [h.shape for h in heads0]
    sizes = [int(np.prod(s)) for s in shapes]

    def unpack(y):
        out, i = [], 0
        for shp, n in zip(shapes, sizes):
            out.append(y[i:i + n].reshape(shp))
            i += n
        return out

    def rhs(_t, y):
        ws, *heads = unpack(y)
        d_ws = np.zeros_like(ws)
        d_heads = []
        for sig, h in zip(sigmas, heads):
            resid = sig - h @ ws
            d_ws += h.T @ resid
            d_heads.append(resid @ ws.T)
        return np.concatenate([d_ws.ravel()] + [d.ravel() for d in d_heads]) / tau

    y0 = np.concatenate([w_shared0.ravel()] + [h.ravel() for h in heads0])
    sol = solve_ivp(rhs, (0.0, float(times[-1])), y0, t_eval=times, method="DOP853",
                    rtol=rtol, atol=atol)
    assert sol.success, sol.message
    maps = []
    for k in range(len(times)):
        ws, *heads = unpack(sol.y[:, k])
        maps.append([h @ ws for h in heads])
    if return_weights:
        return maps, unpack(sol.y[:, -1])
    return maps
