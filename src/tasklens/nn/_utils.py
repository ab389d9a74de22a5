"""Small helpers shared by the modules of :mod:`tasklens.nn`: activations, seeded init."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from .._common.validation import check_positive_int, check_seed

#: activation names accepted by every ``activation=`` argument of :mod:`tasklens.nn`
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "identity": nn.Identity,
}

Seed = int | np.random.Generator | None


def get_activation(name: str) -> nn.Module:
    """A fresh activation module for ``name`` (one of :data:`ACTIVATIONS`)."""
    if not isinstance(name, str):
        raise TypeError(f"activation must be a string name, got {type(name).__name__}")
    key = name.lower()
    if key not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {', '.join(map(repr, ACTIVATIONS))}"
        )
    return ACTIVATIONS[key]()


@contextlib.contextmanager
def seeded_init(seed: Seed) -> Iterator[None]:
    """Run parameter initialisation under ``seed`` without touching torch's global RNG.

    ``seed=None`` uses torch's global RNG as plain torch modules do (so ``torch.manual_seed``
    keeps working); an int or a numpy Generator seeds a forked CPU RNG, and the global
    state is restored on exit.
    """
    if seed is None:
        yield
        return
    rng = check_seed(seed)
    torch_seed = int(rng.integers(0, 2**63 - 1))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(torch_seed)
        yield


def check_widths(value: Any, name: str, *, allow_empty: bool = True) -> tuple[int, ...]:
    """A tuple of positive layer widths (an int is a single layer)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise TypeError(f"{name} must be an int or a sequence of ints, got {value!r}")
    widths = tuple(check_positive_int(v, f"{name}[{i}]") for i, v in enumerate(value))
    if not widths and not allow_empty:
        raise ValueError(f"{name} must list at least one width")
    return widths


def check_input_shape(input_shape: Any, name: str = "input_shape") -> tuple[int, ...]:
    """``(F,)`` for flat inputs or ``(C, H, W)`` for images; anything else is an error."""
    try:
        shape = tuple(int(s) for s in input_shape)
    except TypeError as exc:
        raise TypeError(f"{name} must be a tuple of ints such as (F,) or (C, H, W)") from exc
    if len(shape) not in (1, 3) or any(s < 1 for s in shape):
        raise ValueError(
            f"{name} {shape} is not supported: give (F,) for feature vectors or (C, H, W) "
            "for images; flatten or reshape other inputs first"
        )
    return shape


def check_batch(x: torch.Tensor, input_shape: tuple[int, ...], name: str = "x") -> None:
    """Check that a batch has shape ``(N, *input_shape)``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if tuple(x.shape[1:]) != tuple(input_shape) or x.ndim != len(input_shape) + 1:
        raise ValueError(
            f"{name} must have shape (N, {', '.join(map(str, input_shape))}), got {tuple(x.shape)}"
        )


def task_mapping(tasks: Any) -> dict[str, Any]:
    """``{name: Task}`` from a TaskSet, a mapping of tasks, or a sequence of tasks."""
    from ..data.tasks import TASK_KINDS, Task
    from ..data.taskset import TaskSet

    if isinstance(tasks, TaskSet):
        out = dict(tasks.tasks)
    elif isinstance(tasks, Mapping):
        out = dict(tasks)
    elif isinstance(tasks, Sequence) and not isinstance(tasks, str):
        out = {}
        for t in tasks:
            if not isinstance(t, Task):
                raise TypeError(f"tasks must contain Task objects, got {type(t).__name__}")
            if t.name in out:
                raise ValueError(f"duplicate task name {t.name!r} in tasks")
            out[t.name] = t
    else:
        raise TypeError(
            "tasks must be a TaskSet, a mapping {name: Task} or a sequence of Task objects, "
            f"got {type(tasks).__name__}"
        )
    if not out:
        raise ValueError("tasks is empty; pass at least one task")
    for name, t in out.items():
        if not isinstance(t, Task):
            raise TypeError(f"tasks[{name!r}] must be a Task, got {type(t).__name__}")
        if t.kind not in TASK_KINDS:
            raise ValueError(
                f"task {name!r} has unknown kind {t.kind!r}; choose one of {TASK_KINDS}"
            )
    return out
