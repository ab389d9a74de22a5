"""What the Trainer records besides the update: monitor rows and step-end rows for the
callbacks after each step, and the epoch row (training averages, validation and test
metrics, wall time) at the end of each epoch."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..balance.engine import StepResult
from .callbacks import Callback
from .evaluation import evaluate
from .monitors import monitor_row

if TYPE_CHECKING:
    from .trainer import Trainer


def log_step(trainer: Trainer, result: StepResult, monitor: bool, heads: Any) -> None:
    """Append the monitor row (on monitored steps) and call the callbacks' step hooks.

    The per-step row of losses is built only when a callback overrides ``on_step_end``
    (its ``tolist`` is a host synchronisation).
    """
    if monitor:
        row = monitor_row(result, trainer.task_names, step=trainer.step, epoch=trainer.epoch,
                          heads=heads)
        trainer.monitor_history.append(row)
        for cb in trainer.callbacks:
            cb.on_monitor(trainer, row)
    if any(type(cb).on_step_end is not Callback.on_step_end for cb in trainer.callbacks):
        row = {"step": trainer.step, "epoch": trainer.epoch,
               **{f"train/loss/{t}": float(v)
                  for t, v in zip(trainer.task_names, result.losses.tolist())}}
        for cb in trainer.callbacks:
            cb.on_step_end(trainer, row)


def epoch_row(trainer: Trainer, started: float) -> dict[str, Any]:
    """The epoch's row: training averages, ``val/…`` and ``test/…`` metrics, ``time_s``.

    ``started`` is the ``time.perf_counter()`` at the start of the epoch.
    """
    row: dict[str, Any] = {"epoch": trainer.epoch, "step": trainer.step,
                           **trainer._acc.row(trainer.task_names)}
    for split, ts in (("val", trainer.val), ("test", trainer.test)):
        if ts is None:
            continue
        metrics = evaluate(trainer.model, ts, batch_size=trainer.eval_batch_size)
        for task, values in metrics.items():
            for name, value in values.items():
                row[f"{split}/{task}/{name}"] = value
        row[f"{split}/loss"] = float(sum(v["loss"] for v in metrics.values()))
    row["time_s"] = time.perf_counter() - started
    return row
