"""Trainer: learning happens, metrics are recorded, bad settings fail before training."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tasklens import balance
from tasklens.nn import hps_for
from tasklens.train import Callback, EarlyStopping, NonFiniteLossError, Trainer

from ._data import PerTaskFeatures, tiny_model, tiny_taskset


@pytest.fixture(scope="module")
def split():
    return tiny_taskset().split(0.2, 0.2, seed=0)


@pytest.mark.parametrize("method", ["ew", "mgda", "pcgrad"])
def test_fit_decreases_the_training_loss(split, method):
    trainer = Trainer(tiny_model(split.train), split.train, method, val=split.val,
                      batch_size=32, lr=1e-2, seed=0)
    result = trainer.fit(6)
    curve = result.metric_curve("train/loss")
    assert len(curve) == 6 and all(math.isfinite(v) for v in curve)
    assert curve[-1] < 0.7 * curve[0]
    # the validation loss falls too, and the per-task metrics are recorded
    assert result.history[-1]["val/loss"] < result.history[0]["val/loss"]


def test_history_holds_per_task_metrics_and_weights(split):
    result = Trainer(tiny_model(split.train), split.train, "rlw", val=split.val,
                     test=split.test, batch_size=64, average_last_k=2).fit(3)
    row = result.history[-1]
    for task, task_obj in split.train.tasks.items():
        assert f"train/loss/{task}" in row and f"weight/{task}" in row
        for metric in task_obj.metrics:
            assert f"val/{task}/{metric}" in row and f"test/{task}/{metric}" in row
    # averaged metrics are the mean of the last two epochs' values
    for task in ("a", "b"):
        for metric in ("loss", split.train[task].metrics[0]):
            mean2 = (result.history[-1][f"test/{task}/{metric}"]
                     + result.history[-2][f"test/{task}/{metric}"]) / 2
            assert result.averaged_metrics["test"][task][metric] == pytest.approx(mean2)
            assert result.final_metrics["val"][task][metric] == row[f"val/{task}/{metric}"]
    # RLW weights average to ~1 per task on the sum scale (K softmax(z), mean 1)
    assert sum(row[f"weight/{t}"] for t in ("a", "b")) == pytest.approx(2.0)
    d = result.to_dict()
    assert d["settings"]["method"] == "rlw" and d["seed"] == 0 and d["version"]


def test_global_rng_untouched(split):
    state = torch.get_rng_state()
    Trainer(tiny_model(split.train), split.train, "ew", batch_size=64).fit(1)
    assert torch.equal(state, torch.get_rng_state())


def test_unknown_method_and_bad_settings_raise_before_training(split):
    ts = split.train
    with pytest.raises(ValueError, match="unknown balancing method 'nope'"):
        Trainer(tiny_model(ts), ts, "nope")
    with pytest.raises(ValueError, match="unknown level"):
        Trainer(tiny_model(ts), ts, "mgda", level="layer")
    with pytest.raises(ValueError, match="per-task features"):
        Trainer(PerTaskFeatures(ts), ts, "mgda", level="representation")
    with pytest.raises(ValueError, match="batch_size"):
        Trainer(tiny_model(ts), ts, "ew", batch_size=0)
    with pytest.raises(ValueError, match="differ from the task set"):
        Trainer(tiny_model(ts.select(["a"])), ts, "ew")
    with pytest.raises(ValueError, match="at least 2 tasks"):
        Trainer(tiny_model(ts.select(["a"])), ts.select(["a"]), "mgda")
    with pytest.raises(ValueError, match="pass val="):
        Trainer(tiny_model(ts), ts, "ew", early_stopping=2)
    with pytest.raises(ValueError, match="checkpoint_dir"):
        Trainer(tiny_model(ts), ts, "ew", checkpoint_every=5)
    with pytest.raises(ValueError, match="unknown optimizer"):
        Trainer(tiny_model(ts), ts, "ew", optimizer="lbfgs2")
    with pytest.raises(TypeError, match="BalanceMethod"):
        Trainer(tiny_model(ts), ts, 3)
    with pytest.raises(ValueError, match="val has tasks"):
        Trainer(tiny_model(ts), ts, "ew", val=split.val.select(["b", "a"]))


def test_parameter_level_on_per_task_feature_models_trains(split):
    ts = split.train
    result = Trainer(PerTaskFeatures(ts), ts, "mgda", batch_size=64).fit(2)
    assert result.settings["level"] == "parameter" and result.epochs_run == 2


def _poisoned_model(ts, poison_step: int, task: str):
    model = tiny_model(ts)
    calls = {"n": 0}
    original = model.decode

    def decode(z):
        out = original(z)
        if torch.is_grad_enabled() and model.training:
            if calls["n"] == poison_step:
                out[task] = out[task] * float("nan")
            calls["n"] += 1
        return out

    model.decode = decode  # type: ignore[method-assign]
    return model


@pytest.mark.parametrize("method", ["ew", "mgda"])
def test_nan_loss_names_step_epoch_and_task(split, method, tmp_path):
    ts = split.train  # 144 samples, batch 32 -> 5 steps per epoch
    trainer = Trainer(_poisoned_model(ts, 7, "b"), ts, method, batch_size=32,
                      checkpoint_dir=tmp_path)
    with pytest.raises(NonFiniteLossError, match=r"step 7 \(epoch 1, batch 2\).*'b'") as info:
        trainer.fit(3)
    assert (info.value.step, info.value.epoch, info.value.tasks) == (7, 1, ["b"])
    # the last good state was checkpointed: step 7 not yet applied
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["step"] == 7 and state["batch_in_epoch"] == 2


class _Curve(Callback):
    """Replaces a validation column with a hand-made curve (before early stopping reads it)."""

    def __init__(self, values):
        self.values = values

    def on_epoch_end(self, trainer, row):
        row["val/fake/loss"] = self.values[row["epoch"]]


def test_early_stopping_stops_at_the_right_epoch(split):
    curve = [5.0, 4.0, 3.0, 3.5, 2.99, 3.2, 3.1, 3.05, 1.0, 1.0]
    stopper = EarlyStopping(3, monitor="val/fake/loss", min_delta=0.05)
    result = Trainer(tiny_model(split.train), split.train, "ew", val=split.val, batch_size=64,
                     callbacks=[_Curve(curve)], early_stopping=stopper).fit(10)
    # best 3.0 at epoch 2 (2.99 is within min_delta); epochs 3, 4, 5 do not improve -> stop
    assert result.epochs_run == 6 and result.stopped_early
    assert stopper.best_epoch == 2 and "epoch 2" in result.stop_reason


def test_early_stopping_direction_from_metric_name():
    assert EarlyStopping(2, monitor="val/b/accuracy").mode == "max"
    assert EarlyStopping(2, monitor="val/a/mse").mode == "min"
    stop = EarlyStopping(2, monitor="val/b/accuracy")
    assert [stop.observe(e, v) for e, v in enumerate([0.5, 0.6, 0.6, 0.55])] == \
        [False, False, False, True]


def test_auxiliary_losses_reach_shared_parameters_and_are_logged(split):
    ts = split.train
    n = len(ts)
    scale = 0.3

    def build():
        model = tiny_model(ts, seed=3)
        model.auxiliary_losses = lambda x, z, outputs: {"norm": scale * (z ** 2).mean()}
        return model

    model, ref = build(), build()
    trainer = Trainer(model, ts, "ew", batch_size=n, lr=0.1,
                      optimizer=lambda p: torch.optim.SGD(p, lr=0.1))
    result = trainer.fit(1)
    # reference: one plain SGD step on sum of task losses + the auxiliary term
    from tasklens.nn import task_losses
    x, y = next(iter(ts.dataloader(n, shuffle=False)))
    z = ref.encode(x)
    aux = scale * (z ** 2).mean()
    total = task_losses(ts, ref.decode(z), y).sum() + aux
    grads = torch.autograd.grad(total, list(ref.parameters()))
    for p, p_ref, g in zip(model.parameters(), ref.parameters(), grads):
        torch.testing.assert_close(p.detach(), (p_ref - 0.1 * g).detach(), atol=1e-5, rtol=1e-4)
    # the auxiliary term has a non-zero gradient on the shared parameters
    shared = list(ref.shared_parameters())
    aux_grads = torch.autograd.grad(scale * (ref.encode(x) ** 2).mean(), shared)
    assert sum(float(g.abs().sum()) for g in aux_grads) > 1e-4
    assert result.history[0]["train/aux/norm"] == pytest.approx(float(aux.detach()), rel=1e-4)


def test_post_step_update_method_gets_fresh_losses(split):
    ts = split.train
    method = balance.get("famo")
    Trainer(tiny_model(ts), ts, method, batch_size=32, lr=1e-2).fit(2)
    # FAMO learned something: its logits moved away from zero
    assert method.logits is not None and float(method.logits.abs().max()) > 0


def test_model_device_is_used(split):
    model = hps_for(split.train, seed=0, hidden=(8,), code_dim=4, head_hidden=4, head_depth=1)
    trainer = Trainer(model, split.train, "ew", batch_size=64)
    trainer.fit(1)
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_progress_bar_and_epoch_log(split, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="tasklens"):
        Trainer(tiny_model(split.train), split.train, "ew", val=split.val, batch_size=64,
                progress=True).fit(1)
    assert any("epoch 0: train/loss" in r.getMessage() for r in caplog.records)


def test_counterfactual_forward_in_auxiliary_losses_and_nan_auxiliary(split):
    ts = split.train
    model = tiny_model(ts, seed=4)
    seen = {"calls": 0}

    def consistency(x, z, outputs):
        # an extra forward pass on a counterfactual input, handled by the model alone
        seen["calls"] += 1
        flipped = model.decode(model.encode(x.flip(0)))
        return {"cf": sum(((flipped[t] - outputs[t].flip(0)) ** 2).mean() for t in outputs)}

    model.auxiliary_losses = consistency
    result = Trainer(model, ts, "mgda", batch_size=48).fit(1)
    assert seen["calls"] == 3 and result.history[0]["train/aux/cf"] >= 0

    bad = tiny_model(ts, seed=4)
    bad.auxiliary_losses = lambda x, z, outputs: {"recon": z.sum() * float("inf")}
    with pytest.raises(NonFiniteLossError, match=r"step 0 .*auxiliary:recon"):
        Trainer(bad, ts, "ew", batch_size=48).fit(1)


def test_moml_learns_from_held_out_batches(split) -> None:
    from tasklens.balance import get

    method = get("moml")
    trainer = Trainer(tiny_model(split.train), split.train, method, val=split.val, lr=1e-2,
                      batch_size=32)
    result = trainer.fit(2)
    losses = [row["train/loss"] for row in result.history]
    assert losses[-1] < losses[0]
    # the meta step moved the weights off uniform (MOML's update ran on held-out batches)
    weights = np.array([result.history[-1][f"weight/{t}"] for t in split.train.task_names])
    assert not np.allclose(weights, weights.mean())
    with pytest.raises(ValueError, match="held-out batch after every step; pass val="):
        Trainer(tiny_model(split.train), split.train, get("moml"))


def test_on_step_start_sees_every_training_batch_before_its_step(split) -> None:
    from tasklens.train import Callback

    class Recorder(Callback):
        def __init__(self) -> None:
            self.seen: list[tuple[int, int, float]] = []

        def on_step_start(self, trainer, x, y) -> None:
            first = next(trainer.model.parameters())
            self.seen.append((trainer.step, len(x), float(first.detach().sum())))

    rec = Recorder()
    model = tiny_model(split.train)
    initial = float(next(model.parameters()).detach().sum())
    trainer = Trainer(model, split.train, "ew", batch_size=50, callbacks=[rec], seed=0)
    trainer.fit(2)
    per_epoch = -(-len(split.train) // 50)
    assert [s for s, _, _ in rec.seen] == list(range(2 * per_epoch))
    assert sum(n for _, n, _ in rec.seen) == 2 * len(split.train)
    # called before the step: step 0 sees the untrained parameters, step 1 the updated ones
    assert rec.seen[0][2] == initial and rec.seen[1][2] != initial


@pytest.mark.parametrize("method", ["mgda", "graddrop"])
def test_representation_level_split_path_matches_shared_graph_path(split, method) -> None:
    # a model with auxiliary_losses (returning nothing) keeps the shared graph; the plain
    # model takes the split-graph path: both must train to the same parameters
    class WithAux(type(tiny_model(split.train))):
        def auxiliary_losses(self, x, z, outputs):
            return {}

    plain = tiny_model(split.train, seed=1)
    shared = tiny_model(split.train, seed=1)
    shared.__class__ = WithAux
    for model in (plain, shared):
        Trainer(model, split.train, method, level="representation", batch_size=32,
                lr=1e-2, seed=0).fit(1)
    for a, b in zip(plain.parameters(), shared.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_core_mtl_dual_stream_trains_through_auxiliary_terms(split) -> None:
    from tasklens.nn import dual_stream_for

    model = dual_stream_for(split.train, hidden=(32,), feature_dim=16, semantic_dim=8,
                            residual_dim=4, head_hidden=16, head_depth=2, seed=0)
    x = torch.as_tensor(split.train.inputs[:32])
    y = {t: torch.as_tensor(task.targets[:32]) for t, task in split.train.tasks.items()}
    # the CKA and reconstruction terms equal core_losses' (independent of the permutation)
    terms = model.auxiliary_losses(x, model.encode(x), model(x), y)
    core = model.core_losses(x, y, split.train, seed=0)
    torch.testing.assert_close(terms["cka"], core.cka)
    torch.testing.assert_close(terms["rec"], core.rec)
    decoder_before = [p.detach().clone() for p in model.decoder.parameters()]
    result = Trainer(model, split.train, "ew", batch_size=32, lr=1e-2, seed=0).fit(2)
    row = result.history[-1]
    assert {"train/aux/cka", "train/aux/rec", "train/aux/cfa"} <= set(row)
    # the decoder acts only through the auxiliary terms: it must have been trained
    assert any(not torch.equal(a, b) for a, b in zip(decoder_before,
                                                     model.decoder.parameters()))
