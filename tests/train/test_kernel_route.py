"""The exact sample-kernel Gramian inside the engine and the Trainer: same updates as the
per-task Jacobian route (the independent reference), used only where it applies."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import tasklens.balance.kernel_gramian as kg
from tasklens import balance
from tasklens.balance.engine import backward
from tasklens.nn import HardParameterSharing, make_heads
from tasklens.train import Trainer

from ._data import PerTaskFeatures, tiny_model, tiny_taskset


def _mlp(norm: bool = False) -> tuple[nn.Module, nn.ModuleList]:
    gen = torch.Generator().manual_seed(0)
    layers = [nn.Linear(5, 9), nn.Tanh()] + ([nn.LayerNorm(9)] if norm else []) + [
        nn.Linear(9, 4)]
    enc = nn.Sequential(*layers).double()
    heads = nn.ModuleList(nn.Linear(4, 1) for _ in range(3)).double()
    with torch.no_grad():
        for p in [*enc.parameters(), *heads.parameters()]:
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    return enc, heads


def _step_grads(method: str, use_recorder: bool, norm: bool = False):
    enc, heads = _mlp(norm)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(12, 5, generator=gen, dtype=torch.float64)
    y = torch.randn(12, 3, generator=gen, dtype=torch.float64)
    recorder = kg.LinearRecorder(enc) if use_recorder else None
    with recorder if recorder is not None else torch.enable_grad():
        z = enc(x)
    out = torch.cat([h(z) for h in heads], dim=1)
    losses = ((out - y) ** 2).mean(dim=0)
    result = backward(losses, z, balance.get(method), shared_params=list(enc.parameters()),
                      level="parameter", recorder=recorder)
    return [p.grad.clone() for p in [*enc.parameters(), *heads.parameters()]], result


@pytest.mark.parametrize("method", ["mgda", "upgrad", "cagrad", "nash_mtl", "imtl_g"])
def test_engine_with_a_recorder_gives_the_jacobian_route_update(method, monkeypatch):
    calls = []
    real = kg.linear_kernel_gramian
    monkeypatch.setattr(kg, "linear_kernel_gramian",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    got, res_k = _step_grads(method, True)
    assert calls, "the kernel route was not taken"
    expected, res_j = _step_grads(method, False)
    torch.testing.assert_close(res_k.gramian, res_j.gramian, rtol=1e-10, atol=1e-12)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-8, atol=1e-10)


def test_engine_ignores_the_recorder_where_it_cannot_apply(monkeypatch):
    calls = []
    real = kg.linear_kernel_gramian
    monkeypatch.setattr(kg, "linear_kernel_gramian",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    # a direction method needs the Jacobian itself: the recorder is not consulted
    got, _ = _step_grads("graddrop", True)
    assert not calls
    # a LayerNorm parameter is not covered: the Jacobian route gives the same update
    got, res = _step_grads("mgda", True, norm=True)
    expected, ref = _step_grads("mgda", False, norm=True)
    assert calls  # tried, then fell back
    torch.testing.assert_close(res.gramian, ref.gramian, rtol=1e-10, atol=1e-12)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-8, atol=1e-10)


@pytest.fixture(scope="module")
def split():
    return tiny_taskset().split(0.2, 0.2, seed=0)


def _fit(split, model, method, disable_kernel: bool):
    trainer = Trainer(model, split.train, method, batch_size=32, seed=0, monitor_every=3)
    if disable_kernel:
        trainer.plan = trainer.plan.without_recorder("disabled by the test")
    result = trainer.fit(2)
    return trainer, result


@pytest.mark.parametrize("method", ["mgda", "upgrad", "ew"])
def test_trainer_takes_the_kernel_route_with_the_same_training(split, method):
    with_kernel, res_k = _fit(split, tiny_model(split.train), method, False)
    assert with_kernel.plan.recorder is not None and not with_kernel.plan.recorder.calls
    plain, res_p = _fit(split, tiny_model(split.train), method, True)
    assert with_kernel.plan.route == "kernel_gramian" and plain.plan.route == "jacobian"
    for pk, pp in zip(with_kernel.model.parameters(), plain.model.parameters()):
        torch.testing.assert_close(pk, pp, rtol=1e-4, atol=1e-5)
    # the monitors (EW: monitors only) read the same Gramian: norms and cosines agree
    assert len(res_k.monitor_history) == len(res_p.monitor_history) > 0
    for rk, rp in zip(res_k.monitor_history, res_p.monitor_history):
        keys = [k for k in rk if k.startswith(("cos/", "grad_norm/"))]
        assert keys
        for key in keys:
            assert rk[key] == pytest.approx(rp[key], rel=1e-4, abs=1e-6)


def test_trainer_drops_the_recorder_when_it_does_not_cover_the_encoder(split):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        encoder = nn.Sequential(nn.Linear(6, 16), nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 8))
    model = HardParameterSharing(encoder, make_heads(split.train, 8, 8, 1, seed=0))
    trainer, result = _fit(split, model, "mgda", False)
    assert trainer.plan.recorder is None and trainer.plan.route == "jacobian"
    assert result.epochs_run == 2
    # per-task features (no shared z): the recording covers the trunk, the route applies
    trainer, _ = _fit(split, PerTaskFeatures(split.train), "mgda", False)
    assert trainer.plan.recorder is not None
