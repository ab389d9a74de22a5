"""The interface every multi-task model of :mod:`tasklens.nn` follows.

A model splits into an *encoder part* ``encode(x) -> z`` and a *head part*
``decode(z) -> {task: output}``, with ``forward(x) == decode(encode(x))``. The contract,
checked by the tests for every model:

- every parameter outside the heads acts on the outputs only through ``z``: a
  ``decode(z.detach())`` leaves them without gradient;
- head ``t`` reads only ``z`` (or ``z[t]``): changing another head never changes it.

**Representation-level gradients.** When ``shares_representation`` is True (hard
parameter sharing, the dual-stream encoder), ``z`` is one ``(N, d)`` tensor read by every
head, and ``∂L_t/∂z`` for each task is the cheap representation-level task gradient
(one backward through the heads only); by the chain rule the parameter-level gradient of
the shared parameters is ``J_zᵀ ∂L_t/∂z``. When it is False (MTAN, MMoE, CGC/PLE), ``z`` is
a dict of per-task features ``{t: (N, d_t)}``: ``L_t`` depends on ``z[t]`` alone, so the
representation gradients of different tasks live in different spaces and cannot be
compared or aggregated — methods that need a common space must use the parameter-level
gradients of :meth:`MTLModel.shared_parameters` instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ._taskdict import TaskModuleDict

Representation = torch.Tensor | dict[str, torch.Tensor]


@dataclass(frozen=True)
class TaskPrediction:
    """What :meth:`MTLModel.predict` returns for one task.

    Attributes
    ----------
    kind : {"regression", "classification", "binary", "multilabel"}
    values : array
        Regression: the predicted values ``(N,)`` or ``(N, D)``. Classification and binary:
        the predicted labels ``(N,)`` in the task's original label values (its ``classes``).
        Multilabel: ``(N, L)`` int 0/1 indicators.
    probabilities : array or None
        Classification ``(N, C)`` softmax (columns in ``classes`` order); binary ``(N,)``
        probability of ``classes[1]``; multilabel ``(N, L)`` per-label probabilities;
        None for regression.
    classes : array or None
        The label of each class column (classification and binary).
    """

    kind: str
    values: np.ndarray
    probabilities: np.ndarray | None = None
    classes: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (arrays as lists)."""
        def plain(a: np.ndarray | None) -> Any:
            return None if a is None else np.asarray(a).tolist()

        return {"kind": self.kind, "values": plain(self.values),
                "probabilities": plain(self.probabilities), "classes": plain(self.classes)}


def _task_prediction(task: Any, out: np.ndarray) -> TaskPrediction:
    """Decode one head's raw outputs (logits or values) by the task's kind."""
    classes = None if task.classes is None else np.asarray(task.classes)
    if task.kind == "regression":
        return TaskPrediction("regression", out)
    if task.kind == "classification":
        shifted = out - out.max(axis=1, keepdims=True)  # stable softmax
        proba = np.exp(shifted)
        proba /= proba.sum(axis=1, keepdims=True)
        codes = out.argmax(axis=1)
        return TaskPrediction("classification", codes if classes is None else classes[codes],
                              proba, classes)
    proba = 1.0 / (1.0 + np.exp(-out))
    if task.kind == "binary":
        codes = (out > 0).astype(np.int64)  # logit > 0 ⇔ probability > 1/2
        return TaskPrediction("binary", codes if classes is None else classes[codes], proba,
                              classes)
    return TaskPrediction("multilabel", (out > 0).astype(np.int64), proba)


class MTLModel(nn.Module):
    """Base class: a shared encoder part plus a :class:`~torch.nn.ModuleDict` of heads.

    Subclasses implement :meth:`encode` and :meth:`_task_modules`; everything else follows.

    Attributes
    ----------
    heads : nn.ModuleDict
        ``{task name: head}`` in task order.
    shares_representation : bool
        Whether ``encode`` returns one tensor read by every head (see the module docstring).
    """

    shares_representation: bool = True

    def __init__(self, heads: nn.ModuleDict | Mapping[str, nn.Module]) -> None:
        super().__init__()
        if not isinstance(heads, nn.ModuleDict):
            if not isinstance(heads, Mapping) or not heads:
                raise TypeError("heads must be a non-empty nn.ModuleDict or mapping "
                                "{task name: nn.Module}")
            heads = TaskModuleDict(dict(heads))
        if len(heads) == 0:
            raise ValueError("heads is empty; a multi-task model needs at least one head")
        self.heads = heads

    @property
    def task_names(self) -> tuple[str, ...]:
        """Task names, in head order."""
        return tuple(self.heads.keys())

    # ------------------------------------------------------------------ the split
    def encode(self, x: torch.Tensor) -> Representation:
        """The representation ``z`` that the heads read (see the module docstring)."""
        raise NotImplementedError

    def decode(self, z: Representation) -> dict[str, torch.Tensor]:
        """``{task: head output}`` from ``z`` alone."""
        if isinstance(z, Mapping):
            missing = [t for t in self.heads if t not in z]
            if missing:
                raise ValueError(f"z lacks the features of task(s) {missing}")
            return {t: head(z[t]) for t, head in self.heads.items()}
        return {t: head(z) for t, head in self.heads.items()}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x : (N, ...) → ``{task: output}`` (shapes: :func:`tasklens.nn.head_output_shape`)."""
        return self.decode(self.encode(x))

    @torch.no_grad()
    def predict(self, x: Any, tasks: Any, *, batch_size: int = 1024) -> dict[str, TaskPrediction]:
        """Predictions per task: labels and probabilities, or values, by the task's kind.

        Runs in eval mode (dropout off, batch-norm running statistics) without gradients and
        restores the previous mode.

        Parameters
        ----------
        x : (N, ...) tensor, array-like or TaskSet
            Inputs (a TaskSet gives its ``inputs``).
        tasks : TaskSet, mapping {name: Task} or sequence of Task
            The tasks the model was trained on (usually the training TaskSet): their kinds
            decide how outputs are decoded, their ``classes`` map class codes to labels.
            Tasks the model has no head for are refused; heads without a task are skipped.
        batch_size : int
            Rows per forward pass (bounds memory; the predictions do not depend on it
            beyond float rounding).

        Returns
        -------
        dict {task: TaskPrediction}
            In the order of ``tasks``.
        """
        from ._utils import task_mapping

        tmap = task_mapping(tasks)
        unknown = [t for t in tmap if t not in self.heads]
        if unknown:
            raise KeyError(f"the model has no head for task(s) {unknown}; its tasks are "
                           f"{list(self.heads)}")
        if hasattr(x, "inputs") and hasattr(x, "tasks"):
            x = x.inputs
        first = next(iter(self.parameters()), None)
        xt = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x)
        if xt.is_floating_point() and first is not None:
            xt = xt.to(dtype=first.dtype)
        if xt.ndim == 0 or len(xt) == 0:
            raise ValueError(f"x must hold at least one row, got shape {tuple(xt.shape)}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        device = first.device if first is not None else torch.device("cpu")
        was_training = self.training
        self.eval()
        try:
            chunks = [self(xt[s:s + batch_size].to(device)) for s in range(0, len(xt), batch_size)]
        finally:
            self.train(was_training)
        return {t: _task_prediction(task, torch.cat([c[t] for c in chunks]).double().cpu().numpy())
                for t, task in tmap.items()}

    def task_features(self, z: Representation) -> dict[str, torch.Tensor]:
        """The features each head reads: ``z`` itself for every task, or ``z[t]``."""
        if isinstance(z, Mapping):
            return {t: z[t] for t in self.heads}
        return {t: z for t in self.heads}

    # ------------------------------------------------------------------ parameter groups
    def _task_modules(self, name: str) -> list[nn.Module]:
        """Modules owned by task ``name`` alone (its head included)."""
        return [self.heads[name]]

    def _check_task(self, name: str) -> None:
        if name not in self.heads:
            raise KeyError(f"no task {name!r}; tasks are {list(self.heads)}")

    def task_parameters(self, name: str) -> Iterator[nn.Parameter]:
        """Parameters that only task ``name`` uses (its head, and e.g. its gates)."""
        self._check_task(name)
        seen: set[int] = set()
        for module in self._task_modules(name):
            for p in module.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield p

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        """Every parameter that is not task-specific (the shared encoder part)."""
        owned = {id(p) for t in self.heads for p in self.task_parameters(t)}
        for p in self.parameters():
            if id(p) not in owned:
                yield p
