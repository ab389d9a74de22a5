"""Checkpoint + resume continues bit-identically (CPU), at an epoch boundary or mid-epoch."""

from __future__ import annotations

import pytest
import torch

from tasklens import balance
from tasklens.train import Trainer

from ._data import dropout_model, tiny_taskset
from ._resume import assert_same_parameters, assert_same_training, crash_then_resume


@pytest.fixture(scope="module")
def train_set():
    return tiny_taskset(n=160, seed=1)


def _trainer(ts, method, seed_model, **kw):
    # a fresh method instance per trainer, as a user resuming in a new process would build
    return Trainer(dropout_model(ts, seed=seed_model), ts, balance.get(method), batch_size=32,
                   lr=5e-3, seed=7, **kw)


# ew: plain; rlw: stochastic; famo: stateful with post-step update (inner Adam);
# dwa: stateful across epochs; gradnorm / uw: learned weights with an inner optimiser;
# pcgrad: rng; graddrop: stochastic direction method
@pytest.mark.parametrize("method",
                         ["ew", "rlw", "famo", "dwa", "gradnorm", "uw", "pcgrad", "graddrop"])
def test_resume_at_epoch_boundary_is_bit_identical(train_set, method, tmp_path):
    full = _trainer(train_set, method, 0)
    full_result = full.fit(3)

    first = _trainer(train_set, method, 0, checkpoint_dir=tmp_path)
    first.fit(1)
    # a new trainer, new model (other init) and new method: everything comes from the file
    second = _trainer(train_set, method, 99, checkpoint_dir=tmp_path)
    resumed = second.fit(3, resume=True)

    assert_same_training(full, full_result, second, resumed)
    assert resumed.steps == full_result.steps


@pytest.mark.parametrize("method", ["ew", "famo", "rlw"])
def test_resume_mid_epoch_is_bit_identical(train_set, method, tmp_path):
    full = _trainer(train_set, method, 0)
    full_result = full.fit(2)

    position, second, resumed = crash_then_resume(
        lambda seed_model, **kw: _trainer(train_set, method, seed_model, **kw), 2, tmp_path,
        crash_at=7, checkpoint_every=3, model_seed=5, resume_every=3)
    assert position == (6, 1, 1)
    assert_same_training(full, full_result, second, resumed)


def test_resume_refuses_other_settings(train_set, tmp_path):
    _trainer(train_set, "ew", 0, checkpoint_dir=tmp_path).fit(1)
    other = Trainer(dropout_model(train_set), train_set, "ew", batch_size=16, seed=7,
                    checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="batch_size"):
        other.fit(2, resume=True)


def test_resume_without_checkpoint_starts_fresh(train_set, tmp_path):
    result = _trainer(train_set, "ew", 0, checkpoint_dir=tmp_path / "none").fit(1, resume=True)
    assert result.epochs_run == 1
    with pytest.raises(FileNotFoundError):
        _trainer(train_set, "ew", 0).fit(1, resume=tmp_path / "missing.pt")


def test_method_state_round_trip_through_a_weights_only_file(tmp_path):
    from tasklens.balance import BalanceContext
    from tasklens.train import load_checkpoint, load_method_state, method_state
    from tasklens.train.checkpoint import save_checkpoint

    gen = torch.Generator().manual_seed(0)
    losses = torch.rand(3, dtype=torch.float64, generator=gen) + 0.5
    for name in ("rlw", "famo", "dwa", "uw"):
        method = balance.get(name)
        ctx = BalanceContext(losses=losses, step=0, epoch=0)
        method.weights(ctx)
        method.update(BalanceContext(losses=losses * 0.9, step=0, epoch=0))
        save_checkpoint(tmp_path / f"{name}.pt", {"state": method_state(method)})
        fresh = balance.get(name)
        load_method_state(fresh, load_checkpoint(tmp_path / f"{name}.pt")["state"])
        # the restored method continues exactly like the original
        for epoch in (1, 2, 3):
            ctx = BalanceContext(losses=losses * (1 + 0.1 * epoch), step=epoch, epoch=epoch)
            w_orig, w_fresh = method.weights(ctx), fresh.weights(ctx)
            assert torch.equal(w_orig, w_fresh), name
            after = BalanceContext(losses=losses * 0.8, step=epoch, epoch=epoch)
            method.update(after)
            fresh.update(after)


def test_fit_in_two_calls_equals_one_call(train_set):
    full = _trainer(train_set, "famo", 0)
    full.fit(2)
    split = _trainer(train_set, "famo", 0)
    split.fit(1)
    split.fit(2)
    assert_same_parameters(full, split)
