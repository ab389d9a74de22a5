"""Per-task losses on head outputs, and the ``(K,)`` vector of all task losses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from ..data.tasks import TASK_KINDS
from ._utils import task_mapping

#: loss names accepted per task kind (the first is the default, ``Task.loss``)
LOSSES_BY_KIND: dict[str, tuple[str, ...]] = {
    "regression": ("mse", "l1", "mae", "huber"),
    "classification": ("cross_entropy",),
    "binary": ("bce",),
    "multilabel": ("bce",),
}


def _shape_error(task: Any, what: str, output: torch.Tensor, target: torch.Tensor) -> ValueError:
    return ValueError(
        f"task {task.name!r} ({task.kind}): {what}; got output {tuple(output.shape)} and "
        f"target {tuple(target.shape)}. Heads from tasklens.nn.make_heads produce the "
        "expected shapes."
    )


def task_loss(task: Any, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The mean loss of one task on a batch.

    Parameters
    ----------
    task : Task
        Its ``kind`` picks the loss family, its ``loss`` the member (default per kind).
    output : tensor
        Head output: regression ``(N,)`` / ``(N, D)`` (same shape as the target);
        classification ``(N, C)`` logits; binary ``(N,)`` logits; multilabel ``(N, L)``
        logits.
    target : tensor
        Encoded targets as in :class:`tasklens.data.Task` (classification: integer codes).

    Returns
    -------
    scalar tensor
        mse / l1 (alias mae) / huber (δ = 1): mean over all elements; cross_entropy: mean
        over samples of
        ``logsumexp(o) - o[y]``; bce (with logits): mean over all elements of
        ``-y log σ(o) - (1 - y) log(1 - σ(o))``.
    """
    loss_name = _check_loss_inputs(task, output, target)
    if task.kind == "regression":
        return _regression_loss(task, loss_name, output, target)
    if task.kind == "classification":
        return _classification_loss(task, output, target)
    return _logit_loss(task, output, target)


def _check_loss_inputs(task: Any, output: Any, target: Any) -> str:
    """Validate kind, tensors, loss name and row counts; the loss name to use."""
    kind = getattr(task, "kind", None)
    if kind not in TASK_KINDS:
        raise ValueError(f"task {getattr(task, 'name', task)!r} has unknown kind {kind!r}; "
                         f"choose one of {TASK_KINDS}")
    if not isinstance(output, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise TypeError(f"task {task.name!r}: output and target must be torch tensors")
    loss_name = task.loss or LOSSES_BY_KIND[kind][0]
    if loss_name not in LOSSES_BY_KIND[kind]:
        raise ValueError(f"task {task.name!r}: loss {loss_name!r} does not fit a {kind} task; "
                         f"choose one of {LOSSES_BY_KIND[kind]}")
    if output.shape[:1] != target.shape[:1]:
        raise _shape_error(task, "output and target need the same number of rows",
                           output, target)
    return loss_name


def _regression_loss(task: Any, loss_name: str, output: torch.Tensor,
                     target: torch.Tensor) -> torch.Tensor:
    if output.shape != target.shape:
        raise _shape_error(task, "regression output and target must have the same shape",
                           output, target)
    t = target.to(output.dtype)
    if loss_name == "mse":
        return F.mse_loss(output, t)
    if loss_name in ("l1", "mae"):
        return F.l1_loss(output, t)
    return F.huber_loss(output, t)


def _classification_loss(task: Any, output: torch.Tensor,
                         target: torch.Tensor) -> torch.Tensor:
    if output.ndim != 2 or target.ndim != 1:
        raise _shape_error(task, "classification needs (N, C) logits and (N,) class codes",
                           output, target)
    if target.dtype.is_floating_point and not torch.equal(target, target.round()):
        raise ValueError(f"task {task.name!r}: classification targets must be integer "
                         "class codes")
    return F.cross_entropy(output, target.long())


def _logit_loss(task: Any, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary and multilabel: BCE with logits over all elements."""
    if task.kind == "binary" and (output.ndim != 1 or target.ndim != 1):
        raise _shape_error(task, "binary needs (N,) logits and (N,) 0/1 targets", output, target)
    if task.kind == "multilabel" and (output.ndim != 2 or output.shape != target.shape):
        raise _shape_error(task, "multilabel needs (N, L) logits and (N, L) 0/1 targets",
                           output, target)
    return F.binary_cross_entropy_with_logits(output, target.to(output.dtype))


def task_losses(
    tasks: Any,
    outputs: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
) -> torch.Tensor:
    """All task losses as a ``(K,)`` tensor, in task order (differentiable).

    Parameters
    ----------
    tasks : TaskSet, mapping {name: Task} or sequence of Task
        Fixes the order of the K entries.
    outputs : mapping {task name: head output}
        E.g. ``model(x)``.
    targets : mapping {task name: target tensor}
        E.g. the second element of a :meth:`TaskSet.dataloader` batch.
    """
    tmap = task_mapping(tasks)
    for label, m in (("outputs", outputs), ("targets", targets)):
        missing = [n for n in tmap if n not in m]
        if missing:
            raise ValueError(f"{label} lacks task(s) {missing}; it has {list(m)}")
    return torch.stack([task_loss(t, outputs[n], targets[n]) for n, t in tmap.items()])
