"""The kernel-route Gramian of convolutional and batch-normalised encoders against a plain
per-task autograd loop.

Reference: ``J Jᵀ`` with ``J``'s rows from one ``torch.autograd.grad(L_k, params)`` call per
task (no hooks, no unfolding, no batching) — independent of the code under test. Layers the
route does not cover must raise :class:`KernelGramianError`, and the fallback must still give
the reference Gramian.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from tasklens.balance._conv_gramian import conv_gramian_costs, recordable
from tasklens.balance.kernel_gramian import (
    KernelGramianError,
    LayerRecorder,
    LinearRecorder,
    gramian_with_fallback,
    linear_gramian_costs,
    linear_kernel_gramian,
    recorder_for,
)
from tasklens.nn import LeNetEncoder, SmallResNet

from ._gramian_reference import head_loss, loop_gramian

RTOL = {torch.float32: 1e-4, torch.float64: 1e-10}


def _losses(z: Tensor, k: int, seed: int) -> Tensor:
    """K scalar losses from K linear heads on the flattened z, regression plus a tanh term."""
    gen = torch.Generator().manual_seed(seed)
    flat = z.reshape(z.shape[0], -1) if z.dim() > 1 else z.reshape(1, -1)
    losses = []
    for _ in range(k):
        w = torch.randn(flat.shape[1], 2, generator=gen, dtype=z.dtype)
        losses.append(head_loss(flat @ w / flat.shape[1] ** 0.5, gen))
    return torch.stack(losses)


def _compare(encoder: nn.Module, x: Tensor, k: int, strategy: str = "auto",
             params: list[Tensor] | None = None, seed: int = 0) -> tuple[Tensor, Tensor]:
    recorder = LinearRecorder(encoder)
    with recorder:
        z = encoder(x)
    losses = _losses(z, k, seed)
    params = list(encoder.parameters()) if params is None else params
    ref = loop_gramian(losses, params)
    got = linear_kernel_gramian(losses, z, recorder, params, strategy=strategy)
    return got, ref


def _assert_close(got: Tensor, ref: Tensor, dtype: torch.dtype) -> None:
    assert got.shape == ref.shape and got.dtype == ref.dtype
    scale = float(ref.abs().max())
    err = float((got - ref).abs().max())
    assert err <= RTOL[dtype] * max(scale, 1e-30), f"max error {err:.3e} vs scale {scale:.3e}"
    torch.testing.assert_close(got, got.T, rtol=0, atol=0)


def _conv_net(dtype: torch.dtype, seed: int, **conv: object) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(4, 6, 3, **conv), nn.Tanh(),  # type: ignore[arg-type]
                         nn.Conv2d(6, 4, 2, groups=2, bias=False)).to(dtype)


@pytest.mark.parametrize(("stride", "padding", "dilation", "groups", "bias"),
                         list(itertools.product([1, 2], [0, 1], [1, 2], [1, 2], [True, False])))
def test_conv_matches_per_task_loop(stride, padding, dilation, groups, bias) -> None:
    for k, dtype, strategy in itertools.product([1, 3], [torch.float64, torch.float32],
                                                ["kernel", "explicit"]):
        net = _conv_net(dtype, 0, stride=stride, padding=padding, dilation=dilation,
                        groups=groups, bias=bias)
        x = torch.randn(3, 4, 9, 8, generator=torch.Generator().manual_seed(1), dtype=dtype)
        got, ref = _compare(net, x, k, strategy)
        _assert_close(got, ref, dtype)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("padding_mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", ["same", "valid", (1, 2)])
def test_padding_modes_and_string_paddings(padding, padding_mode) -> None:
    if padding == "valid" and padding_mode != "zeros":
        pytest.skip("nothing to pad")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, (3, 4), padding=padding, dilation=(2, 1),
                                  padding_mode=padding_mode), nn.GELU()).double()
    x = torch.randn(2, 2, 7, 9, dtype=torch.float64)
    got, ref = _compare(net, x, 3)
    _assert_close(got, ref, torch.float64)


def test_unbatched_input_and_depthwise_groups() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(4, 8, 3, groups=4, padding=1), nn.ReLU(),
                        nn.Conv2d(8, 2, 1)).double()
    got, ref = _compare(net, torch.randn(4, 6, 5, dtype=torch.float64), 3)
    _assert_close(got, ref, torch.float64)


@settings(max_examples=20, deadline=None)
@given(cin=st.integers(1, 4), cout=st.integers(1, 3), kh=st.integers(1, 3), kw=st.integers(1, 3),
       stride=st.integers(1, 3), padding=st.integers(0, 2), dilation=st.integers(1, 2),
       groups=st.sampled_from([1, 2]), batch=st.integers(1, 4), k=st.integers(1, 5),
       strategy=st.sampled_from(["auto", "kernel", "explicit"]), seed=st.integers(0, 99))
def test_random_conv_layers(cin, cout, kh, kw, stride, padding, dilation, groups, batch, k,
                            strategy, seed) -> None:
    cin, cout = cin * groups, cout * groups
    side = dilation * (max(kh, kw) - 1) + 1 + seed % 5  # at least one output position
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(cin, cout, (kh, kw), stride, padding, dilation, groups),
                        nn.Tanh()).double()
    x = torch.randn(batch, cin, side, side + 1, dtype=torch.float64)
    got, ref = _compare(net, x, k, strategy, seed=seed)
    _assert_close(got, ref, torch.float64)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_conv_and_linear_mixed(dtype) -> None:
    torch.manual_seed(0)
    enc = LeNetEncoder((1, 8, 8), out_features=5, channels=(3, 4)).to(dtype)
    x = torch.randn(6, 1, 8, 8, dtype=dtype)
    for k in (1, 3):
        got, ref = _compare(enc, x, k)
        _assert_close(got, ref, dtype)


@pytest.mark.parametrize("train", [True, False])
def test_batch_norm_is_exact(train) -> None:
    # the default image encoder: convolutions without bias, batch norm, a linear layer
    torch.manual_seed(0)
    enc = SmallResNet((2, 8, 8), out_features=5, channels=(3, 4)).double()
    with torch.no_grad():  # non-trivial running statistics and affine parameters
        enc.train()
        enc(torch.randn(8, 2, 8, 8, dtype=torch.float64) * 2 + 1)
        for m in enc.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    enc.train(train)
    assert recorder_for(enc, list(enc.parameters())) is not None
    x = torch.randn(5, 2, 8, 8, dtype=torch.float64)
    got, ref = _compare(enc, x, 3)
    _assert_close(got, ref, torch.float64)
    # a subset of the parameters (only the batch-norm ones) is a subset of the Gramian
    bn_params = [p for m in enc.modules() if isinstance(m, nn.BatchNorm2d)
                 for p in m.parameters()]
    got, ref = _compare(enc, x, 3, params=bn_params)
    _assert_close(got, ref, torch.float64)


@pytest.mark.parametrize("shape", [(7, 3), (7, 3, 5)])
@pytest.mark.parametrize("options", [{}, {"momentum": None}, {"track_running_stats": False}])
@pytest.mark.parametrize("train", [True, False])
def test_batch_norm_1d(shape, options, train) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.BatchNorm1d(3, **options), nn.Tanh()).double()
    with torch.no_grad():
        net(torch.randn(*shape, dtype=torch.float64) * 3 - 1)  # running statistics ≠ (0, 1)
        net[0].weight.uniform_(0.5, 1.5)
    net.train(train)
    got, ref = _compare(net, torch.randn(*shape, dtype=torch.float64), 2)
    _assert_close(got, ref, torch.float64)


@pytest.mark.parametrize("make", [
    lambda: nn.Sequential(nn.Conv2d(2, 3, 3), nn.GroupNorm(1, 3), nn.Flatten(), nn.Linear(27, 4)),
    lambda: nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten(), nn.LayerNorm(27)),
    lambda: nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(inplace=True)),  # pre-activation lost
    lambda: nn.Sequential(nn.Flatten(start_dim=2), nn.Conv1d(2, 3, 3)),
])
def test_uncovered_layers_fall_back_to_the_exact_gramian(make) -> None:
    torch.manual_seed(0)
    net = make().double()
    x = torch.randn(4, 2, 5, 5, dtype=torch.float64)
    recorder = LinearRecorder(net)
    with recorder:
        z = net(x)
    losses = _losses(z, 3, 0)
    params = list(net.parameters())
    with pytest.raises(KernelGramianError):
        linear_kernel_gramian(losses, z, recorder, params)
    got = gramian_with_fallback(losses, params, z, recorder)
    _assert_close(got, loop_gramian(losses, params), torch.float64)


def test_which_layers_are_covered() -> None:
    assert recordable(nn.Conv2d(1, 1, 1)) and recordable(nn.BatchNorm2d(2))
    assert recordable(nn.BatchNorm1d(2)) and recordable(nn.BatchNorm3d(2))
    # SyncBatchNorm's statistics span processes; Conv1d/3d, GroupNorm are not covered
    for module in (nn.SyncBatchNorm(2), nn.Conv1d(1, 1, 1), nn.Conv3d(1, 1, 1),
                   nn.GroupNorm(1, 2), nn.LayerNorm(2)):
        assert not recordable(module)
    assert LayerRecorder is LinearRecorder
    enc = nn.Sequential(nn.Conv2d(1, 2, 3), nn.GroupNorm(1, 2))
    assert recorder_for(enc, list(enc.parameters())) is None
    assert recorder_for(enc, list(enc[0].parameters())) is not None


def test_cost_model() -> None:
    # one group: the linear costs with rows = N·L, in = C_in·kh·kw, out = C_out
    assert conv_gramian_costs(4, 25, 3, 8, (3, 3), 1, 5) == linear_gramian_costs(100, 27, 8, 5)
    # g groups: g linear problems of C_in/g·kh·kw inputs and C_out/g outputs
    assert conv_gramian_costs(4, 25, 6, 8, (3, 3), 2, 5) == {
        k: 2 * v for k, v in linear_gramian_costs(100, 27, 4, 5).items()}
    # images: many (sample, position) rows, so the explicit form is the cheaper one
    costs = conv_gramian_costs(256, 36 * 36, 32, 32, (3, 3), 1, 40)
    assert costs["explicit"] < costs["kernel"]


class _StandardizedConv(nn.Conv2d):
    """Weight standardisation: the forward does not apply ``weight`` itself."""

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight
        w = (w - w.mean(dim=(1, 2, 3), keepdim=True)) / (w.std(dim=(1, 2, 3), keepdim=True) + 1)
        return self._conv_forward(x, w, self.bias)


@pytest.mark.parametrize("strategy", ["kernel", "explicit", "auto"])
def test_a_conv_subclass_with_its_own_forward_is_still_exact(strategy) -> None:
    # the patch-kernel form would give the Gramian w.r.t. the standardised weight: the route
    # must take the layer's own parameter gradients instead
    torch.manual_seed(0)
    net = nn.Sequential(_StandardizedConv(2, 3, 2), nn.Tanh()).double()
    got, ref = _compare(net, torch.randn(2, 2, 4, 4, dtype=torch.float64), 3, strategy)
    _assert_close(got, ref, torch.float64)


@pytest.mark.parametrize(("use_features", "chunk_size"), [(False, None), (True, 1), (False, 2)])
def test_without_features_and_in_chunks(use_features, chunk_size) -> None:
    torch.manual_seed(0)
    enc = SmallResNet((1, 6, 6), out_features=4, channels=(2,)).double()
    recorder = LinearRecorder(enc)
    with recorder:
        z = enc(torch.randn(3, 1, 6, 6, dtype=torch.float64))
    losses = _losses(z, 3, 0)
    params = list(enc.parameters())
    got = linear_kernel_gramian(losses, z if use_features else None, recorder, params,
                                chunk_size=chunk_size)
    _assert_close(got, loop_gramian(losses, params), torch.float64)
