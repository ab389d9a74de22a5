"""RepMTL: its two saliency regularisers and the engine's second-order update.

References: a brute-force per-sample / per-element / per-task loop written from the paper's
equations (tests/reference/repmtl_loop.py); the gradient of ``Σ L_k + R`` taken naively with
explicit per-task ``autograd.grad(create_graph=True)``; the split-head path against the
shared-z path; closed forms (concentrated / uniform saliencies, aligned saliencies); EW.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from tasklens import balance
from tasklens.balance import (
    RepMTL,
    cross_task_saliency_alignment,
    task_saliency_entropy,
)
from tasklens.balance.engine import backward, backward_split
from tasklens.train import Trainer
from tests.reference import repmtl_loop as ref
from tests.train._data import PerTaskFeatures, tiny_model, tiny_taskset


def _saliency(k: int, n: int, d: int, seed: int, zero_fraction: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(k, n, d, generator=g, dtype=torch.float64)
    if zero_fraction:
        s[torch.rand(k, n, d, generator=g, dtype=torch.float64) < zero_fraction] = 0.0
    return s


# ------------------------------------------------------------------ values vs the loop
@settings(max_examples=25, deadline=None)
@given(k=st.integers(2, 4), n=st.integers(1, 4), d=st.integers(1, 5),
       seed=st.integers(0, 10_000), zeros=st.sampled_from([0.0, 0.3]))
def test_tsr_matches_the_loop(k, n, d, seed, zeros):
    s = _saliency(k, n, d, seed, zeros)
    torch.testing.assert_close(task_saliency_entropy(s), ref.tsr_loop(s),
                               rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(k=st.integers(2, 4), n=st.integers(2, 5), d=st.integers(1, 9),
       seed=st.integers(0, 10_000), tau=st.sampled_from([0.1, 0.5, 2.0]))
def test_csa_matches_the_loop(k, n, d, seed, tau):
    # d spans both routes of the anchor products (explicit d² anchors and the K×K Grams)
    s = _saliency(k, n, d, seed)
    torch.testing.assert_close(cross_task_saliency_alignment(s, tau), ref.csa_loop(s, tau),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("k", "n", "d"), [(2, 6, 2), (2, 3, 12), (5, 2, 3)])
def test_csa_both_anchor_routes_match_the_loop(k, n, d):
    s = _saliency(k, n, d, seed=3)
    torch.testing.assert_close(cross_task_saliency_alignment(s, 0.3), ref.csa_loop(s, 0.3),
                               rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------- defining properties
@pytest.mark.parametrize("k", [2, 3, 5])
def test_tsr_is_zero_when_concentrated_and_log_k_when_uniform(k):
    n, d = 4, 6
    s = _saliency(k, n, d, seed=1)
    owner = torch.randint(0, k, (n, d), generator=torch.Generator().manual_seed(2))
    concentrated = torch.where(torch.arange(k)[:, None, None] == owner[None], s, 0.0)
    assert float(task_saliency_entropy(concentrated)) == pytest.approx(0.0, abs=1e-12)
    # same magnitude for every task at each element, random signs
    signs = torch.sign(s)
    uniform = signs * s[0].abs()[None]
    assert float(task_saliency_entropy(uniform)) == pytest.approx(math.log(k), rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(k=st.integers(2, 5), seed=st.integers(0, 10_000))
def test_tsr_lies_between_zero_and_log_k(k, seed):
    value = float(task_saliency_entropy(_saliency(k, 3, 4, seed, 0.2)))
    assert -1e-12 <= value <= math.log(k) + 1e-12


def test_csa_of_aligned_saliencies_has_its_closed_form():
    k, n, d, tau = 3, 5, 4, 0.5
    g = torch.Generator().manual_seed(4)
    v = torch.randn(n, d, generator=g, dtype=torch.float64)
    scale = torch.randn(k, n, 1, generator=g, dtype=torch.float64)  # any sign and size
    aligned = scale * v[None]
    value = float(cross_task_saliency_alignment(aligned, tau))
    assert value == pytest.approx(ref.csa_aligned_value(aligned, tau), rel=1e-10)


@settings(max_examples=25, deadline=None)
@given(k=st.integers(2, 4), n=st.integers(2, 5), seed=st.integers(0, 10_000),
       angle=st.floats(0.2, 1.5))
def test_csa_positive_part_is_minimal_exactly_when_aligned(k, n, seed, angle):
    # L_csa - (negatives' part) = -mean sim(Â_b, M_{t,b})/τ >= -1/τ, equality iff aligned
    tau, d = 0.5, 4
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(n, d, generator=g, dtype=torch.float64)
    aligned = torch.randn(k, n, 1, generator=g, dtype=torch.float64) * v[None]
    gap = (float(cross_task_saliency_alignment(aligned, tau))
           - ref.csa_negative_part(aligned, tau) + 1.0 / tau)
    assert gap == pytest.approx(0.0, abs=1e-9)
    # rotate task 0's saliency away from v_b by `angle` (in a random plane through v_b)
    w = torch.randn(n, d, generator=g, dtype=torch.float64)
    w = w - (w * v).sum(1, keepdim=True) / (v * v).sum(1, keepdim=True) * v
    w = w / w.norm(dim=1, keepdim=True) * v.norm(dim=1, keepdim=True)
    rotated = aligned.clone()
    rotated[0] = math.cos(angle) * v + math.sin(angle) * w
    gap = (float(cross_task_saliency_alignment(rotated, tau))
           - ref.csa_negative_part(rotated, tau) + 1.0 / tau)
    assert gap > 1e-4


def test_csa_is_invariant_to_per_task_sign_and_per_sample_scale():
    s = _saliency(3, 4, 5, seed=5)
    flipped = s * torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)[:, None, None]
    scaled = s * torch.tensor([1e-6, 3.0, 0.5, 1e4], dtype=torch.float64)[None, :, None]
    base = cross_task_saliency_alignment(s, 0.5)
    torch.testing.assert_close(cross_task_saliency_alignment(flipped, 0.5), base)
    torch.testing.assert_close(cross_task_saliency_alignment(scaled, 0.5), base)


def test_csa_of_a_single_sample_is_zero_and_differentiable():
    s = _saliency(2, 1, 3, seed=6).requires_grad_()
    value = cross_task_saliency_alignment(s, 0.5)
    assert float(value.detach()) == 0.0
    value.backward()
    assert s.grad is not None and bool(torch.isfinite(s.grad).all())


def test_regularisers_have_finite_gradients_at_zero_saliency():
    s = _saliency(3, 4, 5, seed=7, zero_fraction=0.5)
    s[:, 0] = 0.0  # a sample where no task has any saliency
    s = s.float().requires_grad_()
    (task_saliency_entropy(s) + cross_task_saliency_alignment(s, 0.5)).backward()
    assert bool(torch.isfinite(s.grad).all())


# ------------------------------------------------------------------- engine updates
class _Net(nn.Module):
    """Encoder + nonlinear heads (so that ∂S/∂z and ∂S/∂θ_head are not trivial)."""

    def __init__(self, k: int, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.encoder = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 4))
        self.heads = nn.ModuleList(
            [nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1)) for _ in range(k)])
        self.double()

    def losses(self, z_per_task: list[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        return torch.stack([((h(z).squeeze(1) - y[:, i]) ** 2).mean()
                            for i, (h, z) in enumerate(zip(self.heads, z_per_task))])


def _batch(k: int, n: int = 6, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 5, generator=g, dtype=torch.float64),
            torch.randn(n, k, generator=g, dtype=torch.float64))


def _grads(net: nn.Module) -> list[torch.Tensor]:
    return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in net.parameters()]


@pytest.mark.parametrize("k", [2, 3])
def test_engine_gradient_equals_naive_second_order_gradient(k):
    method = RepMTL(lambda_tsr=0.7, lambda_csa=1.3, temperature=0.4)
    x, y = _batch(k)
    net = _Net(k)
    z = net.encoder(x)
    result = backward(net.losses([z] * k, y), z, method)
    got = _grads(net)

    net.zero_grad()
    z = net.encoder(x)
    losses = net.losses([z] * k, y)
    saliency = torch.stack([torch.autograd.grad(losses[t], z, create_graph=True)[0]
                            for t in range(k)])
    reg = 0.7 * ref.tsr_loop(saliency) + 1.3 * ref.csa_loop(saliency, 0.4)
    want = torch.autograd.grad(losses.sum() + reg, list(net.parameters()),
                               retain_graph=True)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)
    assert result.level == "representation"
    assert result.regularizer == pytest.approx(float(reg.detach()), rel=1e-9)
    assert result.objective == pytest.approx(float((losses.sum() + reg).detach()), rel=1e-9)
    torch.testing.assert_close(result.weights, torch.ones(k, dtype=torch.float64))
    # the regulariser really changes the update (second-order terms reach encoder and heads)
    plain = torch.autograd.grad(losses.sum(), list(net.parameters()))
    assert max(float((a - b).abs().max()) for a, b in zip(got, plain)) > 1e-6


def test_split_path_equals_shared_path():
    k = 3
    method = RepMTL(lambda_tsr=1.1, lambda_csa=0.9)
    x, y = _batch(k, n=7, seed=2)
    net = _Net(k, seed=3)
    z = net.encoder(x)
    shared = backward(net.losses([z] * k, y), z, method)
    want = _grads(net)

    net.zero_grad()
    z = net.encoder(x)
    leaves = [z.detach().requires_grad_() for _ in range(k)]
    split = backward_split(net.losses(leaves, y), z, leaves, method)
    for a, b in zip(_grads(net), want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    assert split.regularizer == pytest.approx(shared.regularizer, rel=1e-12)
    torch.testing.assert_close(split.gramian, shared.gramian)


@pytest.mark.parametrize("path", ["shared", "split"])
def test_zero_regulariser_weights_are_ew_exactly(path):
    k = 2
    x, y = _batch(k, seed=4)
    grads = []
    for method in (RepMTL(lambda_tsr=0.0, lambda_csa=0.0), balance.get("ew")):
        net = _Net(k, seed=5)
        z = net.encoder(x)
        if path == "shared":
            backward(net.losses([z] * k, y), z, method, level="representation")
        else:
            leaves = [z.detach().requires_grad_() for _ in range(k)]
            backward_split(net.losses(leaves, y), z, leaves, method)
        grads.append(_grads(net))
    for a, b in zip(*grads, strict=True):
        assert torch.equal(a, b)


# --------------------------------------------------------------------- bad input
def test_bad_settings_fail_before_training():
    method = balance.get("repmtl")
    assert isinstance(method, RepMTL) and method.needs_gradients
    method.prepare(level="representation", num_tasks=2)
    with pytest.raises(ValueError, match="needs level='representation'"):
        method.prepare(level="parameter", num_tasks=2)
    with pytest.raises(ValueError, match="at least 2 tasks"):
        method.prepare(level="representation", num_tasks=1)
    ts = tiny_taskset(n=40)
    with pytest.raises(ValueError, match="needs level='representation'"):
        Trainer(tiny_model(ts), ts, "repmtl", level="parameter")
    with pytest.raises(ValueError, match="shared z"):
        Trainer(PerTaskFeatures(ts), ts, "repmtl")


def test_bad_inputs_and_hparams():
    with pytest.raises(ValueError, match="lambda_tsr"):
        RepMTL(lambda_tsr=-0.1)
    with pytest.raises(ValueError, match="temperature"):
        balance.get("repmtl", temperature=0.0)
    with pytest.raises(TypeError, match="accepted: lambda_tsr, lambda_csa, temperature"):
        balance.get("repmtl", tau=0.1)
    with pytest.raises(ValueError, match=r"\(K tasks, N samples, d features\)"):
        task_saliency_entropy(torch.ones(2, 3, 4, 5))
    bad = torch.ones(2, 3, 4)
    bad[0, 1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        cross_task_saliency_alignment(bad)
    with pytest.raises(TypeError, match=r"torch\.Tensor"):
        task_saliency_entropy([[1.0]])
    x, y = _batch(2)
    net = _Net(2)
    z = net.encoder(x)
    with pytest.raises(ValueError, match="pass features="):
        backward(net.losses([z, z], y), None, RepMTL(), shared_params=list(net.parameters()))
    with pytest.raises(ValueError, match="needs level='representation'"):
        backward(net.losses([z, z], y), z, RepMTL(), level="parameter",
                 shared_params=list(net.encoder.parameters()))


# ----------------------------------------------------------------------- training
def test_trainer_run_with_repmtl_decreases_the_loss():
    split = tiny_taskset().split(0.2, 0.2, seed=0)
    trainer = Trainer(tiny_model(split.train), split.train, "repmtl", val=split.val,
                      batch_size=32, lr=1e-2, seed=0)
    assert trainer.level == "representation"
    result = trainer.fit(5)
    curve = result.metric_curve("train/loss")
    assert len(curve) == 5 and all(math.isfinite(v) for v in curve)
    assert curve[-1] < 0.7 * curve[0]
    # the regulariser is logged per epoch next to the model's own auxiliary terms
    reg = result.metric_curve("train/aux/saliency_regularizer")
    assert len(reg) == 5 and all(v > 0 for v in reg)
