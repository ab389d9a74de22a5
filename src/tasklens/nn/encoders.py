"""Encoders (inputs → a code ``z``) and the mirrored conv decoder (``z`` → images).

:func:`encoder_for` picks one from an input shape: an MLP for feature vectors, a small
residual classifier (:class:`~tasklens.nn.SmallResNet`) for images; the disentanglement
encoder of 003 is chosen by name (``image_encoder="beta_vae"``).

Every encoder exposes ``in_shape`` and ``out_features`` so that heads and builders can be
sized without a dummy forward pass.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Sequence

import torch
from torch import nn

from .._common.validation import check_positive_int, check_scalar
from ._utils import Seed, check_batch, check_input_shape, check_widths, get_activation, seeded_init
from .image_models import LeNetEncoder, SmallResNet

#: Encoder channels of Maziarka et al. 2022, Appendix A, Table 2 (4×4 kernels, stride 2).
PAPER_ENCODER_CHANNELS: tuple[int, ...] = (32, 32, 64, 128, 256, 256)
#: Decoder channels of the same table: a 1×1 conv, then 4×4 stride-2 transposed convs.
PAPER_DECODER_CHANNELS: tuple[int, ...] = (256, 256, 128, 128, 64, 64)


def _mlp_layers(
    in_features: int, widths: Sequence[int], out_features: int, activation: str, dropout: float
) -> list[nn.Module]:
    layers: list[nn.Module] = []
    prev = in_features
    for w in widths:
        layers.append(nn.Linear(prev, w))
        layers.append(get_activation(activation))
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        prev = w
    layers.append(nn.Linear(prev, out_features))
    return layers


def _check_dropout(dropout: float) -> float:
    return check_scalar(dropout, "dropout", numbers.Real, low=0.0, high=1.0, include_high=False)


class MLPEncoder(nn.Module):
    """A fully connected encoder ``(N, F) → (N, out_features)``.

    Hidden layers are ``Linear → activation (→ Dropout)``; the last layer is linear, so the
    code ``z`` is not clipped by the activation.

    Parameters
    ----------
    in_features : int
    hidden : int or sequence of int
        Hidden widths; ``()`` gives a single linear layer.
    out_features : int
        Dimension of the code.
    activation : str
        One of :data:`tasklens.nn.ACTIVATIONS`.
    dropout : float in [0, 1)
    seed : int, numpy Generator or None
        Seeds the initialisation (None: torch's global RNG).
    """

    def __init__(
        self,
        in_features: int,
        hidden: int | Sequence[int] = (256, 256),
        out_features: int = 64,
        activation: str = "relu",
        dropout: float = 0.0,
        *,
        seed: Seed = None,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        self.hidden = check_widths(hidden, "hidden")
        self.in_shape = (self.in_features,)
        get_activation(activation)
        with seeded_init(seed):
            self.net = nn.Sequential(*_mlp_layers(
                self.in_features, self.hidden, self.out_features, activation,
                _check_dropout(dropout),
            ))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : (N, in_features) → (N, out_features)."""
        check_batch(x, self.in_shape)
        return self.net(x)


class LinearEncoder(nn.Module):
    """A deep linear encoder ``z = W_depth ⋯ W_1 x`` (optionally with ReLUs in between).

    The shared part of the deep linear multi-task networks of Anon. 2025 (ICLR'26 sub.)
    (Section 2: shared weights ``W_S`` followed by task-specific ``W_t``). ``depth`` counts
    the weight matrices.

    Parameters
    ----------
    in_features, out_features : int
    depth : int >= 1
    hidden : int, optional
        Width of the intermediate layers (default ``out_features``).
    relu : bool
        Put a ReLU between layers (not after the last): a "nearly linear" control.
    bias : bool
        The theory of 000 has no biases; default False.
    init_scale : float, optional
        If given, every weight is drawn i.i.d. from ``N(0, init_scale²)`` — small values
        give the rich (small-initialisation) regime of Anon. 2025. Default: torch's default init.
    seed : int, numpy Generator or None
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        depth: int = 1,
        *,
        hidden: int | None = None,
        relu: bool = False,
        bias: bool = False,
        init_scale: float | None = None,
        seed: Seed = None,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        self.depth = check_positive_int(depth, "depth")
        width = self.out_features if hidden is None else check_positive_int(hidden, "hidden")
        if init_scale is not None and not (float(init_scale) > 0 and math.isfinite(init_scale)):
            raise ValueError(f"init_scale must be a positive finite float, got {init_scale!r}")
        self.in_shape = (self.in_features,)
        dims = [self.in_features] + [width] * (self.depth - 1) + [self.out_features]
        layers: list[nn.Module] = []
        with seeded_init(seed):
            for i in range(self.depth):
                lin = nn.Linear(dims[i], dims[i + 1], bias=bias)
                if init_scale is not None:
                    nn.init.normal_(lin.weight, 0.0, float(init_scale))
                    if lin.bias is not None:
                        nn.init.zeros_(lin.bias)
                layers.append(lin)
                if relu and i < self.depth - 1:
                    layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : (N, in_features) → (N, out_features)."""
        check_batch(x, self.in_shape)
        return self.net(x)

    def product(self) -> torch.Tensor:
        """The end-to-end matrix ``W_depth ⋯ W_1``, ``(out_features, in_features)``.

        Only meaningful without ReLUs and biases; raises otherwise.
        """
        lins = [m for m in self.net if isinstance(m, nn.Linear)]
        if len(lins) != len(self.net) or any(m.bias is not None for m in lins):
            raise ValueError("product() needs a purely linear encoder (relu=False, bias=False)")
        out = lins[0].weight
        for m in lins[1:]:
            out = m.weight @ out
        return out


def default_encoder_channels(height: int, width: int) -> tuple[int, ...]:
    """The Maziarka et al. 2022 Table 2 channels, truncated so that every stride-2 layer keeps ≥ 1
    pixel.

    A 64×64 input gets all six layers (spatial size 64 → 1); a 16×16 input the first
    four. Decision (the paper only covers 64×64): smaller images drop the deepest layers.
    """
    n = min(len(PAPER_ENCODER_CHANNELS), int(math.floor(math.log2(min(height, width)))))
    if n < 1:
        raise ValueError(f"images of size {height}×{width} are too small for a conv encoder")
    return PAPER_ENCODER_CHANNELS[:n]


class ConvEncoder(nn.Module):
    """The convolutional encoder of Maziarka et al. 2022, Appendix A, Table 2.

    ``len(channels)`` layers ``Conv2d(kernel 4, stride 2, padding 1) → activation`` (each
    halves the spatial size, rounding down), then a dense layer to the code
    ``z ∈ R^{out_features}``. The dense output has no activation (as in the reference
    implementation the paper uses, Abdi et al. 2019). With the defaults and a 64×64 input
    this is exactly Table 2.

    Parameters
    ----------
    in_shape : (C, H, W)
    out_features : int
        Code dimension ``d`` (``output_dim`` in Table 2).
    channels : sequence of int, optional
        Output channels per conv layer. Default: :func:`default_encoder_channels`.
    activation : str
        ReLU in the paper (Table 2); tanh in its Section C.3 experiments.
    seed : int, numpy Generator or None
    """

    def __init__(
        self,
        in_shape: Sequence[int] = (1, 64, 64),
        out_features: int = 10,
        channels: Sequence[int] | None = None,
        activation: str = "relu",
        *,
        seed: Seed = None,
    ) -> None:
        super().__init__()
        shape = check_input_shape(in_shape, "in_shape")
        if len(shape) != 3:
            raise ValueError(f"ConvEncoder needs in_shape (C, H, W), got {shape}; "
                             "use MLPEncoder for feature vectors")
        c, h, w = shape
        self.in_shape = shape
        self.out_features = check_positive_int(out_features, "out_features")
        chans = (default_encoder_channels(h, w) if channels is None
                 else check_widths(channels, "channels", allow_empty=False))
        if h >> len(chans) < 1 or w >> len(chans) < 1:
            raise ValueError(
                f"{len(chans)} stride-2 layers shrink a {h}×{w} image below one pixel; "
                f"pass at most {int(math.log2(min(h, w)))} channels"
            )
        self.channels = chans
        get_activation(activation)
        layers: list[nn.Module] = []
        prev = c
        with seeded_init(seed):
            for ch in chans:
                layers += [nn.Conv2d(prev, ch, kernel_size=4, stride=2, padding=1),
                           get_activation(activation)]
                prev = ch
            self.conv = nn.Sequential(*layers)
            # Conv(k=4, s=2, p=1) maps size n to floor(n / 2).
            self.feature_shape = (prev, h >> len(chans), w >> len(chans))
            self.dense = nn.Linear(math.prod(self.feature_shape), self.out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x : (N, C, H, W) → (N, out_features)."""
        check_batch(x, self.in_shape)
        return self.dense(self.conv(x).flatten(1))


class ConvDecoder(nn.Module):
    """The decoder of Maziarka et al. 2022, Appendix A, Table 2 (mirror of the encoder).

    For an output of size ``S = 2^k``: the code is read as a 1×1 image, a 1×1 convolution
    gives ``channels[0]`` maps, a transposed conv (kernel 4, stride 2, padding 1) doubles
    1 → 2, then ``k - 2`` transposed convs (kernel 4, stride 2, padding 0) map
    ``n → 2n + 2`` (2 → 6 → 14 → 30 → 62 for S = 64), and a final transposed conv
    (kernel 3, stride 1) gives ``n + 2 = S`` pixels and ``C`` channels. With S = 64 and
    default channels this is exactly Table 2 (sizes 1, 1, 2, 6, 14, 30, 62, 64; paddings
    are not printed in the table: these are the only ones that reach 64 from the listed
    kernels and strides, and they match the reference implementation of Abdi et al. 2019).
    ReLU after every layer except the last, whose output is left linear (pixel values or
    logits, the caller chooses the reconstruction loss).

    Parameters
    ----------
    out_shape : (C, S, S)
        Square images whose side is a power of two, ``S >= 4``.
    in_features : int
        Code dimension ``d``.
    channels : sequence of int, optional
        ``log2(S)`` channel counts. Default: the last ``log2(S)`` of Table 2 (padded with
        256 for S > 64).
    activation : str
    seed : int, numpy Generator or None
    """

    def __init__(
        self,
        out_shape: Sequence[int] = (1, 64, 64),
        in_features: int = 10,
        channels: Sequence[int] | None = None,
        activation: str = "relu",
        *,
        seed: Seed = None,
    ) -> None:
        super().__init__()
        shape = check_input_shape(out_shape, "out_shape")
        if len(shape) != 3 or shape[1] != shape[2] or shape[1] < 4 or shape[1] & (shape[1] - 1):
            raise ValueError(
                f"ConvDecoder needs out_shape (C, S, S) with S a power of two >= 4, got {shape}"
            )
        c, s, _ = shape
        k = int(math.log2(s))
        if channels is None:
            pad = max(0, k - len(PAPER_DECODER_CHANNELS))
            chans = (256,) * pad + PAPER_DECODER_CHANNELS[len(PAPER_DECODER_CHANNELS) - k + pad:]
        else:
            chans = check_widths(channels, "channels", allow_empty=False)
            if len(chans) != k:
                raise ValueError(f"a {s}×{s} output needs log2({s}) = {k} channels, "
                                 f"got {len(chans)}")
        self.out_shape = shape
        self.in_features = check_positive_int(in_features, "in_features")
        self.channels = chans
        get_activation(activation)
        with seeded_init(seed):
            layers: list[nn.Module] = [
                nn.Conv2d(self.in_features, chans[0], kernel_size=1, stride=2),
                get_activation(activation),
                nn.ConvTranspose2d(chans[0], chans[1], kernel_size=4, stride=2, padding=1),
                get_activation(activation),
            ]
            for prev, ch in itertools.pairwise(chans[1:]):
                layers += [nn.ConvTranspose2d(prev, ch, kernel_size=4, stride=2),
                           get_activation(activation)]
            layers.append(nn.ConvTranspose2d(chans[-1], c, kernel_size=3, stride=1))
            self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z : (N, in_features) → (N, C, S, S)."""
        check_batch(z, (self.in_features,), "z")
        return self.net(z[:, :, None, None])


#: image encoders of :func:`encoder_for`, by name. ``"resnet"`` (the default) is a small
#: residual classifier; ``"beta_vae"`` is the encoder of Maziarka et al.'s disentanglement
#: study (Maziarka et al. 2022 App. A, Table 2), kept for that study and for decoders that mirror
#: it;
#: ``"lenet"`` is a two-layer LeNet baseline.
IMAGE_ENCODERS: dict[str, type[nn.Module]] = {
    "resnet": SmallResNet,
    "beta_vae": ConvEncoder,
    "lenet": LeNetEncoder,
}


def encoder_for(
    input_shape: Sequence[int],
    out_features: int = 64,
    *,
    hidden: int | Sequence[int] = (256, 256),
    channels: Sequence[int] | None = None,
    activation: str = "relu",
    image_encoder: str = "resnet",
    seed: Seed = None,
) -> nn.Module:
    """An encoder fitting ``input_shape``: :class:`MLPEncoder` for ``(F,)``, an image
    encoder chosen by ``image_encoder`` for ``(C, H, W)``.

    Parameters
    ----------
    input_shape : (F,) or (C, H, W)
        E.g. ``TaskSet.input_shape``.
    out_features : int
        Code dimension.
    hidden : int or sequence of int
        MLP hidden widths (flat inputs only).
    channels : sequence of int, optional
        Conv channels (images only): stage widths of :class:`SmallResNet`, layer widths of
        :class:`ConvEncoder` or the two of :class:`LeNetEncoder`. Default: each one's own.
    image_encoder : {"resnet", "beta_vae", "lenet"}
        See :data:`IMAGE_ENCODERS`. Ignored for flat inputs.
    """
    shape = check_input_shape(input_shape)
    if not isinstance(image_encoder, str) or image_encoder not in IMAGE_ENCODERS:
        raise ValueError(f"unknown image_encoder {image_encoder!r}; choose one of "
                         f"{', '.join(map(repr, IMAGE_ENCODERS))}")
    if len(shape) == 1:
        return MLPEncoder(shape[0], hidden, out_features, activation, seed=seed)
    return IMAGE_ENCODERS[image_encoder](shape, out_features, channels, activation, seed=seed)
