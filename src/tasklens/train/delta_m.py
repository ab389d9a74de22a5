"""Δm: the mean relative improvement of a multi-task model over single-task baselines."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..data.metrics import get_metric
from ..data.taskset import TaskSet

Metrics = Mapping[str, Mapping[str, float]]


def delta_m(mtl_metrics: Metrics, stl_metrics: Metrics, taskset: TaskSet | None = None, *,
            metrics: Mapping[str, Sequence[str]] | None = None) -> float:
    """Δm in percent; **positive means the multi-task model is better**.

    ``Δm = (1/K) Σ_k (1/|M_k|) Σ_{m ∈ M_k} s_m (M_mtl,m − M_stl,m) / M_stl,m × 100`` with
    ``s_m = +1`` when higher is better for metric ``m`` and ``−1`` when lower is better
    (Maninis et al. 2019, "Attentive Single-Tasking of Multiple Tasks", eq. 5, where
    ``(−1)^{l_m}`` with ``l_m = 1`` for lower-is-better; averaged per task first, as in
    Liu et al. 2021 / LibMTL, so that a task with many metrics does not dominate).

    Sign convention: Nash-MTL and FAMO (Navon et al. 2022; Liu et al. 2023) print
    ``(−1)^{δ_k}`` with ``δ_k = 1`` for higher-is-better and report "Δm% ↓" — the negative of
    this value. We follow Maninis et al.: a gain is positive.

    Parameters
    ----------
    mtl_metrics, stl_metrics : mapping {task: {metric: value}}
        E.g. ``TrainResult.averaged_metrics["test"]`` and the output of
        :func:`single_task_baselines`. Extra entries (such as ``"loss"``) are ignored
        unless named in ``metrics``.
    taskset : TaskSet, optional
        Gives the tasks and each task's metrics (``Task.metrics``); without it, every
        task of ``stl_metrics`` with every registered metric it reports (not ``loss``).
    metrics : mapping {task: metric names}, optional
        Restrict or choose the metrics per task; ``"loss"`` may be named here (counted as
        lower-is-better).

    Raises
    ------
    ValueError
        A task or metric missing from either side, a non-finite value, or a baseline of
        zero (the relative change is undefined).
    """
    if taskset is not None:
        task_names = list(taskset.tasks)
        chosen = {t: list(taskset[t].metrics) for t in task_names}
    else:
        task_names = list(stl_metrics)
        chosen = {t: [m for m in stl_metrics[t] if m != "loss" and _known(m)]
                  for t in task_names}
    if metrics is not None:
        unknown = sorted(set(metrics) - set(task_names))
        if unknown:
            raise ValueError(f"metrics names unknown task(s) {unknown}; tasks are {task_names}")
        chosen.update({t: list(ms) for t, ms in metrics.items()})
    if not task_names:
        raise ValueError("no tasks to compare; pass the metrics of at least one task")
    per_task = []
    for task in task_names:
        names = chosen[task]
        if not names:
            raise ValueError(f"task {task!r} has no metric to compare")
        terms = []
        for m in names:
            mtl = _lookup(mtl_metrics, task, m, "mtl_metrics")
            stl = _lookup(stl_metrics, task, m, "stl_metrics")
            if stl == 0.0:
                raise ValueError(f"the single-task baseline of {task!r}/{m!r} is 0; the "
                                 "relative change is undefined — pick another metric")
            sign = 1.0 if _higher_is_better(m) else -1.0
            terms.append(sign * (mtl - stl) / stl)
        per_task.append(sum(terms) / len(terms))
    return 100.0 * sum(per_task) / len(per_task)


def _known(metric: str) -> bool:
    if metric == "loss":
        return True
    try:
        get_metric(metric)
    except (KeyError, ValueError):
        return False
    return True


def _higher_is_better(metric: str) -> bool:
    return False if metric == "loss" else get_metric(metric).higher_is_better


def _lookup(values: Metrics, task: str, metric: str, label: str) -> float:
    if task not in values:
        raise ValueError(f"{label} has no task {task!r}; it has {list(values)}")
    if metric not in values[task]:
        raise ValueError(f"{label}[{task!r}] has no metric {metric!r}; it has "
                         f"{list(values[task])}")
    value = float(values[task][metric])
    if not math.isfinite(value):
        raise ValueError(f"{label}[{task!r}][{metric!r}] is {value}; Δm needs finite values")
    return value


def single_task_baselines(model_factory: Callable[[TaskSet], Any], taskset: TaskSet,
                          epochs: int, *, val: TaskSet | None = None,
                          test: TaskSet | None = None, split: str | None = None,
                          **trainer_kwargs: Any) -> dict[str, dict[str, float]]:
    """Train one single-task model per task with the same settings; return their metrics.

    Parameters
    ----------
    model_factory : callable(TaskSet) -> MTLModel
        Builds a fresh model for a one-task task set, e.g.
        ``lambda ts: hps_for(ts, seed=0)``.
    taskset : TaskSet
        The training set; each task is selected in turn (``taskset.select([task])``).
    epochs : int
    val, test : TaskSet, optional
        Evaluation sets (the task is selected from them likewise).
    split : {"test", "val"}, optional
        Which averaged metrics to return; default ``"test"`` when ``test`` is given, else
        ``"val"``.
    **trainer_kwargs
        Passed to :class:`~tasklens.train.Trainer` (seed, optimizer, lr, batch size,
        ``average_last_k`` … should match the multi-task run). A single task is trained
        plainly (method ``"ew"``); other methods are refused, since balancing needs at
        least two tasks.

    Returns
    -------
    dict {task: {metric: value}}
        The ``average_last_k`` metrics of each single-task run, ready for :func:`delta_m`.
    """
    from .trainer import Trainer

    split = split or ("test" if test is not None else "val")
    if split not in ("test", "val"):
        raise ValueError(f"split must be 'test' or 'val', got {split!r}")
    if (test if split == "test" else val) is None:
        raise ValueError(f"split={split!r} needs the {split}= task set")
    method = trainer_kwargs.pop("method", "ew")
    if getattr(method, "name", method) != "ew":
        raise ValueError(f"single-task baselines are trained with method='ew' (one task has "
                         f"nothing to balance); got method={method!r}")
    out: dict[str, dict[str, float]] = {}
    for task in taskset.task_names:
        sub = taskset.select([task])
        trainer = Trainer(
            model_factory(sub), sub, method,
            val=None if val is None else val.select([task]),
            test=None if test is None else test.select([task]),
            **trainer_kwargs,
        )
        result = trainer.fit(epochs)
        out[task] = dict(result.averaged_metrics[split][task])
    return out
