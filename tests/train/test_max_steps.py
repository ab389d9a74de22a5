"""``Trainer.fit(max_steps=...)``: exactly that many optimizer steps, a partial epoch row, the
checkpoint at the stop, and a continuation bit-identical to a run that never stopped."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from tasklens import balance
from tasklens.train import Callback, CSVLogger, EarlyStopping, Trainer, epoch_seed, evaluate
from tasklens.train.loggers import EPOCHS_CSV

from ._data import dropout_model, tiny_model, tiny_taskset

BATCHES = 5  # 160 rows, batch 32: five batches per epoch


@pytest.fixture(scope="module")
def data():
    return tiny_taskset(n=160, seed=1), tiny_taskset(n=64, seed=2)


def _trainer(ts, method="ew", model_seed=0, **kw):
    return Trainer(dropout_model(ts, seed=model_seed), ts, balance.get(method),
                   batch_size=32, lr=5e-3, seed=7, **kw)


class _Steps(Callback):
    """Counts the steps and keeps the epoch rows the callbacks receive."""

    def __init__(self):
        self.steps, self.rows = 0, []

    def on_step_end(self, trainer, row):
        self.steps += 1

    def on_epoch_end(self, trainer, row):
        self.rows.append(dict(row))


def _adam_steps(trainer):
    """Adam's own per-parameter step counter: counts ``optimizer.step()`` calls."""
    counts = {int(s["step"]) for s in trainer.optimizer.state.values()}
    assert len(counts) == 1
    return counts.pop()


@pytest.mark.parametrize("k, rows, last_batches", [
    (3, 1, 3),                     # inside the first epoch
    (BATCHES, 1, None),            # exactly one epoch: no partial row
    (2 * BATCHES + 2, 3, 2),       # two epochs and two batches of the third
])
def test_fit_takes_exactly_max_steps(data, k, rows, last_batches):
    train, val = data
    counter = _Steps()
    trainer = _trainer(train, val=val, callbacks=[counter])
    result = trainer.fit(10, max_steps=k)
    assert counter.steps == k and result.steps == k and trainer.step == k
    assert _adam_steps(trainer) == k
    assert len(result.history) == rows == result.epochs_run
    partial = [bool(r.get("partial")) for r in result.history]
    assert partial == [False] * (rows - 1) + [last_batches is not None]
    assert [bool(r.get("partial")) for r in counter.rows] == partial  # on_epoch_end saw it
    if last_batches is not None:
        assert result.history[-1]["batches"] == last_batches
        assert (trainer.epoch, trainer.batch_in_epoch) == (rows - 1, last_batches)
    assert "max_steps=" in result.stop_reason and not result.stopped_early
    # the final metrics are the model's at the stop
    assert result.final_metrics["val"] == evaluate(trainer.model, val)


def test_cap_above_the_epochs_changes_nothing(data):
    train, _ = data
    capped = _trainer(train).fit(2, max_steps=1000)
    plain = _trainer(train).fit(2)
    assert capped.steps == plain.steps == 2 * BATCHES and capped.stop_reason is None
    assert capped.metric_curve("train/loss") == plain.metric_curve("train/loss")


def test_capped_fit_equals_a_hand_loop_of_k_steps(data):
    """EW (weights 1) with Adam over the seeded batches of epochs 0 and 1: the losses are
    written out with torch.nn.functional, not the library's task losses."""
    train, _ = data
    k = BATCHES + 3
    trainer = Trainer(tiny_model(train), train, "ew", batch_size=32, lr=5e-3, seed=7)
    model = copy.deepcopy(trainer.model)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    trainer.fit(10, max_steps=k)

    done = 0
    for epoch in range(2):
        for x, y in train.dataloader(32, shuffle=True, seed=epoch_seed(7, epoch)):
            if done == k:
                break
            out = model(x)
            loss = F.mse_loss(out["a"].reshape(-1), y["a"].reshape(-1)) \
                + F.cross_entropy(out["b"], y["b"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
    assert done == k
    for (name, p), q in zip(trainer.model.named_parameters(), model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)


class _Snapshot(Callback):
    def __init__(self, at):
        self.at, self.params = at, None

    def on_step_end(self, trainer, row):
        if row["step"] == self.at - 1:  # the step's index; k steps are done after it
            self.params = [p.detach().clone() for p in trainer.model.parameters()]


def test_capped_fit_stops_where_an_uncapped_run_was_after_k_steps(data):
    train, _ = data
    k = 2 * BATCHES + 1
    snap = _Snapshot(k)
    _trainer(train, "famo", callbacks=[snap]).fit(3)
    capped = _trainer(train, "famo")
    capped.fit(3, max_steps=k)
    for p, q in zip(capped.model.parameters(), snap.params):
        assert torch.equal(p, q)


def _same(a, b):
    for (name, p), (_, q) in zip(a.model.named_parameters(), b.model.named_parameters()):
        assert torch.equal(p, q), name


def _curves(result):
    return [{k: v for k, v in r.items() if k != "time_s"} for r in result.history]


@pytest.mark.parametrize("method", ["ew", "famo", "rlw"])
def test_resume_with_a_larger_cap_is_bit_identical(data, method, tmp_path):
    train, val = data
    full = _trainer(train, method, val=val)
    full_result = full.fit(3)

    first = _trainer(train, method, val=val, checkpoint_dir=tmp_path)
    first.fit(3, max_steps=BATCHES + 2)
    saved = torch.load(tmp_path / "last.pt", weights_only=True)  # written at the stop
    assert (saved["step"], saved["epoch"], saved["batch_in_epoch"]) == (BATCHES + 2, 1, 2)

    second = _trainer(train, method, model_seed=5, val=val, checkpoint_dir=tmp_path)
    mid = second.fit(3, resume=True, max_steps=2 * BATCHES + 4)  # stops in epoch 2 now
    assert [bool(r.get("partial")) for r in mid.history] == [False, False, True]
    resumed = second.fit(3)  # the same trainer continues without a cap
    _same(full, second)
    assert resumed.steps == full_result.steps
    assert not any(r.get("partial") for r in resumed.history)
    assert _curves(resumed) == _curves(full_result)
    assert resumed.stop_reason is None


def test_same_cap_again_trains_nothing_and_keeps_the_partial_row(data):
    train, _ = data
    trainer = _trainer(train)
    trainer.fit(3, max_steps=4)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    again = trainer.fit(3, max_steps=4)
    assert again.steps == 4 and again.history[-1]["partial"]
    assert all(torch.equal(p, q) for p, q in zip(trainer.model.parameters(), before))


def test_loggers_and_early_stopping_drop_the_partial_row(data, tmp_path):
    train, val = data
    stopper = EarlyStopping(patience=1)
    trainer = _trainer(train, val=val, callbacks=[CSVLogger(tmp_path)],
                       early_stopping=stopper)
    trainer.fit(4, max_steps=BATCHES + 1)
    lines = (tmp_path / EPOCHS_CSV).read_text().splitlines()
    assert len(lines) == 3 and "partial" in lines[0]  # header, epoch 0, partial epoch 1
    assert stopper.best_epoch == 0  # the partial row is not an epoch of patience
    trainer.fit(2)
    lines = (tmp_path / EPOCHS_CSV).read_text().splitlines()
    assert len(lines) == 3 and not any(r.get("partial") for r in trainer.history)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-3, ValueError),
                                        (2.5, TypeError), ("10", TypeError)])
def test_bad_max_steps_is_a_clear_error(data, bad, error):
    train, _ = data
    trainer = _trainer(train)
    with pytest.raises(error, match="max_steps"):
        trainer.fit(2, max_steps=bad)
    assert trainer.step == 0
