"""The statistics of :mod:`tasklens.linear.statistics` in one streaming pass over chunks.

For task sets larger than memory (``TaskSet.from_npy``, ``from_parquet(in_memory=False)``)
the input correlation ``Σ_xx``, the input-output correlations ``Σ_io`` (eq. 6 of
"Inter-task learning dynamics in deep linear multi-task networks", anonymous ICLR
submission) and the whitening transform are computed from
accumulated first and second moments, never from the whole input matrix.

Each chunk's mean and centred co-moments are computed in float64 and merged with the
pairwise update of Chan, Golub & LeVeque (1979), "Updating formulae and a pairwise
algorithm for computing sample variances":

    n = n_a + n_b,  δ = μ_b − μ_a,  μ = μ_a + δ n_b / n,
    C = C_a + C_b + δ δᵀ n_a n_b / n,

where chunk statistics are merged as a binary tree (a stack of partial results, like a
binary counter), so rounding grows with ``log(chunks)``. Uncentred correlations follow as
``Σ_xx = C_xx / N + μ_x μ_xᵀ``; centred ones are ``C_xx / N``. The result equals
:func:`~tasklens.linear.statistics.task_correlations` on the in-memory data to rounding.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._common.validation import check_choice, check_scalar
from .statistics import (
    WHITENING_METHODS,
    TaskCorrelations,
    _condition,
    check_white,
    encode_targets,
    whitening_from_correlation,
)

#: rows per chunk of a streaming pass over a task set
STREAM_CHUNK_ROWS = 8192


@dataclass(frozen=True)
class Moments:
    """First and centred second moments of inputs ``x`` and outputs ``y``.

    Attributes
    ----------
    n : int
        Rows accumulated.
    mean_x : (D,) float64 array
    mean_y : (P,) float64 array
    cxx : (D, D) float64 array
        ``Σ_μ (x^μ − mean_x)(x^μ − mean_x)ᵀ`` (a co-moment, not divided by ``n``).
    cyx : (P, D) float64 array
        ``Σ_μ (y^μ − mean_y)(x^μ − mean_x)ᵀ``.
    """

    n: int
    mean_x: np.ndarray
    mean_y: np.ndarray
    cxx: np.ndarray
    cyx: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray) -> Moments:
        """Moments of one chunk: ``x`` ``(n, D)``, ``y`` ``(n, P)`` (converted to float64)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        mx, my = x.mean(axis=0), y.mean(axis=0)
        xc = x - mx
        return cls(len(x), mx, my, xc.T @ xc, (y - my).T @ xc)

    def merge(self, other: Moments) -> Moments:
        """The moments of both row sets (Chan, Golub & LeVeque's pairwise update)."""
        n = self.n + other.n
        dx, dy = other.mean_x - self.mean_x, other.mean_y - self.mean_y
        w = self.n * other.n / n
        return Moments(
            n,
            self.mean_x + dx * (other.n / n),
            self.mean_y + dy * (other.n / n),
            self.cxx + other.cxx + np.outer(dx, dx) * w,
            self.cyx + other.cyx + np.outer(dy, dx) * w,
        )

    def correlations(self, center: bool) -> tuple[np.ndarray, np.ndarray]:
        """``(Σ_xx, Σ_yx)``: ``(1/N) Xᵀ X`` and ``(1/N) Yᵀ X``, centred on the input mean
        when ``center`` (then ``(1/N) Σ y (x − mean_x)ᵀ = C_yx / N``)."""
        sxx, syx = self.cxx / self.n, self.cyx / self.n
        if center:
            return sxx, syx
        return sxx + np.outer(self.mean_x, self.mean_x), syx + np.outer(self.mean_y,
                                                                          self.mean_x)


def accumulate_moments(chunks: Iterable[tuple[Any, Any]]) -> Moments:
    """Moments of all rows of ``chunks``, merged pairwise (a binary tree over chunks).

    Parameters
    ----------
    chunks : iterable of (x, y)
        ``x`` ``(n_c, D)`` and ``y`` ``(n_c, P)`` arrays; chunks with no rows are skipped.

    Returns
    -------
    Moments
    """
    stack: list[tuple[int, Moments]] = []  # (level, moments): a binary counter
    for x, y in chunks:
        if len(x) == 0:
            continue
        level, m = 0, Moments.of(x, y)
        while stack and stack[-1][0] == level:
            m = stack.pop()[1].merge(m)
            level += 1
        stack.append((level, m))
    if not stack:
        raise ValueError("chunks is empty; there are no rows to compute moments of")
    total = stack.pop()[1]
    while stack:
        total = stack.pop()[1].merge(total)
    return total


def streaming_task_correlations(
    source: Any,
    *,
    tasks: Sequence[str] | None = None,
    whiten: str = "none",
    center: bool = False,
    rtol: float = 1e-10,
    warn: bool = True,
    chunk_rows: int | None = None,
) -> TaskCorrelations:
    """:func:`~tasklens.linear.statistics.task_correlations` of a task set in one pass.

    Reads ``source`` ``chunk_rows`` rows at a time (memory ``O(chunk_rows · D + D²)``), so
    it works on task sets whose inputs stay on disk; ``task_correlations`` calls it for
    those. The result equals the in-memory computation up to float64 rounding.

    Parameters
    ----------
    source : TaskSet
        Any storage (in memory, ``.npy``, Parquet).
    tasks, whiten, center, rtol, warn
        As in :func:`~tasklens.linear.statistics.task_correlations`.
    chunk_rows : int, optional
        Rows per chunk (default: at most 8192 rows and 8 MiB of float32 inputs,
        :func:`tasklens.data.storage.chunk_rows_for`).

    Returns
    -------
    TaskCorrelations
    """
    from ..data.taskset import TaskSet  # local: keep linear importable without data extras

    if not isinstance(source, TaskSet):
        raise TypeError(f"source must be a TaskSet, got {type(source).__name__}; for arrays "
                        "use task_correlations, or accumulate_moments over your own chunks")
    check_choice(whiten, "whiten", WHITENING_METHODS)
    chunk_rows = check_scalar(chunk_rows, "chunk_rows", numbers.Integral, low=1,
                              allow_none=True)
    names = list(tasks) if tasks is not None else source.task_names
    missing = [n for n in names if n not in source.tasks]
    if missing:
        raise ValueError(f"tasks {missing} are not in the task set; its tasks are "
                         f"{source.task_names}")
    if not names:
        raise ValueError("tasks is empty; name at least one task")
    source.check_not_empty("source")
    moments = accumulate_moments(_encoded_chunks(source, names, chunk_rows))
    sxx, syx = moments.correlations(center)
    dims = [encode_targets(source[n].targets[:1], source[n].kind, source[n].n_classes)
            .shape[1] for n in names]
    return _finish(sxx, syx, names, dims, source, whiten, center, rtol, warn, moments)


def _encoded_chunks(source: Any, names: list[str], chunk_rows: int | None
                    ) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    for x, ys in source.chunks(chunk_rows):
        y = np.hstack([encode_targets(ys[n], source[n].kind, source[n].n_classes,
                                      name=f"task {n!r}") for n in names])
        yield x.reshape(len(x), -1), y


def _finish(sxx: np.ndarray, syx: np.ndarray, names: list[str], dims: list[int],
            source: Any, whiten: str, center: bool, rtol: float, warn: bool,
            moments: Moments) -> TaskCorrelations:
    """Whitening, the whiteness check and per-task ``Σ_io`` from the accumulated
    correlations (the algebra of ``task_correlations``: ``Σ_xx ← Wᵀ Σ_xx W``,
    ``Σ_io ← Σ_io W``)."""
    if whiten == "none":
        w = None
        condition = _condition(sxx, rtol)
    else:
        w, condition = whitening_from_correlation(sxx, whiten, rtol)
        sxx, syx = w.T @ sxx @ w, syx @ w
    is_white = check_white(sxx, condition, warn, stacklevel=4)
    sigmas: dict[str, np.ndarray] = {}
    offsets = np.concatenate([[0], np.cumsum(dims)])
    for i, name in enumerate(names):
        sig = syx[offsets[i]:offsets[i + 1]]
        if not np.any(sig):
            raise ValueError(
                f"task {name!r} has an all-zero input-output correlation Σ_io; its targets "
                "carry no linear signal about the inputs (constant zero targets?)"
            )
        sigmas[name] = sig
    kinds = {n: source[n].kind for n in names}
    mean = moments.mean_x if center else None
    return TaskCorrelations(sigmas, sxx, condition, w, mean, whiten, is_white, moments.n,
                            kinds)
