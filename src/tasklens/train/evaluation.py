"""Per-task evaluation of a multi-task model on a task set (metrics and mean losses)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..data.taskset import TaskSet
from ..nn.losses import task_loss


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a model without parameters)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def to_device(batch: Any, device: torch.device) -> Any:
    """Move a tensor, or a dict of tensors, to ``device``."""
    if isinstance(batch, dict):
        return {k: v.to(device) for k, v in batch.items()}
    return batch.to(device)


@torch.no_grad()
def evaluate(model: torch.nn.Module, taskset: TaskSet, *, batch_size: int = 512
             ) -> dict[str, dict[str, float]]:
    """Every metric of every task, plus the mean task loss, on the whole of ``taskset``.

    The model runs in eval mode (restored afterwards); predictions of all batches are
    gathered and each task's metrics are computed once by :meth:`Task.evaluate`.

    Parameters
    ----------
    model : MTLModel
        ``model(x)`` returns ``{task: head output}``.
    taskset : TaskSet
    batch_size : int

    Returns
    -------
    dict {task: {metric: value, ..., "loss": mean loss}}
        Metrics in the task's order (the first is the primary metric); ``loss`` is the
        sample-weighted mean of the batch losses.
    """
    device = model_device(model)
    was_training = model.training
    model.eval()
    try:
        preds: dict[str, list[np.ndarray]] = {t: [] for t in taskset.tasks}
        loss_sums = dict.fromkeys(taskset.tasks, 0.0)
        loader = taskset.dataloader(batch_size, shuffle=False)
        # iter(DataLoader) draws a base seed from torch's global RNG: inside Trainer.fit
        # that is the run's RNG, so evaluating val/test sets would shift the training
        # randomness (dropout, CORE-MTL's counterfactual shuffles). Keep the draw out.
        with torch.random.fork_rng(devices=[]):
            batches = iter(loader)
        for x, y in batches:
            x, y = to_device(x, device), to_device(y, device)
            outputs = model(x)
            for name, task in taskset.tasks.items():
                out = outputs[name]
                _check_head(name, task, out)
                loss_sums[name] += float(task_loss(task, out, y[name])) * len(x)
                preds[name].append(out.detach().to("cpu", torch.float64).numpy())
    finally:
        model.train(was_training)
    result: dict[str, dict[str, float]] = {}
    for name, task in taskset.tasks.items():
        metrics = task.evaluate(np.concatenate(preds[name]))
        metrics["loss"] = loss_sums[name] / len(taskset)
        result[name] = {k: float(v) for k, v in metrics.items()}
    return result


def _check_head(name: str, task: Any, out: torch.Tensor) -> None:
    # A head with another class count than the task scores codes against other labels.
    got = int(out.shape[1]) if out.ndim == 2 else 1
    if got != task.output_size:
        what = "classes" if task.kind == "classification" else "outputs"
        raise ValueError(
            f"task {name!r}: the model has {got} outputs but the task set has "
            f"{task.output_size} {what}; encode evaluation sets with the training set's "
            "encoding (taskset.encode_like(train)) or build the model for this task set"
        )
