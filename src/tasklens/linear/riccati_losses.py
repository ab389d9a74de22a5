"""Per-task loss curves of the zero-balanced Riccati flow without forming the trajectory.

Paper: Anon. 2025 (ICLR'26 sub.) (eq. 2, Theorem 2). For ``Σ N_io <= N_i``
(``U`` square) zero balance gives ``‖W_i W_S‖² = tr(Π_i B²)`` with ``B = c C⁻¹ cᵀ`` and
``Π_i = U_iᵀ U_i``, so each task's loss needs one Cholesky factor of the ``k × k`` matrix
``C(t)`` per time point (the derivation is in :func:`closed_form_losses`). Modes whose
couplings fall below rounding (``CONVERGED_COUPLING``) are dropped: time points are sorted
and grouped by the number of modes still active, so long horizons are cheap. Kernels shared
with the factored path live in :mod:`tasklens.linear.riccati`.
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
LOSS_ENTRIES = 102_400  # time points x k_a^2 per batch (256 points at k_a = 20: L2-resident)
# Cost model used to group time points into batches (measured on 2 cores, numpy 2.4):
# a batch costs ~BATCH_OVERHEAD_US of NumPy call overhead plus ~POINT_COST_US * k_a^2
# per time point.
BATCH_OVERHEAD_US = 150.0
POINT_COST_US = 0.022
_SLOTS = 6  # (T, k_a, k) buffers used by _loss_block


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
    U : (k, k) array
        Left singular vectors of ``xi`` (rows: outputs, columns: modes).
    task_of_row : (k, N_T) array
        ``1`` where output row ``r`` belongs to task ``i``.
    projectors : (N_T, k, k) array
        ``Pi_i = U_i^T U_i`` (rows of ``U`` of task ``i``); they sum to ``I``.
    slices : tuple of slice
        Output rows of each task.
    """

    H: np.ndarray
    bracket: np.ndarray
    bracket_diag: np.ndarray
    U: np.ndarray
    task_of_row: np.ndarray
    projectors: np.ndarray
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
        task_of_row = np.zeros((k, len(slices)))
        for i, rows in enumerate(slices):
            task_of_row[rows, i] = 1.0
        return cls(
            H=const.BtAit.T.copy(),
            bracket=bracket,
            bracket_diag=np.einsum("mjj->mj", bracket).copy(),
            U=basis.U,
            task_of_row=task_of_row,
            projectors=np.stack([basis.U[rows].T @ basis.U[rows] for rows in slices]),
            slices=tuple(slices),
        )


def closed_form_losses(
    S: np.ndarray, lc: LossConstants, x: np.ndarray, block: int | None = None
) -> np.ndarray:
    """Per-task ``||Sigma_io - W_i W_S(t)||_F^2`` from Theorem 2 with ``k x k`` work only.

    Anon. 2025 (ICLR'26 sub.), eq. 18-22 (as corrected in :func:`closed_form_factors`), for
    ``N_o <= N_i`` (then ``U`` is square and ``P_U = 0``). With ``P = C^{-1}``,
    ``B = c P c^T = U^T W W^T U`` (the output Gram in ``U`` coordinates) and
    ``N = c P a^T = 2 c P - B`` (the map ``W W_S`` in ``(U, V)`` coordinates), zero balance
    (``W_S W_S^T = W^T W``, eq. 14, conserved by the flow) gives
    ``||W_i W_S||^2 = tr(Pi_i B^2)``, hence::

        L_i = tr(Pi_i (B + S)^2) - 4 tr(Pi_i c P S),     Pi_i = U_i^T U_i

    Evaluated per time point from ``C = G G^T`` (Cholesky), ``W = G^{-1}``
    (:func:`lower_triangular_inverse`) and ``F = W c^T``, so that ``B = F^T F`` and
    ``c P = F^T W``: with ``Pi_i = U_i^T U_i``,
    ``tr(Pi_i (B + S)^2) = sum_{r in i} |(F^T F U^T + S U^T)[:, r]|^2`` (column ``r`` of
    ``U^T`` is output row ``r``) and ``tr(Pi_i c P S) = <c P, Pi_i S>`` (Frobenius). One
    LAPACK Cholesky per time point; everything else is batched matrix products (NumPy
    ``matmul`` on stacks of ``k x k`` matrices, or one ``(T k, k) x (k, k)`` product with a
    constant matrix), which cost far less per matrix than batched LAPACK calls (~0.5 us
    against ~10 us for ``k = 20``). No ``N_io x N_i`` map and no ``N_i``-sized array is
    formed.

    A mode ``j`` with ``e_j max(sqrt(2 s_j N_jj), |H|_max, 1) < CONVERGED_COUPLING`` has
    converged: its couplings in ``C`` (``e_j e_l N_jl`` relative to ``sqrt(C_jj C_ll)``) and
    in ``c`` are below double-precision rounding, and with them dropped its block of
    ``B + S`` and ``4 c P`` cancels exactly (``P_jj = s_j``). Time points are sorted; each
    works on the trailing ``k_a x k_a`` block of modes still active (``S`` is descending, the
    fast modes converge first). Runs of points with the same ``k_a`` are merged into batches
    by a cost model (a batch's NumPy call overhead against the extra work of a larger
    ``k_a``), so the cost stays bounded as the horizon grows.

    Parameters
    ----------
    S : (k,) array
        Singular values of ``xi``, descending.
    lc : LossConstants
    x : (T,) array
        Times divided by ``tau``.
    block : int, optional
        Most time points per batch; default ``LOSS_ENTRIES / k_a^2`` (256 for ``k_a = 20``):
        the temporaries stay cache-sized.

    Returns
    -------
    (T, N_T) array
    """
    k = S.shape[0]
    n_tasks = len(lc.slices)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    T = xs.shape[0]
    weights = np.empty((T, k + 2))  # [1, x, Phi]: the bracket N(x) is linear in them
    weights[:, 0] = 1.0
    weights[:, 1] = xs
    minus_sx = np.multiply.outer(xs, -S)
    # e from exp (not 1 + expm1): full relative accuracy where it is tiny, which matters
    # when H is large (ill-conditioned A); Phi from expm1: no cancellation at small s x
    e = np.exp(minus_sx)
    minus_sx *= 2.0
    ph = np.expm1(minus_sx, out=minus_sx)  # e^{-2sx} - 1, contiguous (T, k)
    positive = S > 0
    ph *= -1.0 / np.where(positive, S, 1.0)
    if not positive.all():  # Phi -> 2x at s = 0 (see phi)
        ph[:, ~positive] = 2.0 * xs[:, None]
    weights[:, 2:] = ph
    h_max = float(np.abs(lc.H).max()) if k else 0.0
    # coupling^2 = e_j^2 max(2 s_j N_jj, |H|_max^2, 1), compared without square roots
    coupling = weights @ lc.bracket_diag
    coupling *= 2.0 * S[None, :]
    np.maximum(coupling, max(h_max, 1.0) ** 2, out=coupling)
    coupling *= e
    coupling *= e
    converged = coupling < CONVERGED_COUPLING**2
    e *= ~converged  # (a multiply: ~7x faster than a masked assignment)
    # leading converged modes per time point (S descending: the fast modes converge first),
    # made non-decreasing in time (a point may keep a mode that has converged: still exact)
    lead = np.argmin(converged, axis=1)
    lead[converged[np.arange(T), lead]] = k  # argmin hit a True: every mode has converged
    lead = np.minimum.accumulate(lead[::-1])[::-1]

    out = np.zeros((T, n_tasks))  # all modes converged: L_i = 0 exactly
    batches = _batches(lead, k, block)
    largest = max((stop - start for start, stop, _ in batches), default=0)
    # one buffer for every batch, carved into views by _loss_block: a fresh array per
    # operation would be fresh pages, whose faults cost about as much as the arithmetic
    # (measured 8.9 vs 4.7 ms for the kernel on problem (b) in a fresh process)
    work = np.empty(_SLOTS * largest * k * k)
    for start, stop, j0 in batches:
        a = slice(j0, k)
        ka = k - j0
        Ut = lc.U[:, a].T
        out[start:stop] = _loss_block(
            lc.H[a, a].reshape(1, ka * ka),
            lc.bracket[:, a, a].reshape(k + 2, ka * ka),
            Ut,
            (S[a, None] * Ut).reshape(1, ka * k),
            np.tile(lc.task_of_row, (ka, 1)),
            (lc.projectors[:, a, a] * (-4.0 * S[None, None, a])).reshape(n_tasks, ka * ka).T,
            weights[start:stop],
            e[start:stop, a],
            j0,
            work,
        )
    result = np.empty_like(out)
    result[order] = out
    return result


def _batches(lead: np.ndarray, k: int, block: int | None) -> list[tuple[int, int, int]]:
    """``(start, stop, j0)`` batches of sorted time points, each on the active modes ``j0:``.

    Runs of equal ``lead`` (non-decreasing) are merged where the saved call overhead
    (``BATCH_OVERHEAD_US`` per batch) outweighs the extra work of carrying a few converged
    modes (``POINT_COST_US * k_a^2`` per point); an exact dynamic programme over the runs
    (at most ``k + 1`` of them). Points with every mode converged (``lead = k``) are left out.
    """
    if lead.shape[0] == 0:
        return []
    edges = np.flatnonzero(np.diff(lead)) + 1
    starts = np.concatenate([[0], edges]).astype(int)
    stops = np.concatenate([edges, [lead.shape[0]]]).astype(int)
    runs = [(int(a), int(b), int(lead[a])) for a, b in zip(starts, stops) if lead[a] < k]
    if not runs:
        return []

    n_runs = len(runs)
    sizes = [
        block if block is not None else max(64, LOSS_ENTRIES // (k - j0) ** 2) for _, _, j0 in runs
    ]
    per_point = [POINT_COST_US * (k - j0) ** 2 for _, _, j0 in runs]
    best = [0.0] * (n_runs + 1)  # best[j]: cheapest cover of runs[:j]
    cut = [0] * (n_runs + 1)
    for j in range(1, n_runs + 1):
        stop = runs[j - 1][1]
        best[j] = np.inf
        for i in range(j):
            n = stop - runs[i][0]
            c = best[i] + -(-n // sizes[i]) * BATCH_OVERHEAD_US + n * per_point[i]
            if c < best[j]:
                best[j], cut[j] = c, i
    merged = []
    j = n_runs
    while j > 0:
        i = cut[j]
        merged.append((runs[i][0], runs[j - 1][1], runs[i][2], sizes[i]))
        j = i
    batches = []
    for start, stop, j0, step in reversed(merged):
        batches.extend((s, min(s + step, stop), j0) for s in range(start, stop, step))
    return batches


def _loss_block(
    H_flat: np.ndarray,
    bracket: np.ndarray,
    Ut: np.ndarray,
    SUt_flat: np.ndarray,
    tiled_tasks: np.ndarray,
    proj_m4s: np.ndarray,
    weights: np.ndarray,
    e: np.ndarray,
    j0: int,
    work: np.ndarray,
) -> np.ndarray:
    """The losses of :func:`closed_form_losses` for one batch on the active modes ``j0:``.

    ``H_flat = H[a, a]`` as ``(1, k_a^2)``, ``Ut = U[:, a]^T`` (``k_a x k``),
    ``SUt_flat = S_a Ut`` as ``(1, k_a k)``, ``tiled_tasks = task_of_row`` stacked ``k_a``
    times (``k_a k x N_T``), ``proj_m4s[:, i] = -4 Pi_i[a, a] S_a`` flattened
    (``k_a^2 x N_T``); ``work`` holds at least ``_SLOTS T k_a k`` entries. Operands are
    flattened to ``(T, m)`` where a constant is broadcast: NumPy's broadcasting over a short
    inner axis is ~3x slower.
    """
    T, ka = e.shape
    k = Ut.shape[1]
    slot = T * ka * k
    square, wide = (T, ka, ka), (T, ka, k)

    def buf(i: int, shape: tuple[int, int, int]) -> np.ndarray:
        return work[i * slot : i * slot + shape[0] * shape[1] * shape[2]].reshape(shape)

    outer = np.einsum("ti,tj->tij", e, e, out=buf(0, square))  # E . E
    C = buf(1, square)
    np.matmul(weights, bracket, out=C.reshape(T, ka * ka))
    C *= outer
    C.reshape(T, ka * ka)[:, :: ka + 1] += weights[:, 2 + j0 :]
    W = lower_triangular_inverse(np.linalg.cholesky(C), out=buf(2, square))
    ct = outer  # c^T = I + E H E
    ct.reshape(T, ka * ka)[...] *= H_flat
    ct.reshape(T, ka * ka)[:, :: ka + 1] += 1.0
    F = np.matmul(W, ct, out=buf(3, square))
    FU = buf(4, wide)
    np.matmul(F.reshape(T * ka, ka), Ut, out=FU.reshape(T * ka, k))
    R = np.matmul(F.swapaxes(1, 2), FU, out=buf(5, wide))  # B U^T
    R.reshape(T, ka * k)[...] += SUt_flat
    R *= R  # columns r of task i sum to tr(Pi_i (B + S)^2)
    cP = np.matmul(F.swapaxes(1, 2), W, out=buf(1, square))  # c P = F^T W
    out = R.reshape(T, ka * k) @ tiled_tasks
    out += cP.reshape(T, ka * ka) @ proj_m4s  # -4 tr(Pi_i c P S) = <c P, -4 Pi_i S>
    return out
