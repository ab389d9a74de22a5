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
from .base import MTLModel
from .dual_stream import CoreMTLLosses, DualStreamModel, dual_stream_for, linear_cka
from .encoders import (
    PAPER_DECODER_CHANNELS,
    PAPER_ENCODER_CHANNELS,
    ConvDecoder,
    ConvEncoder,
    LinearEncoder,
    MLPEncoder,
    default_encoder_channels,
    encoder_for,
)
from .heads import PAPER_HEAD_DEPTH, PAPER_HEAD_HIDDEN, TaskHead, head_output_shape, make_heads
from .hps import HardParameterSharing, hps_for
from .losses import LOSSES_BY_KIND, task_loss, task_losses
from .moe import CGC, PLE, MMoE
from .mtan import MTAN

__all__ = [
    "ACTIVATIONS",
    "CGC",
    "LOSSES_BY_KIND",
    "MTAN",
    "PAPER_DECODER_CHANNELS",
    "PAPER_ENCODER_CHANNELS",
    "PAPER_HEAD_DEPTH",
    "PAPER_HEAD_HIDDEN",
    "PLE",
    "ConvDecoder",
    "ConvEncoder",
    "CoreMTLLosses",
    "DualStreamModel",
    "HardParameterSharing",
    "LinearEncoder",
    "MLPEncoder",
    "MMoE",
    "MTLModel",
    "TaskHead",
    "default_encoder_channels",
    "dual_stream_for",
    "encoder_for",
    "get_activation",
    "head_output_shape",
    "hps_for",
    "linear_cka",
    "make_heads",
    "task_loss",
    "task_losses",
]
