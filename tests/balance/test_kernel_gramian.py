"""The kernel Gramian of nn.Linear encoders against a plain per-task autograd loop.

Reference: ``J Jᵀ`` with ``J``'s rows from one ``torch.autograd.grad(L_k, params)`` call per
task (no batching, no hooks, no kernel identity) — independent of the code under test.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from tasklens import balance
from tasklens.balance import BalanceContext
from tasklens.balance.kernel_gramian import (
    KernelGramianError,
    LinearRecorder,
    gramian_with_fallback,
    linear_gramian_costs,
    linear_kernel_gramian,
)

from ._gramian_reference import head_loss, loop_gramian

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "gelu": nn.GELU}
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def _mlp(widths: list[int], activation: str, bias: bool, dtype: torch.dtype,
         seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        if i:
            layers.append(ACTIVATIONS[activation]())
        layers.append(nn.Linear(a, b, bias=bias))
    return nn.Sequential(*layers).to(dtype)


def _task_losses(z: Tensor, k: int, seed: int) -> tuple[Tensor, nn.ModuleList]:
    """K scalar losses from K linear heads on z (any leading dims), mixed regression."""
    torch.manual_seed(seed)
    heads = nn.ModuleList(nn.Linear(z.shape[-1], 2) for _ in range(k)).to(z.dtype)
    gen = torch.Generator().manual_seed(seed + 1)
    losses = [head_loss(head(z), gen) for head in heads]
    return torch.stack(losses), heads


def _assert_gramian_close(got: Tensor, ref: Tensor, dtype: torch.dtype) -> None:
    assert got.shape == ref.shape
    assert got.dtype == ref.dtype
    scale = float(ref.abs().max())
    err = float((got - ref).abs().max())
    assert err <= TOL[dtype] * max(scale, 1e-30), f"max error {err:.3e} vs scale {scale:.3e}"
    torch.testing.assert_close(got, got.T, rtol=0, atol=0)


def _check(widths, activation, bias, dtype, k, batch, strategy, seed=0,
           extra_dims=(), use_features=True) -> None:
    encoder = _mlp(widths, activation, bias, dtype, seed)
    gen = torch.Generator().manual_seed(seed + 7)
    x = torch.randn(batch, *extra_dims, widths[0], generator=gen, dtype=dtype)
    recorder = LinearRecorder(encoder)
    with recorder:
        z = encoder(x)
    losses, _ = _task_losses(z, k, seed + 3)
    params = list(encoder.parameters())
    ref = loop_gramian(losses, params)
    got = linear_kernel_gramian(losses, z if use_features else None, recorder, params,
                                strategy=strategy)
    _assert_gramian_close(got, ref, dtype)


@settings(max_examples=30, deadline=None)
@given(
    widths=st.lists(st.integers(1, 12), min_size=2, max_size=4),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    bias=st.booleans(),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    k=st.integers(1, 7),
    batch=st.integers(1, 20),
    strategy=st.sampled_from(["auto", "kernel", "explicit"]),
    seed=st.integers(0, 1000),
)
def test_matches_per_task_loop(widths, activation, bias, dtype, k, batch, strategy,
                               seed) -> None:
    _check(widths, activation, bias, dtype, k, batch, strategy, seed)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("strategy", ["kernel", "explicit", "auto"])
@pytest.mark.parametrize(
    ("widths", "batch"),
    [([24, 32, 16], 3),     # batch below the widths: the kernel form is cheaper
     ([3, 4, 2], 64)],      # batch above the widths: the explicit form is cheaper
)
@pytest.mark.parametrize("bias", [True, False])
def test_both_branches(widths, batch, strategy, dtype, bias) -> None:
    costs = [linear_gramian_costs(batch, a, b, 5) for a, b in itertools.pairwise(widths)]
    cheaper = {min(c, key=c.get) for c in costs}
    assert cheaper == ({"kernel"} if batch < min(widths) else {"explicit"})
    _check(widths, "gelu", bias, dtype, 5, batch, strategy)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_extra_leading_dims(dtype) -> None:
    # (batch, sequence, features): the layers see batch × sequence rows
    _check([6, 10, 4], "tanh", True, dtype, 4, 3, "kernel", extra_dims=(5,))
    _check([6, 10, 4], "relu", True, dtype, 4, 3, "explicit", extra_dims=(2, 3))


def test_without_features_uses_losses() -> None:
    _check([5, 9, 3], "tanh", True, torch.float64, 6, 11, "auto", use_features=False)


def test_partial_parameters_and_recorded_heads() -> None:
    # shared params = weights only; the heads are recorded too but are not in params
    encoder = _mlp([5, 8, 4], "tanh", True, torch.float64, 0)
    x = torch.randn(10, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    heads = nn.ModuleList(nn.Linear(4, 1) for _ in range(3)).double()
    recorder = LinearRecorder(encoder, heads)
    with recorder:
        z = encoder(x)
        losses = torch.stack([(h(z) ** 2).mean() for h in heads])
    params = [m.weight for m in encoder if isinstance(m, nn.Linear)]
    _assert_gramian_close(linear_kernel_gramian(losses, z, recorder, params),
                          loop_gramian(losses, params), torch.float64)


def test_linear_encoder_output_is_features() -> None:
    # a single nn.Linear as the encoder: its output is z itself
    torch.manual_seed(0)
    encoder = nn.Linear(7, 3).double()
    recorder = LinearRecorder(encoder)
    with recorder:
        z = encoder(torch.randn(4, 7, dtype=torch.float64))
    losses, _ = _task_losses(z, 3, 0)
    params = list(encoder.parameters())
    _assert_gramian_close(linear_kernel_gramian(losses, z, recorder, params),
                          loop_gramian(losses, params), torch.float64)


@pytest.mark.parametrize("name", ["mgda", "upgrad"])
def test_full_step_weights_match_reference(name: str) -> None:
    k = 5
    encoder = _mlp([12, 20, 16, 8], "relu", True, torch.float32, 1)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(32, 12, generator=gen)
    recorder = LinearRecorder(encoder)
    with recorder:
        z = encoder(x)
    losses, _ = _task_losses(z, k, 4)
    params = list(encoder.parameters())
    ref = loop_gramian(losses, params)
    gram = linear_kernel_gramian(losses, z, recorder, params)
    method = balance.get(name)
    w_ref = method.weights(BalanceContext(losses=losses.detach(), gramian=ref))
    w_got = method.weights(BalanceContext(losses=losses.detach(), gramian=gram))
    torch.testing.assert_close(w_got, w_ref, rtol=1e-4, atol=1e-5)
    # the update is then one backward of Σ w_k L_k: equal to Jᵀ w from the loop
    (w_got * losses).sum().backward(retain_graph=True)
    got_update = torch.cat([p.grad.reshape(-1) for p in params])
    rows = [torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params,
                                                                   retain_graph=True)])
            for loss in losses]
    torch.testing.assert_close(got_update, w_ref @ torch.stack(rows), rtol=1e-4, atol=1e-6)


def _recorded(encoder: nn.Module, x: Tensor, k: int = 3):
    recorder = LinearRecorder(encoder)
    with recorder:
        z = encoder(x)
    losses, _ = _task_losses(z, k, 0)
    return recorder, z, losses


def test_layernorm_parameter_is_not_covered() -> None:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6), nn.Linear(6, 3))
    recorder, z, losses = _recorded(encoder, torch.randn(5, 4))
    with pytest.raises(KernelGramianError, match=r"not the weight or bias of any nn\.Linear"):
        linear_kernel_gramian(losses, z, recorder, list(encoder.parameters()))
    # KernelGramianError is a ValueError, so generic handlers catch it too
    assert issubclass(KernelGramianError, ValueError)


class _Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(4, 4)

    def forward(self, x: Tensor) -> Tensor:
        return self.inner(torch.tanh(self.inner(x)))


def test_layer_called_twice_raises() -> None:
    torch.manual_seed(0)
    encoder = _Twice()
    recorder, z, losses = _recorded(encoder, torch.randn(5, 4))
    with pytest.raises(KernelGramianError, match="called 2 times"):
        linear_kernel_gramian(losses, z, recorder, list(encoder.parameters()))


def test_inplace_activation_raises() -> None:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(4, 6), nn.ReLU(inplace=True), nn.Linear(6, 3))
    recorder, z, losses = _recorded(encoder, torch.randn(5, 4))
    with pytest.raises(KernelGramianError, match="modified in place"):
        linear_kernel_gramian(losses, z, recorder, list(encoder.parameters()))


def test_forward_outside_recorder_is_not_covered() -> None:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
    recorder = LinearRecorder(encoder)
    with recorder:
        pass
    z = encoder(torch.randn(5, 4))  # hooks removed: nothing recorded
    losses, _ = _task_losses(z, 2, 0)
    assert recorder.calls == ()
    with pytest.raises(KernelGramianError):
        linear_kernel_gramian(losses, z, recorder, list(encoder.parameters()))


def test_bad_arguments() -> None:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(4, 3))
    recorder, z, losses = _recorded(encoder, torch.randn(5, 4))
    params = list(encoder.parameters())
    with pytest.raises(ValueError, match="strategy"):
        linear_kernel_gramian(losses, z, recorder, params, strategy="fast")
    with pytest.raises(TypeError, match="LinearRecorder"):
        linear_kernel_gramian(losses, z, object(), params)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="params is empty"):
        linear_kernel_gramian(losses, z, recorder, [])
    with pytest.raises(ValueError, match="more than once"):
        linear_kernel_gramian(losses, z, recorder, params + params[:1])
    with pytest.raises(ValueError, match="require grad"):
        linear_kernel_gramian(losses.detach(), z, recorder, params)
    with pytest.raises(ValueError, match="at least one module"):
        LinearRecorder()
    with pytest.raises(TypeError, match=r"nn\.Module"):
        LinearRecorder(torch.zeros(3))  # type: ignore[arg-type]


class _KeywordCall(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(4, 6)
        self.second = nn.Linear(6, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.second(input=torch.tanh(self.first(input=x)))


def test_layer_called_with_keyword_input() -> None:
    torch.manual_seed(0)
    encoder = _KeywordCall().double()
    recorder, z, losses = _recorded(encoder, torch.randn(5, 4, dtype=torch.float64))
    params = list(encoder.parameters())
    _assert_gramian_close(linear_kernel_gramian(losses, z, recorder, params),
                          loop_gramian(losses, params), torch.float64)


@pytest.mark.parametrize("encoder_kind", ["linear", "layernorm"])
def test_gramian_with_fallback(encoder_kind: str) -> None:
    torch.manual_seed(0)
    middle = nn.LayerNorm(6) if encoder_kind == "layernorm" else nn.Tanh()
    encoder = nn.Sequential(nn.Linear(4, 6), middle, nn.Linear(6, 3)).double()
    recorder, z, losses = _recorded(encoder, torch.randn(5, 4, dtype=torch.float64))
    params = list(encoder.parameters())
    ref = loop_gramian(losses, params)
    for rec in (recorder, None):
        _assert_gramian_close(gramian_with_fallback(losses, params, z, rec), ref, torch.float64)
