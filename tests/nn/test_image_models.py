"""The default image encoder (SmallResNet) and the LeNet baseline: shapes, sizes, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tasklens.data import TaskSet
from tasklens.nn import (
    LeNetEncoder,
    SmallResNet,
    default_resnet_channels,
    encoder_for,
    hps_for,
    task_losses,
)


@pytest.mark.parametrize(("shape", "stages"), [
    ((1, 36, 36), 3), ((3, 32, 32), 3), ((1, 8, 8), 2), ((2, 12, 20), 2), ((3, 5, 7), 1),
    ((1, 2, 2), 1), ((1, 1, 1), 1),
])
def test_resnet_builds_for_image_shapes(shape, stages) -> None:
    enc = encoder_for(shape, 7, seed=0)
    assert isinstance(enc, SmallResNet) and len(enc.channels) == stages
    assert enc.channels == default_resnet_channels(shape[1], shape[2])
    out = enc(torch.randn(3, *shape))
    assert out.shape == (3, 7) and torch.isfinite(out).all()


def test_resnet_blocks_halve_the_size_and_use_identity_shortcuts_when_shapes_match() -> None:
    enc = SmallResNet((1, 16, 16), 4, channels=(8, 8, 16), seed=0)
    sizes = []
    h = enc.stem(torch.randn(2, 1, 16, 16))
    for block in enc.blocks:
        h = block(h)
        sizes.append(tuple(h.shape[1:]))
    assert sizes == [(8, 8, 8), (8, 4, 4), (16, 2, 2)]
    # a block whose shape changes needs a projection shortcut (its stride is 2 here)
    assert all(isinstance(b.shortcut, torch.nn.Sequential) for b in enc.blocks)
    # the code reads a 2×2 average-pooled map (position kept); grid=1 is global pooling
    assert enc.dense.in_features == 16 * 4
    x = torch.randn(2, 1, 16, 16)
    enc.eval()
    with torch.no_grad():
        pooled = enc.pool(enc.blocks(enc.stem(x)))
        torch.testing.assert_close(enc(x), enc.dense(pooled.flatten(1)))
        last = enc.blocks(enc.stem(x))  # (2, 16, 2, 2): the 2×2 pool is the identity
        torch.testing.assert_close(pooled, last)
    gap = SmallResNet((1, 16, 16), 4, channels=(8, 8, 16), grid=1, seed=0)
    assert gap.dense.in_features == 16
    # by default the last map is read whole: 36 → 18 → 9 → 5 (ceil halving), capped at 8
    out = SmallResNet((1, 36, 36), 4, seed=0)
    assert out.grid == 5 and out.dense.in_features == 128 * 25
    assert SmallResNet((1, 128, 128), 4, channels=(4, 4, 4), seed=0).grid == 8


def test_lenet_shapes_and_errors() -> None:
    enc = LeNetEncoder((1, 36, 36), 5, seed=0)
    assert enc(torch.randn(2, 1, 36, 36)).shape == (2, 5)
    assert enc.dense.in_features == 50 * 9 * 9
    with pytest.raises(ValueError, match="H, W >= 4"):
        LeNetEncoder((1, 3, 8))
    with pytest.raises(ValueError, match="exactly two channels"):
        LeNetEncoder((1, 8, 8), channels=(4, 4, 4))
    with pytest.raises(ValueError, match="use MLPEncoder"):
        SmallResNet((8,))


def test_default_image_hps_trains_on_a_small_image_task() -> None:
    """The digit-like task: a bright 3×3 square at one of 4 positions; 60 Adam steps."""
    rng = np.random.default_rng(0)
    n = 128
    pos = rng.integers(0, 4, n)
    x = rng.normal(0, 0.3, size=(n, 1, 12, 12)).astype(np.float32)
    for i, p in enumerate(pos):
        r, c = divmod(int(p), 2)
        x[i, 0, 6 * r + 1:6 * r + 4, 6 * c + 1:6 * c + 4] += 2.0
    ts = TaskSet.from_arrays(x, {"pos": pos, "right": (pos % 2).astype(np.float32)},
                             {"pos": "classification", "right": "binary"})
    model = hps_for(ts, code_dim=16, channels=(8, 16), head_hidden=32, head_depth=2, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt = torch.from_numpy(x)
    yt = {"pos": torch.from_numpy(pos), "right": torch.from_numpy((pos % 2).astype(np.float32))}
    first = task_losses(ts, model(xt), yt).detach()
    for _ in range(60):
        losses = task_losses(ts, model(xt), yt)
        opt.zero_grad()
        losses.sum().backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        out = model(xt)
        last = task_losses(ts, out, yt)
    assert torch.all(last < first / 10), (first, last)
    assert float((out["pos"].argmax(1) == yt["pos"]).float().mean()) == 1.0


def test_flat_image_encoder_equals_the_encoder_on_the_images() -> None:
    from tasklens.nn import FlatImageEncoder, LeNetEncoder, SmallResNet

    torch.manual_seed(0)
    images = torch.randn(4, 3, 8, 8)
    flat = images.numpy().reshape(4, -1)  # row-major, as the analysis loader flattens
    for inner in (LeNetEncoder((3, 8, 8), 5, seed=0), SmallResNet((3, 8, 8), 5, seed=0)):
        inner.eval()
        front = FlatImageEncoder(inner, (3, 8, 8))
        assert front.out_features == 5 and list(front.parameters()) == list(inner.parameters())
        torch.testing.assert_close(front(torch.from_numpy(flat)), inner(images),
                                   rtol=0, atol=0)


def test_flat_image_encoder_rejects_bad_shapes() -> None:
    from tasklens.nn import FlatImageEncoder, LeNetEncoder

    enc = FlatImageEncoder(LeNetEncoder((1, 4, 4), 3, seed=0), (1, 4, 4))
    with pytest.raises(ValueError, match=r"\(N, 16\)"):
        enc(torch.zeros(2, 15))
    with pytest.raises(ValueError, match=r"\(N, 16\)"):
        enc(torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match="in_shape"):
        FlatImageEncoder(LeNetEncoder((1, 4, 4), 3), (16,))
    with pytest.raises(TypeError, match="encoder"):
        FlatImageEncoder("lenet", (1, 4, 4))
