"""Per-task loss curves of the zero-balanced Riccati flow without forming the trajectory.

Paper: ``shared/seeds/000_5a54aa0d76fac110.txt`` (eq. 2, Theorem 2). For ``Σ N_io <= N_i``
(``U`` square) zero balance gives ``‖W_i W_S‖² = tr(Π_i B²)`` with ``B = c C⁻¹ cᵀ`` and
``Π_i = U_iᵀ U_i``, so each task's loss needs one Cholesky factor of the ``k × k`` matrix
``C(t)`` per time point (the derivation is in :func:`closed_form_losses`). Modes whose
couplings fall below rounding (``CONVERGED_COUPLING``) are dropped per batch of sorted time
points, which makes long horizons cheap. Kernels shared with the factored path live in
:mod:`tasklens.linear.riccati`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .riccati import (
    ClosedFormConstants,
    SpectralBasis,
    lower_triangular_inverse,
)

__all__ = ["CONVERGED_COUPLING", "LOSS_ENTRIES", "LossConstants", "closed_form_losses"]


CONVERGED_COUPLING = 1e-17  # relative size below which a converged mode's terms are dropped
LOSS_ENTRIES = 51_200  # time points x k^2 per batch in closed_form_losses (cache-sized)


@dataclass(frozen=True)
class LossConstants:
    """Time-independent pieces of :func:`closed_form_losses` (``N_o <= N_i``: ``U`` square).

    Attributes
    ----------
    H : (k, k) array
        ``A^{-1} B``, so that ``c = I + E H^T E`` and ``a = 2 I - c`` (Theorem 2).
    bracket : (k + 2, k, k) array
        ``4 K0``, ``4 Kp`` and ``h_j h_j^T`` (see :class:`ClosedFormConstants`).
    bracket_diag : (k + 2, k) array
        Their diagonals: ``N_jj(x) = [1, x, Phi] @ bracket_diag``.
    projectors : (N_T, k, k) array
        ``Pi_i = U_i^T U_i`` (rows of ``U`` of task ``i``); they sum to ``I``.
    U : (k, k) array
    slices : tuple of slice
        Output rows of each task.
    """

    H: np.ndarray
    bracket: np.ndarray
    bracket_diag: np.ndarray
    projectors: np.ndarray
    U: np.ndarray
    slices: tuple[slice, ...]

    @classmethod
    def build(
        cls, basis: SpectralBasis, const: ClosedFormConstants, slices: list[slice]
    ) -> LossConstants:
        k = basis.k
        if basis.U.shape[0] != k:
            raise ValueError(
                "closed_form_losses needs N_o <= N_i (a square U); use "
                "FactorTrajectory.squared_errors for N_o > N_i"
            )
        bracket = const.bracket_basis.reshape(k + 2, k, k)
        U = basis.U
        return cls(
            H=const.BtAit.T.copy(),
            bracket=bracket,
            bracket_diag=np.einsum("mjj->mj", bracket).copy(),
            projectors=np.stack([U[rows].T @ U[rows] for rows in slices]),
            U=U,
            slices=tuple(slices),
        )


def closed_form_losses(
    S: np.ndarray, lc: LossConstants, x: np.ndarray, block: int | None = None
) -> np.ndarray:
    """Per-task ``||Sigma_io - W_i W_S(t)||_F^2`` from Theorem 2 with ``k x k`` work only.

    000_5a54aa0d76fac110.txt, eq. 18-22 (as corrected in :func:`closed_form_factors`), for
    ``N_o <= N_i`` (then ``U`` is square and ``P_U = 0``). With ``P = C^{-1}``,
    ``B = c P c^T = U^T W W^T U`` (the output Gram in ``U`` coordinates) and
    ``N = c P a^T = 2 c P - B`` (the map ``W W_S`` in ``(U, V)`` coordinates), zero balance
    (``W_S W_S^T = W^T W``, eq. 14, conserved by the flow) gives
    ``||W_i W_S||^2 = tr(Pi_i B^2)``, hence::

        L_i = tr(Pi_i (B + S)^2) - 4 tr(Pi_i c P S),     Pi_i = U_i^T U_i

    Per time point: one Cholesky of ``C``, one triangular inverse and four ``k x k``
    products; no ``N_io x N_i`` map and no ``N_i``-sized array is formed.
    A mode ``j`` with ``e_j max(sqrt(2 s_j N_jj), |H|_max, 1) < CONVERGED_COUPLING`` has
    converged: its couplings in ``C`` (``e_j e_l N_jl`` relative to ``sqrt(C_jj C_ll)``) and
    in ``c`` are below double-precision rounding, and with them dropped its block of
    ``B + S`` and ``4 c P`` cancels exactly (``P_jj = s_j``). Time points are sorted and
    batched, and each batch works on the trailing ``k_a x k_a`` block of modes still
    active (``S`` is descending), so late times cost less and the cost stays bounded as the
    horizon grows.

    Parameters
    ----------
    S : (k,) array
        Singular values of ``xi``, descending.
    lc : LossConstants
    x : (T,) array
        Times divided by ``tau``.
    block : int, optional
        Time points per batch; default ``LOSS_ENTRIES / k^2`` (128 for ``k = 20``): the
        temporaries stay cache-sized, and small problems run in one batch.

    Returns
    -------
    (T, N_T) array
    """
    k = S.shape[0]
    n_tasks = len(lc.slices)
    if block is None:
        block = max(64, LOSS_ENTRIES // max(k, 1) ** 2)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    T = xs.shape[0]
    weights = np.empty((T, k + 2))  # [1, x, Phi]: the bracket N(x) is linear in them
    weights[:, 0] = 1.0
    weights[:, 1] = xs
    sx = xs[:, None] * S[None, :]
    ph = weights[:, 2:]
    np.expm1(-2.0 * sx, out=ph)
    positive = S > 0
    ph /= -np.where(positive, S, 1.0)
    if not positive.all():  # Phi -> 2x at s = 0 (see phi)
        ph[:, ~positive] = 2.0 * xs[:, None]
    e = np.exp(-sx)
    h_max = float(np.abs(lc.H).max()) if k else 0.0
    # coupling^2 = e_j^2 max(2 s_j N_jj, |H|_max^2, 1), compared without square roots
    coupling = weights @ lc.bracket_diag
    coupling *= 2.0 * S[None, :]
    np.maximum(coupling, max(h_max, 1.0) ** 2, out=coupling)
    coupling *= e
    coupling *= e
    converged = coupling < CONVERGED_COUPLING**2
    e[converged] = 0.0
    # leading converged modes per time point (S descending: the fast modes converge first)
    lead = np.argmin(converged, axis=1)
    lead[converged[np.arange(T), lead]] = k  # argmin hit a True: every mode has converged

    sizes = np.array([sl.stop - sl.start for sl in lc.slices])
    largest = int(np.argmax(sizes))
    others = [i for i in range(n_tasks) if i != largest]
    rows = (
        np.concatenate([np.arange(lc.slices[i].start, lc.slices[i].stop) for i in others])
        if others
        else np.zeros(0, dtype=int)
    )
    row_task = np.zeros((rows.size, len(others)))
    row_task[np.arange(rows.size), np.repeat(np.arange(len(others)), sizes[others])] = 1.0

    out = np.zeros((T, n_tasks))  # all modes converged: L_i = 0 exactly
    for start in range(0, T, block):
        stop = min(start + block, T)
        j0 = int(lead[start:stop].min())
        if j0 == k:
            continue
        a = slice(j0, k)
        out[start:stop] = _loss_block(
            S[a],
            lc.H[a, a],
            lc.bracket[:, a, a].reshape(k + 2, -1),
            lc.projectors[:, a, a] * S[None, None, a],
            lc.U[rows, a],
            row_task,
            others,
            largest,
            weights[start:stop],
            e[start:stop, a],
            j0,
        )
    result = np.empty_like(out)
    result[order] = out
    return result


def _loss_block(
    S: np.ndarray,
    H: np.ndarray,
    bracket: np.ndarray,
    proj_s: np.ndarray,
    U_rows: np.ndarray,
    row_task: np.ndarray,
    others: list[int],
    largest: int,
    weights: np.ndarray,
    e: np.ndarray,
    j0: int,
) -> np.ndarray:
    """The losses of :func:`closed_form_losses` for one batch on the active modes ``j0:``."""
    T, ka = e.shape
    C = (weights @ bracket).reshape(T, ka, ka)
    C *= e[:, :, None]
    C *= e[:, None, :]
    C.reshape(T, ka * ka)[:, :: ka + 1] += weights[:, 2 + j0 :]
    W = lower_triangular_inverse(np.linalg.cholesky(C))
    P = W.swapaxes(1, 2) @ W  # C^{-1}
    # c P = P + E H^T E P and B = c P c^T = c P + (c P) E H E, each product with the
    # constant H done as one (T k, k) x (k, k) matrix product
    Q = ((P * e[:, None, :]).reshape(T * ka, ka) @ H).reshape(T, ka, ka)
    Q *= e[:, None, :]
    cP = P + Q.swapaxes(1, 2)
    B = ((cP * e[:, None, :]).reshape(T * ka, ka) @ H).reshape(T, ka, ka)
    B *= e[:, None, :]
    B += cP
    B.reshape(T, ka * ka)[:, :: ka + 1] += S  # B + S
    out = np.empty((T, len(others) + 1))
    total = np.einsum("tij,tij->t", B, B)  # sum over tasks of tr(Pi_i (B + S)^2)
    if others:
        # tr(Pi_i (B + S)^2) = ||U_i (B + S)||^2; the largest task gets total minus the rest
        R = B.reshape(T * ka, ka) @ U_rows.T
        R *= R
        part = R.reshape(T, ka, -1).sum(axis=1) @ row_task
        out[:, others] = part
        out[:, largest] = total - part.sum(axis=1)
    else:
        out[:, 0] = total
    # tr(Pi_i c P S) = sum(c P * (Pi_i S))
    out -= 4.0 * (cP.reshape(T, ka * ka) @ proj_s.reshape(len(others) + 1, -1).T)
    return out
