"""Batch augmentation in training: the Trainer's ``transforms=`` and its seeding.

Each training step's transforms draw from a fresh :class:`torch.Generator` seeded from
``(seed, epoch, step)`` only (:func:`augment_seed`). Nothing about augmentation needs to
be saved in a checkpoint: a run resumed at any step draws exactly what the uninterrupted
run drew, and torch's global RNG (dropout) is neither read nor advanced. Evaluation never
sees the transforms. A hand-written loop gets the same batches with
``augment_batch(transforms, x, seed=, epoch=, step=)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..data.taskset import TaskSet
from ..data.transforms import Compose, Transform

_AUGMENT_TAG = 0x61756700  # keeps these seeds apart from the data-order and dropout seeds


def augment_seed(seed: int, epoch: int, step: int, rank: int = 0) -> int:
    """The seed of step ``step``'s augmentation generator: a function of its arguments only
    (``rank`` keeps the processes of a distributed run apart)."""
    return int(np.random.SeedSequence([seed, epoch, step, rank, _AUGMENT_TAG])
               .generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))


def check_transforms(transforms: Any, taskset: TaskSet) -> Transform | None:
    """``transforms`` as one :class:`Transform` (a sequence becomes a :class:`Compose`), or
    None; refuses a task set whose samples are not images ``(C, H, W)``."""
    if transforms is None:
        return None
    if isinstance(transforms, Sequence) and not isinstance(transforms, (str, bytes)):
        transforms = Compose(transforms)
    if not isinstance(transforms, Transform):
        raise TypeError(f"transforms must be a tasklens.data.transforms.Transform, a sequence "
                        f"of them or None, got {type(transforms).__name__}")
    if len(taskset.input_shape) != 3:
        raise ValueError(f"transforms need image inputs (N, C, H, W); the task set "
                         f"{taskset.name!r} has inputs of shape (N, "
                         f"{', '.join(map(str, taskset.input_shape))}). Build it with "
                         "image-shaped inputs (e.g. multi_mnist(flatten=False)) or drop "
                         "transforms=")
    return transforms


def augment_batch(transforms: Transform | None, x: Tensor, *, seed: int, epoch: int,
                  step: int, rank: int = 0) -> Tensor:
    """``transforms(x)`` with a generator on ``x``'s device seeded by :func:`augment_seed`
    (``x`` itself when ``transforms`` is None). Gradients never flow into the
    augmentation (it runs under ``torch.no_grad``)."""
    if transforms is None:
        return x
    gen = torch.Generator(device=x.device)
    gen.manual_seed(augment_seed(seed, epoch, step, rank))
    with torch.no_grad():
        return transforms(x, gen)
