"""The :class:`Task`: one named target of a task set, with its kind, loss and metrics."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .metrics import get_metric

TaskKind = Literal["regression", "classification", "binary", "multilabel"]
TASK_KINDS: tuple[str, ...] = ("regression", "classification", "binary", "multilabel")

#: default loss per kind (names understood by :mod:`tasklens.nn` heads)
DEFAULT_LOSS: dict[str, str] = {
    "regression": "mse",
    "classification": "cross_entropy",
    "binary": "bce",
    "multilabel": "bce",
}
#: default metrics per kind; the first is the task's primary metric
DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    "regression": ("mse", "r2"),
    "classification": ("accuracy", "macro_f1"),
    "binary": ("binary_accuracy", "f1", "auroc"),
    "multilabel": ("hamming_accuracy", "micro_f1"),
}
# An integer-valued float target with at most this many distinct values is a class label.
_MAX_INFERRED_CLASSES = 20
# An inferred classification task with more classes than this many and than half its rows is
# suspicious: a class seen about once cannot be learnt, so it is likely a measured quantity
# stored as integers (or an identifier column).
_SUSPICIOUS_CLASS_COUNT = 20


@dataclass(frozen=True, eq=False)
class Task:
    """One prediction target.

    Attributes
    ----------
    name : str
    kind : {"regression", "classification", "binary", "multilabel"}
    targets : array
        Encoded targets: regression ``(N,)`` or ``(N, D)`` float32; classification ``(N,)``
        int64 in ``0..C-1``; binary ``(N,)`` float32 in {0, 1}; multilabel ``(N, L)``
        float32 in {0, 1}.
    classes : array or None
        Original label of each class code (classification and binary).
    loss : str
        Default loss name ("mse", "cross_entropy", "bce").
    metrics : tuple of str
        Metric names; the first is the primary metric.
    kind_inferred : bool
        True when the kind was inferred from the targets rather than given.
    """

    name: str
    kind: str
    targets: np.ndarray
    classes: np.ndarray | None = None
    loss: str = ""
    metrics: tuple[str, ...] = ()
    kind_inferred: bool = False
    description: str = field(default="", compare=False)

    @property
    def output_size(self) -> int:
        """Number of outputs a head for this task needs."""
        if self.kind == "classification":
            assert self.classes is not None
            return len(self.classes)
        if self.kind == "binary":
            return 1
        return 1 if self.targets.ndim == 1 else int(self.targets.shape[1])

    @property
    def n_classes(self) -> int | None:
        return None if self.classes is None else len(self.classes)

    def labels(self) -> np.ndarray:
        """The original target values: class labels decoded from the codes, else the targets."""
        if self.classes is None:
            return self.targets
        return self.classes[self.targets.astype(np.int64)]

    def higher_is_better(self, metric: str | None = None) -> bool:
        """Direction of ``metric`` (default: the primary metric)."""
        return get_metric(metric or self.metrics[0]).higher_is_better

    def evaluate(
        self, predictions: np.ndarray, indices: np.ndarray | None = None
    ) -> dict[str, float]:
        """All metrics of this task for ``predictions`` (head outputs, see :mod:`.metrics`)."""
        y = self.targets if indices is None else self.targets[indices]
        if len(predictions) != len(y):
            raise ValueError(
                f"predictions for task {self.name!r} have {len(predictions)} rows, "
                f"targets have {len(y)}"
            )
        return {m: get_metric(m)(y, predictions) for m in self.metrics}

    def take(self, indices: np.ndarray) -> Task:
        """The task restricted to rows ``indices`` (classes kept, so codes stay valid)."""
        return Task(
            self.name, self.kind, self.targets[indices], self.classes, self.loss,
            self.metrics, self.kind_inferred, self.description,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "kind_inferred": self.kind_inferred,
            "output_size": self.output_size,
            "loss": self.loss,
            "metrics": list(self.metrics),
            "classes": None if self.classes is None else self.classes.tolist(),
        }


def infer_kind(values: np.ndarray) -> str:
    """Guess a task kind from raw target values.

    Rules, in order: 2-D arrays of 0/1 with several columns are multilabel; other 2-D
    arrays are multi-output regression; strings, booleans and integers are binary with two
    distinct values and classification otherwise; floats are binary with exactly the values
    {0, 1}, classification when integer-valued with at most 20 distinct values, and
    regression otherwise.
    """
    if values.ndim == 2:
        if values.shape[1] > 1 and values.dtype.kind in "biuf" and np.isin(values, (0, 1)).all():
            return "multilabel"
        return "regression"
    n_unique = len(np.unique(values))
    if values.dtype.kind in "OUSb" or values.dtype.kind in "iu":
        return "binary" if n_unique == 2 else "classification"
    if values.dtype.kind == "f":
        if n_unique == 2 and set(np.unique(values).tolist()) <= {0.0, 1.0}:
            return "binary"
        if np.all(values == np.round(values)) and n_unique <= _MAX_INFERRED_CLASSES:
            return "classification"
        return "regression"
    raise TypeError(f"cannot infer a task kind for targets of dtype {values.dtype}")


def make_task(
    name: str,
    values: Any,
    kind: str | None = None,
    *,
    n_samples: int | None = None,
    loss: str | None = None,
    metrics: tuple[str, ...] | list[str] | None = None,
    classes: Any = None,
    description: str = "",
    like: Task | None = None,
) -> Task:
    """Validate and encode raw targets into a :class:`Task`.

    Parameters
    ----------
    name : str
    values : array-like, (N,) or (N, D)
    kind : str, optional
        One of ``TASK_KINDS``; inferred (and flagged as inferred) when omitted.
    n_samples : int, optional
        Expected number of rows; a mismatch is an error naming the task.
    classes : array-like, optional
        The full label set for classification (labels absent from ``values`` keep a class).
    like : Task, optional
        The same task of a training set: its kind, classes, loss and metrics are used, so
        the codes of an evaluation set mean the same labels. Labels the training task lacks
        are refused; a single label (a constant task) is accepted, as an evaluation set may
        hold one class only.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"task names must be non-empty strings, got {name!r}")
    raw = _as_raw(name, values)
    if raw.ndim == 0 or raw.ndim > 2:
        raise ValueError(f"task {name!r}: targets must be 1-D or 2-D, got shape {raw.shape}")
    if raw.shape[0] == 0:
        raise ValueError(f"task {name!r} is empty; give one target per input sample")
    if n_samples is not None and raw.shape[0] != n_samples:
        raise ValueError(
            f"task {name!r} has {raw.shape[0]} targets but inputs have {n_samples} samples; "
            "each task needs exactly one target row per input row"
        )
    if raw.dtype.kind in "fc" and not np.all(np.isfinite(raw)):
        bad = int(raw.size - np.count_nonzero(np.isfinite(raw)))
        raise ValueError(f"task {name!r} has {bad} NaN/inf target(s); drop or impute those rows")
    if like is not None:
        kind, classes, loss, metrics = _from_reference(name, like, kind, classes, loss, metrics)
    inferred = kind is None if like is None else like.kind_inferred
    if kind is None:
        kind = infer_kind(raw)
    if kind not in TASK_KINDS:
        raise ValueError(f"task {name!r}: unknown kind {kind!r}; choose one of {TASK_KINDS}")

    targets, class_labels = _encode(name, raw, kind, classes, reference=like is not None)
    _warn_many_classes(name, kind, class_labels, len(targets), inferred, like)
    if like is not None and kind in ("regression", "multilabel"):
        _check_output_size(name, targets, like)
    metrics_t = tuple(metrics) if metrics else DEFAULT_METRICS[kind]
    for m in metrics_t:
        get_metric(m)  # raises with the list of known metrics
    return Task(
        name=name,
        kind=kind,
        targets=targets,
        classes=class_labels,
        loss=loss or DEFAULT_LOSS[kind],
        metrics=metrics_t,
        kind_inferred=inferred,
        description=description,
    )


def _warn_many_classes(name: str, kind: str, classes: np.ndarray | None, n_rows: int,
                       inferred: bool, like: Task | None) -> None:
    """Warn when an inferred classification task has nearly as many classes as rows.

    Only for a kind inferred here: a kind the user gave, or one taken from a training set
    (``like``), is not second-guessed.
    """
    if not inferred or like is not None or kind != "classification" or classes is None:
        return
    n_classes = len(classes)
    if n_classes > max(_SUSPICIOUS_CLASS_COUNT, n_rows / 2):
        warnings.warn(
            f"task {name!r} was inferred as classification with {n_classes} classes in "
            f"{n_rows} rows; it is probably a regression target (or an identifier column). "
            f"Pass kinds={{{name!r}: 'regression'}} (or kind= for one task) to say which",
            UserWarning, stacklevel=3,
        )


def _as_raw(name: str, values: Any) -> np.ndarray:
    """Targets as an array; object columns (pandas) become numbers, else strings."""
    try:
        raw = np.asarray(values)
    except ValueError as exc:  # ragged nested lists
        raise TypeError(f"task {name!r}: targets must be an (N,) or (N, D) array: {exc}"
                        ) from exc
    if raw.dtype.kind == "O":
        _check_no_missing(name, raw)
        try:
            raw = raw.astype(float)
        except (TypeError, ValueError):
            raw = raw.astype(str)
    return raw


def _from_reference(name: str, like: Task, kind: str | None, classes: Any, loss: str | None,
                    metrics: Any) -> tuple[str, Any, str, Any]:
    """Kind, classes, loss and metrics of ``like`` (a training task), checking conflicts."""
    if not isinstance(like, Task):
        raise TypeError(f"like must be a Task, got {type(like).__name__}")
    if kind is not None and kind != like.kind:
        raise ValueError(
            f"task {name!r}: kind {kind!r} differs from the training set's {like.kind!r}; "
            "drop the kind (like= decides it) or build the training set with that kind"
        )
    if classes is not None:
        raise ValueError(f"task {name!r}: give classes or like, not both (like= sets classes)")
    return like.kind, like.classes, loss or like.loss, metrics or like.metrics


def _check_output_size(name: str, targets: np.ndarray, like: Task) -> None:
    size = 1 if targets.ndim == 1 else int(targets.shape[1])
    if size != like.output_size:
        raise ValueError(
            f"task {name!r} has {size} output(s), the training set's has {like.output_size}; "
            "an evaluation set needs the same target columns as the training set"
        )


def task_mismatch(task: Task, reference: Task) -> str | None:
    """How ``task`` differs from ``reference`` in encoding (kind, classes, outputs), or None.

    Codes are only comparable when the classes are the same labels in the same order; equal
    kinds or equal class counts are not enough.
    """
    if task.kind != reference.kind:
        return f"kind {task.kind!r}, the training set's is {reference.kind!r}"
    if reference.classes is not None and (
        task.classes is None or task.classes.tolist() != reference.classes.tolist()
    ):
        mine = None if task.classes is None else _short(task.classes)
        return f"classes {mine}, the training set's are {_short(reference.classes)}"
    if task.output_size != reference.output_size:
        return (f"{task.output_size} output(s), the training set's has "
                f"{reference.output_size}")
    return None


def _short(values: np.ndarray, limit: int = 10) -> str:
    items = values.tolist()
    text = str(items[:limit])
    return text if len(items) <= limit else text[:-1] + f", ... ({len(items)} in all)]"


def _encode(
    name: str, raw: np.ndarray, kind: str, classes: Any, *, reference: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Codes and class labels of ``raw``; ``reference``: classes come from a training set."""
    if kind == "regression":
        if raw.dtype.kind not in "biuf":
            raise ValueError(f"task {name!r}: regression targets must be numeric, got {raw.dtype}")
        with np.errstate(over="ignore"):  # overflow is reported just below, by task name
            targets = raw.astype(np.float32)
        _check_fits_float32(name, targets)
        flat = targets.reshape(len(targets), -1)
        if not reference and np.all(flat.max(axis=0) == flat.min(axis=0)):
            raise ValueError(f"task {name!r} is constant; a constant target cannot be learned")
        return targets, None
    if kind == "multilabel":
        if raw.ndim != 2 or not np.isin(raw, (0, 1)).all():
            raise ValueError(
                f"task {name!r}: multilabel targets must be an (N, L) array of 0/1 indicators"
            )
        targets = raw.astype(np.float32)
        if not reference and np.all(targets.max(axis=0) == targets.min(axis=0)):
            raise ValueError(f"task {name!r} is constant; every label has a single value")
        return targets, None
    if raw.ndim != 1:
        raise ValueError(f"task {name!r}: {kind} targets must be 1-D labels, got shape {raw.shape}")
    if classes is None:
        labels = np.unique(raw)
    else:
        labels = np.asarray(classes)
        _check_known_labels(name, raw, labels, reference)
    if not reference and len(np.unique(raw)) < 2:
        raise ValueError(f"task {name!r} is constant (one label); it cannot be learned")
    codes = np.searchsorted(labels, raw) if classes is None else _index_of(labels, raw)
    if kind == "binary":
        if len(labels) != 2 and not reference:
            raise ValueError(
                f"task {name!r}: binary targets need exactly 2 labels, found {len(labels)}; "
                "use kind='classification'"
            )
        return codes.astype(np.float32), labels
    return codes.astype(np.int64), labels


def _check_no_missing(name: str, raw: np.ndarray) -> None:
    """Refuse None / NaN / pd.NA / NaT in an object array (they would become a class)."""
    import pandas as pd

    n_missing = int(np.count_nonzero(pd.isna(raw)))
    if n_missing:
        raise ValueError(
            f"task {name!r} has {n_missing} missing value(s) (None, NaN, NA or NaT); "
            "drop or impute those rows (e.g. df.dropna(subset=[...]))"
        )


def _check_fits_float32(name: str, targets: np.ndarray) -> None:
    """Finite before the cast is not enough: |y| > 3.4e38 becomes inf in float32."""
    finite = np.isfinite(targets)
    if not finite.all():
        bad = int(targets.size - np.count_nonzero(finite))
        raise ValueError(
            f"task {name!r} has {bad} value(s) too large for float32 (|y| > 3.4e38); "
            "rescale the target (e.g. divide by its standard deviation)"
        )


def _check_known_labels(name: str, raw: np.ndarray, labels: np.ndarray,
                        reference: bool) -> None:
    """Refuse labels that have no class (compared as Python values, so 1 == 1.0 != "1")."""
    known = set(labels.tolist())
    missing = sorted({v for v in raw.tolist() if v not in known}, key=repr)
    if not missing:
        return
    if reference:
        raise ValueError(
            f"task {name!r}: label(s) {missing[:5]} are not among the training set's classes "
            f"{_short(labels)}; the model has no output for them: drop those rows, or "
            "train with a training set that holds them"
        )
    raise ValueError(f"task {name!r}: labels {missing[:5]} are not in classes")


def _index_of(labels: np.ndarray, raw: np.ndarray) -> np.ndarray:
    lookup = {v: i for i, v in enumerate(labels.tolist())}
    return np.array([lookup[v] for v in raw.tolist()], dtype=np.int64)


class TargetsDict(dict):  # type: ignore[type-arg]
    """``{task name: encoded targets}``, what :attr:`TaskSet.targets` returns.

    ``targets`` used to be a method; calling the dict (``ts.targets()``) still returns it,
    with a :class:`FutureWarning`.
    """

    def __call__(self) -> TargetsDict:
        warnings.warn("TaskSet.targets is a property now; write ts.targets, not ts.targets()",
                      FutureWarning, stacklevel=2)
        return self
