"""Helpers shared by the model-based affinity scores: task and batch checks, model outputs.

A *batch* is what :meth:`tasklens.data.TaskSet.dataloader` yields: ``(x, {task: y})`` with
``x : (N, ...)`` and each ``y : (N, ...)``.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .._common.validation import check_scalar
from ..balance._gramian import gramian
from ..data.tasks import Task
from ..nn._utils import task_mapping

Batch = tuple[Tensor, Mapping[str, Tensor]]


def resolve_tasks(tasks: Any, *, available: Any = None, min_tasks: int = 2,
                  what: str = "model") -> dict[str, Task]:
    """``{name: Task}`` in order, checked against the task names ``available``.

    Parameters
    ----------
    tasks : TaskSet, mapping {name: Task} or sequence of Task
    available : iterable of str, optional
        Task names the model (or models) can score; a task outside it is an error.
    min_tasks : int
        An affinity needs at least two tasks.
    what : str
        Names the object ``available`` comes from, in error messages.
    """
    tmap = task_mapping(tasks)
    if len(tmap) < min_tasks:
        raise ValueError(f"tasks has {len(tmap)} task(s) ({list(tmap)}); an affinity score "
                         f"needs at least {min_tasks} tasks")
    if available is not None:
        names = list(available)
        unknown = [t for t in tmap if t not in names]
        if unknown:
            raise ValueError(f"unknown task(s) {unknown}: the {what} has tasks {names}; pass "
                             "tasks that the model was built for (e.g. taskset.select([...]))")
    return tmap


def check_batch(batch: Any, task_names: Any, name: str = "batch") -> tuple[Tensor,
                                                                            dict[str, Tensor]]:
    """Split and check ``(x, {task: y})``: tensors, every task present, equal row counts."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError(f"{name} must be a pair (x, {{task: targets}}) as yielded by "
                        f"TaskSet.dataloader, got {type(batch).__name__}")
    x, targets = batch
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}[0] (the inputs) must be a torch.Tensor, got "
                        f"{type(x).__name__}")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"{name}[0] must have shape (N, ...) with N >= 1, got "
                         f"{tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}[0] (the inputs) contains NaN or infinite values")
    if not isinstance(targets, Mapping):
        raise TypeError(f"{name}[1] must be a mapping {{task name: targets}}, got "
                        f"{type(targets).__name__}")
    names = list(task_names)
    missing = [t for t in names if t not in targets]
    if missing:
        raise ValueError(f"{name} has no targets for task(s) {missing}; it has {list(targets)}")
    out: dict[str, Tensor] = {}
    for t in names:
        y = targets[t]
        if not isinstance(y, Tensor):
            raise TypeError(f"{name} targets of task {t!r} must be a torch.Tensor, got "
                            f"{type(y).__name__}")
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"batch size mismatch: {name} has {x.shape[0]} inputs but "
                             f"{y.shape[0]} targets for task {t!r}")
        out[t] = y
    return x, out


def check_finite_losses(losses: Tensor, names: Any, where: str) -> None:
    """A NaN or infinite task loss makes every ratio and cosine meaningless: refuse it."""
    bad = ~torch.isfinite(losses.detach())
    if bool(bad.any()):
        tasks = [n for n, b in zip(names, bad.tolist()) if b]
        raise ValueError(f"non-finite loss for task(s) {tasks} {where}: "
                         f"{losses.detach().tolist()}; check the targets and the model's "
                         "outputs (diverged training, NaN inputs)")


def task_output(model: nn.Module, task: str, x: Tensor) -> Tensor:
    """The output of ``model`` for ``task``: ``model(x)[task]`` or, for a plain network,
    ``model(x)`` itself."""
    out = model(x)
    if isinstance(out, Mapping):
        if task not in out:
            raise ValueError(f"the model for task {task!r} outputs tasks {list(out)}, not "
                             f"{task!r}")
        return out[task]
    if not isinstance(out, Tensor):
        raise TypeError(f"the model for task {task!r} must return a tensor or a mapping "
                        f"{{task: tensor}}, got {type(out).__name__}")
    return out


def check_models(models: Any, task_names: Any, name: str = "models") -> dict[str, nn.Module]:
    """``{task: nn.Module}`` with one model per task of ``task_names``."""
    if not isinstance(models, Mapping):
        raise TypeError(f"{name} must be a mapping {{task name: single-task model}}, got "
                        f"{type(models).__name__}")
    names = list(task_names)
    missing = [t for t in names if t not in models]
    if missing:
        raise ValueError(f"{name} lacks a model for task(s) {missing}; it has {list(models)}")
    for t in names:
        if not isinstance(models[t], nn.Module):
            raise TypeError(f"{name}[{t!r}] must be an nn.Module, got "
                            f"{type(models[t]).__name__}")
    return {t: models[t] for t in names}


@contextlib.contextmanager
def eval_mode(*models: nn.Module) -> Iterator[None]:
    """Put ``models`` in eval mode (dropout off, batch-norm statistics frozen), then restore
    each module's own training flag."""
    flags = [(m, m.training) for model in models for m in model.modules()]
    for model in models:
        model.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


def cosine_matrix(vectors: Tensor) -> np.ndarray:
    """(K, K) cosine similarities of the rows of ``vectors : (K, P)``.

    A zero row has no direction: its cosines (its diagonal entry included) are 0.
    """
    v = vectors.detach().to(torch.float64)
    norms = torch.linalg.vector_norm(v, dim=1)
    unit = v / torch.where(norms > 0, norms, torch.ones_like(norms))[:, None]
    return gramian(unit).clamp(-1.0, 1.0).cpu().numpy()  # exactly symmetric


def check_positive_float(value: Any, name: str) -> float:
    """A finite float > 0 (learning rates); NumPy scalars accepted."""
    return check_scalar(value, name, numbers.Real, low=0.0, include_low=False, finite=True)


def split_and_tasks(taskset: Any, tasks: Any, test_size: float,
                    seed: int) -> tuple[Any, list[str]]:
    """A ``TaskSetSplit`` (splitting a ``TaskSet`` with ``seed``) and the chosen task names.

    ``tasks=None`` means every task; unknown names are an error listing the available ones.
    """
    from ..data.taskset import TaskSet, TaskSetSplit

    if isinstance(taskset, TaskSet):
        split = taskset.split(test_size, seed=seed)
    elif isinstance(taskset, TaskSetSplit):
        split = taskset
    else:
        raise TypeError(f"taskset must be a TaskSet or TaskSetSplit, got "
                        f"{type(taskset).__name__}")
    available = split.train.task_names
    names = list(available) if tasks is None else list(tasks)
    unknown = [t for t in names if t not in available]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown}; the task set has {available}")
    return split, names
