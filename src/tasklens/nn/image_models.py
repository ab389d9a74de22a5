"""Small image classifiers: the default image encoder (a residual net) and a LeNet baseline.

The β-VAE-style encoder of Maziarka et al. (4×4 stride-2 convolutions, no normalisation;
:class:`~tasklens.nn.ConvEncoder`) is made to be decoded from, not to classify: on
Multi-MNIST it overfits and trails a two-layer LeNet. Classification and regression on
images default to :class:`SmallResNet` instead (3×3 convolutions with batch norm and
identity shortcuts, He et al. 2016, "Deep Residual Learning for Image Recognition", CVPR).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .._common.validation import check_positive_int
from ._utils import Seed, check_batch, check_input_shape, check_widths, get_activation, seeded_init

#: Stage widths of :class:`SmallResNet` for images of at least 16×16 pixels.
RESNET_CHANNELS: tuple[int, ...] = (32, 64, 128)


def conv_bn(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    """``Conv2d (no bias: batch norm has one) → BatchNorm2d``, 'same' padding for odd kernels."""
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, stride, padding=kernel // 2,
                                   bias=False),
                         nn.BatchNorm2d(out_ch))


def init_relu_net(module: nn.Module) -> None:
    """He-normal convolution / linear weights, zero biases, batch norm at (1, 0).

    PyTorch's default (uniform, gain 1/√3) shrinks the second moment of a ReLU signal by
    about 6× per layer; stacked without normalisation this is what left the old MTAN's
    features at ~1e-5 across samples.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class BasicBlock(nn.Module):
    """``act(conv_bn(act(conv_bn(x))) + shortcut(x))``; the shortcut is the identity when
    the shape is kept, else a 1×1 ``conv_bn`` with the block's stride (ResNet option B)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, activation: str) -> None:
        super().__init__()
        self.conv1 = conv_bn(in_ch, out_ch, 3, stride)
        self.act1 = get_activation(activation)
        self.conv2 = conv_bn(out_ch, out_ch, 3, 1)
        self.shortcut: nn.Module = (nn.Identity() if stride == 1 and in_ch == out_ch
                                    else conv_bn(in_ch, out_ch, 1, stride))
        self.act2 = get_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : (N, in_ch, H, W) → (N, out_ch, ⌈H/stride⌉, ⌈W/stride⌉)."""
        return self.act2(self.conv2(self.act1(self.conv1(x))) + self.shortcut(x))


def default_resnet_channels(height: int, width: int) -> tuple[int, ...]:
    """:data:`RESNET_CHANNELS`, with fewer stages for images under 16 pixels a side.

    Each stage halves the size; a stage is dropped while the last one would work on fewer
    than 2×2 pixels (8×8 → two stages, 4×4 and smaller → one).
    """
    side = min(height, width)
    n = max(1, min(len(RESNET_CHANNELS), int(math.floor(math.log2(max(side, 1)))) - 1))
    return RESNET_CHANNELS[:n]


class SmallResNet(nn.Module):
    """The default image encoder: a small residual network with batch norm.

    ``stem = act(conv_bn3×3(C → channels[0]))`` at full resolution, then one
    :class:`BasicBlock` of stride 2 per entry of ``channels``, average pooling to a
    ``grid × grid`` map and a linear layer to the code ``z`` (no activation, as
    :class:`~tasklens.nn.ConvEncoder`). With the defaults a 36×36 Multi-MNIST image costs
    about 16 M multiply-adds.

    Decision: the last map is read whole (up to 8×8; ``grid=None``) rather than globally
    average-pooled (``grid=1``): tasks defined by where something is (Multi-MNIST's left and
    right digit) need position. Measured on Multi-MNIST (n = 2,000, unseen test digits,
    5 epochs, one seed): test accuracy .44/.42 reading the 5×5 map, .40/.36 pooled to 4×4,
    and .17/.22 with global pooling after 3 epochs.

    Batch norm makes a sample's output depend on its batch in training mode (as in every
    batch-normalised network); call ``model.eval()`` to evaluate.

    Parameters
    ----------
    in_shape : (C, H, W)
    out_features : int
        Code dimension.
    channels : sequence of int, optional
        Width of each residual stage. Default :func:`default_resnet_channels`.
    activation : str
    grid : int, optional
        Side of the pooled map read by the last linear layer (1: global average pooling).
        Default: the last map's own side, at most 8.
    seed : int, numpy Generator or None
    """

    def __init__(
        self,
        in_shape: Sequence[int] = (1, 28, 28),
        out_features: int = 64,
        channels: Sequence[int] | None = None,
        activation: str = "relu",
        *,
        grid: int | None = None,
        seed: Seed = None,
    ) -> None:
        super().__init__()
        shape = _image_shape(in_shape, "SmallResNet")
        side = min(shape[1], shape[2])
        self.in_shape = shape
        self.out_features = check_positive_int(out_features, "out_features")
        self.channels = (default_resnet_channels(shape[1], shape[2]) if channels is None
                         else check_widths(channels, "channels", allow_empty=False))
        get_activation(activation)
        with seeded_init(seed):
            self.stem = nn.Sequential(conv_bn(shape[0], self.channels[0]),
                                      get_activation(activation))
            prev = self.channels[0]
            blocks = []
            for ch in self.channels:
                blocks.append(BasicBlock(prev, ch, 2, activation))
                prev = ch
            self.blocks = nn.Sequential(*blocks)
            for _ in self.channels:  # conv(k=3, s=2, p=1) maps n to ceil(n / 2)
                side = -(-side // 2)
            self.grid = min(side, 8) if grid is None else check_positive_int(grid, "grid")
            self.pool = nn.AdaptiveAvgPool2d(self.grid)
            self.dense = nn.Linear(prev * self.grid**2, self.out_features)
            init_relu_net(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : (N, C, H, W) → (N, out_features)."""
        check_batch(x, self.in_shape)
        return self.dense(self.pool(self.blocks(self.stem(x))).flatten(1))


class LeNetEncoder(nn.Module):
    """A LeNet-style baseline: two ``conv5×5 → act → maxpool2`` layers and a dense layer.

    Padding 2 keeps the size through each convolution, so ``H, W >= 4`` suffice. No
    normalisation: the classic small baseline the default image model is compared with.

    Parameters
    ----------
    in_shape : (C, H, W)
    out_features : int
    channels : sequence of two ints
        Default ``(20, 50)`` (LeCun et al. 1998's sizes as popularised by Caffe).
    activation : str
    seed : int, numpy Generator or None
    """

    def __init__(
        self,
        in_shape: Sequence[int] = (1, 28, 28),
        out_features: int = 64,
        channels: Sequence[int] | None = None,
        activation: str = "relu",
        *,
        seed: Seed = None,
    ) -> None:
        super().__init__()
        shape = _image_shape(in_shape, "LeNetEncoder")
        if min(shape[1:]) < 4:
            raise ValueError(f"LeNetEncoder pools twice and needs H, W >= 4, got {shape}")
        self.in_shape = shape
        self.out_features = check_positive_int(out_features, "out_features")
        chans = (20, 50) if channels is None else check_widths(channels, "channels")
        if len(chans) != 2:
            raise ValueError(f"LeNetEncoder needs exactly two channels, got {chans}")
        self.channels = chans
        get_activation(activation)
        with seeded_init(seed):
            self.conv = nn.Sequential(
                nn.Conv2d(shape[0], chans[0], 5, padding=2), get_activation(activation),
                nn.MaxPool2d(2),
                nn.Conv2d(chans[0], chans[1], 5, padding=2), get_activation(activation),
                nn.MaxPool2d(2),
            )
            self.dense = nn.Linear(chans[1] * (shape[1] // 4) * (shape[2] // 4),
                                   self.out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : (N, C, H, W) → (N, out_features)."""
        check_batch(x, self.in_shape)
        return self.dense(self.conv(x).flatten(1))


class FlatImageEncoder(nn.Module):
    """An image encoder reading flat vectors: ``(N, C·H·W)`` → ``(N, C, H, W)`` → encoder.

    For data kept flat for the rest of a pipeline (``tasklens analyze`` flattens images so
    that its probes and theory stage see 2-D arrays) while the model should still see
    images. The reshape is a view (row-major, as ``ndarray.reshape``), so a model with this
    front trained on flattened images computes exactly what the bare encoder computes on
    the images.

    Parameters
    ----------
    encoder : nn.Module
        Maps ``(N, C, H, W)`` to ``(N, d)``; its ``out_features`` (if any) is exposed.
    image_shape : (C, H, W)
    """

    def __init__(self, encoder: nn.Module, image_shape: Sequence[int]) -> None:
        super().__init__()
        if not isinstance(encoder, nn.Module):
            raise TypeError(f"encoder must be an nn.Module, got {type(encoder).__name__}")
        self.image_shape = _image_shape(image_shape, "FlatImageEncoder")
        self.in_features = int(math.prod(self.image_shape))
        self.encoder = encoder
        size = getattr(encoder, "out_features", None)
        if isinstance(size, int):
            self.out_features = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : (N, C·H·W) → (N, d)."""
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"FlatImageEncoder expects (N, {self.in_features}) inputs "
                             f"(flattened {self.image_shape} images), got {tuple(x.shape)}")
        return self.encoder(x.reshape(x.shape[0], *self.image_shape))


def _image_shape(in_shape: Sequence[int], who: str) -> tuple[int, int, int]:
    shape = check_input_shape(in_shape, "in_shape")
    if len(shape) != 3:
        raise ValueError(f"{who} needs in_shape (C, H, W), got {shape}; use MLPEncoder for "
                         "feature vectors")
    return shape  # type: ignore[return-value]
