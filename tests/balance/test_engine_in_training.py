"""The engine inside the Trainer: one SGD step's head and shared updates against autograd, on
every route (parameter level with the kernel Gramian, the per-task-feature model, the split
representation path), and clear errors for a finite loss with a non-finite gradient."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from tasklens.balance import get
from tasklens.nn.losses import task_losses
from tasklens.train import NonFiniteGradientError, Trainer
from tests.train._data import PerTaskFeatures, tiny_model, tiny_taskset

LR = 0.1


def _grads_by_autograd(model: nn.Module, ts, names: list[str]):
    """Per-task gradients on each head and on the shared parameters, full batch."""
    x, y = next(iter(ts.dataloader(len(ts), shuffle=False)))
    losses = task_losses(ts, model(x), y)
    shared = [p for p in model.shared_parameters() if p.requires_grad]
    heads, shared_rows = {}, []
    for k, t in enumerate(names):
        params = list(model.task_parameters(t))
        grads = torch.autograd.grad(losses[k], params + shared, retain_graph=True,
                                    allow_unused=True)
        flat = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params + shared)]
        heads[t] = torch.cat([g.reshape(-1) for g in flat[:len(params)]])
        shared_rows.append(torch.cat([g.reshape(-1) for g in flat[len(params):]]))
    return heads, torch.stack(shared_rows)


@pytest.mark.parametrize(("method", "level", "model_kind"), [
    ("mgda", "parameter", "hps"),            # kernel-Gramian route
    ("cagrad", "parameter", "per_task"),     # no shared z: heads from task_parameters
    ("mgda", "representation", "hps"),       # split path (backward_split)
    ("nash_mtl", "parameter", "hps"),        # a "weighted" method
])
def test_one_sgd_step_moves_heads_by_the_declared_gradient(method, level, model_kind):
    ts = tiny_taskset(96, same_heads=True)
    model = tiny_model(ts) if model_kind == "hps" else PerTaskFeatures(ts)
    before = copy.deepcopy(model)
    names = list(ts.task_names)
    trainer = Trainer(model, ts, method, optimizer="sgd", lr=LR, batch_size=len(ts),
                      level=level, monitor_every=1, seed=0)
    trainer.fit(1)
    weights = torch.tensor([trainer.monitor_history[0][f"weight/{t}"] for t in names])
    heads, shared_rows = _grads_by_autograd(before, ts, names)
    task_heads = get(method).head_gradient == "task"
    for k, t in enumerate(names):
        moved = torch.cat([(b - a).reshape(-1) / LR for a, b in zip(
            model.task_parameters(t), before.task_parameters(t))])
        expected = heads[t] if task_heads else weights[k] * heads[t]
        torch.testing.assert_close(moved, expected, rtol=2e-4, atol=2e-5, msg=f"head {t}")
    moved_shared = torch.cat([(b - a).reshape(-1) / LR for a, b in zip(
        model.shared_parameters(), before.shared_parameters())])
    if level == "parameter":  # at the representation level the weights come from z-gradients
        torch.testing.assert_close(moved_shared, weights @ shared_rows, rtol=2e-4, atol=2e-5)


class _NaNGradient(torch.autograd.Function):
    """Identity forward, NaN backward: a finite loss with a non-finite gradient."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("nan")


class _Poison(nn.Module):
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return _NaNGradient.apply(z)


@pytest.mark.parametrize("method", ["ew", "mgda", "graddrop"])
def test_finite_loss_with_a_non_finite_gradient_names_step_epoch_and_task(method, tmp_path):
    ts = tiny_taskset(64)
    model = tiny_model(ts)
    model.heads["b"] = nn.Sequential(_Poison(), model.heads["b"])
    state = copy.deepcopy(model.state_dict())
    trainer = Trainer(model, ts, method, optimizer="sgd", lr=LR, batch_size=32, seed=0,
                      checkpoint_dir=tmp_path)
    with pytest.raises(NonFiniteGradientError, match=r"step 0 \(epoch 0.*task\(s\) \['b'\]") as err:
        trainer.fit(1)
    assert err.value.step == 0 and err.value.epoch == 0 and err.value.tasks == ["b"]
    for key, value in model.state_dict().items():  # nothing was applied
        torch.testing.assert_close(value, state[key], rtol=0, atol=0)
    assert (tmp_path / "last.pt").is_file()
