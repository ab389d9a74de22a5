"""The "interrupt, resume, compare with the uninterrupted run" pattern of the trainer tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from tasklens.train import Callback, Trainer


class Crash(Callback):
    """Raises KeyboardInterrupt at the end of step ``at_step`` (a simulated crash)."""

    def __init__(self, at_step: int) -> None:
        self.at_step = at_step

    def on_step_end(self, trainer: Any, row: dict) -> None:
        if row["step"] == self.at_step:
            raise KeyboardInterrupt("simulated crash")


def assert_same_parameters(a: Trainer, b: Trainer) -> None:
    for (name, p), (_, q) in zip(a.model.named_parameters(), b.model.named_parameters()):
        assert torch.equal(p, q), f"parameter {name} differs after resume"


def crash_then_resume(make: Callable[..., Trainer], epochs: int, directory: Path, *,
                      crash_at: int, checkpoint_every: int, model_seed: int = 9,
                      callbacks: Callable[[], list] = list, resume_every: int | None = None
                      ) -> tuple[tuple[int, int, int], Trainer, Any]:
    """Train ``make(0, ...)`` for ``epochs`` with checkpoints every ``checkpoint_every``
    steps until a crash at step ``crash_at``; then resume in a new trainer
    ``make(model_seed, ...)`` (another initialisation: everything must come from the file).

    ``make(seed_model, **trainer_kwargs)`` builds a trainer; ``callbacks()`` gives fresh
    callbacks for each. Returns ``((step, epoch, batch_in_epoch) of the last checkpoint,
    the resumed trainer, its fit result)``.
    """
    crashing = make(0, checkpoint_dir=directory, checkpoint_every=checkpoint_every,
                    callbacks=[*callbacks(), Crash(crash_at)])
    with pytest.raises(KeyboardInterrupt):
        crashing.fit(epochs)
    saved = torch.load(Path(directory) / "last.pt", weights_only=True)
    position = (saved["step"], saved["epoch"], saved["batch_in_epoch"])
    extra = {} if resume_every is None else {"checkpoint_every": resume_every}
    second = make(model_seed, checkpoint_dir=directory, callbacks=callbacks(), **extra)
    return position, second, second.fit(epochs, resume=True)


def assert_same_training(full: Trainer, full_result: Any, second: Trainer, resumed: Any
                         ) -> None:
    """Same parameters and the same training-loss curve as the uninterrupted run."""
    assert_same_parameters(full, second)
    assert resumed.metric_curve("train/loss") == full_result.metric_curve("train/loss")
