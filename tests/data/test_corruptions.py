"""Test-time corruptions against hand computations: identity parameters, a brute-force
convolution loop, the exact contrast formula, the noise's standard deviation, seeding,
clipping and input checks."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from tasklens.data import CORRUPTIONS, corrupt
from tasklens.data.corruptions import (
    SEVERITY_LEVELS,
    contrast,
    gaussian_blur,
    gaussian_noise,
    haze,
)


def _batch(n: int = 5, c: int = 3, h: int = 8, w: int = 7, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, c, h, w))


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_severity_zero_is_the_identity(name: str) -> None:
    x = _batch()
    assert np.array_equal(corrupt(x, name, 0, seed=1), x)
    xt = torch.from_numpy(x)
    out = corrupt(xt, name, 0, seed=1)
    assert isinstance(out, torch.Tensor) and torch.equal(out, xt)


@pytest.mark.parametrize(("fn", "arg"), [(contrast, 1.0), (gaussian_blur, 0.0),
                                         (haze, 0.0), (gaussian_noise, 0.0)])
def test_identity_parameters_return_the_input(fn, arg) -> None:
    x = _batch(seed=3)
    assert np.array_equal(fn(x, arg), x)


def test_contrast_scales_deviations_from_the_per_image_mean_exactly() -> None:
    x = _batch(seed=4)
    for factor in (0.0, 0.05, 0.3, 0.9):
        out = contrast(x, factor, data_range=None)
        for i in range(len(x)):
            m = x[i].sum() / x[i].size  # per-image mean over C, H, W
            np.testing.assert_allclose(out[i] - m, factor * (x[i] - m), rtol=0, atol=1e-12)
            assert out[i].mean() == pytest.approx(m, abs=1e-12)


def _brute_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """2-D convolution with the outer-product Gaussian, edges replicated, by loops."""
    r = math.ceil(3 * sigma)
    k1 = np.array([math.exp(-d * d / (2 * sigma * sigma)) for d in range(-r, r + 1)])
    k1 /= k1.sum()
    n, c, h, w = x.shape
    out = np.zeros_like(x)
    for i in range(h):
        for j in range(w):
            acc = np.zeros((n, c))
            for a in range(-r, r + 1):
                for b in range(-r, r + 1):
                    ii, jj = min(max(i + a, 0), h - 1), min(max(j + b, 0), w - 1)
                    acc += k1[a + r] * k1[b + r] * x[:, :, ii, jj]
            out[:, :, i, j] = acc
    return out


@pytest.mark.parametrize("sigma", [0.4, 1.0, 1.5])
def test_blur_equals_a_brute_force_convolution(sigma: float) -> None:
    x = _batch(n=2, c=2, h=6, w=9, seed=5)
    np.testing.assert_allclose(gaussian_blur(x, sigma, data_range=None), _brute_blur(x, sigma),
                               rtol=0, atol=1e-12)


def test_blur_keeps_a_constant_image_and_its_mean() -> None:
    x = np.full((3, 3, 8, 8), 0.37)
    for sev in range(1, 6):
        out = corrupt(x, "blur", sev)
        np.testing.assert_allclose(out, x, rtol=0, atol=1e-12)
        assert out.mean() == pytest.approx(0.37, abs=1e-12)


def test_noise_has_the_requested_std() -> None:
    # no clipping, 2e5 draws: the sample std of N(0, s²) has SE ≈ s / sqrt(2 · 2e5) ≈ 0.16 %
    x = np.full((50, 4, 32, 32), 0.5)
    for std in (0.08, 0.38):
        eps = gaussian_noise(x, std, seed=7, data_range=None) - x
        assert eps.std() == pytest.approx(std, rel=0.01)
        assert abs(eps.mean()) < 5 * std / math.sqrt(eps.size)


def test_noise_is_x_plus_std_times_the_seeded_normals() -> None:
    x = _batch(seed=8)
    eps = np.random.default_rng(9).standard_normal(x.shape)
    np.testing.assert_allclose(gaussian_noise(x, 0.2, seed=9, data_range=None), x + 0.2 * eps,
                               rtol=0, atol=1e-12)


def test_haze_blends_toward_a_bright_smooth_field() -> None:
    x = np.zeros((4, 3, 16, 16))
    out = haze(x, 1.0, seed=2)  # strength 1: the field itself
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.mean() > 0.6  # bright
    assert np.array_equal(out[:, 0], out[:, 2])  # one field shared by the channels
    # smooth: neighbouring pixels differ far less than independent pixels would
    assert np.abs(np.diff(out, axis=-1)).max() < 0.15
    half = haze(x, 0.5, seed=2)
    np.testing.assert_allclose(half, 0.5 * out, rtol=0, atol=1e-12)  # linear in strength


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_deterministic_given_seed_and_clipped(name: str) -> None:
    x = _batch(seed=10).astype(np.float32)
    a, b = corrupt(x, name, 5, seed=3), corrupt(x, name, 5, seed=3)
    assert np.array_equal(a, b) and a.dtype == np.float32 and a.shape == x.shape
    assert a.min() >= 0.0 and a.max() <= 1.0
    assert not np.array_equal(a, x)
    if name in ("haze", "gaussian_noise"):
        assert not np.array_equal(a, corrupt(x, name, 5, seed=4))
    # a shifted data range clips there
    c = corrupt(x - 0.5, name, 5, seed=3, data_range=(-0.5, 0.5))
    assert c.min() >= -0.5 and c.max() <= 0.5


def test_severity_grows_the_distortion() -> None:
    x = _batch(seed=11)
    for name in CORRUPTIONS:
        dist = [np.abs(corrupt(x, name, s, seed=0) - x).mean() for s in range(6)]
        assert dist[0] == 0.0 and all(b > a for a, b in itertools.pairwise(dist)), name
    assert all(len(v) == 5 for v in SEVERITY_LEVELS.values())


@pytest.mark.parametrize("severity", [-1, 6, 2.5, True, "3"])
def test_bad_severity_is_a_clear_error(severity) -> None:
    with pytest.raises((ValueError, TypeError), match="severity"):
        corrupt(_batch(), "blur", severity)


def test_bad_inputs_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="corruption"):
        corrupt(_batch(), "fog", 1)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        corrupt(np.zeros((3, 8, 8)), "blur", 1)
    with pytest.raises(TypeError, match="floating"):
        corrupt(np.zeros((1, 1, 4, 4), dtype=np.uint8), "contrast", 1)
    with pytest.raises(TypeError, match="Tensor or numpy"):
        corrupt([[[[0.0]]]], "contrast", 1)
    with pytest.raises(ValueError, match="factor"):
        contrast(_batch(), 1.5)
    with pytest.raises(ValueError, match="strength"):
        haze(_batch(), -0.1)
    with pytest.raises(ValueError, match="data_range"):
        gaussian_noise(_batch(), 0.1, data_range=(1.0, 0.0))
    with pytest.raises(TypeError, match="seed"):
        gaussian_noise(_batch(), 0.1, seed=1.5)
