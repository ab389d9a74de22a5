"""The step cap of :meth:`Trainer.fit` (``max_steps``): how many batches an epoch may still
run, the partial epoch's row when the cap stops training mid-epoch, and its removal when a
later fit continues that epoch.

Semantics (docs/train.md, "Capping the steps"):

- ``max_steps`` counts optimizer steps in total, like ``epochs`` counts epochs in total (a
  resumed run does the remaining ones). Under torchrun a step is a global step, so every
  process stops at the same one.
- When the cap falls inside an epoch, training stops right after step ``max_steps``: the
  epoch in progress gets a history row marked ``"partial": True`` (training averages over
  the batches seen, ``"batches"`` of them; the val/test sets evaluated at the stop, so
  ``TrainResult.final_metrics`` is the state that was reached), callbacks receive it in
  ``on_epoch_end``, and the checkpoint is written. The epoch counter, the position in the
  epoch and the epoch's accumulators are left as they are.
- A later fit (same trainer, or ``resume=``) that trains further removes that row first and
  continues the epoch where it stopped: the result is bit-identical to a run that never
  stopped (the row of the completed epoch replaces the partial one).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .records import epoch_row

if TYPE_CHECKING:
    from .trainer import Trainer

logger = logging.getLogger("tasklens")

PARTIAL = "partial"
"""Key of the history row of an epoch stopped by ``max_steps`` (value ``True``)."""


def steps_left(trainer: Trainer, max_steps: int | None) -> bool:
    """Whether the cap allows at least one more step."""
    return max_steps is None or trainer.step < max_steps


def batch_stop(trainer: Trainer, n_batches: int, max_steps: int | None) -> int:
    """Index (exclusive) of the last batch of the current epoch that may run:
    ``n_batches``, or fewer when the cap falls inside the epoch."""
    if max_steps is None:
        return n_batches
    return min(n_batches, trainer.batch_in_epoch + max(0, max_steps - trainer.step))


def will_train(trainer: Trainer, epochs: int, max_steps: int | None) -> bool:
    """Whether :meth:`Trainer.fit` will take at least one step (before callbacks)."""
    return trainer.epoch < epochs and steps_left(trainer, max_steps)


def drop_partial_row(trainer: Trainer) -> None:
    """Remove the row of the epoch a previous cap stopped inside, before that epoch
    continues (its completed row replaces it; loggers rebuild their files from the
    history at the fit's start)."""
    if trainer.history and trainer.history[-1].get(PARTIAL) \
            and int(trainer.history[-1]["epoch"]) == trainer.epoch:
        trainer.history.pop()


def end_partial_epoch(trainer: Trainer, started: float) -> None:
    """The cap stopped training inside an epoch: record its row (marked partial, the
    evaluation sets measured now), call ``on_epoch_end``, write the checkpoint. The
    position in the epoch and its accumulators stay, so that a later fit continues."""
    row = epoch_row(trainer, started)
    row[PARTIAL] = True
    row["batches"] = trainer.batch_in_epoch
    trainer.history.append(row)
    logger.info("stopped at step %d (max_steps), %d batches into epoch %d", trainer.step,
                trainer.batch_in_epoch, row["epoch"])
    for cb in trainer.callbacks:
        cb.on_epoch_end(trainer, row)
    if trainer.checkpoint_dir is not None:
        trainer.save_checkpoint()


def cap_reason(trainer: Trainer, epochs: int, max_steps: int | None) -> str | None:
    """``TrainResult.stop_reason`` when the cap, not ``epochs``, ended the training."""
    if max_steps is None or trainer.step < max_steps or trainer.epoch >= epochs:
        return None
    where = (f"{trainer.batch_in_epoch} batches into epoch {trainer.epoch}"
             if trainer.batch_in_epoch else f"after {trainer.epoch} epoch(s)")
    return f"max_steps={max_steps} reached ({where})"
