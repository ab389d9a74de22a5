"""Seeded, torch-native augmentation of image batches ``(N, C, H, W)``.

Each transform is a small callable ``t(x, generator) -> x'`` that draws its random
parameters from an explicit :class:`torch.Generator` (never torch's global RNG), one value
per sample, in the order its docstring states (so a test or a user can reproduce them).
They run on the batch's device; the generator must live on that device too (draws are
made with ``device=generator.device`` and moved when they differ).

The :class:`~tasklens.train.Trainer` applies them to training batches only
(``Trainer(transforms=...)``), with a generator seeded from ``(seed, epoch, step)``: see
:func:`tasklens.train.augment.augment_batch`.

>>> import torch
>>> t = Compose([RandomHorizontalFlip(0.5), RandomCrop(padding=2), GaussianNoise(0.05)])
>>> x = torch.rand(8, 1, 12, 12)
>>> t(x, torch.Generator().manual_seed(0)).shape
torch.Size([8, 1, 12, 12])
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from .._common.validation import check_choice, check_scalar

__all__ = ["ColorJitter", "Compose", "GaussianNoise", "RandomCrop", "RandomHorizontalFlip",
           "Transform", "check_image_batch"]

# ITU-R BT.601 luma weights (those of PIL's and torchvision's grayscale conversion)
_LUMA = (0.299, 0.587, 0.114)


def check_image_batch(x: Any, name: str = "x") -> Tensor:
    """``x`` if it is a floating tensor of shape ``(N, C, H, W)``; a clear error otherwise."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor batch (N, C, H, W), got "
                        f"{type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"image transforms need a batch of images (N, C, H, W); {name} has "
                         f"shape {tuple(x.shape)}. Build the task set with image-shaped "
                         "inputs (e.g. multi_mnist(flatten=False)) or drop the transforms")
    if not x.is_floating_point():
        raise TypeError(f"image transforms need floating images; {name} has dtype {x.dtype} "
                        "(convert with x.float() / 255)")
    return x


def _draw_uniform(n: int, low: float, high: float, generator: torch.Generator,
                  like: Tensor) -> Tensor:
    """``(n,)`` values ``low + (high - low) * U[0, 1)`` from ``generator``, on ``like``'s
    device and dtype."""
    u = torch.rand(n, generator=generator, device=generator.device, dtype=like.dtype)
    return (low + (high - low) * u).to(like.device)


class Transform:
    """Base class: checks the batch and the generator, then calls :meth:`apply`."""

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got "
                            f"{type(generator).__name__}")
        return self.apply(check_image_batch(x), generator)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The transform's name and settings (primitives only)."""
        return {"name": type(self).__name__, **{k: v for k, v in vars(self).items()}}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class RandomHorizontalFlip(Transform):
    """Mirror each image left-right with probability ``p``.

    Draws ``u = rand(N)``; sample ``i`` becomes ``x[i].flip(-1)`` where ``u[i] < p``.
    """

    def __init__(self, p: float = 0.5) -> None:
        self.p = check_scalar(p, "p", numbers.Real, low=0.0, high=1.0)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        u = torch.rand(x.shape[0], generator=generator, device=generator.device)
        chosen = (u < self.p).to(x.device).view(-1, 1, 1, 1)
        return torch.where(chosen, x.flip(-1), x)


class RandomCrop(Transform):
    """Pad by ``padding`` on every side, then cut a random ``size`` window per image.

    ``size=None`` keeps the input's size (pad-and-crop, i.e. a random shift by up to
    ``padding`` pixels). Offsets are drawn top first, then left:
    ``top = randint(0, H + 2·padding − h + 1, (N,))``, ``left = randint(0, W + 2·padding −
    w + 1, (N,))``, and sample ``i`` becomes ``padded[i, :, top:top+h, left:left+w]``.

    Parameters
    ----------
    size : int or (int, int), optional
        Output height and width ``(h, w)``; an int for a square.
    padding : int
        Pixels added on each side before cropping.
    padding_mode : {"constant", "reflect", "replicate"}
    fill : float
        Value of the constant padding.
    """

    def __init__(self, size: int | tuple[int, int] | None = None, *, padding: int = 0,
                 padding_mode: str = "constant", fill: float = 0.0) -> None:
        if size is not None:
            pair = (size, size) if isinstance(size, numbers.Integral) else tuple(size)
            if len(pair) != 2:
                raise ValueError(f"size must be an int or (height, width), got {size!r}")
            size = (check_scalar(pair[0], "size[0]", numbers.Integral, low=1),
                    check_scalar(pair[1], "size[1]", numbers.Integral, low=1))
        self.size = size
        self.padding = check_scalar(padding, "padding", numbers.Integral, low=0)
        if size is None and self.padding == 0:
            raise ValueError("RandomCrop with neither size nor padding changes nothing; pass "
                             "padding= (random shifts) or size= (smaller crops)")
        self.padding_mode = check_choice(padding_mode, "padding_mode",
                                         ("constant", "reflect", "replicate"))
        self.fill = check_scalar(fill, "fill", numbers.Real, finite=True)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        n, c, height, width = x.shape
        p = self.padding
        h, w = self.size if self.size is not None else (height, width)
        if h > height + 2 * p or w > width + 2 * p:
            raise ValueError(f"RandomCrop size {(h, w)} exceeds the padded images "
                             f"{(height + 2 * p, width + 2 * p)}; lower size or raise padding")
        if p:
            if self.padding_mode == "reflect" and p >= min(height, width):
                raise ValueError(f"reflect padding {p} needs images larger than {p} pixels "
                                 f"a side, got {(height, width)}")
            kw = {"value": self.fill} if self.padding_mode == "constant" else {}
            x = F.pad(x, (p, p, p, p), mode=self.padding_mode, **kw)
        top = torch.randint(0, x.shape[2] - h + 1, (n,), generator=generator,
                            device=generator.device).to(x.device)
        left = torch.randint(0, x.shape[3] - w + 1, (n,), generator=generator,
                             device=generator.device).to(x.device)
        rows = (top[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (left[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
        chan = torch.arange(c, device=x.device).view(1, c, 1, 1)
        return x[batch, chan, rows, cols]


class GaussianNoise(Transform):
    """Add i.i.d. Gaussian noise: ``x + std · ε``, ``ε = randn(x.shape)`` (not clipped)."""

    def __init__(self, std: float = 0.1) -> None:
        self.std = check_scalar(std, "std", numbers.Real, low=0.0, finite=True)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        eps = torch.randn(x.shape, generator=generator, device=generator.device,
                          dtype=x.dtype)
        return x + self.std * eps.to(x.device)


class ColorJitter(Transform):
    """Random brightness, contrast and saturation, applied in that order (not clipped).

    For each non-zero setting ``v``, one factor per image ``f ~ U[max(0, 1 − v), 1 + v]``
    is drawn (brightness first, then contrast, then saturation):

    - brightness: ``x ← f · x``;
    - contrast: ``x ← f · x + (1 − f) · m`` with ``m`` the image's mean grey level
      (BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` for 3 channels, else the mean over
      channels and pixels);
    - saturation (3 channels only): ``x ← f · x + (1 − f) · g`` with ``g`` the pixel's luma.

    These are torchvision's formulas, without its clamping to ``[0, 1]`` (inputs here may
    be standardised) and in a fixed order.
    """

    def __init__(self, brightness: float = 0.0, contrast: float = 0.0,
                 saturation: float = 0.0) -> None:
        self.brightness = check_scalar(brightness, "brightness", numbers.Real, low=0.0,
                                       finite=True)
        self.contrast = check_scalar(contrast, "contrast", numbers.Real, low=0.0, finite=True)
        self.saturation = check_scalar(saturation, "saturation", numbers.Real, low=0.0,
                                       finite=True)

    @staticmethod
    def _luma(x: Tensor) -> Tensor:
        """``(N, 1, H, W)`` grey level of each pixel."""
        if x.shape[1] == 3:
            w = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
            return (x * w).sum(dim=1, keepdim=True)
        return x.mean(dim=1, keepdim=True)

    def _factors(self, v: float, x: Tensor, generator: torch.Generator) -> Tensor:
        return _draw_uniform(x.shape[0], max(0.0, 1.0 - v), 1.0 + v, generator,
                             x).view(-1, 1, 1, 1)

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        if self.saturation and x.shape[1] != 3:
            raise ValueError(f"saturation jitter needs RGB images (3 channels), got "
                             f"{x.shape[1]}; set saturation=0")
        if self.brightness:
            x = self._factors(self.brightness, x, generator) * x
        if self.contrast:
            f = self._factors(self.contrast, x, generator)
            x = f * x + (1 - f) * self._luma(x).mean(dim=(1, 2, 3), keepdim=True)
        if self.saturation:
            f = self._factors(self.saturation, x, generator)
            x = f * x + (1 - f) * self._luma(x)
        return x


class Compose(Transform):
    """Apply ``transforms`` in order, all drawing from the same generator."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        items = list(transforms)
        bad = [type(t).__name__ for t in items if not isinstance(t, Transform)]
        if bad:
            raise TypeError(f"transforms must be tasklens.data.transforms.Transform "
                            f"instances, got {bad}")
        self.transforms = items

    def apply(self, x: Tensor, generator: torch.Generator) -> Tensor:
        for t in self.transforms:
            x = t.apply(x, generator)
        return x

    def to_dict(self) -> dict[str, Any]:
        return {"name": "Compose", "transforms": [t.to_dict() for t in self.transforms]}
