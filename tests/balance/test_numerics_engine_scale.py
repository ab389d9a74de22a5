"""The engine's Gramian at extreme float32 scales, through :func:`tasklens.balance.backward`.

Multiplying every task loss by ``s`` multiplies every task gradient by ``s``. With float32
gradients of size ~1e-25 their squares underflow (the Gramian became 0 and MGDA / UPGrad /
Nash-MTL silently returned their zero-gradient fallback); at ~1e20 they overflow (the step
stopped with "gramian contains NaN or infinite value(s)"). The engine now rescales by powers of
two before the products (see :mod:`tasklens.balance._gramian`), so the float32 weights at
scale ``s`` must equal the weights of a float64 copy of the model at scale 1 after each
method's scale law: MGDA / UPGrad weights are invariant, Nash-MTL's (``G w = 1/w``) scale as
``1/s``. Every route is covered: the Jacobian, the chunked Gramian, the kernel Gramian of the
recorded ``nn.Linear`` calls, and the representation level.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from tasklens import balance
from tasklens.balance._gramian import gramian, symmetrize
from tasklens.balance.kernel_gramian import LinearRecorder, linear_kernel_gramian

SCALES = (1e-25, 1e20)
METHODS = {"mgda": 0.0, "upgrad": 0.0, "nash_mtl": -1.0}  # weight exponent under losses → s·losses
ROUTES = ("jacobian", "chunked_gramian", "kernel_gramian", "representation")
K = 3


def _model(dtype: torch.dtype) -> tuple[nn.Module, list[nn.Module]]:
    gen = torch.Generator().manual_seed(3)
    encoder = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 5))
    heads = [nn.Linear(5, 1) for _ in range(K)]
    for module in [encoder, *heads]:
        for p in module.parameters():
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=gen))
    return encoder.to(dtype), [h.to(dtype) for h in heads]


def _step(encoder: nn.Module, heads: list[nn.Module], method: balance.BalanceMethod, route: str,
          scale: float, dtype: torch.dtype,
          seed: int = 11) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Weights of one balanced step and the produced gradients of every parameter."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 4, generator=gen, dtype=torch.float64).to(dtype)
    y = torch.randn(8, K, generator=gen, dtype=torch.float64).to(dtype)
    recorder = LinearRecorder(encoder) if route == "kernel_gramian" else None
    if recorder is not None:
        with recorder:
            z = encoder(x)
    else:
        z = encoder(x)
    losses = torch.stack([((h(z).squeeze(1) - y[:, k]) ** 2).mean() for k, h in enumerate(heads)])
    shared = list(encoder.parameters())
    level = "representation" if route == "representation" else "parameter"
    result = balance.backward(losses * scale, z, method, shared_params=shared,
                              level=level, gramian_only=route == "chunked_gramian",
                              recorder=recorder)
    params = shared + [p for h in heads for p in h.parameters()]
    assert result.weights is not None
    return result.weights, [p.grad for p in params]  # type: ignore[misc]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("method", sorted(METHODS))
def test_float32_weights_at_extreme_scale_match_float64(method: str, scale: float,
                                                        route: str) -> None:
    encoder32, heads32 = _model(torch.float32)
    encoder64, heads64 = copy.deepcopy(encoder32).double(), [copy.deepcopy(h).double()
                                                             for h in heads32]
    got, grads = _step(encoder32, heads32, balance.get(method), route, scale, torch.float32)
    ref, _ = _step(encoder64, heads64, balance.get(method), route, 1.0, torch.float64)
    # the uniform fallback must not pass by chance: the reference is far from uniform
    assert float((ref / ref.sum() - 1.0 / K).abs().max()) > 1e-2
    expected = ref * scale ** METHODS[method]
    torch.testing.assert_close(got.double(), expected, rtol=1e-4, atol=0)
    for g in grads:
        assert g is not None and bool(torch.isfinite(g).all())


@pytest.mark.parametrize("route", ("jacobian", "representation"))
def test_excess_mtl_float32_at_1e20_is_finite_and_matches_float64(route: str) -> None:
    encoder32, heads32 = _model(torch.float32)
    encoder64, heads64 = copy.deepcopy(encoder32).double(), [copy.deepcopy(h).double()
                                                             for h in heads32]
    method32, method64 = balance.get("excess_mtl"), balance.get("excess_mtl")
    # two batches: the first sets the baseline, the second moves the weights
    for seed in (1, 2):
        got, grads = _step(encoder32, heads32, method32, route, 1e20, torch.float32, seed)
        ref, _ = _step(encoder64, heads64, method64, route, 1e20, torch.float64, seed)
        for g in grads:
            assert g is not None and bool(torch.isfinite(g).all())
        torch.testing.assert_close(got.double(), ref, rtol=1e-4, atol=0)
    assert float((ref - 1.0).abs().max()) > 1e-4  # the weights did move off uniform



@pytest.mark.parametrize("scale", SCALES)
def test_gramian_helper_rescales_rows_of_any_scale(scale: float) -> None:
    gen = torch.Generator().manual_seed(5)
    base = torch.randn(K, 40, generator=gen, dtype=torch.float64)
    base[1] *= 1e-6  # rows of different scales: one per-row exponent each
    jac32 = (base * scale).to(torch.float32)
    jac64 = jac32.double()
    ref = jac64 @ jac64.T  # float64 holds the true values (1e-62 ... 1e42)
    got = gramian(jac32)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=0)
    torch.testing.assert_close(got, got.T, rtol=0, atol=0)
    # gradients in the safe range: the plain product, unchanged and in the Jacobian's dtype
    plain = base.to(torch.float32)
    torch.testing.assert_close(gramian(plain), symmetrize(plain @ plain.T), rtol=0, atol=0)


@pytest.mark.parametrize("strategy", ("kernel", "explicit", "auto"))
@pytest.mark.parametrize("scale", SCALES)
def test_kernel_gramian_at_extreme_scale_matches_autograd(scale: float, strategy: str) -> None:
    encoder, heads = _model(torch.float32)
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(2))
    recorder = LinearRecorder(encoder)
    with recorder:
        z = encoder(x)
    losses = torch.stack([h(z).pow(2).mean() for h in heads]) * scale
    params = list(encoder.parameters())
    got = linear_kernel_gramian(losses, z, recorder, params, strategy=strategy)
    rows = [torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params,
                                                                  retain_graph=True)])
            for loss in losses]
    jac = torch.stack(rows).double()  # float32 gradients of size ~s: representable
    torch.testing.assert_close(got, jac @ jac.T, rtol=1e-4, atol=0)
    torch.testing.assert_close(got, got.T, rtol=0, atol=0)
