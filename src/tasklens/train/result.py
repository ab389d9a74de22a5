"""The value a training run returns: history, final and averaged metrics, settings."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._common.io import write_json

SPLITS: tuple[str, ...] = ("val", "test")


@dataclass(frozen=True)
class TrainResult:
    """What :meth:`Trainer.fit` produced.

    Attributes
    ----------
    history : tuple of dict
        One flat row per epoch: ``epoch``, ``step`` (steps done), ``train/loss/<task>``,
        ``train/loss`` (sum), ``train/aux/<term>``, ``weight/<task>`` (epoch mean),
        ``val/<task>/<metric>``, ``val/<task>/loss``, ``val/loss`` (sum), the same under
        ``test/``, and ``time_s``.
    monitor_history : tuple of dict
        Rows of the interaction monitors (see :mod:`tasklens.train.monitors`).
    final_metrics : dict {split: {task: {metric: value}}}
        Of the last epoch.
    averaged_metrics : dict {split: {task: {metric: value}}}
        Mean over the last ``average_last_k`` epochs (fewer if fewer ran).
    epochs_run, steps : int
    stopped_early : bool
    stop_reason : str or None
    settings : dict
        Everything that defines the run (method and hyper-parameters, optimiser, lr, batch
        size, level, seed, ...).
    seed : int
    version : str
        tasklens version.
    """

    history: tuple[dict[str, Any], ...]
    monitor_history: tuple[dict[str, Any], ...]
    final_metrics: dict[str, dict[str, dict[str, float]]]
    averaged_metrics: dict[str, dict[str, dict[str, float]]]
    epochs_run: int
    steps: int
    stopped_early: bool
    stop_reason: str | None
    settings: dict[str, Any]
    seed: int
    version: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "history": [dict(r) for r in self.history],
            "monitor_history": [dict(r) for r in self.monitor_history],
            "final_metrics": self.final_metrics,
            "averaged_metrics": self.averaged_metrics,
            "epochs_run": self.epochs_run,
            "steps": self.steps,
            "stopped_early": self.stopped_early,
            "stop_reason": self.stop_reason,
            "settings": dict(self.settings),
            "seed": self.seed,
            "version": self.version,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_dict` as JSON, atomically."""
        return write_json(path, self.to_dict())

    def metric_curve(self, key: str) -> list[float]:
        """The per-epoch values of one history column (NaN where absent)."""
        return [float(r.get(key, math.nan)) for r in self.history]


def split_metrics(row: dict[str, Any], split: str, task_names: list[str]
                  ) -> dict[str, dict[str, float]]:
    """``{task: {metric: value}}`` of ``split`` from one flat epoch row."""
    out: dict[str, dict[str, float]] = {}
    for task in task_names:
        prefix = f"{split}/{task}/"
        values = {k[len(prefix):]: float(v) for k, v in row.items() if k.startswith(prefix)}
        if values:
            out[task] = values
    return out


def averaged(history: list[dict[str, Any]], split: str, task_names: list[str], k: int
             ) -> dict[str, dict[str, float]]:
    """Mean of :func:`split_metrics` over the last ``k`` rows of ``history``."""
    rows = [split_metrics(r, split, task_names) for r in history[-k:]]
    rows = [r for r in rows if r]
    if not rows:
        return {}
    out: dict[str, dict[str, float]] = {}
    for task in rows[-1]:
        out[task] = {m: sum(r[task][m] for r in rows) / len(rows) for m in rows[-1][task]}
    return out
