"""Batch transforms against hand computations (per-sample loops, NumPy padding), seeding
and input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tasklens.data.transforms import (
    ColorJitter,
    Compose,
    GaussianNoise,
    RandomCrop,
    RandomHorizontalFlip,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _batch(n: int = 16, c: int = 3, h: int = 7, w: int = 9, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, c, h, w, generator=_gen(seed), dtype=torch.float64)


# ------------------------------------------------------------------ flip
def test_flip_mirrors_exactly_the_drawn_rows():
    x = _batch()
    out = RandomHorizontalFlip(0.5)(x, _gen(3))
    chosen = torch.rand(len(x), generator=_gen(3)) < 0.5
    assert 0 < int(chosen.sum()) < len(x)  # both branches exercised
    for i in range(len(x)):
        # an independent mirror: reversed column indices
        expected = x[i][:, :, list(range(x.shape[3] - 1, -1, -1))] if chosen[i] else x[i]
        assert torch.equal(out[i], expected), i


@pytest.mark.parametrize(("p", "flipped"), [(0.0, False), (1.0, True)])
def test_flip_probability_bounds(p, flipped):
    x = _batch()
    out = RandomHorizontalFlip(p)(x, _gen())
    assert torch.equal(out, torch.flip(x, dims=[3]) if flipped else x)


# ------------------------------------------------------------------ crop
@pytest.mark.parametrize(("size", "padding", "mode"),
                         [(None, 2, "constant"), (5, 0, "constant"), ((4, 6), 1, "reflect"),
                          (None, 3, "replicate")])
def test_crop_matches_numpy_pad_and_slices(size, padding, mode):
    x = _batch()
    n, _, height, width = x.shape
    out = RandomCrop(size, padding=padding, padding_mode=mode, fill=0.25)(x, _gen(4))
    h, w = (height, width) if size is None else ((size, size) if isinstance(size, int)
                                                 else size)
    g = _gen(4)  # the documented draws: top for every sample, then left
    top = torch.randint(0, height + 2 * padding - h + 1, (n,), generator=g)
    left = torch.randint(0, width + 2 * padding - w + 1, (n,), generator=g)
    np_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}[mode]
    kw = {"constant_values": 0.25} if mode == "constant" else {}
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (padding, padding), (padding, padding)),
                    mode=np_mode, **kw)
    assert out.shape == (n, x.shape[1], h, w)
    assert len(set(zip(top.tolist(), left.tolist()))) > 1  # offsets vary across samples
    for i in range(n):
        t, l_ = int(top[i]), int(left[i])
        np.testing.assert_array_equal(out[i].numpy(), padded[i, :, t:t + h, l_:l_ + w])


def test_crop_refuses_a_window_larger_than_the_padded_image():
    with pytest.raises(ValueError, match="exceeds the padded images"):
        RandomCrop(12, padding=1)(_batch(), _gen())


# ------------------------------------------------------------------ noise
def test_noise_has_the_asked_std_and_the_documented_draw():
    x = torch.rand(64, 1, 32, 32, generator=_gen(2))
    out = GaussianNoise(0.3)(x, _gen(5))
    diff = (out - x).double()
    # 65,536 draws: the sample std is within ~0.3 % of sigma (1 s.e.); allow 2 %
    assert abs(float(diff.std()) - 0.3) < 0.006
    assert abs(float(diff.mean())) < 0.006
    eps = torch.randn(x.shape, generator=_gen(5))
    torch.testing.assert_close(out, x + 0.3 * eps)


# ------------------------------------------------------------------ colour jitter
def _jitter_by_hand(x: np.ndarray, b: float, c: float, s: float,
                    factors: list[np.ndarray]) -> np.ndarray:
    out = x.copy()
    for i in range(len(x)):
        img = out[i]
        k = 0
        if b:
            img = factors[k][i] * img
            k += 1
        if c:
            grey = 0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2]
            img = factors[k][i] * img + (1 - factors[k][i]) * grey.mean()
            k += 1
        if s:
            grey = 0.299 * img[0] + 0.587 * img[1] + 0.114 * img[2]
            img = factors[k][i] * img + (1 - factors[k][i]) * grey[None]
        out[i] = img
    return out


@pytest.mark.parametrize(("b", "c", "s"), [(0.4, 0.0, 0.0), (0.0, 0.5, 0.0), (0.0, 0.0, 0.8),
                                           (0.3, 0.6, 1.5)])
def test_colour_jitter_matches_the_formula(b, c, s):
    x = _batch(n=6)
    out = ColorJitter(b, c, s)(x, _gen(6))
    g = _gen(6)
    factors = []
    for v in (b, c, s):  # one U[max(0, 1 - v), 1 + v] factor per image, in this order
        if v:
            low, high = max(0.0, 1 - v), 1 + v
            u = torch.rand(len(x), generator=g, dtype=torch.float64).numpy()
            factors.append(low + (high - low) * u)
    np.testing.assert_allclose(out.numpy(), _jitter_by_hand(x.numpy(), b, c, s, factors),
                               rtol=1e-12, atol=1e-12)


def test_contrast_on_grey_images_uses_the_image_mean():
    x = _batch(n=4, c=1)
    out = ColorJitter(contrast=0.5)(x, _gen(7))
    f = 0.5 + torch.rand(4, generator=_gen(7), dtype=torch.float64)
    for i in range(4):
        expected = f[i] * x[i] + (1 - f[i]) * x[i].mean()
        torch.testing.assert_close(out[i], expected)


# ------------------------------------------------------------------ seeding and compose
def _pipeline() -> Compose:
    return Compose([RandomHorizontalFlip(), RandomCrop(padding=2), GaussianNoise(0.1),
                    ColorJitter(0.2, 0.2, 0.2)])


def test_same_seed_same_batch_other_seed_other_batch():
    x = _batch()
    a, b, c = (_pipeline()(x, _gen(s)) for s in (11, 11, 12))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_compose_is_the_transforms_in_order_on_one_generator():
    x = _batch()
    parts = _pipeline().transforms
    g = _gen(8)
    expected = x
    for t in parts:
        expected = t(expected, g)
    assert torch.equal(_pipeline()(x, _gen(8)), expected)


def test_transforms_do_not_touch_the_global_rng():
    state = torch.get_rng_state()
    _pipeline()(_batch(), _gen(0))
    assert torch.equal(torch.get_rng_state(), state)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("t", [RandomHorizontalFlip(), RandomCrop(padding=1),
                               GaussianNoise(0.1), ColorJitter(0.1)])
def test_non_image_batches_are_refused(t):
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        t(torch.rand(8, 36), _gen())
    with pytest.raises(TypeError, match="floating"):
        t(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), _gen())
    with pytest.raises(TypeError, match="generator"):
        t(torch.rand(2, 1, 4, 4), 0)


@pytest.mark.parametrize(("build", "match"), [
    (lambda: RandomHorizontalFlip(1.5), "p must be <= 1"),
    (lambda: GaussianNoise(-0.1), "std must be >= 0"),
    (lambda: GaussianNoise(float("inf")), "std must be finite"),
    (lambda: ColorJitter(brightness="0.2"), "brightness must be"),
    (lambda: RandomCrop(), "neither size nor padding"),
    (lambda: RandomCrop(0), r"size\[0\] must be >= 1"),
    (lambda: RandomCrop((3, 4, 5)), "size must be an int or"),
    (lambda: RandomCrop(padding=1, padding_mode="wrap"), "padding_mode"),
    (lambda: Compose([RandomHorizontalFlip(), "flip"]), "Transform"),
])
def test_bad_arguments_are_named(build, match):
    with pytest.raises((TypeError, ValueError), match=match):
        build()


def test_saturation_needs_rgb():
    with pytest.raises(ValueError, match="3 channels"):
        ColorJitter(saturation=0.2)(_batch(c=1), _gen())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_transforms_run_on_the_batch_device():
    from tasklens.train.augment import augment_batch

    x = _batch().float().cuda()
    out = augment_batch(_pipeline(), x, seed=0, epoch=0, step=0)
    assert out.device == x.device and out.shape == x.shape
    flipped = RandomHorizontalFlip(0.5)(x, torch.Generator(device="cuda").manual_seed(3))
    chosen = torch.rand(len(x), generator=torch.Generator(device="cuda").manual_seed(3),
                        device="cuda") < 0.5
    for i in range(len(x)):
        assert torch.equal(flipped[i], x[i].flip(-1) if chosen[i] else x[i])
    # a CPU generator also serves a CUDA batch (its draws are moved)
    assert RandomCrop(padding=1)(x, _gen()).device == x.device
