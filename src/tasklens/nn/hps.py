"""Hard parameter sharing: one shared encoder, one head per task."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .._common.validation import check_positive_int
from ._utils import Seed, check_input_shape, check_widths, seeded_init, task_mapping
from .base import MTLModel
from .encoders import encoder_for
from .heads import PAPER_HEAD_DEPTH, PAPER_HEAD_HIDDEN, make_heads


def _out_features(encoder: nn.Module, input_shape: tuple[int, ...] | None) -> int:
    """The code size of ``encoder``: its ``out_features``, else one no-grad eval pass."""
    size = getattr(encoder, "out_features", None)
    if isinstance(size, int):
        return size
    if input_shape is None:
        raise ValueError("cannot tell the encoder's output size: give it an `out_features` "
                         "attribute or pass code_dim=")
    was_training = encoder.training
    encoder.eval()  # keep batch-norm statistics untouched by the probe
    try:
        with torch.no_grad():
            out = encoder(torch.zeros((2, *input_shape)))
    finally:
        encoder.train(was_training)
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        raise ValueError("the encoder must map (N, ...) inputs to (N, d) features, got "
                         f"{getattr(out, 'shape', type(out).__name__)}")
    return int(out.shape[1])


class HardParameterSharing(MTLModel):
    """Hard parameter sharing (HPS): ``z = encoder(x)``, ``ŷ_t = head_t(z)``.

    The standard MTL architecture (the multi-task model of Maziarka et al. 2022,
    Section 3.2.1 and Figure 2). ``z`` is shared by every head, so ``∂L_t/∂z`` are the
    representation-level task gradients.

    Parameters
    ----------
    encoder : nn.Module
        Any module mapping ``(N, ...)`` inputs to ``(N, d)`` features.
    heads : nn.ModuleDict or mapping {task name: nn.Module}
        Each head maps ``(N, d)`` to its output (e.g. from :func:`make_heads`).
    """

    shares_representation = True

    def __init__(self, encoder: nn.Module, heads: nn.ModuleDict | Mapping[str, nn.Module]
                 ) -> None:
        super().__init__(heads)
        if not isinstance(encoder, nn.Module):
            raise TypeError(f"encoder must be an nn.Module, got {type(encoder).__name__}")
        self.encoder = encoder

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x : (N, ...) → z : (N, d)."""
        return self.encoder(x)


def hps_for(
    tasks: Any,
    encoder: nn.Module | None = None,
    *,
    input_shape: Sequence[int] | None = None,
    code_dim: int = 64,
    hidden: int | Sequence[int] = (256, 256),
    channels: Sequence[int] | None = None,
    activation: str = "relu",
    image_encoder: str = "resnet",
    head_hidden: int = PAPER_HEAD_HIDDEN,
    head_depth: int = PAPER_HEAD_DEPTH,
    head_bias: bool = True,
    seed: Seed = None,
) -> HardParameterSharing:
    """Build an HPS model for a task set.

    Parameters
    ----------
    tasks : TaskSet, or mapping / sequence of Task (then ``input_shape`` is required
        unless ``encoder`` is given with an ``out_features`` attribute)
    encoder : nn.Module, optional
        Default: :func:`encoder_for` — an MLP for ``(F,)`` inputs, the image encoder
        named by ``image_encoder`` for ``(C, H, W)`` images.
    input_shape : (F,) or (C, H, W), optional
        Default ``tasks.input_shape``.
    code_dim : int
        Size of ``z`` for the default encoder.
    hidden, channels, activation
        Passed to :func:`encoder_for`.
    image_encoder : {"resnet", "beta_vae", "lenet"}
        Image encoder (default: :class:`~tasklens.nn.SmallResNet`; ``"beta_vae"``: the
        encoder of Maziarka et al. 2022 App. A, used by the disentanglement study).
    head_hidden, head_depth : int
        Heads (default: Maziarka et al. 2022 Table 3, four layers of 300 units).
    head_bias : bool
        False with ``encoder=LinearEncoder(...)`` and ``head_depth=1`` gives the deep linear
        multi-task network of 000 (shared weights, then one linear map per task).
    seed : int, numpy Generator or None
        Seeds encoder and heads together.
    """
    tmap = task_mapping(tasks)
    if input_shape is None:
        input_shape = getattr(tasks, "input_shape", None)
    shape = None if input_shape is None else check_input_shape(input_shape)
    check_positive_int(code_dim, "code_dim")
    check_widths(hidden, "hidden")
    with seeded_init(seed):
        if encoder is None:
            if shape is None:
                raise ValueError("pass input_shape= (or a TaskSet) so that an encoder can be "
                                 "chosen")
            encoder = encoder_for(shape, code_dim, hidden=hidden, channels=channels,
                                  activation=activation, image_encoder=image_encoder)
        d = _out_features(encoder, shape)
        heads = make_heads(tmap, d, head_hidden, head_depth, activation, bias=head_bias)
    return HardParameterSharing(encoder, heads)
