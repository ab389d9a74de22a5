"""Task alignment, magnitude imbalance, the shared MTL spectrum and its rank facts.

Implements Section 2.2 and Appendix B.8 of Anon. 2025 (ICLR'26 sub.): the overlap matrix
``O_ab = V_aᵀ V_b`` (eq. 8) and the alignment regimes of Definition 2.1, the magnitude ratios
of eq. 11, the spectrum of the stacked correlations ``ξ`` (eq. 9/10) and the rank facts of
Lemma 4 — for two tasks and, pairwise, for any number of tasks.

Decisions where the paper is loose:

- ``V_a`` are the right singular vectors of task ``a``'s *nonzero* modes only (reduced SVD;
  a mode counts as nonzero when ``s > rtol · s_max`` of that task), so ``O_ab`` is
  ``r_a × r_b`` and has ``min(r_a, r_b)`` singular values.
- ``ξ`` is the vertical stack ``[Σ_1o; Σ_2o; ...]`` of shape ``(Σ N_io, N_i)`` (eq. 15 and
  Lemma 4), although eq. 9 writes it as a transpose of a row of blocks.
- Eq. 10 prints ``M = V_1 S_1 V_1ᵀ + V_2 S_2 V_2ᵀ``; the squares are missing. Since
  ``ξᵀξ = Σ_i Σ_ioᵀ Σ_io = Σ_i V_i S_i² V_iᵀ`` (eq. 81/82), ``S_ξ`` is the square root of the
  eigenvalues of ``M = Σ_i V_i S_i² V_iᵀ``; the Figure 3 values (4.472 = √(4² + 2²)) confirm it.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._common.validation import check_scalar
from .statistics import as_sigma_dict, check_sigma

#: default relative threshold below which a singular value counts as zero
RANK_RTOL = 1e-8
#: default distance from 1 / 0 within which an overlap counts as aligned / orthogonal
REGIME_TOL = 1e-6
REGIMES: tuple[str, ...] = ("aligned", "conflicting", "orthogonal", "mixed")


def _check_rtol(rtol: float, name: str = "rtol") -> float:
    return check_scalar(rtol, name, numbers.Real, low=0.0, high=1.0, include_high=False)


def right_modes(sigma: Any, rtol: float = RANK_RTOL, name: str = "sigma"
                ) -> tuple[np.ndarray, np.ndarray]:
    """Nonzero singular values of a task and their right singular vectors (eq. 7).

    Parameters
    ----------
    sigma : (N_io, N_i) array-like
    rtol : float
        A singular value counts as nonzero when it exceeds ``rtol · s_max``.

    Returns
    -------
    values : (r,) array, descending
    v : (N_i, r) array
        Orthonormal columns ``V_i`` of the task's nonzero modes.
    """
    _check_rtol(rtol)
    arr = check_sigma(sigma, name)
    _, s, vt = np.linalg.svd(arr, full_matrices=False)
    keep = s > rtol * s[0]
    return s[keep], vt[keep].T


def task_rank(sigma: Any, rtol: float = RANK_RTOL, name: str = "sigma") -> int:
    """Number of nonzero modes ``r_i = rank(Σ_io)`` (singular values above ``rtol · s_max``)."""
    return int(len(right_modes(sigma, rtol, name)[0]))


def overlap_singular_values(sigma_a: Any, sigma_b: Any, *, rtol: float = RANK_RTOL
                            ) -> np.ndarray:
    """Singular values ``α_1 ≥ … ≥ 0`` of ``O_ab = V_aᵀ V_b`` (Anon. 2025 (ICLR'26 sub.), eq. 8).

    They are the cosines of the principal angles between the input subspaces the two tasks
    read: 1 for a shared direction, 0 for orthogonal ones.

    Parameters
    ----------
    sigma_a : (N_ao, N_i) array-like
    sigma_b : (N_bo, N_i) array-like
    rtol : float
        Each task keeps only modes with singular value above ``rtol`` times its largest.

    Returns
    -------
    (min(r_a, r_b),) array in [0, 1], descending
    """
    _, va = right_modes(sigma_a, rtol, "sigma_a")
    _, vb = right_modes(sigma_b, rtol, "sigma_b")
    if va.shape[0] != vb.shape[0]:
        raise ValueError(
            f"sigma_a has {va.shape[0]} input columns but sigma_b has {vb.shape[0]}; "
            "both tasks must share the same inputs (same N_i)"
        )
    alphas = np.linalg.svd(va.T @ vb, compute_uv=False)
    return np.clip(alphas, 0.0, 1.0)


def classify_overlaps(alphas: Any, tol: float = REGIME_TOL) -> list[str]:
    """Per-mode regime of overlap singular values (Definition 2.1).

    ``α ≥ 1 - tol`` is ``"aligned"``, ``α ≤ tol`` is ``"orthogonal"``, anything between is
    ``"conflicting"``.

    Parameters
    ----------
    alphas : (r,) array-like in [0, 1]
    tol : float in [0, 0.5)
    """
    # below 0.5, so that the aligned and orthogonal bands do not overlap
    tol = check_scalar(tol, "tol", numbers.Real, low=0.0, high=0.5, include_high=False)
    a = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if a.ndim != 1 or not np.all(np.isfinite(a)):
        raise ValueError("alphas must be a 1-D array of finite overlap singular values")
    return ["aligned" if x >= 1.0 - tol else "orthogonal" if x <= tol else "conflicting"
            for x in a]


@dataclass(frozen=True)
class AlignmentRegime:
    """Alignment of two tasks (Anon. 2025 (ICLR'26 sub.), Definition 2.1).

    Attributes
    ----------
    regime : {"aligned", "conflicting", "orthogonal", "mixed"}
        ``"mixed"`` when the modes fall in different regimes (typical of real data).
    overlaps : (m,) array
        Singular values of ``O_ab``, ``m = min(r_a, r_b)``.
    mode_regimes : tuple of str, length m
        Regime of each overlap singular value.
    counts : dict of str to int
        Number of modes per regime.
    ranks : tuple of int
        ``(r_a, r_b)``; when they differ, ``|r_a - r_b|`` modes of the larger task have no
        partner in the overlap.
    tol : float
    """

    regime: str
    overlaps: np.ndarray
    mode_regimes: tuple[str, ...]
    counts: dict[str, int]
    ranks: tuple[int, int]
    tol: float

    def to_dict(self) -> dict[str, Any]:
        return {"regime": self.regime, "overlaps": self.overlaps.tolist(),
                "mode_regimes": list(self.mode_regimes), "counts": dict(self.counts),
                "ranks": list(self.ranks), "tol": self.tol}


def alignment_regime(sigma_a: Any, sigma_b: Any, *, tol: float = REGIME_TOL,
                     rtol: float = RANK_RTOL) -> AlignmentRegime:
    """Classify two tasks as aligned, conflicting, orthogonal or mixed (Definition 2.1).

    Parameters
    ----------
    sigma_a, sigma_b : (N_io, N_i) array-like
        The two tasks' input-output correlations.
    tol : float in [0, 0.5)
        Overlaps within ``tol`` of 1 count as aligned, within ``tol`` of 0 as orthogonal.
        The default only absorbs round-off (Definition 2.1 read strictly); real data need a
        looser value such as 0.05 to call tasks "mostly" aligned.
    rtol : float
        Relative threshold for a task's nonzero modes (see :func:`overlap_singular_values`).
    """
    alphas = overlap_singular_values(sigma_a, sigma_b, rtol=rtol)
    labels = classify_overlaps(alphas, tol)
    counts = {r: labels.count(r) for r in ("aligned", "conflicting", "orthogonal")}
    regime = labels[0] if len(set(labels)) == 1 else "mixed"
    ranks = (task_rank(sigma_a, rtol, "sigma_a"), task_rank(sigma_b, rtol, "sigma_b"))
    return AlignmentRegime(regime, alphas, tuple(labels), counts, ranks, float(tol))


def magnitude_ratios(sigma_a: Any, sigma_b: Any) -> np.ndarray:
    """Magnitude ratios ``ΔM_ab^(i,j) = ‖Σ_ao^i‖ / ‖Σ_bo^j‖`` (Anon. 2025 (ICLR'26 sub.), eq. 11).

    ``Σ_ao^i`` is row ``i`` (output dimension ``i``) of task ``a``'s correlation matrix. Two
    tasks have balanced magnitudes when every entry is 1.

    Parameters
    ----------
    sigma_a : (N_ao, N_i) array-like
    sigma_b : (N_bo, N_i) array-like

    Returns
    -------
    (N_ao, N_bo) array
        An output dimension of task ``b`` with an all-zero row gives ``inf`` in its column.
    """
    a = check_sigma(sigma_a, "sigma_a")
    b = check_sigma(sigma_b, "sigma_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"sigma_a has {a.shape[1]} input columns but sigma_b has {b.shape[1]}; "
            "both tasks must share the same inputs (same N_i)"
        )
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return na[:, None] / nb[None, :]


@dataclass(frozen=True)
class SharedSpectrum:
    """Compact SVD ``ξ = U_ξ S_ξ V_ξᵀ`` of the stacked correlations (eq. 9/16).

    Attributes
    ----------
    singular_values : (k,) array
        ``S_ξ``, descending, ``k = min(Σ N_io, N_i)`` (zeros included).
    u : (Σ N_io, k) array
        ``U_ξ``; the rows of task ``j`` are ``u[slices[j]]`` (``U_ξj`` of eq. 41).
    v : (N_i, k) array
        ``V_ξ``. Signs are fixed so the largest-magnitude entry of each column is positive.
    task_names : tuple of str
    slices : dict of str to slice
        Rows of ``ξ`` (and ``U_ξ``) belonging to each task.
    rank : int
        Number of singular values above ``rtol · s_max``.
    rtol : float
    """

    singular_values: np.ndarray
    u: np.ndarray
    v: np.ndarray
    task_names: tuple[str, ...]
    slices: dict[str, slice]
    rank: int
    rtol: float

    def u_task(self, task: str) -> np.ndarray:
        """``U_ξj``: the ``(N_jo, k)`` rows of ``U_ξ`` for ``task``."""
        if task not in self.slices:
            raise KeyError(f"no task {task!r}; tasks are {list(self.task_names)}")
        return self.u[self.slices[task]]

    def nonzero(self) -> np.ndarray:
        """The ``rank`` nonzero singular values."""
        return self.singular_values[: self.rank]

    def to_dict(self) -> dict[str, Any]:
        return {"singular_values": self.singular_values.tolist(), "rank": self.rank,
                "task_names": list(self.task_names), "rtol": self.rtol,
                "output_rows": {n: [s.start, s.stop] for n, s in self.slices.items()}}


def stack_sigmas(sigmas: Any) -> tuple[np.ndarray, dict[str, slice]]:
    """``ξ = [Σ_1o; …; Σ_NTo]`` (eq. 15, Lemma 4) and the row slice of each task."""
    sig = as_sigma_dict(sigmas)
    slices, start = {}, 0
    for name, s in sig.items():
        slices[name] = slice(start, start + s.shape[0])
        start += s.shape[0]
    return np.vstack(list(sig.values())), slices


def shared_spectrum(sigmas: Any, *, rtol: float = RANK_RTOL) -> SharedSpectrum:
    """The shared MTL spectrum ``S_ξ`` and singular vectors of ``ξ``.

    Anon. 2025 (ICLR'26 sub.), eq. 9/10 (and App. C.5 for ``N_T > 2``): ``S_ξ`` are the
    singular values of ``ξ``, equivalently the square roots of the eigenvalues of
    ``M = Σ_i V_i S_i² V_iᵀ`` (eq. 10 with the square restored, see the module notes).

    Parameters
    ----------
    sigmas : TaskCorrelations, mapping of str to (N_io, N_i) array, or list of arrays
    rtol : float
        Relative threshold for counting nonzero singular values (``rank``).
    """
    _check_rtol(rtol)
    xi, slices = stack_sigmas(sigmas)
    u, s, vt = np.linalg.svd(xi, full_matrices=False)
    v = vt.T
    # A deterministic sign per mode makes results reproducible across LAPACK builds.
    flip = np.sign(v[np.argmax(np.abs(v), axis=0), np.arange(v.shape[1])])
    flip[flip == 0] = 1.0
    u, v = u * flip, v * flip
    rank = int(np.sum(s > rtol * s[0]))
    return SharedSpectrum(s, u, v, tuple(slices), slices, rank, rtol)


@dataclass(frozen=True)
class RankFacts:
    """Ranks of the tasks and of ``ξ`` (Anon. 2025 (ICLR'26 sub.), Lemma 4, eq. 85-87).

    Attributes
    ----------
    task_ranks : dict of str to int
    xi_rank : int
        ``rank(ξ) = rank(S_ξ) = dim(Σ_i rowspace(Σ_io))``.
    sum_of_ranks, max_rank : int
    shared_dimension : int
        ``Σ r_i - rank(ξ)``: for two tasks the dimension of the intersection of their input
        subspaces (eq. 87), i.e. the number of overlaps equal to 1.
    """

    task_ranks: dict[str, int]
    xi_rank: int
    sum_of_ranks: int
    max_rank: int
    shared_dimension: int

    @property
    def bounds_hold(self) -> bool:
        """``max r_i ≤ rank(ξ) ≤ Σ r_i``, true for any tasks."""
        return self.max_rank <= self.xi_rank <= self.sum_of_ranks

    @property
    def orthogonal_rank(self) -> bool:
        """``rank(ξ) = Σ r_i`` (eq. 86): no input direction is read by two tasks."""
        return self.xi_rank == self.sum_of_ranks

    @property
    def aligned_rank(self) -> bool:
        """``rank(ξ) = max r_i`` (eq. 85): all tasks read inside one task's subspace."""
        return self.xi_rank == self.max_rank

    def to_dict(self) -> dict[str, Any]:
        return {"task_ranks": dict(self.task_ranks), "xi_rank": self.xi_rank,
                "sum_of_ranks": self.sum_of_ranks, "max_rank": self.max_rank,
                "shared_dimension": self.shared_dimension, "bounds_hold": self.bounds_hold}


def rank_facts(sigmas: Any, *, rtol: float = RANK_RTOL) -> RankFacts:
    """Task ranks and the rank of the shared spectrum (Lemma 4).

    Parameters
    ----------
    sigmas : TaskCorrelations, mapping of str to (N_io, N_i) array, or list of arrays
    rtol : float
        Relative singular-value threshold, applied to each matrix on its own scale.
    """
    sig = as_sigma_dict(sigmas)
    ranks = {n: task_rank(s, rtol, f"sigmas[{n!r}]") for n, s in sig.items()}
    xi_rank = shared_spectrum(sig, rtol=rtol).rank
    total = sum(ranks.values())
    return RankFacts(ranks, xi_rank, total, max(ranks.values()), total - xi_rank)


@dataclass(frozen=True)
class PairwiseAlignment:
    """Alignment measures for every pair of ``N_T`` tasks, labeled by task name.

    Attributes
    ----------
    task_names : tuple of str
    mean_overlap, min_overlap, max_overlap : (N_T, N_T) array
        Mean / smallest / largest singular value of ``O_ab`` (eq. 8); 1 on the diagonal.
    regimes : (N_T, N_T) object array of str
        Definition 2.1 regime of each pair ("aligned" on the diagonal).
    frobenius_ratio : (N_T, N_T) array
        ``‖Σ_ao‖_F / ‖Σ_bo‖_F``, the task-level summary of eq. 11.
    xi_rank : (N_T, N_T) int array
        ``rank(ξ)`` of the pair (Lemma 4); the task's rank on the diagonal.
    shared_dimension : (N_T, N_T) int array
        ``r_a + r_b - rank(ξ_ab)``: input directions both tasks read.
    overlaps : dict of str to array
        Overlap singular values per pair, keyed ``"a|b"`` (``a`` before ``b`` in task order).
    magnitudes : dict of str to (N_ao, N_bo) array
        Per-dimension magnitude ratios of eq. 11 per pair, keyed like ``overlaps``.
    tol, rtol : float
    """

    task_names: tuple[str, ...]
    mean_overlap: np.ndarray
    min_overlap: np.ndarray
    max_overlap: np.ndarray
    regimes: np.ndarray
    frobenius_ratio: np.ndarray
    xi_rank: np.ndarray
    shared_dimension: np.ndarray
    overlaps: dict[str, np.ndarray]
    magnitudes: dict[str, np.ndarray]
    tol: float
    rtol: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_names": list(self.task_names),
            "mean_overlap": self.mean_overlap.tolist(),
            "min_overlap": self.min_overlap.tolist(),
            "max_overlap": self.max_overlap.tolist(),
            "regimes": self.regimes.tolist(),
            "frobenius_ratio": self.frobenius_ratio.tolist(),
            "xi_rank": self.xi_rank.tolist(),
            "shared_dimension": self.shared_dimension.tolist(),
            "overlaps": {k: v.tolist() for k, v in self.overlaps.items()},
            "magnitudes": {k: v.tolist() for k, v in self.magnitudes.items()},
            "tol": self.tol,
            "rtol": self.rtol,
        }


def pairwise_alignment(sigmas: Any, *, tol: float = REGIME_TOL,
                       rtol: float = RANK_RTOL) -> PairwiseAlignment:
    """Overlaps, regimes, magnitude ratios and rank facts for all task pairs.

    Parameters
    ----------
    sigmas : TaskCorrelations, mapping of str to (N_io, N_i) array, or list of arrays
    tol : float in [0, 0.5)
        Regime tolerance (see :func:`alignment_regime`).
    rtol : float
        Relative singular-value threshold for nonzero modes.
    """
    classify_overlaps([0.0], tol)  # validates tol before any work
    sig = as_sigma_dict(sigmas)
    names = tuple(sig)
    n = len(names)
    mean_o, min_o, max_o = np.ones((n, n)), np.ones((n, n)), np.ones((n, n))
    regimes = np.full((n, n), "aligned", dtype=object)
    ranks = [task_rank(sig[a], rtol, f"sigmas[{a!r}]") for a in names]
    xi_rank = np.diag(ranks).astype(np.int64)
    shared = np.diag(ranks).astype(np.int64)
    norms = np.array([np.linalg.norm(sig[a]) for a in names])
    overlaps: dict[str, np.ndarray] = {}
    magnitudes: dict[str, np.ndarray] = {}
    for i in range(n):
        for j in range(i + 1, n):
            a, b = names[i], names[j]
            reg = alignment_regime(sig[a], sig[b], tol=tol, rtol=rtol)
            overlaps[f"{a}|{b}"] = reg.overlaps
            magnitudes[f"{a}|{b}"] = magnitude_ratios(sig[a], sig[b])
            for p, q in ((i, j), (j, i)):
                mean_o[p, q] = reg.overlaps.mean()
                min_o[p, q] = reg.overlaps.min()
                max_o[p, q] = reg.overlaps.max()
                regimes[p, q] = reg.regime
            r = shared_spectrum({a: sig[a], b: sig[b]}, rtol=rtol).rank
            xi_rank[i, j] = xi_rank[j, i] = r
            shared[i, j] = shared[j, i] = ranks[i] + ranks[j] - r
    ratio = norms[:, None] / norms[None, :]
    return PairwiseAlignment(names, mean_o, min_o, max_o, regimes, ratio, xi_rank, shared,
                             overlaps, magnitudes, float(tol), float(rtol))
