"""Training-free affinity from data alone: the alignment signal of Anon. 2025 (ICLR'26 sub.).

Anon. 2025 App. A.4 proposes to use task alignment to guide grouping without training. These
scores come from the input–output correlations (eq. 6) of whitened inputs:

- ``"overlap"``: mean singular value of ``O_ab = V_aᵀV_b`` (eq. 8): 1 aligned, 0
  orthogonal; symmetric. ``"min_overlap"``: the smallest one (the most conflicting mode).
- ``"spectrum_gain"``: the predicted relative speed-up of task a's learning when it
  shares a network with b (asymmetric; see :func:`spectrum_gain`).
- ``"magnitude_balance"``: ``min(r, 1/r)`` with ``r = ‖Σ_a‖_F / ‖Σ_b‖_F`` (eq. 11 at task
  level): 1 for equal magnitudes, towards 0 for a large imbalance; symmetric.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._common.validation import check_choice
from ..data.matrix import TaskMatrix
from ..linear.alignment import RANK_RTOL, pairwise_alignment, shared_spectrum
from ..linear.statistics import TaskCorrelations, as_sigma_dict, task_correlations

ALIGNMENT_SCORES = ("overlap", "min_overlap", "spectrum_gain", "magnitude_balance")


def spectrum_gain(sigma_a: Any, sigma_b: Any, *, rtol: float = RANK_RTOL) -> float:
    """Predicted relative learning-rate gain of task a from sharing with task b.

    In the tabula-rasa solution each shared mode ``α`` of ``ξ = [Σ_a; Σ_b]`` is learned at
    a rate proportional to its singular value ``s_α`` (eq. 43: the sigmoid's time scale is
    ``τ / (2 s_α)``), and task a holds the fraction ``(γ_α^(a))²`` of that mode (eq. 44),
    with ``Σ_α (γ_α^(a) s_α)² = ‖Σ_a‖²_F``. Weighting each mode's rate by the share of a's
    loss it carries gives a's mean learning rate with b, compared with alone:

    ``gain_{b→a} = Σ_α (γ_α^(a))² s_α³ / Σ_i s_i(Σ_a)³ − 1``.

    It is 0 for orthogonal tasks (every mode is one task's own), positive when b
    strengthens the modes a reads (aligned tasks: ``s_α = √(s_a² + s_b²)``), and can be
    negative for conflicting tasks whose modes are split.
    """
    sig_a, sig_b = np.asarray(sigma_a, dtype=float), np.asarray(sigma_b, dtype=float)
    spec = shared_spectrum({"a": sig_a, "b": sig_b}, rtol=rtol)
    r = spec.rank
    gamma_sq = (spec.u_task("a")[:, :r] ** 2).sum(axis=0)
    s = spec.singular_values[:r]
    alone = np.linalg.svd(sig_a, compute_uv=False)
    denom = float(np.sum(alone**3))
    if denom <= 0:
        raise ValueError("sigma_a is zero: a task with no input-output correlation")
    return float(np.sum(gamma_sq * s**3) / denom - 1.0)


def alignment_affinity(
    source: Any,
    tasks: Sequence[str] | None = None,
    *,
    score: str = "overlap",
    whiten: str = "pca",
    center: bool = True,
    rtol: float = RANK_RTOL,
) -> TaskMatrix:
    """A training-free K × K affinity from data (see the module docstring for ``score``).

    Parameters
    ----------
    source : TaskSet, TaskCorrelations, or mapping task -> (N_io, N_i) correlation
    tasks : sequence of str, optional
        Subset and order (TaskSet sources only).
    score : {"overlap", "min_overlap", "spectrum_gain", "magnitude_balance"}
    whiten, center : see :func:`tasklens.linear.task_correlations` (TaskSet sources).
    """
    check_choice(score, "score", ALIGNMENT_SCORES)
    if isinstance(source, TaskCorrelations) or isinstance(source, dict):
        sigmas = as_sigma_dict(source)
    else:
        sigmas = task_correlations(source, tasks=tasks, whiten=whiten, center=center,
                                   warn=False).sigmas
    names = list(sigmas)
    if len(names) < 2:
        raise ValueError("alignment_affinity needs at least two tasks")
    if score == "spectrum_gain":
        k = len(names)
        values = np.zeros((k, k))
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                if i != j:
                    values[i, j] = spectrum_gain(sigmas[a], sigmas[b], rtol=rtol)
        return TaskMatrix(values, tuple(names), "spectrum gain (b onto a)")
    pair = pairwise_alignment(sigmas, rtol=rtol)
    if score == "overlap":
        return TaskMatrix(pair.mean_overlap, tuple(names), "mean overlap singular value")
    if score == "min_overlap":
        return TaskMatrix(pair.min_overlap, tuple(names), "smallest overlap singular value")
    ratio = pair.frobenius_ratio
    return TaskMatrix(np.minimum(ratio, 1.0 / ratio), tuple(names), "magnitude balance")
