"""Label injection (LI): how much task ``a`` gains when its single-task model also sees task
``b``'s label (Azorin et al. 2023, Table 7 eq. 3; Table 4 prints it in percent).

Three pieces: the input construction (:func:`encode_label`, :func:`inject_label`,
:func:`label_injected_taskset`), the score from given test losses (:func:`label_injection`),
and a small driver that trains STL_a and STL_a←b with a caller-supplied
``train_fn(taskset) -> model`` (:func:`label_injection_experiment`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .._common.validation import check_positive_int
from ..data.matrix import TaskMatrix
from ..data.tasks import Task
from ..data.taskset import TaskSet
from ..nn.losses import task_loss
from ._models import eval_mode, resolve_tasks, task_output

TrainFn = Callable[[TaskSet], nn.Module]


def encode_label(task: Task, targets: Any) -> Tensor:
    """The label of ``task`` as input features, ``(N, c)`` float32.

    classification: one-hot over the task's ``C`` classes (``c = C``); binary: the 0/1 value
    (``c = 1``); regression: the value(s) (``c = 1`` or ``D``); multilabel: the 0/1 vector.

    Parameters
    ----------
    task : Task
    targets : (N,) or (N, D) array or tensor
        Encoded targets of ``task`` (as in :class:`tasklens.data.Task`).
    """
    if not isinstance(task, Task):
        raise TypeError(f"task must be a tasklens Task, got {type(task).__name__}")
    y = torch.as_tensor(np.asarray(targets) if not isinstance(targets, Tensor) else targets)
    if task.kind == "classification":
        if y.ndim != 1:
            raise ValueError(f"classification targets of {task.name!r} must be (N,) codes, got "
                             f"shape {tuple(y.shape)}")
        codes = y.long()
        n_classes = task.output_size
        if len(codes) and (int(codes.min()) < 0 or int(codes.max()) >= n_classes):
            raise ValueError(f"class codes of {task.name!r} must lie in 0..{n_classes - 1}")
        return torch.nn.functional.one_hot(codes, n_classes).to(torch.float32)
    code = y.to(torch.float32)
    if not bool(torch.isfinite(code).all()):
        raise ValueError(f"targets of {task.name!r} contain NaN or infinite values")
    return code.reshape(code.shape[0], -1)


def inject_label(x: Any, code: Any) -> Tensor:
    """Append label features to the inputs.

    Parameters
    ----------
    x : (N, F) or (N, C, H, W) array or tensor
    code : (N, c) array or tensor, e.g. from :func:`encode_label`

    Returns
    -------
    (N, F + c) tensor for flat inputs; (N, C + c, H, W) for images, each label entry as one
    extra constant channel (and likewise for any ``(N, C, ...)`` input).
    """
    xt = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x)
    ct = torch.as_tensor(np.asarray(code) if not isinstance(code, Tensor) else code)
    if xt.ndim < 2:
        raise ValueError(f"x must have shape (N, F) or (N, C, H, W), got {tuple(xt.shape)}")
    if ct.ndim != 2:
        raise ValueError(f"code must have shape (N, c), got {tuple(ct.shape)}")
    if ct.shape[0] != xt.shape[0]:
        raise ValueError(f"batch size mismatch: x has {xt.shape[0]} rows, code has "
                         f"{ct.shape[0]}")
    ct = ct.to(xt.dtype if xt.dtype.is_floating_point else torch.float32)
    xt = xt.to(ct.dtype)
    if xt.ndim == 2:
        return torch.cat([xt, ct], dim=1)
    spatial = xt.shape[2:]
    planes = ct.reshape(*ct.shape, *([1] * len(spatial))).expand(*ct.shape, *spatial)
    return torch.cat([xt, planes], dim=1)


def label_injected_taskset(taskset: TaskSet, target: str, source: str) -> TaskSet:
    """The task set of STL_{target←source}: inputs with ``source``'s label appended, and the
    single task ``target``."""
    if not isinstance(taskset, TaskSet):
        raise TypeError(f"taskset must be a TaskSet, got {type(taskset).__name__}")
    for role, name in (("target", target), ("source", source)):
        if name not in taskset.tasks:
            raise ValueError(f"unknown {role} task {name!r}; tasks are {taskset.task_names}")
    if target == source:
        raise ValueError(f"target and source are both {target!r}: injecting a task's own "
                         "label is not defined")
    src = taskset.tasks[source]
    inputs = inject_label(taskset.inputs, encode_label(src, src.targets)).numpy()
    info = dict(taskset.info, label_injected_from=source)
    return TaskSet(inputs, {target: taskset.tasks[target]}, taskset.factors, taskset.groups,
                   f"{taskset.name}[{target}<-{source}]", info)


def _loss_value(value: Any, what: str) -> float:
    out = float(value)
    if not math.isfinite(out):
        raise ValueError(f"{what} is {out}; losses must be finite")
    if out <= 0:
        raise ValueError(f"{what} is {out}; LI divides by the label-injected loss, which "
                         "must be > 0")
    return out


def label_injection(stl_losses: Mapping[str, float],
                    injected_losses: Mapping[tuple[str, str], float] | Any,
                    task_names: Sequence[str] | None = None) -> TaskMatrix:
    """Label injection score from test losses.

    ``LI[a, b] = (L_STLa − L_STLa←b) / L_STLa←b`` (Azorin et al. 2023, Table 7 eq. 3;
    Table 4 shows ``100 · LI`` in percent). Asymmetric; entry ``[a, b]`` is the effect of
    ``b`` (whose label is injected) onto ``a``. The diagonal is NaN: a task's own label is
    not a partner.

    Parameters
    ----------
    stl_losses : mapping {a: L_STLa}
        Test loss of each plain single-task model.
    injected_losses : mapping {(a, b): L_STLa←b}, or (K, K) array / TaskMatrix
        Test loss of STL_a with ``b``'s label injected (an array is read ``[a, b]`` in
        ``task_names`` order, its diagonal ignored).
    task_names : sequence of str, optional
        Order of the tasks (default: ``stl_losses``' order).

    Returns
    -------
    TaskMatrix, (K, K)
    """
    if not isinstance(stl_losses, Mapping):
        raise TypeError("stl_losses must be a mapping {task: test loss of STL_task}")
    names = list(stl_losses) if task_names is None else list(task_names)
    if len(names) < 2:
        raise ValueError(f"label injection needs at least 2 tasks, got {names}")
    missing = [t for t in names if t not in stl_losses]
    if missing:
        raise ValueError(f"stl_losses lacks task(s) {missing}")
    k = len(names)
    if isinstance(injected_losses, TaskMatrix):
        idx = [injected_losses.index(t) for t in names]
        grid = injected_losses.values[np.ix_(idx, idx)]
        injected = {(a, b): grid[i, j] for i, a in enumerate(names) for j, b in enumerate(names)}
    elif isinstance(injected_losses, Mapping):
        injected = dict(injected_losses)
    else:
        grid = np.asarray(injected_losses, dtype=np.float64)
        if grid.shape != (k, k):
            raise ValueError(f"injected_losses as an array must be ({k}, {k}), got {grid.shape}")
        injected = {(a, b): grid[i, j] for i, a in enumerate(names) for j, b in enumerate(names)}
    values = np.full((k, k), np.nan)
    for i, a in enumerate(names):
        base = _loss_value(stl_losses[a], f"stl_losses[{a!r}]")
        for j, b in enumerate(names):
            if i == j:
                continue
            if (a, b) not in injected:
                raise ValueError(f"injected_losses lacks the pair ({a!r}, {b!r}) = "
                                 f"L_STL{a}<-{b}")
            inj = _loss_value(injected[(a, b)], f"injected_losses[({a!r}, {b!r})]")
            values[i, j] = (base - inj) / inj
    return TaskMatrix(values, tuple(names), "label injection (LI)")


def evaluate_task_loss(model: nn.Module, taskset: TaskSet, task: str,
                       batch_size: int = 1024) -> float:
    """Mean loss of ``task`` over all samples of ``taskset`` (eval mode, no gradients).

    Batches are weighted by their size, so the value equals the loss of one full batch for
    losses that are means over samples.
    """
    check_positive_int(batch_size, "batch_size")
    if task not in taskset.tasks:
        raise ValueError(f"unknown task {task!r}; tasks are {taskset.task_names}")
    t = taskset.tasks[task]
    total, count = 0.0, 0
    with torch.no_grad(), eval_mode(model):
        for x, y in taskset.dataloader(batch_size, shuffle=False):
            loss = task_loss(t, task_output(model, task, x), y[task])
            total += float(loss) * len(x)
            count += len(x)
    return total / count


@dataclass(frozen=True)
class LabelInjectionResult:
    """Scores and the test losses they come from.

    Attributes
    ----------
    matrix : TaskMatrix
        ``LI[a, b]`` (see :func:`label_injection`).
    stl_losses : dict {a: float}
    injected_losses : dict {(a, b): float}
    """

    matrix: TaskMatrix
    stl_losses: dict[str, float]
    injected_losses: dict[tuple[str, str], float]

    def to_dict(self) -> dict[str, Any]:
        return {"matrix": self.matrix.to_dict(), "stl_losses": dict(self.stl_losses),
                "injected_losses": [[a, b, v] for (a, b), v in self.injected_losses.items()]}


def train_label_injected(train: TaskSet, train_fn: TrainFn, *,
                         pairs: Sequence[tuple[str, str]] | None = None
                         ) -> dict[tuple[str, str], nn.Module]:
    """Train STL_{a←b} for each ordered pair ``(a, b)`` with ``train_fn``.

    Parameters
    ----------
    train : TaskSet
    train_fn : callable ``train_fn(taskset) -> model``
        Trains a single-task model on a task set with one task (e.g. a Trainer wrapper).
        Its inputs are wider than ``train``'s (label features appended).
    pairs : sequence of (a, b), optional
        Default: every ordered pair of distinct tasks.
    """
    if not callable(train_fn):
        raise TypeError("train_fn must be a callable train_fn(taskset) -> model")
    names = train.task_names
    todo = ([(a, b) for a in names for b in names if a != b] if pairs is None
            else [tuple(p) for p in pairs])
    models: dict[tuple[str, str], nn.Module] = {}
    for a, b in todo:
        model = train_fn(label_injected_taskset(train, a, b))
        if not isinstance(model, nn.Module):
            raise TypeError(f"train_fn must return an nn.Module, got {type(model).__name__}")
        models[(a, b)] = model
    return models


def label_injection_experiment(train: TaskSet, test: TaskSet, train_fn: TrainFn, *,
                               tasks: Sequence[str] | None = None,
                               batch_size: int = 1024) -> LabelInjectionResult:
    """Train STL_a and every STL_a←b with ``train_fn``, score LI from the test losses.

    K plain and K (K − 1) label-injected models are trained, in that order. The test set of
    STL_a←b carries ``b``'s *test* labels, as in 002 ("computed using test losses").

    Parameters
    ----------
    train, test : TaskSet
        With the same tasks.
    train_fn : callable ``train_fn(taskset) -> model``
        Trains and returns a single-task model for a one-task task set.
    tasks : sequence of str, optional
        K >= 2 tasks (default: all of ``train``'s).
    batch_size : int
        Evaluation batch size.
    """
    if not isinstance(train, TaskSet) or not isinstance(test, TaskSet):
        raise TypeError("train and test must be TaskSets")
    names = list(resolve_tasks(train.select(tasks) if tasks is not None else train))
    missing = [t for t in names if t not in test.tasks]
    if missing:
        raise ValueError(f"test lacks task(s) {missing}")
    # same classes and outputs as train, else test losses score codes of other labels
    test.select(names).check_compatible(train.select(names), "test")
    if not callable(train_fn):
        raise TypeError("train_fn must be a callable train_fn(taskset) -> model")
    stl: dict[str, float] = {}
    for a in names:
        model = train_fn(train.select([a]))
        stl[a] = evaluate_task_loss(model, test.select([a]), a, batch_size)
    pairs = [(a, b) for a in names for b in names if a != b]
    models = train_label_injected(train, train_fn, pairs=pairs)
    injected = {(a, b): evaluate_task_loss(m, label_injected_taskset(test, a, b), a, batch_size)
                for (a, b), m in models.items()}
    return LabelInjectionResult(label_injection(stl, injected, names), stl, injected)
