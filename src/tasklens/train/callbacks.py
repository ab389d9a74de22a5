"""Trainer callbacks: the hook protocol and early stopping.

A callback sees the trainer at fixed points of :meth:`Trainer.fit` and may stop training by
setting ``trainer.stop_training = True`` (with ``trainer.stop_reason``). Rows are flat dicts
(see :class:`~tasklens.train.Trainer` for their keys). Callbacks keep no state that the
trainer's history cannot rebuild, so a resumed run behaves like an uninterrupted one: they
rebuild it in :meth:`Callback.on_fit_start` from ``trainer.history``.

Only one hook may change the batch: :meth:`Callback.on_batch`, which returns the batch that
is trained on (contract in its docstring; the Trainer checks it after every call). Every
other hook must leave the batch alone.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any

import torch

from .._common.validation import check_scalar
from ..data.metrics import get_metric

if TYPE_CHECKING:
    from .result import TrainResult
    from .trainer import Trainer


class Callback:
    """Base class; override the hooks you need (all are no-ops here)."""

    def on_fit_start(self, trainer: Trainer) -> None:
        """Before the first step of :meth:`Trainer.fit` (also after a resume)."""

    def on_batch(self, trainer: Trainer, x: torch.Tensor, y: dict[str, torch.Tensor],
                 generator: torch.Generator) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Return the batch to train on (default: unchanged). Training steps only.

        Called for each training batch, on the model's device, after the Trainer's seeded
        ``transforms=`` and before :meth:`on_step_start` (which sees the returned batch);
        never for evaluation, validation or a method's held-out batches. Callbacks that
        override it run in the order given, each on the previous one's output, under
        ``torch.no_grad``.

        Contract (checked after every call; a violation raises a ``TypeError`` or
        ``ValueError`` naming the callback):

        - return a pair ``(x, y)``: ``x`` a tensor of the input's shape, dtype and device;
          ``y`` a dict with exactly the same task keys, each a tensor of the target's
          shape, dtype and device. So the batch size does not change (the epoch means,
          a distributed run's gradient averaging and the loss kinds rely on it); to drop
          samples, weight or replace them instead.
        - draw randomness only from ``generator``: a :class:`torch.Generator` on the
          batch's device, seeded from ``(seed, epoch, step, rank, callback position)``
          alone (as the transforms' generator, :mod:`tasklens.train.augment`), so a run
          resumed mid-epoch draws what the uninterrupted run drew. Torch's global RNG
          (dropout) must not be read, nor the inputs modified in place.
        - keep no state the trainer's history cannot rebuild (see the module docstring).
        """
        return x, y

    def on_step_start(self, trainer: Trainer, x: Any, y: dict[str, Any]) -> None:
        """Before each optimisation step, with the step's batch on the model's device —
        for measurements on the training batch itself (e.g. gradient transference, whose
        lookahead uses the batch of the step, Fifty et al. 2021). It must not change the
        model, the optimizer or the global RNG, or resume stops being bit-identical."""

    def on_step_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        """After each optimisation step; ``row`` holds ``step``, ``epoch`` and
        ``train/loss/<task>`` (floats)."""

    def on_monitor(self, trainer: Trainer, row: dict[str, Any]) -> None:
        """After each interaction-monitor step (cosines, conflicts, norms, weights)."""

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        """After each epoch, once ``row`` was appended to ``trainer.history``.

        Also when ``fit(max_steps=...)`` stops inside an epoch: ``row["partial"]`` is then
        True (training averages over the ``row["batches"]`` batches seen, val/test metrics
        at the stop). A later fit that continues the epoch removes that row from the
        history before :meth:`on_fit_start` and calls this hook again with the completed
        epoch's row; callbacks that rebuild their state from the history stay consistent.
        """

    def on_fit_end(self, trainer: Trainer, result: TrainResult) -> None:
        """After training stopped (normally, early, or by ``stop_training``)."""


def metric_direction(key: str) -> str:
    """``"min"`` or ``"max"`` for a history key such as ``val/<task>/<metric>``.

    Keys ending in ``loss`` are minimised; metrics follow their registered direction.
    """
    last = key.rsplit("/", 1)[-1]
    if last == "loss":
        return "min"
    return "max" if get_metric(last).higher_is_better else "min"


class EarlyStopping(Callback):
    """Stop when a validation quantity has not improved for ``patience`` epochs.

    Parameters
    ----------
    patience : int
        Epochs without improvement tolerated; training stops at the end of the
        ``patience``-th such epoch.
    monitor : str
        A key of the epoch rows: ``"val/loss"`` (sum of the validation task losses, the
        default), ``"val/<task>/<metric>"``, or any other numeric column.
    mode : {"auto", "min", "max"}
        ``auto`` reads the direction from the key (:func:`metric_direction`).
    min_delta : float
        Smallest change that counts as an improvement.

    Attributes
    ----------
    best : float or None
    best_epoch : int or None
    wait : int
        Epochs since the best one.
    """

    def __init__(self, patience: int = 5, *, monitor: str = "val/loss", mode: str = "auto",
                 min_delta: float = 0.0) -> None:
        patience = check_scalar(patience, "patience", numbers.Integral, low=1)
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        min_delta = check_scalar(min_delta, "min_delta", numbers.Real, low=0.0, finite=True)
        self.patience = patience
        self.monitor = monitor
        self.mode = metric_direction(monitor) if mode == "auto" else mode
        self.min_delta = float(min_delta)
        self._clear()

    def _clear(self) -> None:
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0

    def settings(self) -> dict[str, Any]:
        return {"patience": self.patience, "monitor": self.monitor, "mode": self.mode,
                "min_delta": self.min_delta}

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def observe(self, epoch: int, value: float) -> bool:
        """Record one epoch's value; return True when training should stop."""
        if not math.isfinite(value):
            self.wait += 1
        elif self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
        else:
            self.wait += 1
        return self.wait >= self.patience

    def on_fit_start(self, trainer: Trainer) -> None:
        self._clear()
        for row in trainer.history:  # replay, so that a resumed run counts the same way
            if not row.get("partial"):
                self.observe(int(row["epoch"]), self._value(row))

    def _value(self, row: dict[str, Any]) -> float:
        if self.monitor not in row:
            numeric = [k for k, v in row.items() if isinstance(v, (int, float))]
            raise ValueError(f"early stopping monitors {self.monitor!r}, which is not in the "
                             f"epoch rows; available: {numeric}")
        return float(row[self.monitor])

    def on_epoch_end(self, trainer: Trainer, row: dict[str, Any]) -> None:
        if row.get("partial"):  # a max_steps stop: not an epoch to count patience on
            return
        if self.observe(int(row["epoch"]), self._value(row)):
            trainer.stop_training = True
            trainer.stop_reason = (f"early stopping: {self.monitor} did not improve for "
                                   f"{self.patience} epoch(s) after epoch {self.best_epoch}")
