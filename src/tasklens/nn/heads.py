"""Task heads: one small MLP per task, sized from the task's kind and ``output_size``."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._common.validation import check_positive_int
from ._taskdict import TaskModuleDict
from ._utils import Seed, get_activation, seeded_init, task_mapping

#: Width and depth of a head in Maziarka et al. 2022, Appendix A, Table 3.
PAPER_HEAD_HIDDEN = 300
PAPER_HEAD_DEPTH = 4


def head_output_shape(task: Any) -> tuple[int, ...]:
    """Per-sample output shape of a head for ``task`` (matches :mod:`tasklens.data.metrics`).

    regression ``()`` for ``(N,)`` targets, ``(D,)`` for ``(N, D)``; classification ``(C,)``
    logits; binary ``()`` logit; multilabel ``(L,)`` logits.
    """
    if task.kind == "binary" or (task.kind == "regression" and task.targets.ndim == 1):
        return ()
    return (task.output_size,)


class TaskHead(nn.Module):
    """An MLP head ``(N, in_features) → (N, out_features)`` or ``(N,)`` when ``squeeze``.

    ``depth`` counts the linear layers; the activation follows every layer but the last
    (Maziarka et al. 2022, Appendix A, Table 3: depth 4, width 300, ReLU).

    Parameters
    ----------
    in_features, out_features : int
    hidden : int
        Width of the hidden layers.
    depth : int >= 1
        1 gives a linear head.
    activation : str
    squeeze : bool
        Drop the last axis (needs ``out_features == 1``): binary logits and 1-D regression.
    bias : bool
        Biases in the linear layers (False for the deep linear networks of Anon. 2025).
    seed : int, numpy Generator or None
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: int = PAPER_HEAD_HIDDEN,
        depth: int = PAPER_HEAD_DEPTH,
        activation: str = "relu",
        *,
        squeeze: bool = False,
        bias: bool = True,
        seed: Seed = None,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        self.depth = check_positive_int(depth, "depth")
        hidden = check_positive_int(hidden, "hidden")
        if squeeze and self.out_features != 1:
            raise ValueError("squeeze=True needs out_features == 1")
        self.squeeze = bool(squeeze)
        get_activation(activation)
        dims = [self.in_features] + [hidden] * (self.depth - 1) + [self.out_features]
        layers: list[nn.Module] = []
        with seeded_init(seed):
            for i in range(self.depth):
                layers.append(nn.Linear(dims[i], dims[i + 1], bias=bias))
                if i < self.depth - 1:
                    layers.append(get_activation(activation))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z : (N, in_features) → (N, out_features), or (N,) when ``squeeze``."""
        if z.ndim != 2 or z.shape[1] != self.in_features:
            raise ValueError(
                f"a head expects features of shape (N, {self.in_features}), got {tuple(z.shape)}"
            )
        out = self.net(z)
        return out[:, 0] if self.squeeze else out


def make_heads(
    tasks: Any,
    in_features: int,
    hidden: int = PAPER_HEAD_HIDDEN,
    depth: int = PAPER_HEAD_DEPTH,
    activation: str = "relu",
    *,
    bias: bool = True,
    seed: Seed = None,
) -> nn.ModuleDict:
    """One :class:`TaskHead` per task, in task order.

    Parameters
    ----------
    tasks : TaskSet, mapping {name: Task} or sequence of Task
    in_features : int
        Dimension of the features each head reads.
    hidden, depth, activation, bias
        See :class:`TaskHead` (defaults: Maziarka et al. 2022 Table 3).
    seed : int, numpy Generator or None

    Returns
    -------
    nn.ModuleDict
        A :class:`~tasklens.nn._taskdict.TaskModuleDict` ``{task name: head}`` (any task
        name, ``y.1`` included); a head outputs :func:`head_output_shape` per sample.
    """
    tmap = task_mapping(tasks)
    with seeded_init(seed):
        return TaskModuleDict({
            name: TaskHead(in_features, task.output_size, hidden, depth, activation,
                           squeeze=head_output_shape(task) == (), bias=bias)
            for name, task in tmap.items()
        })
