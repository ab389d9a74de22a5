"""Encoders and decoder: shapes, the 003 App. A layout, linear algebra, errors, seeding.

References: Table 2 of Maziarka et al. 2022 transcribed below by hand; the output size
formulas of (transposed) convolutions; matrix products computed with numpy.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from tasklens.nn import (
    ConvDecoder,
    ConvEncoder,
    LeNetEncoder,
    LinearEncoder,
    MLPEncoder,
    SmallResNet,
    default_encoder_channels,
    encoder_for,
    get_activation,
)

# Maziarka et al. 2022, Appendix A, Table 2: (type, kernel, stride, outputs)
TABLE2_ENCODER = [("conv", 4, 2, 32), ("conv", 4, 2, 32), ("conv", 4, 2, 64),
                  ("conv", 4, 2, 128), ("conv", 4, 2, 256), ("conv", 4, 2, 256)]
TABLE2_DECODER = [("conv", 1, 2, 256), ("convT", 4, 2, 256), ("convT", 4, 2, 128),
                  ("convT", 4, 2, 128), ("convT", 4, 2, 64), ("convT", 4, 2, 64),
                  ("convT", 3, 1, "C")]


def _conv_layout(module: nn.Module) -> list[tuple]:
    out = []
    for m in module.modules():
        if isinstance(m, nn.ConvTranspose2d):
            out.append(("convT", m.kernel_size[0], m.stride[0], m.out_channels))
        elif isinstance(m, nn.Conv2d):
            out.append(("conv", m.kernel_size[0], m.stride[0], m.out_channels))
    return out


def test_conv_encoder_is_table2_for_64x64() -> None:
    enc = ConvEncoder((3, 64, 64), out_features=10)
    assert _conv_layout(enc) == TABLE2_ENCODER
    assert enc.feature_shape == (256, 1, 1)
    assert enc.dense.in_features == 256 and enc.dense.out_features == 10
    acts = [m for m in enc.modules() if isinstance(m, nn.ReLU)]
    assert len(acts) == 6  # ReLU after every conv (Table 2), none after the dense code
    assert enc(torch.zeros(2, 3, 64, 64)).shape == (2, 10)


def test_conv_decoder_is_table2_and_sizes_follow_the_conv_formulas() -> None:
    dec = ConvDecoder((3, 64, 64), in_features=10)
    expected = [row if row[3] != "C" else (*row[:3], 3) for row in TABLE2_DECODER]
    assert _conv_layout(dec) == expected
    sizes = []
    hooks = [m.register_forward_hook(lambda _m, _i, o: sizes.append(o.shape[-1]))
             for m in dec.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    out = dec(torch.zeros(2, 10))
    for h in hooks:
        h.remove()
    # conv 1x1 stride 2 on 1x1: 1; convT(4,2,p=1): 2(n-1)-2+4; convT(4,2,p=0): 2(n-1)+4;
    # convT(3,1): n+2
    assert sizes == [1, 2, 6, 14, 30, 62, 64]
    assert out.shape == (2, 3, 64, 64)


@pytest.mark.parametrize("side", [4, 8, 16, 32, 128])
def test_conv_decoder_other_power_of_two_sizes(side: int) -> None:
    dec = ConvDecoder((2, side, side), in_features=5)
    assert dec(torch.zeros(3, 5)).shape == (3, 2, side, side)
    assert len(dec.channels) == int(np.log2(side))


@given(h=st.integers(2, 70), w=st.integers(2, 70), c=st.integers(1, 3))
@settings(max_examples=15, deadline=None)
def test_conv_encoder_any_image_size(h: int, w: int, c: int) -> None:
    n = len(default_encoder_channels(h, w))
    enc = ConvEncoder((c, h, w), out_features=3, channels=(2,) * n)
    assert enc(torch.zeros(1, c, h, w)).shape == (1, 3)
    assert n == min(6, int(np.floor(np.log2(min(h, w)))))
    assert enc.feature_shape[1:] == (h // 2**n, w // 2**n)


def test_mlp_encoder_shapes_and_layers() -> None:
    enc = MLPEncoder(7, hidden=(5, 4), out_features=3, activation="tanh", dropout=0.1)
    assert enc(torch.zeros(9, 7)).shape == (9, 3)
    linears = [m for m in enc.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(7, 5), (5, 4), (4, 3)]
    assert sum(isinstance(m, nn.Tanh) for m in enc.modules()) == 2
    assert MLPEncoder(7, hidden=(), out_features=3)(torch.zeros(2, 7)).shape == (2, 3)


def test_linear_encoder_is_a_matrix_product() -> None:
    enc = LinearEncoder(5, 3, depth=3, hidden=4, seed=0)
    ws = [m.weight.detach().numpy().astype(float) for m in enc.net]
    expected = ws[2] @ ws[1] @ ws[0]
    np.testing.assert_allclose(enc.product().detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    x = np.random.default_rng(1).normal(size=(6, 5)).astype(np.float32)
    out = enc(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(out, x @ expected.T, rtol=1e-4, atol=1e-5)


def test_linear_encoder_options() -> None:
    enc = LinearEncoder(400, 300, depth=2, init_scale=1e-3, seed=0)
    w = torch.cat([m.weight.flatten() for m in enc.net]).detach().numpy()
    assert abs(w.std() - 1e-3) < 5e-5 and abs(w.mean()) < 5e-5
    relu = LinearEncoder(3, 2, depth=3, relu=True)
    assert sum(isinstance(m, nn.ReLU) for m in relu.net) == 2
    with pytest.raises(ValueError, match="purely linear"):
        relu.product()
    with pytest.raises(ValueError, match="depth"):
        LinearEncoder(3, 2, depth=0)
    with pytest.raises(ValueError, match="init_scale"):
        LinearEncoder(3, 2, init_scale=-1.0)


def test_encoder_for_picks_by_input_shape() -> None:
    assert isinstance(encoder_for((5,), 3), MLPEncoder)
    # images: a small residual classifier by default, the 003 encoder by name
    assert isinstance(encoder_for((1, 16, 16), 3), SmallResNet)
    assert isinstance(encoder_for((1, 16, 16), 3, image_encoder="beta_vae"), ConvEncoder)
    assert isinstance(encoder_for((1, 16, 16), 3, image_encoder="lenet"), LeNetEncoder)
    assert isinstance(encoder_for((5,), 3, image_encoder="lenet"), MLPEncoder)
    with pytest.raises(ValueError, match="unknown image_encoder 'vgg'"):
        encoder_for((1, 16, 16), 3, image_encoder="vgg")
    with pytest.raises(ValueError, match=r"\(F,\) for feature vectors or \(C, H, W\)"):
        encoder_for((4, 4), 3)


def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown activation 'swishy'"):
        MLPEncoder(3, (4,), 2, activation="swishy")
    with pytest.raises(ValueError, match="unknown activation"):
        ConvEncoder((1, 8, 8), 2, activation="nope")
    with pytest.raises(TypeError, match="activation must be a string"):
        get_activation(nn.ReLU)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="below one pixel"):
        ConvEncoder((1, 8, 8), 2, channels=(4, 4, 4, 4))
    with pytest.raises(ValueError, match="use MLPEncoder"):
        ConvEncoder((8,), 2)
    with pytest.raises(ValueError, match="power of two"):
        ConvDecoder((1, 12, 12), 2)
    with pytest.raises(ValueError, match="needs log2"):
        ConvDecoder((1, 16, 16), 2, channels=(4, 4))
    with pytest.raises(ValueError, match="dropout"):
        MLPEncoder(3, (4,), 2, dropout=1.5)
    with pytest.raises(ValueError, match=r"must have shape \(N, 3\)"):
        MLPEncoder(3, (4,), 2)(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"must have shape \(N, 1, 8, 8\)"):
        ConvEncoder((1, 8, 8), 2)(torch.zeros(2, 1, 8, 9))


def test_seed_makes_init_reproducible_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = ConvEncoder((1, 16, 16), 4, seed=7)
    b = ConvEncoder((1, 16, 16), 4, seed=np.random.default_rng(7))
    assert torch.equal(torch.get_rng_state(), state)
    c = ConvEncoder((1, 16, 16), 4, seed=8)
    for (_, pa), (_, pb), (_, pc) in zip(a.named_parameters(), b.named_parameters(),
                                         c.named_parameters()):
        assert torch.equal(pa, pb)
        assert not torch.equal(pa, pc)
    # seed=None follows torch's global RNG, like plain torch modules
    torch.manual_seed(5)
    d = MLPEncoder(3, (4,), 2)
    torch.manual_seed(5)
    e = MLPEncoder(3, (4,), 2)
    assert all(torch.equal(p, q) for p, q in zip(d.parameters(), e.parameters()))
