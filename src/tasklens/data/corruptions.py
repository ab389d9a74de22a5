"""Test-time image corruptions with severity levels 1–5 (after Hendrycks and Dietterich 2019,
"Benchmarking Neural Network Robustness to Common Corruptions and Perturbations", ICLR 2019).

Wu, Zou, Wu and Wang 2026 ("CORE-MTL: Rethinking Gradient Balancing via Causal Orthogonal
Representations", arXiv:2606.02221, Table 2 and App. J) evaluate on four corruptions of
Cityscapes-C: contrast, defocus blur, fog and Gaussian noise. This module implements
small-image analogues as deterministic (given ``seed``) functions of a batch
``x : (N, C, H, W)`` (a torch tensor or a NumPy array; the result has the input's type,
dtype and device). Every result is clipped to ``data_range`` (``None``: no clipping).

Formulas (per image ``n``; ``m_n`` is the mean of image ``n`` over C, H, W):

- :func:`contrast` ``(x, factor)``: ``x' = m_n + factor · (x − m_n)``, ``factor ∈ [0, 1]``
  (1: identity; 0: a flat image at its mean). As a convex combination of ``x`` and ``m_n``
  it never leaves the range of ``x``.
- :func:`gaussian_blur` ``(x, sigma)``: separable convolution of each channel with the
  normalised kernel ``k(d) ∝ exp(−d² / (2σ²))``, ``d = −r..r``, ``r = ceil(3σ)``, with
  edge replication (a constant image stays constant); ``sigma = 0``: identity. Stands in
  for defocus blur (a disc kernel is meaningless at 8×8 pixels).
- :func:`haze` ``(x, strength, seed)``: ``x' = (1 − strength) · x + strength · F``, where
  the haze field ``F`` (one per image, shared by the channels) is bright and smooth:
  ``F = lo + (hi − lo) · clip(0.85 + 0.15 · S, 0, 1)``, ``S`` a standard normal field drawn
  on a 3×3 grid and bilinearly upsampled to H×W (``lo, hi`` = ``data_range``, default
  (0, 1)). ``strength ∈ [0, 1]``; 0: identity. Stands in for fog.
- :func:`gaussian_noise` ``(x, std, seed)``: ``x' = x + std · ε``, ``ε ~ N(0, 1)`` i.i.d.;
  ``std = 0``: identity.

:func:`corrupt` ``(x, name, severity, seed)`` maps a severity 0–5 to the parameter of
:data:`SEVERITY_LEVELS` (0: identity). The levels of contrast and noise are those of
Hendrycks and Dietterich's ImageNet-C code; blur and haze levels are ours, chosen for
8×8 to 32×32 images (a blur of σ = 1.5 px already erases an 8×8 digit's strokes).
Random draws use a NumPy generator (:func:`tasklens._common.validation.check_seed`), in
the order: the whole ``(N, C, H, W)`` noise array; the ``(N, 1, 3, 3)`` haze grid.

>>> import numpy as np
>>> x = np.random.default_rng(0).random((4, 3, 8, 8), dtype=np.float32)
>>> corrupt(x, "haze", 3, seed=0).shape
(4, 3, 8, 8)
"""

from __future__ import annotations

import math
import numbers
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from .._common.validation import check_choice, check_scalar, check_seed

__all__ = ["CORRUPTIONS", "SEVERITY_LEVELS", "contrast", "corrupt", "gaussian_blur",
           "gaussian_noise", "haze"]

ArrayT = TypeVar("ArrayT", np.ndarray, Tensor)

#: parameter of each corruption at severities 1..5 (severity 0 is the identity parameter)
SEVERITY_LEVELS: dict[str, tuple[float, ...]] = {
    "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),          # factor (ImageNet-C)
    "blur": (0.4, 0.6, 0.8, 1.0, 1.5),                # sigma in pixels (ours)
    "haze": (0.2, 0.35, 0.5, 0.65, 0.8),              # blend strength (ours)
    "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),  # std (ImageNet-C)
}
#: the corruptions, in the order of 001's App. J (contrast, blur, fog, noise)
CORRUPTIONS: tuple[str, ...] = tuple(SEVERITY_LEVELS)
_IDENTITY = {"contrast": 1.0, "blur": 0.0, "haze": 0.0, "gaussian_noise": 0.0}
_HAZE_GRID = 3


def _as_tensor(x: Any) -> tuple[Tensor, bool]:
    """``x`` as a floating (N, C, H, W) tensor, and whether it came as a NumPy array."""
    is_numpy = isinstance(x, np.ndarray)
    if is_numpy:
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"corruptions need floating images; x has dtype {x.dtype} "
                            "(convert with x.astype(np.float32) / 255)")
        t = torch.from_numpy(np.ascontiguousarray(x))
    elif isinstance(x, Tensor):
        if not x.is_floating_point():
            raise TypeError(f"corruptions need floating images; x has dtype {x.dtype} "
                            "(convert with x.float() / 255)")
        t = x
    else:
        raise TypeError(f"x must be a torch.Tensor or numpy array (N, C, H, W), got "
                        f"{type(x).__name__}")
    if t.ndim != 4:
        raise ValueError(f"x must be a batch of images (N, C, H, W), got shape "
                         f"{tuple(t.shape)}")
    return t, is_numpy


def _check_range(data_range: Any) -> tuple[float, float] | None:
    if data_range is None:
        return None
    try:
        lo, hi = (float(v) for v in data_range)
    except (TypeError, ValueError):
        raise TypeError(f"data_range must be a pair (low, high) or None, got "
                        f"{data_range!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"data_range must be finite with low < high, got {data_range!r}")
    return lo, hi


def _start(x: Any, data_range: Any) -> tuple[Tensor, tuple[float, float] | None, bool]:
    """The input handling of every corruption: ``x`` as a floating (N, C, H, W) tensor,
    the checked ``data_range`` and whether ``x`` came as a NumPy array (for :func:`_finish`).
    """
    t, is_numpy = _as_tensor(x)
    return t, _check_range(data_range), is_numpy


def _finish(t: Tensor, rng: tuple[float, float] | None, is_numpy: bool) -> Any:
    if rng is not None:
        t = t.clamp(rng[0], rng[1])
    return t.numpy() if is_numpy else t


def contrast(x: ArrayT, factor: float, *,
             data_range: tuple[float, float] | None = (0.0, 1.0)) -> ArrayT:
    """Shrink each image's deviations from its own mean: ``m + factor · (x − m)``.

    Parameters
    ----------
    x : (N, C, H, W) tensor or array
    factor : float in [0, 1]
        1 is the identity.
    data_range : (low, high) or None
        The result is clipped to it.

    Returns
    -------
    low_contrast : (N, C, H, W), the type of ``x``
    """
    factor = float(check_scalar(factor, "factor", numbers.Real, low=0.0, high=1.0))
    t, rng, is_numpy = _start(x, data_range)
    mean = t.mean(dim=(1, 2, 3), keepdim=True)
    # written as x − (1 − factor)(x − m) so that factor = 1 returns x exactly
    return _finish(t - (1.0 - factor) * (t - mean), rng, is_numpy)


def gaussian_kernel(sigma: float) -> np.ndarray:
    """The normalised 1-D kernel ``exp(−d²/(2σ²))``, ``d = −r..r``, ``r = ceil(3σ)``:
    ``(2r + 1,)`` float64 (``[1.0]`` when ``sigma = 0``)."""
    sigma = float(check_scalar(sigma, "sigma", numbers.Real, low=0.0, finite=True))
    if sigma == 0.0:
        return np.ones(1)
    r = math.ceil(3.0 * sigma)
    d = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-d * d / (2.0 * sigma * sigma))
    return k / k.sum()


def gaussian_blur(x: ArrayT, sigma: float, *,
                  data_range: tuple[float, float] | None = (0.0, 1.0)) -> ArrayT:
    """Separable Gaussian blur of every channel, edges replicated.

    Parameters
    ----------
    x : (N, C, H, W) tensor or array
    sigma : float >= 0
        Standard deviation in pixels; 0 is the identity.
    data_range : (low, high) or None
        The result is clipped to it.

    Returns
    -------
    blurred : (N, C, H, W), the type of ``x``
    """
    k = gaussian_kernel(sigma)
    t, rng, is_numpy = _start(x, data_range)
    if k.size == 1:
        return _finish(t.clone(), rng, is_numpy)
    n, c, h, w = t.shape
    r = k.size // 2
    kt = torch.as_tensor(k, dtype=t.dtype, device=t.device)
    flat = t.reshape(n * c, 1, h, w)
    # replicate padding keeps a constant image constant (zero padding would darken edges)
    out = F.conv2d(F.pad(flat, (r, r, 0, 0), mode="replicate"), kt.view(1, 1, 1, -1))
    out = F.conv2d(F.pad(out, (0, 0, r, r), mode="replicate"), kt.view(1, 1, -1, 1))
    return _finish(out.reshape(n, c, h, w), rng, is_numpy)


def _haze_field(n: int, h: int, w: int, gen: np.random.Generator) -> Tensor:
    """``(n, 1, h, w)`` float64 in [0, 1]: ``clip(0.85 + 0.15 · S, 0, 1)``, ``S`` a
    standard normal 3×3 grid, bilinearly upsampled (smooth, bright)."""
    grid = torch.from_numpy(gen.standard_normal((n, 1, _HAZE_GRID, _HAZE_GRID)))
    smooth = F.interpolate(grid, size=(h, w), mode="bilinear", align_corners=True)
    return (0.85 + 0.15 * smooth).clamp(0.0, 1.0)


def haze(x: ArrayT, strength: float, seed: int | np.random.Generator | None = None, *,
         data_range: tuple[float, float] | None = (0.0, 1.0)) -> ArrayT:
    """Blend each image toward a bright, smooth haze field: ``(1 − s) x + s F``.

    Parameters
    ----------
    x : (N, C, H, W) tensor or array
    strength : float in [0, 1]
        0 is the identity; 1 leaves only the haze.
    seed : int, numpy Generator or None
        Draws the haze fields (one per image).
    data_range : (low, high) or None
        The haze spans it (``F ∈ [low, high]``, default (0, 1) when None) and the result is
        clipped to it.

    Returns
    -------
    hazy : (N, C, H, W), the type of ``x``
    """
    strength = float(check_scalar(strength, "strength", numbers.Real, low=0.0, high=1.0))
    gen = check_seed(seed)
    t, rng, is_numpy = _start(x, data_range)
    lo, hi = rng if rng is not None else (0.0, 1.0)
    n, _, h, w = t.shape
    field = _haze_field(n, h, w, gen).to(device=t.device, dtype=t.dtype)
    out = (1.0 - strength) * t + strength * (lo + (hi - lo) * field)
    return _finish(out, rng, is_numpy)


def gaussian_noise(x: ArrayT, std: float, seed: int | np.random.Generator | None = None, *,
                   data_range: tuple[float, float] | None = (0.0, 1.0)) -> ArrayT:
    """Add i.i.d. Gaussian noise ``std · ε`` to every pixel.

    Parameters
    ----------
    x : (N, C, H, W) tensor or array
    std : float >= 0
        0 is the identity.
    seed : int, numpy Generator or None
        Draws ``ε`` (one ``(N, C, H, W)`` standard normal array).
    data_range : (low, high) or None
        The result is clipped to it.

    Returns
    -------
    noisy : (N, C, H, W), the type of ``x``
    """
    std = float(check_scalar(std, "std", numbers.Real, low=0.0, finite=True))
    gen = check_seed(seed)
    t, rng, is_numpy = _start(x, data_range)
    eps = torch.from_numpy(gen.standard_normal(tuple(t.shape)))
    return _finish(t + std * eps.to(device=t.device, dtype=t.dtype), rng, is_numpy)


def corrupt(x: ArrayT, name: str, severity: int,
            seed: int | np.random.Generator | None = None, *,
            data_range: tuple[float, float] | None = (0.0, 1.0)) -> ArrayT:
    """Corruption ``name`` at ``severity`` (0: identity, 1–5: :data:`SEVERITY_LEVELS`).

    Parameters
    ----------
    x : (N, C, H, W) tensor or array
    name : {"contrast", "blur", "haze", "gaussian_noise"}
    severity : int in 0..5
    seed : int, numpy Generator or None
        For the random corruptions (haze, noise); ignored by the others.
    data_range : (low, high) or None
        The result is clipped to it.

    Returns
    -------
    corrupted : (N, C, H, W), the type of ``x``
    """
    check_choice(name, "corruption", CORRUPTIONS)
    severity = int(check_scalar(severity, "severity", numbers.Integral, low=0, high=5))
    level = _IDENTITY[name] if severity == 0 else SEVERITY_LEVELS[name][severity - 1]
    if name == "contrast":
        return contrast(x, level, data_range=data_range)
    if name == "blur":
        return gaussian_blur(x, level, data_range=data_range)
    if name == "haze":
        return haze(x, level, seed, data_range=data_range)
    return gaussian_noise(x, level, seed, data_range=data_range)
