"""Multi-task models: encoders, task heads, task losses and MTL architectures.

Every model is an :class:`MTLModel`: ``encode(x) -> z``, ``decode(z) -> {task: output}``,
``forward(x) == decode(encode(x))``, and the parameter groups ``shared_parameters()`` /
``task_parameters(name)``. Loss weighting lives in :mod:`tasklens.balance`, not here.

Quick start::

    from tasklens.nn import hps_for, task_losses
    model = hps_for(taskset, seed=0)
    x, y = next(iter(taskset.dataloader(64)))
    losses = task_losses(taskset, model(x), y)   # (K,) tensor, task order
"""

from ._utils import ACTIVATIONS, get_activation
from .autoencoder_factory import AUTOENCODER_KINDS, autoencoder_for
from .autoencoders import (
    RECONSTRUCTIONS,
    AutoEncoder,
    BetaVAE,
    gaussian_kl,
    make_encoder_decoder,
    reconstruction_loss,
)
from .base import MTLModel, TaskPrediction
from .dual_stream import (
    CoreMTLLosses,
    DualStreamModel,
    UnknownAttributeError,
    dual_stream_for,
    linear_cka,
)
from .encoders import (
    IMAGE_ENCODERS,
    PAPER_DECODER_CHANNELS,
    PAPER_ENCODER_CHANNELS,
    ConvDecoder,
    ConvEncoder,
    LinearEncoder,
    MLPEncoder,
    default_encoder_channels,
    encoder_for,
)
from .factor_vae import (
    DEFAULT_GAMMA,
    DISCRIMINATOR_ADAM_BETAS,
    FactorDiscriminator,
    FactorVAE,
    permute_dims,
    tc_from_logits,
)
from .grounding import LambertianDecoder, lambertian_render, lambertian_shading
from .heads import PAPER_HEAD_DEPTH, PAPER_HEAD_HIDDEN, TaskHead, head_output_shape, make_heads
from .hps import HardParameterSharing, hps_for
from .image_models import (
    RESNET_CHANNELS,
    FlatImageEncoder,
    LeNetEncoder,
    SmallResNet,
    default_resnet_channels,
)
from .losses import LOSSES_BY_KIND, task_loss, task_losses
from .moe import CGC, PLE, MMoE
from .mtan import MTAN
from .unsupervised import AutoencoderFit, fit_autoencoder

__all__ = [
    "ACTIVATIONS",
    "AUTOENCODER_KINDS",
    "CGC",
    "DEFAULT_GAMMA",
    "DISCRIMINATOR_ADAM_BETAS",
    "IMAGE_ENCODERS",
    "LOSSES_BY_KIND",
    "MTAN",
    "PAPER_DECODER_CHANNELS",
    "PAPER_ENCODER_CHANNELS",
    "PAPER_HEAD_DEPTH",
    "PAPER_HEAD_HIDDEN",
    "PLE",
    "RECONSTRUCTIONS",
    "RESNET_CHANNELS",
    "AutoEncoder",
    "AutoencoderFit",
    "BetaVAE",
    "ConvDecoder",
    "ConvEncoder",
    "CoreMTLLosses",
    "DualStreamModel",
    "FactorDiscriminator",
    "FactorVAE",
    "FlatImageEncoder",
    "HardParameterSharing",
    "LambertianDecoder",
    "LeNetEncoder",
    "LinearEncoder",
    "MLPEncoder",
    "MMoE",
    "MTLModel",
    "SmallResNet",
    "TaskHead",
    "TaskPrediction",
    "UnknownAttributeError",
    "autoencoder_for",
    "default_encoder_channels",
    "default_resnet_channels",
    "dual_stream_for",
    "encoder_for",
    "fit_autoencoder",
    "gaussian_kl",
    "get_activation",
    "head_output_shape",
    "hps_for",
    "lambertian_render",
    "lambertian_shading",
    "linear_cka",
    "make_encoder_decoder",
    "make_heads",
    "permute_dims",
    "reconstruction_loss",
    "task_loss",
    "task_losses",
    "tc_from_logits",
]
