"""The new methods inside the real Trainer (both gradient levels): training runs and the
training loss goes down over two epochs on a tiny regression + classification task set."""

from __future__ import annotations

import pytest

from tasklens import balance
from tasklens.train import Trainer
from tests.train._data import tiny_model, tiny_taskset

# krum / trimmed_mean need three tasks: test_new_methods.py covers them
TWO_TASK_NEW = ["constant", "imtl", "dualproj", "config", "pcd", "cr_mogm", "modo", "sdmgrad",
                "moco"]  # fmt: skip


@pytest.mark.parametrize("level", ["parameter", "representation"])
@pytest.mark.parametrize("name", TWO_TASK_NEW)
def test_trainer_runs_and_lowers_the_loss(name, level):
    ts = tiny_taskset(n=120, seed=0)
    trainer = Trainer(tiny_model(ts), ts, balance.get(name), batch_size=40, lr=1e-2, seed=0,
                      level=level)  # fmt: skip
    curve = trainer.fit(2).metric_curve("train/loss")
    assert curve[-1] < curve[0]
