"""The Trainer on convolutional encoders takes the exact kernel route (nn.Conv2d, batch norm)
and trains exactly as through the per-task Jacobian route (the independent reference)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tasklens.balance._conv_gramian as conv
from tasklens.data import TaskSet
from tasklens.nn import hps_for
from tasklens.train import Trainer


def _images(n: int = 48, seed: int = 0) -> TaskSet:
    """Two tasks on 1×8×8 images: a regression and a three-class label."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 1, 8, 8)).astype(np.float32)
    a = x[:, 0, :4].mean(axis=(1, 2)) + 0.1 * rng.normal(size=n)
    b = (x[:, 0, 4:].mean(axis=(1, 2)) > 0).astype(np.int64) + (x[:, 0, 0, 0] > 1)
    return TaskSet.from_arrays(x, {"a": a, "b": b.astype(np.int64)},
                               kinds={"a": "regression", "b": "classification"}, name="img")


def _model(ts: TaskSet, encoder: str):
    return hps_for(ts, image_encoder=encoder, channels=(3, 4) if encoder == "lenet" else (4,),
                   code_dim=6, head_hidden=6, head_depth=1, seed=0)


@pytest.mark.parametrize("encoder", ["resnet", "lenet"])
def test_upgrad_on_a_conv_encoder_trains_as_the_jacobian_route(encoder, monkeypatch):
    ts = _images()
    calls = []
    real = conv.layer_gramian
    monkeypatch.setattr(conv, "layer_gramian", lambda *a, **k: calls.append(1) or real(*a, **k))
    trainers = []
    for use_kernel in (True, False):
        trainer = Trainer(_model(ts, encoder), ts, "upgrad", batch_size=16, seed=0,
                          level="parameter")
        if not use_kernel:
            trainer.plan = trainer.plan.without_recorder("disabled by the test")
        trainer.fit(2)
        trainers.append(trainer)
    kernel, plain = trainers
    assert kernel.plan.route == "kernel_gramian" and plain.plan.route == "jacobian"
    assert calls, "the conv / batch-norm terms were not used"
    moved = False
    for pk, pp, p0 in zip(kernel.model.parameters(), plain.model.parameters(),
                          _model(ts, encoder).parameters()):
        torch.testing.assert_close(pk, pp, rtol=1e-6, atol=1e-6)
        moved |= not torch.equal(pk, p0)
    assert moved
