"""The :class:`Task`: one named target of a task set, with its kind, loss and metrics."""

from __future__ import annotations

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
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"task names must be non-empty strings, got {name!r}")
    raw = np.asarray(values)
    if raw.dtype.kind == "O":
        # object columns from pandas: keep strings, convert numbers
        try:
            raw = raw.astype(float)
        except (TypeError, ValueError):
            raw = raw.astype(str)
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
    inferred = kind is None
    if kind is None:
        kind = infer_kind(raw)
    if kind not in TASK_KINDS:
        raise ValueError(f"task {name!r}: unknown kind {kind!r}; choose one of {TASK_KINDS}")

    targets, class_labels = _encode(name, raw, kind, classes)
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


def _encode(
    name: str, raw: np.ndarray, kind: str, classes: Any
) -> tuple[np.ndarray, np.ndarray | None]:
    if kind == "regression":
        if raw.dtype.kind not in "biuf":
            raise ValueError(f"task {name!r}: regression targets must be numeric, got {raw.dtype}")
        targets = raw.astype(np.float32)
        flat = targets.reshape(len(targets), -1)
        if np.all(flat.max(axis=0) == flat.min(axis=0)):
            raise ValueError(f"task {name!r} is constant; a constant target cannot be learned")
        return targets, None
    if kind == "multilabel":
        if raw.ndim != 2 or not np.isin(raw, (0, 1)).all():
            raise ValueError(
                f"task {name!r}: multilabel targets must be an (N, L) array of 0/1 indicators"
            )
        targets = raw.astype(np.float32)
        if np.all(targets.max(axis=0) == targets.min(axis=0)):
            raise ValueError(f"task {name!r} is constant; every label has a single value")
        return targets, None
    if raw.ndim != 1:
        raise ValueError(f"task {name!r}: {kind} targets must be 1-D labels, got shape {raw.shape}")
    if classes is None:
        labels = np.unique(raw)
    else:
        labels = np.asarray(classes)
        missing = np.setdiff1d(np.unique(raw), labels)
        if missing.size:
            raise ValueError(f"task {name!r}: labels {missing[:5].tolist()} are not in classes")
    if len(np.unique(raw)) < 2:
        raise ValueError(f"task {name!r} is constant (one label); it cannot be learned")
    codes = np.searchsorted(labels, raw) if classes is None else _index_of(labels, raw)
    if kind == "binary":
        if len(labels) != 2:
            raise ValueError(
                f"task {name!r}: binary targets need exactly 2 labels, found {len(labels)}; "
                "use kind='classification'"
            )
        return codes.astype(np.float32), labels
    return codes.astype(np.int64), labels


def _index_of(labels: np.ndarray, raw: np.ndarray) -> np.ndarray:
    lookup = {v: i for i, v in enumerate(labels.tolist())}
    return np.array([lookup[v] for v in raw.tolist()], dtype=np.int64)
