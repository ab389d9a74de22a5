"""Callback.on_batch: the one hook that may change the training batch.

Checked: a modifying callback trains exactly as the hand-modified batch does (against a
hand-written SGD step with autograd, and against a Trainer on the modified data), it runs
after the seeded transforms and only in training, a contract violation names the callback,
and a stochastic callback resumes bit-identically mid-epoch.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tasklens.data import TaskSet
from tasklens.data.transforms import Transform
from tasklens.nn import HardParameterSharing, make_heads, task_losses
from tasklens.train import Callback, Trainer, evaluate
from tasklens.train.augment import batch_callback_seed

from ._data import dropout_model, tiny_model, tiny_taskset
from ._resume import assert_same_training, crash_then_resume


class _Invert(Callback):
    """Deterministic: x → 1 - x, a → 2a, b → (b + 1) mod 3."""

    def on_batch(self, trainer, x, y, generator):
        return 1.0 - x, {"a": 2.0 * y["a"], "b": (y["b"] + 1) % 3}


class _NoisyLabels(Callback):
    """Stochastic: input noise and random label flips, drawn from the given generator."""

    def on_batch(self, trainer, x, y, generator):
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        flip = torch.rand(len(x), generator=generator, device=x.device) < 0.3
        b = torch.where(flip, (y["b"] + 1) % 3, y["b"])
        return x + 0.1 * noise, {"a": y["a"], "b": b}


class _Record(Callback):
    def __init__(self) -> None:
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def on_step_start(self, trainer, x, y):
        self.seen.append((x.clone(), y["b"].clone()))


def _modified(ts: TaskSet) -> TaskSet:
    return TaskSet.from_arrays(1.0 - ts.inputs,
                               {"a": 2.0 * ts["a"].targets, "b": (ts["b"].targets + 1) % 3},
                               kinds={"a": "regression", "b": "classification"},
                               name="modified")


def test_a_modified_batch_gives_the_hand_computed_sgd_step():
    ts = tiny_taskset(n=40)
    model = tiny_model(ts, seed=1)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    # one full batch: the step is independent of the data order
    Trainer(model, ts, "ew", optimizer="sgd", lr=0.1, batch_size=40, seed=0,
            callbacks=[_Invert()], progress=False).fit(1)

    reference = tiny_model(ts, seed=1)
    x = 1.0 - torch.as_tensor(ts.inputs)
    y = {"a": 2.0 * torch.as_tensor(ts["a"].targets),
         "b": (torch.as_tensor(ts["b"].targets) + 1) % 3}
    loss = task_losses(ts, reference(x), y).sum()
    grads = torch.autograd.grad(loss, list(reference.parameters()))
    for (name, _), g in zip(reference.named_parameters(), grads):
        expected = before[name] - 0.1 * g
        torch.testing.assert_close(dict(model.named_parameters())[name], expected,
                                   rtol=1e-5, atol=1e-6)
    unchanged = tiny_model(ts, seed=1)
    Trainer(unchanged, ts, "ew", optimizer="sgd", lr=0.1, batch_size=40, seed=0,
            progress=False).fit(1)
    assert not torch.allclose(next(unchanged.parameters()), next(model.parameters()))


@pytest.mark.parametrize("method", ["ew", "upgrad"])
def test_a_batch_callback_trains_like_the_modified_data(method):
    ts = tiny_taskset(n=96)
    with_callback = Trainer(dropout_model(ts), ts, method, batch_size=32, lr=5e-3, seed=2,
                            callbacks=[_Invert()], progress=False)
    on_modified = Trainer(dropout_model(ts), _modified(ts), method, batch_size=32, lr=5e-3,
                          seed=2, progress=False)
    r1, r2 = with_callback.fit(2), on_modified.fit(2)
    for p, q in zip(with_callback.model.parameters(), on_modified.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(r1.metric_curve("train/loss"), r2.metric_curve("train/loss"),
                               rtol=1e-6)


class _ShiftTransform(Transform):
    """Adds 1 and records its outputs."""

    def __init__(self) -> None:
        self.outputs: list[torch.Tensor] = []

    def apply(self, x, generator):
        self.outputs.append(x + 1.0)
        return self.outputs[-1]


def test_batch_callbacks_run_after_the_transforms_in_order_and_in_training_only():
    rng = np.random.default_rng(0)
    ts = TaskSet.from_arrays(rng.random((24, 1, 3, 3)).astype(np.float32),
                             {"a": rng.normal(size=24), "b": rng.integers(0, 3, 24)},
                             kinds={"a": "regression", "b": "classification"})
    calls: list[tuple[str, torch.Tensor]] = []

    class Tag(Callback):
        def __init__(self, name, shift):
            self.name, self.shift = name, shift

        def on_batch(self, trainer, x, y, generator):
            calls.append((self.name, x.clone()))
            return x * 10.0 + self.shift, y

    transform, record = _ShiftTransform(), _Record()
    model = HardParameterSharing(nn.Sequential(nn.Flatten(), nn.Linear(9, 8)),
                                 make_heads(ts, 8, 8, 1, seed=0))
    trainer = Trainer(model, ts, "ew", batch_size=12, seed=5, val=ts,
                      transforms=[transform], progress=False,
                      callbacks=[Tag("first", 1.0), Tag("second", 2.0), record])
    trainer.fit(1)
    assert [name for name, _ in calls] == ["first", "second"] * 2  # per step, in order
    for step in range(2):
        received_first, received_second = calls[2 * step][1], calls[2 * step + 1][1]
        assert torch.equal(received_first, transform.outputs[step])  # after the transforms
        assert torch.equal(received_second, received_first * 10.0 + 1.0)
        assert torch.equal(record.seen[step][0], received_second * 10.0 + 2.0)
    evaluate(trainer.model, ts)  # evaluation (and the val pass above) never calls them
    assert len(calls) == 4
    assert trainer.settings()["batch_callbacks"] == ["Tag", "Tag"]  # not _Record


def _bad(output):
    class Bad(Callback):
        def on_batch(self, trainer, x, y, generator):
            return output(x, y)

    return Bad()


@pytest.mark.parametrize("output, error, message", [
    (lambda x, y: None, TypeError, r"Bad.on_batch must return the pair \(x, y\).*forget"),
    (lambda x, y: x, TypeError, r"Bad.on_batch must return the pair"),
    (lambda x, y: (x.numpy(), y), TypeError, r"Bad.on_batch returned x of type ndarray"),
    (lambda x, y: (x[:-1], y), ValueError, r"Bad.on_batch returned x with shape"),
    (lambda x, y: (x.double(), y), ValueError, r"returned x with dtype torch.float64"),
    (lambda x, y: (x, list(y.values())), TypeError, r"returned y of type list"),
    (lambda x, y: (x, {"a": y["a"]}), ValueError, r"tasks \['a'\]; the batch has"),
    (lambda x, y: (x, {**y, "c": y["a"]}), ValueError, r"keep exactly the same keys"),
    (lambda x, y: (x, {"a": y["a"], "b": y["b"].float()}), ValueError,
     r"returned y\['b'\] with dtype torch.float32"),
    (lambda x, y: (x, {"a": y["a"][:, None], "b": y["b"]}), ValueError,
     r"returned y\['a'\] with shape"),
])
def test_a_broken_batch_callback_is_named(output, error, message):
    ts = tiny_taskset(n=16)
    trainer = Trainer(tiny_model(ts), ts, "ew", batch_size=8, progress=False,
                      callbacks=[_bad(output)])
    with pytest.raises(error, match=message):
        trainer.fit(1)


@pytest.mark.parametrize("method", ["ew", "rlw"])
def test_resume_mid_epoch_with_a_stochastic_batch_callback_is_bit_identical(method, tmp_path):
    ts = tiny_taskset(n=96)

    def trainer(seed_model=0, **kw):
        return Trainer(dropout_model(ts, seed_model), ts, method, batch_size=32, lr=5e-3,
                       seed=3, progress=False, **kw)

    full = trainer(callbacks=[_NoisyLabels()])
    full_result = full.fit(3)
    plain = trainer()
    plain.fit(3)
    # the callback changes the training (else this test could not fail)
    assert not torch.equal(next(full.model.parameters()), next(plain.model.parameters()))

    position, second, resumed = crash_then_resume(
        trainer, 3, tmp_path, crash_at=4, checkpoint_every=2,
        callbacks=lambda: [_NoisyLabels()])
    assert position == (4, 1, 1)
    assert_same_training(full, full_result, second, resumed)


def test_the_callback_generator_is_seeded_per_step_and_position():
    seeds = {batch_callback_seed(3, e, s, pos, rank) for e in range(2) for s in range(3)
             for pos in range(2) for rank in range(2)}
    assert len(seeds) == 24  # all distinct
    assert batch_callback_seed(3, 1, 2, 0) == batch_callback_seed(3, 1, 2, 0)
    drawn: list[torch.Tensor] = []

    class Draw(Callback):
        def on_batch(self, trainer, x, y, generator):
            drawn.append(torch.rand(3, generator=generator))
            return x, y

    ts = tiny_taskset(n=16)
    Trainer(tiny_model(ts), ts, "ew", batch_size=8, seed=3, progress=False,
            callbacks=[Draw()]).fit(1)
    gen = torch.Generator().manual_seed(batch_callback_seed(3, 0, 1, 0))
    assert torch.equal(drawn[1], torch.rand(3, generator=gen))
