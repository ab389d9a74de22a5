"""Test-only reference: direct numerical integration of the MTL gradient flow, eq. 5 of
``shared/seeds/Anon. 2025 (ICLR'26 sub.)``, written from the paper and independent of
``tasklens.linear``::

    tau dW_S/dt = sum_i w_i W_i^T (Sigma_io - W_i W_S Sigma_ii)
    tau dW_i/dt = (Sigma_io - W_i W_S Sigma_ii) W_S^T

(``w_i`` are loss weights on the shared update, eq. 1 and 3; 1 in the paper). Each head is
kept as its own matrix (no stacking), so agreement with the stacked closed form also checks
that the tasks decouple as the paper claims.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp


def integrate_mtl_ode(
    sigmas, W_S0, heads0, t_eval, tau=1.0, input_cov=None, weights=None, rtol=1e-10, atol=1e-14
):
    """Return ``(W_S(t) (T, N_s, N_i), [W_i(t) (T, N_io, N_s)], [W_i W_S(t)])``."""
    sigmas = [np.asarray(s, dtype=float) for s in sigmas]
    W_S0 = np.asarray(W_S0, dtype=float)
    heads0 = [np.asarray(h, dtype=float) for h in heads0]
    n_i = W_S0.shape[1]
    cov = np.eye(n_i) if input_cov is None else np.asarray(input_cov, dtype=float)
    w = np.ones(len(sigmas)) if weights is None else np.asarray(weights, dtype=float)
    shapes = [W_S0.shape] + [h.shape for h in heads0]
    sizes = [a * b for a, b in shapes]

    def unpack(y):
        mats, pos = [], 0
        for shape, size in zip(shapes, sizes):
            mats.append(y[pos : pos + size].reshape(shape))
            pos += size
        return mats[0], mats[1:]

    def rhs(_t, y):
        ws, heads = unpack(y)
        d_ws = np.zeros_like(ws)
        d_heads = []
        for i, (sig, h) in enumerate(zip(sigmas, heads)):
            err = sig - h @ ws @ cov
            d_ws += w[i] * h.T @ err
            d_heads.append(err @ ws.T)
        return np.concatenate([d_ws.ravel()] + [d.ravel() for d in d_heads]) / tau

    y0 = np.concatenate([W_S0.ravel()] + [h.ravel() for h in heads0])
    t_eval = np.asarray(t_eval, dtype=float)
    sol = solve_ivp(
        rhs, (0.0, float(t_eval.max())), y0, method="DOP853", t_eval=t_eval, rtol=rtol, atol=atol
    )
    assert sol.success, sol.message
    ws_t = np.stack([unpack(sol.y[:, j])[0] for j in range(len(t_eval))])
    heads_t = [
        np.stack([unpack(sol.y[:, j])[1][i] for j in range(len(t_eval))])
        for i in range(len(heads0))
    ]
    funcs = [h @ ws_t for h in heads_t]
    return ws_t, heads_t, funcs


def qqt_from_weights(ws_t, heads_t):
    """``Q Q^T`` with ``Q = [W_S^T; W_1; ...]`` (eq. 12): (T, n, n)."""
    q = np.concatenate([ws_t.transpose(0, 2, 1)] + list(heads_t), axis=1)
    return q @ q.transpose(0, 2, 1)
