"""Input-output correlation matrices of each task, computed from data.

Everything in :mod:`tasklens.linear` starts from the per-task input-output correlation
matrices ``Σ_io = (1/N) Σ_μ y_i^μ (x^μ)ᵀ`` and the input correlation ``Σ_xx`` of
Anon. 2025 (ICLR'26 sub.), eq. 6. The closed forms of that paper assume whitened inputs
(assumption A1, ``Σ_xx = I``); :func:`task_correlations` can whiten the inputs first and
reports how far from white they were.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._common.validation import check_array, check_choice

WHITENING_METHODS: tuple[str, ...] = ("none", "zca", "pca")
# Inputs count as whitened when every entry of Σ_xx is this close to the identity's.
_WHITE_ATOL = 1e-4


@dataclass(frozen=True)
class TaskCorrelations:
    """Per-task input-output correlations of one data set (Anon. 2025 (ICLR'26 sub.), eq. 6).

    Attributes
    ----------
    sigmas : dict of str to (N_io, N_i) array
        ``Σ_io = (1/N) Yᵢᵀ X`` for each task, in task order, computed on the (possibly
        whitened) inputs.
    sigma_xx : (N_i, N_i) array
        ``(1/N) Xᵀ X`` of the inputs the ``sigmas`` were computed from (≈ I when whitened).
    input_condition : float
        Condition number of ``Σ_xx`` of the inputs *before* whitening (``inf`` if singular).
    whitening : (N_raw, N_i) array or None
        The matrix ``W`` with ``X_white = (X - mean) W``; None when not whitened.
    input_mean : (N_raw,) array or None
        Mean subtracted before whitening when ``center=True``; None otherwise.
    whiten : {"none", "zca", "pca"}
    is_whitened : bool
        Whether ``sigma_xx`` equals the identity (to 1e-4); the closed forms need it.
    n_samples : int
    kinds : dict of str to str
        Task kind of each task (``"regression"`` for plain arrays).
    """

    sigmas: dict[str, np.ndarray]
    sigma_xx: np.ndarray
    input_condition: float
    whitening: np.ndarray | None
    input_mean: np.ndarray | None
    whiten: str
    is_whitened: bool
    n_samples: int
    kinds: dict[str, str] = field(default_factory=dict)

    @property
    def task_names(self) -> list[str]:
        return list(self.sigmas)

    @property
    def n_inputs(self) -> int:
        """Number of (whitened) input dimensions ``N_i``."""
        return int(self.sigma_xx.shape[0])

    def output_dims(self) -> dict[str, int]:
        """``{task: N_io}``."""
        return {n: int(s.shape[0]) for n, s in self.sigmas.items()}

    def xi(self) -> np.ndarray:
        """``(Σ N_io, N_i)`` stacked correlations ``ξ`` (Anon. 2025 (ICLR'26 sub.), eq. 9/15)."""
        return np.vstack(list(self.sigmas.values()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_names": self.task_names,
            "output_dims": self.output_dims(),
            "n_inputs": self.n_inputs,
            "n_samples": self.n_samples,
            "whiten": self.whiten,
            "is_whitened": self.is_whitened,
            "input_condition": self.input_condition,
            "kinds": dict(self.kinds),
            "sigmas": {n: s.tolist() for n, s in self.sigmas.items()},
        }


def one_hot(codes: Any, n_classes: int | None = None, name: str = "codes") -> np.ndarray:
    """One-hot encode integer class codes.

    Parameters
    ----------
    codes : (N,) array-like of int in ``0 .. n_classes - 1``
    n_classes : int, optional
        Number of classes; default ``codes.max() + 1``.

    Returns
    -------
    (N, n_classes) float64 array
    """
    arr = check_array(codes, name, ndim=1, dtype=None)
    if arr.dtype.kind not in "iu" and not (
        arr.dtype.kind == "f" and np.all(arr == np.round(arr))
    ):
        raise TypeError(f"{name} must be integer class codes, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    k = int(arr.max()) + 1 if n_classes is None else int(n_classes)
    if arr.min() < 0 or arr.max() >= k:
        raise ValueError(
            f"{name} must lie in 0..{k - 1} for n_classes={k}, got range "
            f"[{arr.min()}, {arr.max()}]"
        )
    out = np.zeros((len(arr), k))
    out[np.arange(len(arr)), arr] = 1.0
    return out


def encode_targets(targets: Any, kind: str = "regression", n_classes: int | None = None,
                   name: str = "targets") -> np.ndarray:
    """Turn encoded task targets into the ``(N, N_io)`` output matrix ``Y`` of eq. 6.

    Classification codes become one-hot rows (one output per class); binary targets one
    column of 0/1; regression and multilabel targets are used as they are.

    Parameters
    ----------
    targets : (N,) or (N, D) array-like
    kind : {"regression", "classification", "binary", "multilabel"}
    n_classes : int, optional
        For classification: the number of classes (default: largest code + 1).
    """
    check_choice(kind, "kind", ("regression", "classification", "binary", "multilabel"))
    if kind == "classification":
        return one_hot(targets, n_classes, name=name)
    y = check_array(targets, name, ndim=(1, 2))
    return y.reshape(len(y), -1)


def whitening_transform(x: Any, method: str = "zca", rtol: float = 1e-10
                        ) -> tuple[np.ndarray, float]:
    """A matrix ``W`` such that ``(X W)ᵀ (X W) / N = I``, and the condition of ``XᵀX / N``.

    Parameters
    ----------
    x : (N, N_raw) array-like
        Inputs (centre them first if wanted).
    method : {"zca", "pca"}
        ``zca``: ``W = Σ_xx^{-1/2}`` (keeps the input axes; needs a non-singular ``Σ_xx``).
        ``pca``: ``W = E_k Λ_k^{-1/2}`` over the ``k`` eigen-directions with eigenvalue above
        ``rtol · λ_max`` (drops null directions, so ``N_i = k`` may be below ``N_raw``).
    rtol : float
        Relative eigenvalue threshold deciding which directions are null.

    Returns
    -------
    whitening : (N_raw, N_i) array
    condition : float
        ``λ_max / λ_min`` of ``Σ_xx`` (``inf`` when it is singular).
    """
    check_choice(method, "method", ("zca", "pca"))
    xa = check_array(x, "x", ndim=2)
    return whitening_from_correlation(xa.T @ xa / len(xa), method, rtol)


def whitening_from_correlation(sxx: np.ndarray, method: str = "zca", rtol: float = 1e-10
                               ) -> tuple[np.ndarray, float]:
    """:func:`whitening_transform` from ``Σ_xx = XᵀX / N`` (e.g. accumulated by a
    streaming pass): ``W`` with ``Wᵀ Σ_xx W = I``, and the condition of ``Σ_xx``.

    Parameters
    ----------
    sxx : (N_raw, N_raw) symmetric array
    method, rtol
        As in :func:`whitening_transform`.
    """
    check_choice(method, "method", ("zca", "pca"))
    evals, evecs = np.linalg.eigh(sxx)
    lam_max = float(evals[-1])
    if lam_max <= 0:
        raise ValueError("inputs are all zero; there is nothing to whiten")
    keep = evals > rtol * lam_max
    condition = float(lam_max / evals[0]) if evals[0] > rtol * lam_max else float("inf")
    if method == "zca":
        if not keep.all():
            raise ValueError(
                f"Σ_xx of the inputs is singular ({int((~keep).sum())} null direction(s), "
                f"rtol={rtol}); ZCA whitening needs full rank: use whiten='pca', which drops "
                "the null directions, or remove constant/duplicate input features"
            )
        return (evecs / np.sqrt(evals)) @ evecs.T, condition
    # Largest-variance directions first, so whitened coordinates have a stable order.
    order = np.argsort(evals[keep])[::-1]
    vecs = evecs[:, keep][:, order]
    return vecs / np.sqrt(evals[keep][order]), condition


def _condition(sxx: np.ndarray, rtol: float = 1e-10) -> float:
    evals = np.linalg.eigvalsh(sxx)
    if evals[-1] <= 0 or evals[0] <= rtol * evals[-1]:
        return float("inf")
    return float(evals[-1] / evals[0])


def task_correlations(
    source: Any,
    targets: Mapping[str, Any] | None = None,
    *,
    kinds: Mapping[str, str] | None = None,
    tasks: Sequence[str] | None = None,
    whiten: str = "none",
    center: bool = False,
    rtol: float = 1e-10,
    warn: bool = True,
) -> TaskCorrelations:
    """Per-task input-output correlations ``Σ_io`` (Anon. 2025 (ICLR'26 sub.), eq. 6).

    Parameters
    ----------
    source : TaskSet or (N, ...) array-like
        A :class:`tasklens.data.TaskSet` (its inputs are flattened to ``(N, N_raw)``), or
        an input array, in which case ``targets`` gives the tasks.
    targets : mapping of str to (N,) or (N, D) array-like, optional
        Only with an array ``source``: task name to targets.
    kinds : mapping of str to str, optional
        Only with an array ``source``: kind per task (default ``"regression"``);
        ``"classification"`` targets are integer codes and get one-hot encoded.
    tasks : sequence of str, optional
        Subset and order of tasks (default: all, in order).
    whiten : {"none", "zca", "pca"}
        Whiten the inputs before computing ``Σ_io`` (see :func:`whitening_transform`).
        The closed forms of 000 hold only for whitened inputs (assumption A1).
    center : bool
        Subtract the input mean first. The paper uses uncentred correlations (default);
        centring removes the trivial mode that one-hot targets share through the input mean.
    rtol : float
        Relative eigenvalue threshold for null input directions.
    warn : bool
        Emit a ``UserWarning`` when the inputs used are not whitened.

    Returns
    -------
    TaskCorrelations
    """
    check_choice(whiten, "whiten", WHITENING_METHODS)
    if getattr(source, "storage", "memory") != "memory" and targets is None and kinds is None:
        # inputs on disk (TaskSet.from_npy / from_parquet(in_memory=False)): one pass
        from .streaming import streaming_task_correlations

        return streaming_task_correlations(source, tasks=tasks, whiten=whiten, center=center,
                                           rtol=rtol, warn=warn)
    x_raw, ys, kind_of = _inputs_and_outputs(source, targets, kinds, tasks)
    mean = x_raw.mean(axis=0) if center else None
    x = x_raw - mean if center else x_raw
    if whiten == "none":
        w = None
        sxx = x.T @ x / len(x)
        condition = _condition(sxx, rtol)
    else:
        w, condition = whitening_transform(x, whiten, rtol)
        x = x @ w
        sxx = x.T @ x / len(x)
    is_white = check_white(sxx, condition, warn, stacklevel=3)
    sigmas = {}
    for name, y in ys.items():
        sig = y.T @ x / len(x)
        if not np.any(sig):
            raise ValueError(
                f"task {name!r} has an all-zero input-output correlation Σ_io; its targets "
                "carry no linear signal about the inputs (constant zero targets?)"
            )
        sigmas[name] = sig
    return TaskCorrelations(sigmas, sxx, condition, w, mean, whiten, is_white, len(x), kind_of)


def _inputs_and_outputs(
    source: Any, targets: Mapping[str, Any] | None, kinds: Mapping[str, str] | None,
    tasks: Sequence[str] | None,
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, str]]:
    from ..data.taskset import TaskSet  # local: keep linear importable without data extras

    if isinstance(source, TaskSet):
        if targets is not None or kinds is not None:
            raise TypeError(
                "targets/kinds are taken from the TaskSet; pass them only with an input array"
            )
        names = list(tasks) if tasks is not None else source.task_names
        missing = [n for n in names if n not in source.tasks]
        if missing:
            raise ValueError(f"tasks {missing} are not in the task set; its tasks are "
                             f"{source.task_names}")
        ys, kind_of = {}, {}
        for n in names:
            task = source[n]
            ys[n] = encode_targets(task.targets, task.kind, task.n_classes, name=f"task {n!r}")
            kind_of[n] = task.kind
        x = np.asarray(source.inputs, dtype=np.float64).reshape(len(source), -1)
        return x, ys, kind_of
    x = check_array(source, "source")
    if x.ndim < 2:
        raise ValueError(
            f"source must have shape (N, features), got {x.shape}; "
            "reshape a single feature with x.reshape(-1, 1)"
        )
    x = x.reshape(len(x), -1)
    if not isinstance(targets, Mapping) or not targets:
        raise ValueError("targets must be a non-empty mapping {task name: targets} when source "
                         "is an array")
    kinds = dict(kinds or {})
    unknown = set(kinds) - set(targets)
    if unknown:
        raise ValueError(f"kinds names tasks that are not in targets: {sorted(unknown)}")
    names = list(tasks) if tasks is not None else list(targets)
    missing = [n for n in names if n not in targets]
    if missing:
        raise ValueError(f"tasks {missing} are not in targets {list(targets)}")
    ys, kind_of = {}, {}
    for n in names:
        kind = kinds.get(n, "regression")
        y = encode_targets(targets[n], kind, name=f"targets[{n!r}]")
        if len(y) != len(x):
            raise ValueError(
                f"targets[{n!r}] has {len(y)} rows but source has {len(x)} samples; "
                "give one target row per input row"
            )
        ys[n], kind_of[n] = y, kind
    return x, ys, kind_of


def as_sigma_dict(sigmas: Any, name: str = "sigmas") -> dict[str, np.ndarray]:
    """Validate a collection of task correlation matrices and name them.

    Parameters
    ----------
    sigmas : TaskCorrelations, mapping of str to (N_io, N_i) array-like, or sequence of them
        A sequence gets the names ``task0``, ``task1``, ...
    name : str
        Argument name for error messages.

    Returns
    -------
    dict of str to (N_io, N_i) float64 array
        All with the same ``N_i``, finite, and not all zero.
    """
    if isinstance(sigmas, TaskCorrelations):
        items = list(sigmas.sigmas.items())
    elif isinstance(sigmas, Mapping):
        items = list(sigmas.items())
    elif isinstance(sigmas, (list, tuple)):
        items = [(f"task{i}", s) for i, s in enumerate(sigmas)]
    else:
        raise TypeError(
            f"{name} must be a TaskCorrelations, a mapping {{task: Σ_io}} or a list of "
            f"(N_io, N_i) arrays, got {type(sigmas).__name__}"
        )
    if not items:
        raise ValueError(f"{name} is empty; give at least one task's correlation matrix")
    out: dict[str, np.ndarray] = {}
    n_inputs = None
    for key, value in items:
        arr = check_sigma(value, f"{name}[{key!r}]")
        if n_inputs is None:
            n_inputs = arr.shape[1]
        elif arr.shape[1] != n_inputs:
            raise ValueError(
                f"{name}[{key!r}] has {arr.shape[1]} input columns but the first task has "
                f"{n_inputs}; all tasks share one input, so every Σ_io needs N_i = {n_inputs}"
            )
        out[str(key)] = arr
    return out


def check_sigma(value: Any, name: str) -> np.ndarray:
    """One task's ``(N_io, N_i)`` correlation matrix: 2-D, finite, not all zero."""
    arr = check_array(value, name, ndim=(1, 2))
    if arr.ndim == 1:
        arr = arr[None, :]
    if not np.any(arr):
        raise ValueError(
            f"{name} is all zero; a task without input-output correlation has no modes "
            "(drop the task or check its targets)"
        )
    return arr


def check_white(sxx: np.ndarray, condition: float, warn: bool, stacklevel: int) -> bool:
    """Whether ``Σ_xx`` is the identity (to ``_WHITE_ATOL``); warn when it is not and ``warn``
    (the closed forms assume white inputs). ``stacklevel`` counts from this function."""
    is_white = bool(np.allclose(sxx, np.eye(len(sxx)), rtol=0.0, atol=_WHITE_ATOL))
    if not is_white and warn:
        warnings.warn(
            f"inputs are not whitened (Σ_xx has condition number {condition:.3g}); the "
            "closed forms of tasklens.linear assume Σ_xx = I. Pass whiten='zca' or 'pca'.",
            UserWarning, stacklevel=stacklevel,
        )
    return is_white
