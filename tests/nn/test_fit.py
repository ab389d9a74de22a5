"""Tiny models fit a tiny synthetic task set (every task kind) with plain Adam.

Reference: the losses at initialisation. 64 samples can be memorised, so a working model,
loss and gradient path must drive every task loss far below its starting value.
Measured (torch CPU, seed 0, 300 full-batch Adam steps, lr 1e-2), first / last total loss:
HPS ≈ 5900 (flat) and 50000 (8×8 images), MTAN ≈ 1500 / 1200, MMoE ≈ 19000 / 51000.
The fast test asserts > 100 after 200 steps; the slow one > 100 for every architecture.
"""

from __future__ import annotations

import pytest
import torch

from tasklens.nn import MTAN, PLE, MMoE, hps_for, task_losses

from .conftest import make_taskset


def _fit(model, ts, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = next(iter(ts.dataloader(len(ts), shuffle=False)))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(steps):
        losses = task_losses(ts, model(x), y)
        if first is None:
            first = losses.detach()
        opt.zero_grad()
        losses.sum().backward()
        opt.step()
    return first, task_losses(ts, model(x), y).detach()


def test_tiny_hps_fits_every_task_kind() -> None:
    ts = make_taskset((6,), n=64)
    model = hps_for(ts, code_dim=16, hidden=(32,), head_hidden=32, head_depth=2, seed=0)
    first, last = _fit(model, ts, 200)
    assert float(first.sum() / last.sum()) > 100
    assert torch.all(last < first / 20), (first, last)
    # head outputs are what tasklens.data metrics expect
    with torch.no_grad():
        out = model(torch.from_numpy(ts.inputs))
    scores = {n: t.evaluate(out[n].numpy()) for n, t in ts.tasks.items()}
    assert scores["cls"]["accuracy"] == 1.0 and scores["bin"]["binary_accuracy"] == 1.0
    assert scores["multi"]["hamming_accuracy"] == 1.0
    assert scores["reg"]["r2"] > 0.99 and scores["reg2"]["r2"] > 0.99


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(6,), (2, 8, 8)])
def test_every_architecture_fits(shape: tuple[int, ...]) -> None:
    ts = make_taskset(shape, n=64)
    common = {"head_hidden": 32, "head_depth": 2, "seed": 0}
    models = [
        hps_for(ts, code_dim=16, hidden=(32,), channels=(8, 16), **common),
        MTAN(ts.input_shape, ts, widths=(8, 16), **common),
        MMoE(ts.input_shape, ts, n_experts=3, expert_dim=16, expert_hidden=(32,),
             channels=(8, 16), **common),
        PLE(ts.input_shape, ts, n_levels=2, expert_dim=16, expert_hidden=(32,),
            channels=(8, 16), **common),
    ]
    for model in models:
        first, last = _fit(model, ts, 300)
        assert float(first.sum() / last.sum()) > 100, type(model).__name__
