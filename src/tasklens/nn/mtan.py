"""MTAN: per-task soft attention masks over the blocks of a shared trunk (Liu et al. 2019)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .._common.validation import check_positive_int
from ._taskdict import TaskModuleDict
from ._utils import (
    Seed,
    check_batch,
    check_input_shape,
    check_widths,
    get_activation,
    seeded_init,
    task_mapping,
)
from .base import MTLModel
from .heads import PAPER_HEAD_DEPTH, PAPER_HEAD_HIDDEN, make_heads
from .image_models import init_relu_net


class _AttentionBlock(nn.Module):
    """One task's attention module at one trunk block: a mask and the bridge ``f``."""

    def __init__(self, mask: nn.Module, bridge: nn.Module | None) -> None:
        super().__init__()
        self.mask = mask
        self.bridge = bridge


def _unit(layer: nn.Module, width: int, image: bool, batch_norm: bool, act: nn.Module | None
          ) -> nn.Sequential:
    """``layer → (batch norm) → (activation)``: the conv/att layers of Liu et al.'s code."""
    parts = [layer]
    if batch_norm:
        parts.append(nn.BatchNorm2d(width) if image else nn.BatchNorm1d(width))
    if act is not None:
        parts.append(act)
    return nn.Sequential(*parts)


class MTAN(MTLModel):
    """Multi-Task Attention Network (Liu, Johns & Davison 2019, "End-to-End Multi-Task
    Learning with Attention", CVPR, Section 3).

    A shared trunk of ``B = len(widths)`` blocks; block ``j`` computes
    ``u_j = act(bn(layer(h_{j-1})))`` (its first layer) and ``p_j = act(bn(layer(u_j)))``
    (its last layer), and ``h_j = pool(p_j)``. Each task ``t`` has its own attention module
    per block:

    - mask ``a_j^t = σ(bn(W₂ act(bn(W₁ [u_j ; f_{j-1}^t]))))`` with 1×1 convolutions
      (linear layers for flat inputs), the concatenation dropped at ``j = 1``;
    - attended features ``â_j^t = a_j^t ⊙ p_j`` — the mask lies in (0, 1) and selects
      features of the shared block element-wise;
    - bridge ``f_j^t = act(bn(conv3×3(pool(â_j^t))))`` to the next block's width and size.

    The task's features are ``z_t = â_B^t``, average-pooled to a ``grid × grid`` map for
    images, and its head reads ``z_t``. For flat inputs ``(F,)`` the convolutions are linear layers
    and pooling is the identity.

    Decisions, against an earlier version of this class that did not learn (its features
    varied by ~1e-5 across samples at initialisation, so both Multi-MNIST tasks stayed at
    chance): batch norm after every convolution and mask layer, as in the authors' code
    (``att_layer`` and ``conv_layer`` of ``lorenmt/mtan``), and He-normal initialisation.
    Without them the plain ReLU stack with PyTorch's default initialisation and the
    (0, 1) masks shrinks the signal geometrically. ``batch_norm=False`` removes the batch
    norm (a sample's output then does not depend on its batch) and keeps the He init.
    The bridge pools *before* its 3×3 convolution (the authors' code convolves, then
    pools): the same output size for a quarter of the multiply-adds. Default widths
    ``(16, 32, 64)`` keep a 36×36 image at about 24 M multiply-adds for two tasks (165 M
    with the earlier full-resolution bridges and widths (32, 64, 128)).

    ``encode`` returns ``{t: z_t}`` (``shares_representation = False``); task ``t`` owns
    its attention modules and head, the trunk is shared.

    Parameters
    ----------
    input_shape : (F,) or (C, H, W)
    tasks : TaskSet, mapping {name: Task} or sequence of Task
    widths : sequence of int
        Width (channels) of each trunk block; images are max-pooled by 2 between blocks.
    activation : str
    head_hidden, head_depth : int
        Heads built with :func:`make_heads` (ignored when ``heads`` is given).
    heads : nn.ModuleDict, optional
        Custom heads reading ``(N, widths[-1] · grid²)`` features (``(N, widths[-1])``
        for flat inputs).
    batch_norm : bool
        Batch norm in the trunk, masks and bridges (default True, as the authors' code).
    grid : int
        Images: the task features are average-pooled to a ``grid × grid`` map (1: global
        average pooling, as the authors' classification model). Default 4 keeps position,
        which tasks such as Multi-MNIST's left / right digit need (n = 2,000, 5 epochs:
        test accuracy .52/.44 with 4, .39/.34 with 2).
    seed : int, numpy Generator or None
    """

    shares_representation = False

    def __init__(
        self,
        input_shape: Sequence[int],
        tasks: Any,
        widths: Sequence[int] = (16, 32, 64),
        activation: str = "relu",
        *,
        head_hidden: int = PAPER_HEAD_HIDDEN,
        head_depth: int = PAPER_HEAD_DEPTH,
        heads: nn.ModuleDict | Mapping[str, nn.Module] | None = None,
        batch_norm: bool = True,
        grid: int = 4,
        seed: Seed = None,
    ) -> None:
        shape = check_input_shape(input_shape)
        tmap = task_mapping(tasks)
        w = check_widths(widths, "widths", allow_empty=False)
        get_activation(activation)
        if not isinstance(batch_norm, bool):
            raise TypeError(f"batch_norm must be True or False, got {batch_norm!r}")
        image = len(shape) == 3
        self_grid = check_positive_int(grid, "grid") if image else 1
        if image and min(shape[1:]) >> (len(w) - 1) < 1:
            raise ValueError(f"{len(w)} blocks pool a {shape[1]}×{shape[2]} image below one "
                             "pixel; use fewer widths or larger images")
        with seeded_init(seed):
            super().__init__(heads if heads is not None
                             else make_heads(tmap, w[-1] * self_grid**2, head_hidden,
                                             head_depth, activation))
            if set(self.heads) != set(tmap):
                raise ValueError(f"heads are for {list(self.heads)} but tasks are {list(tmap)}")
            self.input_shape = shape
            self.widths = w
            self._image = image
            self.grid = self_grid

            def unit(i: int, o: int, kernel: int, act: bool = True) -> nn.Sequential:
                layer = (nn.Conv2d(i, o, kernel, padding=kernel // 2, bias=not batch_norm)
                         if image else nn.Linear(i, o, bias=not batch_norm))
                return _unit(layer, o, image, batch_norm,
                             get_activation(activation) if act else None)

            self.pool: nn.Module = nn.MaxPool2d(2) if image else nn.Identity()
            ins = (shape[0],) + w[:-1]
            self.trunk_first = nn.ModuleList(unit(i, o, 3) for i, o in zip(ins, w))
            self.trunk_last = nn.ModuleList(unit(o, o, 3) for o in w)
            self.attention = TaskModuleDict()
            for t in tmap:
                blocks = []
                for j, c in enumerate(w):
                    mask = nn.Sequential(*unit(c if j == 0 else 2 * c, c, 1),
                                         *unit(c, c, 1, act=False), nn.Sigmoid())
                    bridge = None if j == len(w) - 1 else unit(c, w[j + 1], 3)
                    blocks.append(_AttentionBlock(mask, bridge))
                self.attention[t] = nn.ModuleList(blocks)
            # He init for the trunk and attention; heads keep make_heads' initialisation
            for module in (self.trunk_first, self.trunk_last, self.attention):
                init_relu_net(module)

    def _task_modules(self, name: str) -> list[nn.Module]:
        return [self.attention[name], self.heads[name]]

    def _trunk(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        check_batch(x, self.input_shape)
        firsts, lasts = [], []
        h = x
        for j, (first, last) in enumerate(zip(self.trunk_first, self.trunk_last)):
            u = first(h)
            p = last(u)
            firsts.append(u)
            lasts.append(p)
            if j < len(self.widths) - 1:
                h = self.pool(p)
        return firsts, lasts

    def _attend(self, name: str, firsts: list[torch.Tensor], lasts: list[torch.Tensor]
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        masks = []
        bridged: torch.Tensor | None = None
        attended = lasts[0]
        for j, block in enumerate(self.attention[name]):
            inp = firsts[j] if bridged is None else torch.cat([firsts[j], bridged], dim=1)
            a = block.mask(inp)
            masks.append(a)
            attended = a * lasts[j]
            if block.bridge is not None:
                bridged = block.bridge(self.pool(attended))
        z = (nn.functional.adaptive_avg_pool2d(attended, self.grid).flatten(1) if self._image
             else attended)
        return z, masks

    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x : (N, *input_shape) → ``{task: (N, widths[-1] · grid²) features}``."""
        firsts, lasts = self._trunk(x)
        return {t: self._attend(t, firsts, lasts)[0] for t in self.heads}

    def attention_masks(self, x: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """``{task: [mask of block j]}``, each the shape of the block's features, in (0, 1)."""
        firsts, lasts = self._trunk(x)
        return {t: self._attend(t, firsts, lasts)[1] for t in self.heads}
