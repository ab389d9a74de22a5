"""DB-MTL, STCH, GradDrop and ExcessMTL against brute-force versions of their authors' code.

References (tests/reference/fidelity_reference.py) are written from the papers' algorithms and
the authors' training code — loops and autograd on the authors' objective — not from our
classes. DB-MTL's input ``∇ log Lₖ`` is taken by autograd of ``log Lₖ`` itself.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from tasklens import balance
from tasklens.balance.engine import backward
from tests.reference import fidelity_reference as ref

Ctx = balance.BalanceContext


def _model(seed: int = 0, k: int = 3) -> tuple[nn.Module, nn.ModuleList]:
    torch.manual_seed(seed)
    encoder = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 4)).double()
    heads = nn.ModuleList([nn.Linear(4, 1) for _ in range(k)]).double()
    return encoder, heads


def _batch(step: int, k: int = 3) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(100 + step)
    return (torch.randn(16, 5, generator=g, dtype=torch.float64),
            torch.randn(16, k, generator=g, dtype=torch.float64))


def _losses(encoder, heads, x, y) -> tuple[Tensor, Tensor]:
    z = encoder(x)
    return torch.stack([((h(z).squeeze(1) - y[:, i]) ** 2).mean()
                        for i, h in enumerate(heads)]), z


# ------------------------------------------------------------------------------ DB-MTL
@pytest.mark.parametrize("beta, sigma", [(0.9, 0.0), (0.8, 0.5)])
def test_db_mtl_matches_the_authors_algorithm_over_steps(beta, sigma):
    encoder, heads = _model()
    params = list(encoder.parameters())
    method = balance.get("db_mtl", beta=beta, beta_sigma=sigma)
    log_grads, ours = [], []
    for step in range(5):
        x, y = _batch(step)
        losses, z = _losses(encoder, heads, x, y)
        rows = []
        for k in range(3):  # ∇ log Lₖ by autograd, per task (the authors' loop)
            grads = torch.autograd.grad(torch.log(losses[k]), params, retain_graph=True)
            rows.append(torch.cat([g.reshape(-1) for g in grads]).numpy())
        log_grads.append(np.stack(rows))
        for p in [*params, *heads.parameters()]:
            p.grad = None
        backward(losses, z, method, shared_params=params, level="parameter", step=step)
        d = torch.cat([p.grad.reshape(-1) for p in params])
        ours.append(d.numpy().copy())
        with torch.no_grad():  # the trajectory moves, so every step sees new gradients
            for p in [*params, *heads.parameters()]:
                p -= 0.05 * p.grad
    expected = ref.db_mtl_directions(log_grads, beta=beta, sigma=sigma)
    for got, want in zip(ours, expected):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_db_mtl_defaults_are_the_authors_and_reset_restarts_from_zero():
    method = balance.get("db_mtl")
    assert (method.beta, method.beta_sigma) == (0.9, 0.0)
    jac = torch.tensor([[3.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    losses = torch.tensor([1.0, 0.5], dtype=torch.float64)
    first = method.aggregate(jac, losses=losses)
    method.aggregate(jac, losses=losses)
    method.reset()
    torch.testing.assert_close(method.aggregate(jac, losses=losses), first)
    # the EMA starts at zero: the first step is (1 − β) times the balanced log-gradients
    torch.testing.assert_close(first, 0.1 * torch.tensor([3.0, 3.0], dtype=torch.float64))


# -------------------------------------------------------------------------------- STCH
def _stch_steps(epochs: list[int], k: int = 3, seed: int = 0) -> list[tuple[int, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [(e, rng.uniform(0.2, 3.0, size=k)) for e in epochs]


@pytest.mark.parametrize("mu, warmup", [(1.0, 1), (0.3, 0), (2.0, 2)])
def test_stch_matches_the_official_procedure_over_epochs(mu, warmup):
    epochs = [e for e in range(warmup + 3) for _ in range(3)]
    steps = _stch_steps(epochs, seed=warmup)
    expected = ref.stch_loss_gradients(steps, mu=mu, warmup_epoch=warmup)
    method = balance.get("stch", mu=mu, warmup_epochs=warmup)
    for i, ((epoch, losses), want) in enumerate(zip(steps, expected)):
        ctx = Ctx(losses=torch.as_tensor(losses), step=i, epoch=epoch)
        np.testing.assert_allclose(method.weights(ctx).numpy(), want, rtol=1e-10, atol=1e-14)
        method.update(ctx)


def test_stch_log_mode_with_a_preference_is_the_gradient_of_eq_8_in_log_space():
    pref, nadir = (1.0, 2.0, 0.5), torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64)
    method = balance.get("stch", mu=0.7, warmup_epochs=0, pref=pref)
    method.update(Ctx(losses=nadir, epoch=0))
    x = torch.tensor([0.8, 1.5, 0.3], dtype=torch.float64, requires_grad=True)
    lam = torch.tensor(pref, dtype=torch.float64)
    (3 * 0.7 * torch.logsumexp(lam * torch.log(x / nadir) / 0.7, dim=0)).backward()
    torch.testing.assert_close(method.weights(Ctx(losses=x.detach(), epoch=1)), x.grad)


def test_stch_through_the_engine_records_the_nadir_epoch():
    # balance.backward calls update() after every step: the nadir comes from epoch W's steps
    encoder, heads = _model(seed=2)
    method = balance.get("stch", warmup_epochs=1)
    seen, got = [], []
    for step, epoch in enumerate([0, 1, 1, 2, 2]):
        x, y = _batch(step)
        losses, z = _losses(encoder, heads, x, y)
        seen.append((epoch, losses.detach().numpy().copy()))
        res = backward(losses, z, method, step=step, epoch=epoch)
        got.append(res.weights.numpy())
    expected = ref.stch_loss_gradients(seen, mu=1.0, warmup_epoch=1)
    np.testing.assert_allclose(np.stack(got), np.stack(expected), rtol=1e-10)
    np.testing.assert_allclose(method.nadir().numpy(), (seen[1][1] + seen[2][1]) / 2)


def test_stch_skipping_the_nadir_epoch_is_an_error_and_options_are_checked():
    method = balance.get("stch", warmup_epochs=1)
    losses = torch.tensor([1.0, 2.0], dtype=torch.float64)
    method.update(Ctx(losses=losses, epoch=0))
    with pytest.raises(ValueError, match="without the losses of epoch 1"):
        method.weights(Ctx(losses=losses, epoch=2))
    with pytest.raises(ValueError, match="mode must be one of"):
        balance.get("stch", mode="linear")
    with pytest.raises(ValueError, match="ideal applies to mode='raw'"):
        balance.get("stch", ideal=(0.0, 0.0))
    with pytest.raises(TypeError):
        balance.get("stch", warmup_epochs=1.5)
    with pytest.raises(ValueError, match="must be > 0"):
        balance.get("stch").weights(Ctx(losses=torch.tensor([1.0, 0.0])))


def test_stch_raw_mode_is_eq_8_on_the_losses_with_no_warmup():
    losses = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    (2 * torch.logsumexp(losses / 0.5, dim=0) * 0.5).backward()
    raw = balance.get("stch", mu=0.5, mode="raw")
    for epoch in (0, 9):
        w = raw.weights(Ctx(losses=losses.detach(), epoch=epoch))
        torch.testing.assert_close(w, losses.grad)


# ---------------------------------------------------------------------------- GradDrop
@dataclasses.dataclass(frozen=True)
class _CtxWithFeatures(balance.BalanceContext):
    """The context an engine passing the activations would build (``ctx.features``)."""

    features: Tensor | None = None


def _layer_case(k: int = 3, n: int = 6, d: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    grads = rng.standard_normal((k, n, d))
    z = rng.standard_normal((n, d))
    z[0, 0] = 0.0  # sign(0) = 0: that sample does not vote
    return grads, z


@pytest.mark.parametrize("leak", [0.0, 0.3])
@pytest.mark.parametrize("seed", range(3))
def test_graddrop_layer_matches_algorithm_1(leak, seed):
    grads, z = _layer_case(seed=seed)
    uniform = np.random.default_rng(seed).random(z.shape[1])  # the method's draws: one per feature
    want = ref.graddrop_layer(grads, z, uniform, leak)
    got = balance.get("graddrop", leak=leak, seed=seed).layer_gradient(
        torch.as_tensor(grads), torch.as_tensor(z))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-14)
    # the same through direction() with the activations in the context
    ctx = _CtxWithFeatures(jacobian=torch.as_tensor(grads.reshape(3, -1)),
                           level="representation", features=torch.as_tensor(z))
    d = balance.get("graddrop", leak=leak, seed=seed).direction(ctx)
    np.testing.assert_allclose(d.numpy(), want.reshape(-1), rtol=1e-12, atol=1e-14)


def test_graddrop_layer_mask_is_shared_by_the_batch_and_uses_the_sign_of_z():
    grads, z = _layer_case(k=2, n=8, d=40, seed=5)
    method = balance.get("graddrop", seed=1)
    new = method.layer_gradient(torch.as_tensor(grads), torch.as_tensor(z)).numpy()
    # per feature, each task is kept or dropped for the whole batch: new = Σ_{kept} grads
    kept_any = False
    for j in range(z.shape[1]):
        options = [grads[list(s), :, j].sum(axis=0) for s in ([], [0], [1], [0, 1])]
        assert any(np.allclose(new[:, j], o) for o in options)
        kept_any |= not np.allclose(new[:, j], 0.0)
    assert kept_any
    # flipping the sign of z and of the gradients together leaves the purity unchanged
    flipped = balance.get("graddrop", seed=1).layer_gradient(
        torch.as_tensor(-grads), torch.as_tensor(-z)).numpy()
    np.testing.assert_allclose(flipped, -new)


def test_graddrop_without_activations_falls_back_with_one_warning(caplog):
    jac = torch.as_tensor(np.random.default_rng(0).standard_normal((3, 12)))
    method = balance.get("graddrop", seed=0)
    plain = balance.get("graddrop", seed=0).aggregate(jac)
    with caplog.at_level(logging.WARNING, logger="tasklens"):
        got = method.direction(Ctx(jacobian=jac, level="representation"))
        method.direction(Ctx(jacobian=jac, level="representation"))
    torch.testing.assert_close(got, plain)
    assert sum("sign(z)" in r.getMessage() for r in caplog.records) == 1
    with pytest.raises(ValueError, match="task_grads must have shape"):
        method.layer_gradient(jac, torch.ones(4, 3))


# --------------------------------------------------------------------------- ExcessMTL
def test_excess_mtl_matches_the_authors_loop_at_the_default_step_size():
    method = balance.get("excess_mtl")
    assert method.step_size == 0.01
    k, p = 3, 7
    rng = np.random.default_rng(3)
    jacs = [rng.standard_normal((k, p)) * np.array([[1.0], [3.0], [0.3]]) for _ in range(6)]
    # the authors' code (weights start at 1, first call only stores initial_w)
    weight, grad_sum, initial = np.ones(k), np.zeros((k, p)), None
    for jac in jacs:
        grad_sum += jac**2
        w = np.array([jac[i] * (1 / np.sqrt(grad_sum[i] + 1e-7)) @ jac[i] for i in range(k)])
        if initial is None:
            initial = w
        else:
            weight = weight * np.exp(w / initial * 0.01)
            weight = weight / weight.sum() * k
        got = method.aggregate(torch.as_tensor(jac)).numpy()
        np.testing.assert_allclose(got, weight @ jac, rtol=1e-6, atol=1e-12)


# ------------------------------------------------------------------------- STCH resume
@pytest.mark.parametrize("crash_step", [None, 7])
def test_stch_resume_is_bit_identical(tmp_path, crash_step):
    from tasklens.train import Callback, Trainer
    from tests.train._data import dropout_model, tiny_taskset

    class Crash(Callback):
        def on_step_end(self, trainer, row):
            if row["step"] == crash_step:
                raise KeyboardInterrupt("simulated crash")

    ts = tiny_taskset(n=160, seed=1)  # 5 steps per epoch at batch 32

    def trainer(seed_model, **kw):
        return Trainer(dropout_model(ts, seed=seed_model), ts,
                       balance.get("stch", warmup_epochs=1), batch_size=32, lr=5e-3, seed=7, **kw)

    full = trainer(0)
    full_result = full.fit(3)
    assert full.method.nadir() is not None  # epoch 1 was recorded, epoch 2 used it
    if crash_step is None:  # stop at the epoch boundary inside the nadir epoch's successor
        trainer(0, checkpoint_dir=tmp_path).fit(2)
    else:  # crash in the middle of the nadir epoch (epoch 1)
        with pytest.raises(KeyboardInterrupt):
            trainer(0, checkpoint_dir=tmp_path, checkpoint_every=3, callbacks=[Crash()]).fit(3)
    second = trainer(99, checkpoint_dir=tmp_path,
                     **({} if crash_step is None else {"checkpoint_every": 3}))
    resumed = second.fit(3, resume=True)
    for p, q in zip(full.model.parameters(), second.model.parameters()):
        assert torch.equal(p, q)
    assert resumed.metric_curve("train/loss") == full_result.metric_curve("train/loss")
    torch.testing.assert_close(second.method.nadir(), full.method.nadir(), rtol=0, atol=0)
