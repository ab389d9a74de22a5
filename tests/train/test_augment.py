"""Trainer(transforms=): training batches only, seeded by (seed, epoch, step), resumable."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tasklens import balance
from tasklens.data import TaskSet
from tasklens.data.transforms import (
    ColorJitter,
    Compose,
    GaussianNoise,
    RandomCrop,
    RandomHorizontalFlip,
    Transform,
)
from tasklens.nn import HardParameterSharing, make_heads
from tasklens.train import Callback, Trainer, epoch_seed, evaluate
from tasklens.train.augment import augment_batch

from ._data import tiny_model, tiny_taskset
from ._resume import assert_same_training, crash_then_resume


def image_taskset(n: int = 96, seed: int = 0) -> TaskSet:
    """Regression + classification on (1, 6, 6) images."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 6, 6)).astype(np.float32)
    a = x[:, 0, :, :3].mean(axis=(1, 2)) - x[:, 0, :, 3:].mean(axis=(1, 2))
    b = (x[:, 0, :3].mean(axis=(1, 2)) > 0.5).astype(np.int64)
    return TaskSet.from_arrays(x, {"a": a, "b": b},
                               kinds={"a": "regression", "b": "classification"}, name="img")


def image_model(ts: TaskSet, seed: int = 0) -> HardParameterSharing:
    """Flatten + MLP with dropout (torch's RNG matters for resuming too)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.ReLU(), nn.Dropout(0.2),
                                nn.Linear(16, 8))
    return HardParameterSharing(encoder, make_heads(ts, 8, 8, 1, seed=seed))


def pipeline() -> Compose:
    return Compose([RandomHorizontalFlip(), RandomCrop(padding=1), GaussianNoise(0.05),
                    ColorJitter(brightness=0.2, contrast=0.2)])


class _Spy(Transform):
    """Records the batch sizes it is called on and the training flag of the model."""

    def __init__(self, model: nn.Module) -> None:
        self.calls: list[tuple[int, bool]] = []
        self._model = model

    def apply(self, x, generator):
        self.calls.append((len(x), self._model.training))
        return x + 0.0


class _Batches(Callback):
    def __init__(self) -> None:
        self.seen: list[torch.Tensor] = []

    def on_step_start(self, trainer, x, y):
        self.seen.append(x.clone())


def _trainer(ts, seed_model=0, **kw):
    return Trainer(image_model(ts, seed_model), ts, balance.get(kw.pop("method", "ew")),
                   batch_size=32, lr=5e-3, seed=3, **kw)


@pytest.fixture(scope="module")
def train_set():
    return image_taskset()


def test_training_batches_are_transformed_with_the_step_seed(train_set):
    seen = _Batches()
    t = _trainer(train_set, transforms=pipeline(), callbacks=[seen])
    t.fit(2)
    raw = [x for epoch in range(2)
           for x, _ in train_set.dataloader(32, shuffle=True, seed=epoch_seed(3, epoch))]
    assert len(seen.seen) == len(raw) == 6
    for step, (got, x) in enumerate(zip(seen.seen, raw)):
        assert not torch.equal(got, x)  # augmented
        expected = augment_batch(pipeline(), x, seed=3, epoch=step // 3, step=step)
        assert torch.equal(got, expected), step


def test_augment_batch_is_a_function_of_seed_epoch_step():
    x = torch.rand(8, 3, 6, 6)
    a = augment_batch(pipeline(), x, seed=1, epoch=0, step=4)
    assert torch.equal(a, augment_batch(pipeline(), x, seed=1, epoch=0, step=4))
    for other in ({"seed": 2, "epoch": 0, "step": 4}, {"seed": 1, "epoch": 1, "step": 4},
                  {"seed": 1, "epoch": 0, "step": 5}, {"seed": 1, "epoch": 0, "step": 4,
                                                       "rank": 1}):
        assert not torch.equal(a, augment_batch(pipeline(), x, **other)), other
    assert augment_batch(None, x, seed=1, epoch=0, step=4) is x


def test_evaluation_never_sees_the_transforms(train_set):
    val = image_taskset(n=64, seed=5)
    model = image_model(train_set)
    spy = _Spy(model)
    trainer = Trainer(model, train_set, "ew", batch_size=32, seed=3, val=val, test=val,
                      transforms=spy, eval_batch_size=16)
    result = trainer.fit(2)
    # one call per training step (3 per epoch), on training batches (32) in train mode;
    # none for the 2 × 2 evaluation passes (64 samples in batches of 16)
    assert spy.calls == [(32, True)] * 6
    # the recorded val metrics are those of evaluate() on the untransformed data
    metrics = evaluate(model, val, batch_size=16)
    for task, values in metrics.items():
        for name, value in values.items():
            assert result.history[-1][f"val/{task}/{name}"] == value


def test_same_training_with_and_without_an_identity_transform(train_set):
    plain = _trainer(train_set)
    plain.fit(2)
    spied = _trainer(train_set)
    spied.transforms = _Spy(spied.model)  # x + 0: the same batches, extra calls only
    spied.fit(2)
    for p, q in zip(plain.model.parameters(), spied.model.parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("method", ["ew", "rlw"])
def test_resume_with_transforms_is_bit_identical(train_set, method, tmp_path):
    full = _trainer(train_set, method=method, transforms=pipeline())
    full_result = full.fit(3)
    unaugmented = _trainer(train_set, method=method)
    unaugmented.fit(3)
    # augmentation changes the training (else this test could not fail)
    assert not torch.equal(next(full.model.parameters()), next(unaugmented.model.parameters()))

    position, second, resumed = crash_then_resume(
        lambda seed_model, **kw: _trainer(train_set, seed_model, method=method,
                                          transforms=pipeline(), **kw),
        3, tmp_path, crash_at=4, checkpoint_every=2)
    assert position == (4, 1, 1)
    assert_same_training(full, full_result, second, resumed)


def test_transforms_refuse_flat_inputs_at_construction():
    ts = tiny_taskset(n=32)
    with pytest.raises(ValueError, match=r"image inputs \(N, C, H, W\)"):
        Trainer(tiny_model(ts), ts, "ew", transforms=[RandomHorizontalFlip()])
    with pytest.raises(TypeError, match="transforms must be"):
        Trainer(image_model(image_taskset()), image_taskset(), "ew", transforms="flip")


def test_settings_record_the_transforms(train_set):
    t = _trainer(train_set, transforms=[GaussianNoise(0.1)])
    assert t.settings()["transforms"] == "Compose(transforms=[GaussianNoise(std=0.1)])"
    assert _trainer(train_set).settings()["transforms"] is None
