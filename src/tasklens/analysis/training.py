"""Training helpers of the analysis: one HPS model on some tasks, its test metrics, and its
weights saved to / loaded from the stage folder (``torch.load(weights_only=True)``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._common.io import atomic_write
from ..data.taskset import TaskSet, TaskSetSplit
from ..train.callbacks import Callback
from .settings import AnalysisSettings


class StepLossRecorder(Callback):
    """Keeps every step's training loss per task (the trainer's history is per epoch)."""

    def __init__(self, task_names: Sequence[str]) -> None:
        self.task_names = list(task_names)
        self.steps: list[int] = []
        self.losses: dict[str, list[float]] = {t: [] for t in self.task_names}

    def on_step_end(self, trainer: Any, row: dict[str, Any]) -> None:
        self.steps.append(int(row["step"]))
        for t in self.task_names:
            self.losses[t].append(float(row[f"train/loss/{t}"]))


def build_model(train: TaskSet, settings: AnalysisSettings, seed: int) -> Any:
    """The HPS model of every training of the analysis (same sizes everywhere)."""
    from ..nn import hps_for

    return hps_for(train, seed=seed, hidden=settings.hidden, code_dim=settings.code_dim,
                   head_hidden=settings.head_hidden, head_depth=settings.head_depth)


def fit(split: TaskSetSplit, tasks: Sequence[str], seed: int, settings: AnalysisSettings, *,
        method: str = "ew", callbacks: Sequence[Callback] = (), monitor_every: int = 0,
        progress: bool | None = False) -> tuple[Any, dict[str, dict[str, float]], Any]:
    """Train one HPS model on ``tasks``; returns ``(model, test metrics, TrainResult)``.

    Test metrics are ``{task: {metric: value, ..., "loss": value}}``
    (:func:`tasklens.train.evaluate`).
    """
    from ..train import Trainer, evaluate

    names = list(tasks)
    train, test = split.train.select(names), split.test.select(names)
    model = build_model(train, settings, seed)
    result = Trainer(model, train, method, lr=settings.lr, batch_size=settings.batch_size,
                     seed=seed, callbacks=callbacks, monitor_every=monitor_every,
                     progress=progress).fit(settings.epochs_for(len(train)))
    return model, evaluate(model, test), result


def save_model(model: Any, path: Path) -> Path:
    """Write the model's ``state_dict`` atomically."""
    import torch

    with atomic_write(path, "wb") as handle:
        torch.save(model.state_dict(), handle)
    return path


def load_model(path: Path, split: TaskSetSplit, tasks: Sequence[str],
               settings: AnalysisSettings, seed: int) -> Any:
    """Rebuild the model of :func:`fit` and load its saved weights (no unpickling)."""
    import torch

    model = build_model(split.train.select(list(tasks)), settings, seed)
    model.load_state_dict(torch.load(path, weights_only=True))
    model.eval()
    return model


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error ``std(ddof=1)/sqrt(n)`` (NaN with fewer than two values)."""
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    se = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else math.nan
    return float(arr.mean()), se


def relative_gain(mtl: float, stl: float, higher_is_better: bool) -> float:
    """Signed relative change in percent, positive = multi-task better (Δm's term)."""
    if stl == 0 or not (math.isfinite(mtl) and math.isfinite(stl)):
        return math.nan
    sign = 1.0 if higher_is_better else -1.0
    return 100.0 * sign * (mtl - stl) / abs(stl)
