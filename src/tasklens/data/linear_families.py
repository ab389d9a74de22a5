"""Linear task families of Anon. 2025 Appendix D.1–D.4: controlled alignment and magnitude.

Every generator returns a :class:`LinearTaskFamily` (see
:mod:`tasklens.data.linear_families_sampling`): the input–output correlation ``Σ_io`` of each
task, shape ``(N_io, N_i)``, convention ``Σ_io = (1/N) Y_iᵀ X`` (Anon. 2025 (ICLR'26 sub.),
eq. 6), plus the construction parameters. ``family.sample(N, seed)`` or
``family.to_taskset(N, seed)`` turn a family into whitened data that realizes the correlations.

Alignment is measured by the singular values of the overlap ``O_12 = V_1ᵀ V_2`` (eq. 8):
all 1 for fully aligned tasks, all 0 for fully orthogonal, strictly between for fully
conflicting tasks (Definition 2.1).

Decisions where 000 is ambiguous (numbers checked in ``tests/data/test_linear_families.py``):

- App. D.1, eq. 161–164, has index typos (``QR(N(0,1)^{2r × N_1})`` for an ``N_1 × r`` basis;
  ``Q_full,L[N_1o : N_2o, r+1:2r]`` cuts *rows* of an orthonormal basis, which are not
  orthonormal, so the requested singular values would not come out). We use column blocks:
  right bases are ``(N_i, r)`` blocks of orthonormal columns, left bases ``(N_io, r)``;
  orthogonal tasks take disjoint column blocks of one ``(N_i, r_1 + r_2)`` basis.
- Eq. 10 prints ``M = V_1 S_1 V_1ᵀ + V_2 S_2 V_2ᵀ``; the Figure 3 numbers
  (S_1 = (4, 3), S_2 = (2, 1.5) aligned → S_ξ = (4.472, 3.354) = sqrt(4² + 2²), sqrt(3² + 1.5²))
  need the squares, ``M = ξᵀξ = V_1 S_1² V_1ᵀ + V_2 S_2² V_2ᵀ``.
- "Normalized" pairs (Figure 3, bottom row): see :func:`correlated_family`.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._common.validation import check_choice, check_positive_int, check_scalar, check_seed
from .linear_families_sampling import (
    LinearTaskFamily,
    SeedLike,
    TaskFactors,
    check_sizes,
    check_values,
    orthonormal_columns,
    random_regression,
    random_regression_family,
    seed_record,
    whitened_inputs,
)
from .taskset import TaskSet

__all__ = [
    "NORMALIZATIONS",
    "REGIMES",
    "LinearTaskFamily",
    "TaskFactors",
    "correlated_family",
    "correlated_pair_family",
    "gamma_mtl",
    "gamma_mtl_family",
    "random_regression",
    "random_regression_family",
    "teacher_student_family",
    "whitened_inputs",
]

REGIMES: tuple[str, ...] = ("aligned", "conflicting", "orthogonal")
NORMALIZATIONS: tuple[str, ...] = ("rows", "tasks")
_MODULE = "tasklens.data.linear_families"


def _task_names(n_tasks: int) -> list[str]:
    return [f"task_{t + 1}" for t in range(n_tasks)]


def _factors_to_sigma(f: TaskFactors) -> np.ndarray:
    return (f.U * f.S) @ f.V.T


# ====================================================================== D.1
def correlated_family(
    regime: str,
    n_inputs: int,
    n_outputs: int | Sequence[int],
    singular_values: Sequence[Sequence[float]],
    seed: SeedLike = None,
    normalize: bool | str = False,
) -> LinearTaskFamily:
    """N_T tasks that are fully aligned, fully conflicting or fully orthogonal (Anon. 2025, App.
    D.1).

    ``Σ_to = U_t diag(s_t) V_tᵀ`` (Anon. 2025 (ICLR'26 sub.), eq. 160, 163) with random
    orthonormal bases (QR of Gaussian matrices, eq. 158):

    - ``"aligned"``: one right basis ``V`` shared by all tasks (``V_t`` = its first ``r_t``
      columns), so every overlap singular value is 1. When ``N_to == N_i`` the left basis is
      ``V`` too, ``Σ_to = V diag(s_t) Vᵀ`` — the paper's eq. 160; otherwise ``U_t`` is an
      independent random basis (alignment is a property of the right bases only, eq. 8).
    - ``"orthogonal"``: ``V_t`` are disjoint column blocks of one ``(N_i, Σ r_t)`` basis, so
      ``span(V_a) ⟂ span(V_b)`` and every overlap singular value is 0; needs
      ``N_i >= Σ_t r_t`` (the paper's ``d >= 2r``). Left bases are disjoint column blocks of one
      basis when all tasks have the same ``N_o >= Σ r_t`` (eq. 162), else independent.
    - ``"conflicting"``: independent random ``U_t`` and ``V_t`` (eq. 164). With
      ``r_a + r_b <= N_i`` for every pair the overlap singular values are strictly between 0 and
      1 with probability one; a smaller ``N_i`` forces a partly aligned pair and is rejected.

    Parameters
    ----------
    regime : {"aligned", "conflicting", "orthogonal"}
    n_inputs : int
        N_i (the paper's ``N_1``, the input dimension).
    n_outputs : int or sequence of int
        N_to per task (one int: the same for every task).
    singular_values : sequence of N_T sequences of float
        Mode strengths ``s_t`` of each task, all > 0; sorted into non-increasing order (eq. 7).
        Task t has rank ``r_t = len(s_t) <= min(N_i, N_to)``.
    seed : int, numpy Generator or None
    normalize : bool or {"rows", "tasks"}
        Balance the magnitudes (Figure 3, bottom row) after construction:

        - ``True`` or ``"rows"``: rescale every output row of every ``Σ_to`` to one common
          norm, so ``ΔM_ab^(i,j) = ||Σ_ao^i|| / ||Σ_bo^j|| = 1`` for all rows i, j — the
          definition of balanced magnitudes under eq. 11. Left-multiplying by an invertible
          diagonal matrix keeps each row space, hence ``span(V_t)`` and all overlap singular
          values, but changes the singular values; ``factors`` are recomputed by SVD.
        - ``"tasks"``: rescale each ``Σ_to`` to one common Frobenius norm; singular vectors
          and within-task ratios are kept (S = (4, 3) and (2, 1.5) both become
          (3.162, 2.372): identical spectra).

        Both keep ``||ξ||_F`` (the root-mean-square norm is the common value). The requested
        singular values are kept in ``params["singular_values"]``.

    Returns
    -------
    LinearTaskFamily
        ``factors`` hold ``(U_t, S_t, V_t)``; ``params`` record the regime, sizes, seed and,
        per task, how the left basis was built (``left_bases``).
    """
    regime = check_choice(regime, "regime", REGIMES)
    names = [f"singular_values[{t}]" for t in range(len(singular_values))]
    return _build_correlated(
        "correlated_family", regime, n_inputs, n_outputs, singular_values, names, seed,
        normalize, overlap=None,
    )


def correlated_pair_family(
    regime: str,
    n_inputs: int,
    n_outputs: int | Sequence[int],
    singular_values_1: Sequence[float],
    singular_values_2: Sequence[float],
    seed: SeedLike = None,
    normalize: bool | str = False,
    overlap: Sequence[float] | None = None,
) -> LinearTaskFamily:
    """Two fully aligned, conflicting or orthogonal tasks (Anon. 2025, App. D.1; Figure 3).

    See :func:`correlated_family` for the constructions and ``normalize``.

    Parameters
    ----------
    regime : {"aligned", "conflicting", "orthogonal"}
    n_inputs : int
        N_i.
    n_outputs : int or pair of int
        (N_1o, N_2o).
    singular_values_1, singular_values_2 : sequence of float
        Mode strengths of each task (> 0), ``len <= min(N_i, N_io)``.
    seed : int, numpy Generator or None
    normalize : bool or {"rows", "tasks"}
    overlap : sequence of float, optional
        Only for ``regime="conflicting"``: the singular values of ``O_12 = V_1ᵀ V_2`` (eq. 8),
        ``min(r_1, r_2)`` values strictly in (0, 1). Built from principal vectors,
        ``v2_k = c_k v1_k + sqrt(1 - c_k²) e_k`` with ``e_k`` orthogonal to ``span(V_1)``,
        then each basis rotated randomly within its span (which keeps the overlap singular
        values). Needs ``N_i >= r_1 + r_2``. E.g. ``overlap=(0.923, 0.277)`` reproduces the
        conflicting pair of Figure 3 (App. E).

    Examples
    --------
    >>> fam = correlated_pair_family("aligned", 4, 2, [4, 3], [2, 1.5], seed=0)
    >>> np.round(np.linalg.svd(fam.xi, compute_uv=False)[:2], 3).tolist()
    [4.472, 3.354]
    """
    regime = check_choice(regime, "regime", REGIMES)
    if overlap is not None and regime != "conflicting":
        raise ValueError(
            f"overlap is only used with regime='conflicting' (got regime={regime!r}); aligned "
            "pairs have overlap 1 and orthogonal pairs 0 by construction"
        )
    return _build_correlated(
        "correlated_pair_family", regime, n_inputs, n_outputs,
        [singular_values_1, singular_values_2], ["singular_values_1", "singular_values_2"],
        seed, normalize, overlap=overlap,
    )


def _build_correlated(
    generator: str,
    regime: str,
    n_inputs: int,
    n_outputs: int | Sequence[int],
    singular_values: Sequence[Sequence[float]],
    sv_names: list[str],
    seed: SeedLike,
    normalize: bool | str,
    overlap: Sequence[float] | None,
) -> LinearTaskFamily:
    n_inputs = check_positive_int(n_inputs, "n_inputs")
    n_tasks = len(singular_values)
    if n_tasks < 1:
        raise ValueError("singular_values must hold one sequence of mode strengths per task")
    n_out = check_sizes(n_outputs, "n_outputs", n_tasks)
    svs = [-np.sort(-check_values(s, nm)) for s, nm in zip(singular_values, sv_names, strict=True)]
    ranks = [len(s) for s in svs]
    for t, (r, no) in enumerate(zip(ranks, n_out, strict=True)):
        if r > min(n_inputs, no):
            raise ValueError(
                f"{sv_names[t]} has {r} values but task {t + 1} has rank at most "
                f"min(n_inputs, n_outputs) = min({n_inputs}, {no}) = {min(n_inputs, no)}; "
                "pass fewer singular values or larger dimensions"
            )
    method = _check_normalize(normalize)
    if regime == "orthogonal" and sum(ranks) > n_inputs:
        raise ValueError(
            f"orthogonal tasks need n_inputs >= sum of ranks ({' + '.join(map(str, ranks))} = "
            f"{sum(ranks)}), the paper's d >= 2r, got n_inputs={n_inputs}; "
            "increase n_inputs or pass fewer singular values"
        )
    if regime == "conflicting":
        worst = max(ranks[a] + ranks[b] for a in range(n_tasks) for b in range(a + 1, n_tasks)) \
            if n_tasks > 1 else 0
        if worst > n_inputs:
            raise ValueError(
                f"fully conflicting tasks need n_inputs >= r_a + r_b for every pair (here "
                f"{worst}, the paper's d >= 2r), got n_inputs={n_inputs}: smaller input spaces "
                "force the right singular spaces to intersect (an overlap singular value of 1)"
            )
    rng = check_seed(seed)
    if regime == "conflicting" and overlap is not None:
        c = _check_overlap(overlap, min(ranks))
        factors, left = _conflicting_with_overlap(rng, n_inputs, n_out, svs, c)
    else:
        factors, left = _FACTOR_BUILDERS[regime](rng, n_inputs, n_out, svs)
    sigmas = [_factors_to_sigma(f) for f in factors]
    if method is not None:
        sigmas, factors = _normalize(sigmas, factors, method)
    params: dict[str, Any] = {
        "generator": f"{_MODULE}.{generator}",
        "regime": regime,
        "n_inputs": n_inputs,
        "n_outputs": list(n_out),
        "singular_values": [s.tolist() for s in svs],
        "seed": seed_record(seed),
        "normalize": method,
        "left_bases": left,
        "overlap": None if overlap is None else [float(v) for v in np.atleast_1d(overlap)],
        "source": "Anon. 2025 (ICLR'26 sub.), App. D.1, eq. 158-164",
    }
    return LinearTaskFamily(
        sigmas, _task_names(n_tasks), params, factors, name=f"{regime}_tasks"
    )


def _check_normalize(normalize: bool | str) -> str | None:
    if normalize is False or normalize is None:
        return None
    if normalize is True:
        return "rows"
    if isinstance(normalize, str):
        return check_choice(normalize, "normalize", NORMALIZATIONS)
    raise TypeError(f"normalize must be a bool or one of {NORMALIZATIONS}, got {normalize!r}")


def _check_overlap(overlap: Sequence[float], n_values: int) -> np.ndarray:
    c = check_values(overlap, "overlap")
    if len(c) != n_values:
        raise ValueError(
            f"overlap must have min(r_1, r_2) = {n_values} values (one per principal angle), "
            f"got {len(c)}"
        )
    if np.any(c >= 1):
        raise ValueError(
            f"overlap values must be strictly between 0 and 1 for conflicting tasks, got "
            f"{c.tolist()}; use regime='aligned' for 1 and regime='orthogonal' for 0"
        )
    return c


def _aligned(
    rng: np.random.Generator, n_inputs: int, n_out: tuple[int, ...], svs: list[np.ndarray]
) -> tuple[list[TaskFactors], list[str]]:
    v = orthonormal_columns(rng, n_inputs, max(len(s) for s in svs))
    factors, left = [], []
    for s, no in zip(svs, n_out, strict=True):
        vt = v[:, : len(s)]
        if no == n_inputs:
            ut, how = vt, "equal_to_right"  # the paper's eq. 160: Σ = U diag(λ) Uᵀ
        else:
            ut, how = orthonormal_columns(rng, no, len(s)), "independent"
        factors.append(TaskFactors(ut, s, vt))
        left.append(how)
    return factors, left


def _blocks(basis: np.ndarray, ranks: list[int]) -> list[np.ndarray]:
    edges = np.cumsum([0, *ranks])
    return [basis[:, a:b] for a, b in itertools.pairwise(edges)]


def _orthogonal(
    rng: np.random.Generator, n_inputs: int, n_out: tuple[int, ...], svs: list[np.ndarray]
) -> tuple[list[TaskFactors], list[str]]:
    ranks = [len(s) for s in svs]
    vs = _blocks(orthonormal_columns(rng, n_inputs, sum(ranks)), ranks)
    if len(set(n_out)) == 1 and n_out[0] >= sum(ranks):
        us = _blocks(orthonormal_columns(rng, n_out[0], sum(ranks)), ranks)
        left = ["disjoint"] * len(svs)
    else:
        us = [orthonormal_columns(rng, no, r) for no, r in zip(n_out, ranks, strict=True)]
        left = ["independent"] * len(svs)
    return [TaskFactors(u, s, v) for u, s, v in zip(us, svs, vs, strict=True)], left


def _conflicting(
    rng: np.random.Generator, n_inputs: int, n_out: tuple[int, ...], svs: list[np.ndarray]
) -> tuple[list[TaskFactors], list[str]]:
    factors = []
    for s, no in zip(svs, n_out, strict=True):
        v = orthonormal_columns(rng, n_inputs, len(s))
        factors.append(TaskFactors(orthonormal_columns(rng, no, len(s)), s, v))
    return factors, ["independent"] * len(svs)


_FACTOR_BUILDERS = {"aligned": _aligned, "orthogonal": _orthogonal, "conflicting": _conflicting}


def _conflicting_with_overlap(
    rng: np.random.Generator, n_inputs: int, n_out: tuple[int, ...], svs: list[np.ndarray],
    c: np.ndarray,
) -> tuple[list[TaskFactors], list[str]]:
    r1, r2 = len(svs[0]), len(svs[1])
    basis = orthonormal_columns(rng, n_inputs, r1 + r2)
    v1, extra = basis[:, :r1], basis[:, r1:]
    v2 = extra.copy()
    m = len(c)
    # principal vectors: v2_k at angle arccos(c_k) from v1_k, orthogonal to every other v1_j
    v2[:, :m] = v1[:, :m] * c + extra[:, :m] * np.sqrt(1.0 - c**2)
    # random rotations within each span keep O's singular values but avoid pairing mode k of
    # task 1 with mode k of task 2, as the random construction of eq. 164 would not
    v1 = v1 @ orthonormal_columns(rng, r1, r1)
    v2 = v2 @ orthonormal_columns(rng, r2, r2)
    us = [orthonormal_columns(rng, no, len(s)) for no, s in zip(n_out, svs, strict=True)]
    factors = [TaskFactors(us[0], svs[0], v1), TaskFactors(us[1], svs[1], v2)]
    return factors, ["independent", "independent"]


def _normalize(
    sigmas: list[np.ndarray], factors: list[TaskFactors], method: str
) -> tuple[list[np.ndarray], list[TaskFactors]]:
    if method == "tasks":
        norms = np.array([np.linalg.norm(s) for s in sigmas])
        target = np.sqrt(np.mean(norms**2))
        gains = target / norms
        new_f = [TaskFactors(f.U, f.S * g, f.V) for f, g in zip(factors, gains, strict=True)]
        return [s * g for s, g in zip(sigmas, gains, strict=True)], new_f
    rows = np.vstack(sigmas)
    row_norms = np.linalg.norm(rows, axis=1)
    target = np.sqrt(np.mean(row_norms**2))
    if np.any(row_norms <= 1e-12 * target):
        raise ValueError(
            "normalize='rows' cannot balance a task with an all-zero output row; "
            "use normalize='tasks' or more singular values"
        )
    new_sigmas, new_f = [], []
    for s, f in zip(sigmas, factors, strict=True):
        ns = s * (target / np.linalg.norm(s, axis=1))[:, None]
        u, sv, vt = np.linalg.svd(ns, full_matrices=False)
        r = len(f.S)  # an invertible row scaling keeps the rank
        new_sigmas.append(ns)
        new_f.append(TaskFactors(u[:, :r], sv[:r], vt[:r].T))
    return new_sigmas, new_f


# ====================================================================== D.2
def teacher_student_family(
    n_inputs: int,
    n_hidden: int,
    n_outputs: Sequence[int] = (2, 2),
    teacher_scales: Sequence[float] = (0.025, 0.025),
    seed: SeedLike = None,
) -> LinearTaskFamily:
    """Teacher–student MTL regression with a zero-balanced teacher (Anon. 2025, App. D.2, eq. 165).

    Task heads ``W_t ~ N(0, σ_t²)`` of shape ``(N_to, N_s)`` (``σ_t`` read as a standard
    deviation), and a shared layer ``W_S`` of shape ``(N_s, N_i)`` chosen so the teacher is
    zero-balanced, ``W_S W_Sᵀ = Σ_t W_tᵀ W_t`` (assumption A2, Anon. 2025 (ICLR'26 sub.),
    Section 3): with the thin SVD ``[W_1; W_2; ...] = P Λ Qᵀ`` (k = min(Σ N_to, N_s) modes),
    ``W_S = Q Λ Rᵀ`` with ``R`` a random ``(N_i, k)`` orthonormal basis. Since the inputs are
    whitened, ``Y_t = X (W_t W_S)ᵀ`` gives ``Σ_to = W_t W_S``.

    Parameters
    ----------
    n_inputs : int
        N_i; at least k (a zero-balanced ``W_S`` of rank k needs k input directions).
    n_hidden : int
        N_s.
    n_outputs : sequence of int
        N_to per task; its length is the number of tasks (an int repeats for every task).
    teacher_scales : sequence of float
        σ_t > 0 per task (Figure 10: 0.025).
    seed : int, numpy Generator or None

    Returns
    -------
    LinearTaskFamily
        ``arrays`` hold ``"W_S"`` and ``"W_task_t"`` (the teacher); ``factors`` is None.
    """
    n_inputs = check_positive_int(n_inputs, "n_inputs")
    n_hidden = check_positive_int(n_hidden, "n_hidden")
    scales = check_values(teacher_scales, "teacher_scales")
    n_out = check_sizes(n_outputs, "n_outputs", len(scales))
    k = min(sum(n_out), n_hidden)
    if n_inputs < k:
        raise ValueError(
            f"n_inputs={n_inputs} is smaller than min(total outputs, n_hidden) = {k}: a "
            f"zero-balanced W_S (n_hidden x n_inputs) needs rank {k}; pass n_inputs >= {k}"
        )
    rng = check_seed(seed)
    heads = [rng.normal(0.0, s, size=(no, n_hidden)) for s, no in zip(scales, n_out, strict=True)]
    _, lam, qt = np.linalg.svd(np.vstack(heads), full_matrices=False)
    w_shared = (qt[:k].T * lam[:k]) @ orthonormal_columns(rng, n_inputs, k).T
    names = _task_names(len(heads))
    arrays = {"W_S": w_shared, **{f"W_{n}": w for n, w in zip(names, heads, strict=True)}}
    params = {
        "generator": f"{_MODULE}.teacher_student_family",
        "n_inputs": n_inputs,
        "n_hidden": n_hidden,
        "n_outputs": list(n_out),
        "teacher_scales": scales.tolist(),
        "seed": seed_record(seed),
        "source": "Anon. 2025 (ICLR'26 sub.), App. D.2, eq. 165",
    }
    return LinearTaskFamily(
        [w @ w_shared for w in heads], names, params, None, arrays, name="teacher_student"
    )


# ====================================================================== D.4
def gamma_mtl_family(
    n_inputs: int,
    n_outputs: int,
    gamma: float,
    scales: Sequence[float] = (1.0, 4.0),
    seed: SeedLike = None,
) -> LinearTaskFamily:
    """γ-MTL task pair: γ interpolates from aligned to orthogonal (Anon. 2025, App. D.4, eq.
    167–168).

    With ``R`` a random orthonormal basis, ``B_1`` its first ``N_o`` rows and ``B_1⊥`` the
    next ``N_o`` rows (000 says "the remaining rows", which only type-checks when
    ``N_i = 2 N_o``): ``Σ_1o = α_1 B_1`` and ``Σ_2o = α_2 (γ B_1 + (1 - γ) B_1⊥)``, so
    ``Y_t = X Σ_toᵀ`` (eq. 167–168 with samples as rows; eq. 168 prints ``Y_1`` for ``Y_2``).

    Every overlap singular value equals ``γ / sqrt(γ² + (1 - γ)²)``: 1 at γ = 1 (aligned),
    0 at γ = 0 (orthogonal), 1/sqrt(2) ≈ 0.707 at γ = 0.5. Task 2's singular values are all
    ``α_2 sqrt(γ² + (1 - γ)²)``, so γ also changes the magnitude ratio: at γ = 0.5,
    ``ΔM_12 = α_1 / (α_2 / sqrt(2))`` (0.354 for α = (1, 4)), not ``α_1 / α_2``.

    Parameters
    ----------
    n_inputs : int
        N_i >= 2 N_o.
    n_outputs : int
        N_o of both tasks.
    gamma : float
        In [0, 1].
    scales : pair of float
        (α_1, α_2) > 0 (Figure 4: (1, 4)).
    seed : int, numpy Generator or None

    Returns
    -------
    LinearTaskFamily
        ``factors``: ``U_t = I``, ``S_1 = α_1``, ``V_1 = B_1ᵀ``,
        ``S_2 = α_2 sqrt(γ² + (1-γ)²)``, ``V_2 = (γ B_1 + (1-γ) B_1⊥)ᵀ / sqrt(γ² + (1-γ)²)``;
        ``arrays``: ``"B_1"`` and ``"B_1_perp"`` (each (N_o, N_i)).
    """
    n_inputs = check_positive_int(n_inputs, "n_inputs")
    n_outputs = check_positive_int(n_outputs, "n_outputs")
    # 1: aligned, 0: orthogonal
    gamma = check_scalar(gamma, "gamma", numbers.Real, low=0.0, high=1.0)
    alphas = check_values(scales, "scales")
    if len(alphas) != 2:
        raise ValueError(f"scales must be a pair (alpha_1, alpha_2), got {alphas.tolist()}")
    if n_inputs < 2 * n_outputs:
        raise ValueError(
            f"gamma-MTL tasks need n_inputs >= 2 * n_outputs (B_1 and B_1_perp are disjoint "
            f"rows of one orthonormal basis), got n_inputs={n_inputs}, n_outputs={n_outputs}"
        )
    rng = check_seed(seed)
    rows = orthonormal_columns(rng, n_inputs, 2 * n_outputs).T
    b1, b1_perp = rows[:n_outputs], rows[n_outputs:]
    mix = gamma * b1 + (1.0 - gamma) * b1_perp
    norm = np.hypot(gamma, 1.0 - gamma)
    eye = np.eye(n_outputs)
    factors = [
        TaskFactors(eye, np.full(n_outputs, alphas[0]), b1.T),
        TaskFactors(eye, np.full(n_outputs, alphas[1] * norm), mix.T / norm),
    ]
    params = {
        "generator": f"{_MODULE}.gamma_mtl_family",
        "n_inputs": n_inputs,
        "n_outputs": n_outputs,
        "gamma": gamma,
        "scales": alphas.tolist(),
        "seed": seed_record(seed),
        "source": "Anon. 2025 (ICLR'26 sub.), App. D.4, eq. 167-168",
    }
    return LinearTaskFamily(
        [alphas[0] * b1, alphas[1] * mix], _task_names(2), params, factors,
        {"B_1": b1, "B_1_perp": b1_perp}, name="gamma_mtl",
    )


def gamma_mtl(
    n_samples: int = 200,
    seed: SeedLike = 0,
    gamma: float = 0.5,
    n_inputs: int = 20,
    n_outputs: int = 1,
    scales: Sequence[float] = (1.0, 4.0),
) -> TaskSet:
    """A γ-MTL regression pair as a :class:`TaskSet` (built-in data set ``gamma_mtl``).

    Defaults follow Figure 4 of 000 (N_1 = 20, N_o1 = N_o2 = 1, α = (1, 4)) with the
    conflicting γ = 0.5. One generator seeded by ``seed`` draws the basis, then the whitened
    inputs; targets are ``(N, N_o)`` float32.
    """
    rng = check_seed(seed)
    fam = gamma_mtl_family(n_inputs, n_outputs, gamma, scales, rng)
    ts = fam.to_taskset(n_samples, rng, name="gamma_mtl")
    ts.info["family_params"]["seed"] = seed_record(seed)
    ts.info["seed"] = seed_record(seed)
    return ts
