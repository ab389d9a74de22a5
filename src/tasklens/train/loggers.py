"""Loggers: CSV and JSONL files, and optional TensorBoard / MLflow (lazily imported).

File loggers rebuild their files from the trainer's history at the start of every fit, so a
resumed run leaves exactly the rows of the epochs and monitor steps it kept (none from steps
after the checkpoint that were lost).
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .._common.io import atomic_write
from .callbacks import Callback

if TYPE_CHECKING:
    from .result import TrainResult
    from .trainer import Trainer

EPOCHS_CSV = "epochs.csv"
MONITOR_CSV = "monitor.csv"
LOG_JSONL = "log.jsonl"


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    """Union of the rows' keys, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def write_csv(path: str | os.PathLike[str], rows: list[dict[str, Any]]) -> Path:
    """Write ``rows`` (dicts) as a CSV with the union of their keys as header, atomically."""
    with atomic_write(path) as handle:
        writer = csv.DictWriter(handle, fieldnames=_columns(rows), restval="")
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)


def _json_safe(row: dict[str, Any]) -> dict[str, Any]:
    # strict JSON has no NaN/inf: write null so that every JSON parser reads the file
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in row.items()}


class CSVLogger(Callback):
    """``<log_dir>/epochs.csv`` (one row per epoch) and ``<log_dir>/monitor.csv`` (one row per
    monitor step), rewritten atomically at the end of every epoch and of the fit."""

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        self.log_dir = Path(log_dir)

    def _flush(self, trainer: Trainer) -> None:
        if trainer.history:
            write_csv(self.log_dir / EPOCHS_CSV, list(trainer.history))
        if trainer.monitor_history:
            write_csv(self.log_dir / MONITOR_CSV, list(trainer.monitor_history))

    def on_fit_start(self, trainer: Trainer) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._flush(trainer)

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        self._flush(trainer)

    def on_fit_end(self, trainer: Trainer, result: TrainResult) -> None:
        self._flush(trainer)


class JSONLLogger(Callback):
    """``<log_dir>/log.jsonl``: one JSON object per line, ``{"kind": "epoch" | "monitor", ...}``.

    Rows are appended and flushed as they come (line-buffered); the file is rewritten from
    the trainer's history when a fit starts.
    """

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        self.log_dir = Path(log_dir)
        self._handle: IO[str] | None = None

    @property
    def path(self) -> Path:
        return self.log_dir / LOG_JSONL

    def _write(self, kind: str, row: dict[str, Any]) -> None:
        if self._handle is None:
            self._handle = open(self.path, "a", encoding="utf-8", buffering=1)
        self._handle.write(json.dumps({"kind": kind, **_json_safe(row)}) + "\n")
        self._handle.flush()

    def on_fit_start(self, trainer: Trainer) -> None:
        self.close()
        rows = sorted(
            [("monitor", r) for r in trainer.monitor_history]
            + [("epoch", r) for r in trainer.history],
            key=lambda item: (item[1]["step"], item[0] == "epoch"),
        )
        with atomic_write(self.path) as handle:
            for kind, row in rows:
                handle.write(json.dumps({"kind": kind, **_json_safe(row)}) + "\n")

    def on_monitor(self, trainer: Trainer, row: dict[str, Any]) -> None:
        self._write("monitor", row)

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        self._write("epoch", row)

    def on_fit_end(self, trainer: Trainer, result: TrainResult) -> None:
        self.close()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _numeric(row: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in row.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
            and k not in ("step", "epoch")}


class TensorBoardLogger(Callback):
    """Scalars to TensorBoard: epoch rows at ``global_step=epoch``, monitor rows at the step.

    Needs the ``tensorboard`` extra: ``pip install 'tasklens[tensorboard]'``.
    """

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise ImportError("TensorBoardLogger needs tensorboard: "
                              "pip install 'tasklens[tensorboard]'") from exc
        self._writer = SummaryWriter(log_dir=str(log_dir))

    def on_monitor(self, trainer: Trainer, row: dict[str, Any]) -> None:
        for key, value in _numeric(row).items():
            self._writer.add_scalar(f"monitor/{key}", value, global_step=int(row["step"]))

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        for key, value in _numeric(row).items():
            self._writer.add_scalar(key, value, global_step=int(row["epoch"]))
        self._writer.flush()

    def on_fit_end(self, trainer: Trainer, result: TrainResult) -> None:
        self._writer.flush()


class MLflowLogger(Callback):
    """Parameters and metrics to the active MLflow run (started here if none is active).

    Needs the ``mlflow`` extra: ``pip install 'tasklens[mlflow]'``. MLflow metric names
    may not contain every character; ``/`` is kept (MLflow accepts it).
    """

    def __init__(self, *, run_name: str | None = None, tracking_uri: str | None = None) -> None:
        try:
            import mlflow
        except ImportError as exc:
            raise ImportError("MLflowLogger needs mlflow: pip install 'tasklens[mlflow]'") from exc
        self._mlflow = mlflow
        if tracking_uri is not None:
            mlflow.set_tracking_uri(tracking_uri)
        self.run_name = run_name
        self._started = False

    def on_fit_start(self, trainer: Trainer) -> None:
        if self._mlflow.active_run() is None:
            self._mlflow.start_run(run_name=self.run_name)
            self._started = True
        self._mlflow.log_params({k: str(v) for k, v in trainer.settings().items()})

    def on_monitor(self, trainer: Trainer, row: dict[str, Any]) -> None:
        self._mlflow.log_metrics({f"monitor/{k}": v for k, v in _numeric(row).items()},
                                 step=int(row["step"]))

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        self._mlflow.log_metrics(_numeric(row), step=int(row["epoch"]))

    def on_fit_end(self, trainer: Trainer, result: TrainResult) -> None:
        if self._started:
            self._mlflow.end_run()
            self._started = False
