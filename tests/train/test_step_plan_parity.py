"""`backward(...)` in a hand-written loop and the Trainer give the same parameter updates for
every registered method (one default-level rule, the same heads, the same post-step inputs).

The hand-written loop is written from the public API only: the Trainer's data order, its
SGD step, the method's ``update`` after the step with the same batch re-evaluated (FAMO) or a
held-out batch's task gradients taken by a per-task autograd loop (MOML). The Trainer takes
the kernel-Gramian and split routes where the loop takes the Jacobian: equal up to rounding.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tasklens import balance
from tasklens.balance import BalanceContext
from tasklens.balance.engine import backward
from tasklens.data import TaskSet
from tasklens.nn.losses import task_losses
from tasklens.train import Trainer
from tasklens.train.trainer import epoch_seed

from ._data import tiny_model, tiny_taskset

LR, BATCH, SEED = 0.05, 20, 0


@pytest.fixture(scope="module")
def data():
    ts = tiny_taskset(n=40, same_heads=True)
    return ts, tiny_taskset(n=20, seed=1, same_heads=True)


def _three_tasks(n: int, seed: int) -> TaskSet:
    """Three regression tasks, for the methods that need K >= 3 (Krum, TrimmedMean)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    targets = {t: x @ rng.normal(size=6) + 0.1 * rng.normal(size=n) for t in ("a", "b", "c")}
    return TaskSet.from_arrays(x, targets, kinds=dict.fromkeys(targets, "regression"),
                               name="tiny3")


def _method(name: str) -> balance.BalanceMethod:
    return balance.get(name)


def _held_out_jacobian(losses, shared) -> torch.Tensor:
    """(K, P) task gradients on the shared parameters, one autograd call per task."""
    rows = [torch.cat([g.reshape(-1) for g in
                       torch.autograd.grad(losses[k], shared, retain_graph=True)])
            for k in range(len(losses))]
    return torch.stack(rows)


def _hand_written(name: str, ts, val) -> list[torch.Tensor]:
    model = tiny_model(ts)
    method = _method(name)
    shared = [p for p in model.shared_parameters() if p.requires_grad]
    heads = [list(model.task_parameters(t)) for t in ts.task_names]
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    held_out = list(val.dataloader(BATCH, shuffle=False))
    loader = ts.dataloader(BATCH, shuffle=True, seed=epoch_seed(SEED, 0))
    for step, (x, y) in enumerate(loader):
        model.train()
        opt.zero_grad(set_to_none=True)
        z = model.encode(x)
        losses = task_losses(ts, model.decode(z), y)
        # no level: the same default rule as the Trainer (parameter level where supported)
        backward(losses, z, method, shared_params=shared, head_params=heads, step=step)
        opt.step()
        if method.update_batch == "same":
            with torch.no_grad():
                after = task_losses(ts, model(x), y)
            method.update(BalanceContext(losses=after, step=step))
        elif method.update_batch == "held_out":
            xh, yh = held_out[step % len(held_out)]
            lh = task_losses(ts, model(xh), yh)
            method.update(BalanceContext(losses=lh.detach(), level="parameter", step=step,
                                         jacobian=_held_out_jacobian(lh, shared)))
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("name", balance.available())
def test_backward_and_the_trainer_give_the_same_updates(data, name):
    ts, val = data
    if _method(name).min_tasks > len(ts.task_names):
        ts, val = _three_tasks(40, 0), _three_tasks(20, 1)
    trainer = Trainer(tiny_model(ts), ts, _method(name), optimizer="sgd", lr=LR,
                      batch_size=BATCH, seed=SEED,
                      val=val if _method(name).update_batch == "held_out" else None)
    trainer.fit(1)  # two steps: the second one reads what the post-step update learnt
    assert trainer.step == 2
    expected = _hand_written(name, ts, val)
    for got, want in zip(trainer.model.parameters(), expected):
        torch.testing.assert_close(got.detach(), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("name", "level"), [("db_mtl", None), ("imtl", None),
                                             ("imtl", "representation")])
def test_trainer_gives_scaled_heads_their_own_scaled_gradient(data, name, level):
    """Independent of the engine: one full-batch SGD step of the Trainer moves head k by
    −lr c_k ∂L_k/∂θ_k, with c_k = 1/L_k (DB-MTL) or e^{s_k} (IMTL, s = its start, 0, at the
    first step: the update of s comes after the backward), autograd on a fresh model."""
    ts, _ = data
    n = ts.n_samples
    trainer = Trainer(tiny_model(ts), ts, _method(name), optimizer="sgd", lr=LR,
                      batch_size=n, seed=SEED, level=level)
    trainer.fit(1)
    assert trainer.step == 1
    model = tiny_model(ts)
    x, y = next(iter(ts.dataloader(n, shuffle=False)))
    losses = task_losses(ts, model.decode(model.encode(x)), y)
    scales = 1.0 / losses.detach() if name == "db_mtl" else torch.ones_like(losses)
    for k, task in enumerate(ts.task_names):
        params = list(model.task_parameters(task))
        grads = torch.autograd.grad(losses[k], params, retain_graph=True)
        got = dict(trainer.model.named_parameters())
        for (pname, p), g in zip(_named(model, params), grads):
            torch.testing.assert_close(got[pname].detach(), p.detach() - LR * scales[k] * g,
                                       rtol=1e-5, atol=1e-6, msg=f"{name}: {pname}")


def _named(model, params):
    ids = {id(p) for p in params}
    order = {id(p): i for i, p in enumerate(params)}
    named = [(n, p) for n, p in model.named_parameters() if id(p) in ids]
    return sorted(named, key=lambda item: order[id(item[1])])


@pytest.mark.parametrize("level", [None, "representation"])
def test_trainer_gives_imtl_heads_exp_s_of_the_same_step(data, level):
    """Second full-batch step of IMTL (Adam on s with lr 0.5: after one update
    s = −0.5 sign(L_k − 1)): head k moves by −lr e^{s_k} ∂L_k/∂θ_k with the s the first
    update left, i.e. before the second update moves it again."""
    ts, _ = data
    n = ts.n_samples

    def fit(epochs: int) -> Trainer:
        trainer = Trainer(tiny_model(ts), ts, balance.get("imtl", lr=0.5), optimizer="sgd",
                          lr=LR, batch_size=n, seed=SEED, level=level)
        trainer.fit(epochs)
        return trainer

    one, two = fit(1), fit(2)
    x, y = next(iter(ts.dataloader(n, shuffle=False)))
    model0 = tiny_model(ts)
    losses0 = task_losses(ts, model0(x), y).detach().double()
    s = -0.5 * torch.sign(losses0 - 1.0)
    torch.testing.assert_close(one.method.loss_scales, s, rtol=1e-6, atol=1e-6)
    assert not torch.allclose(two.method.loss_scales, s)  # moved again after step 2
    model1 = one.model
    losses1 = task_losses(ts, model1.decode(model1.encode(x)), y)
    got = dict(two.model.named_parameters())
    for k, task in enumerate(ts.task_names):
        params = list(model1.task_parameters(task))
        grads = torch.autograd.grad(losses1[k], params, retain_graph=True)
        for (pname, p), g in zip(_named(model1, params), grads):
            want = p.detach() - LR * float(torch.exp(s[k])) * g
            torch.testing.assert_close(got[pname].detach(), want, rtol=1e-5, atol=1e-6,
                                       msg=f"{pname}")
