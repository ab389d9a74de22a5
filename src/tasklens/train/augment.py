"""Batch changes in training: the Trainer's ``transforms=``, batch callbacks, their seeding.

Each training step's transforms draw from a fresh :class:`torch.Generator` seeded from
``(seed, epoch, step)`` only (:func:`augment_seed`). Nothing about augmentation needs to
be saved in a checkpoint: a run resumed at any step draws exactly what the uninterrupted
run drew, and torch's global RNG (dropout) is neither read nor advanced. Evaluation never
sees the transforms. A hand-written loop gets the same batches with
``augment_batch(transforms, x, seed=, epoch=, step=)``.

Callbacks that override :meth:`~tasklens.train.Callback.on_batch` run after the
transforms (:func:`apply_batch_callbacks`), each with its own generator seeded the same
way (plus its position in the callback list), and their output is checked against the
hook's contract: same task keys, and tensors of the same shapes, dtypes and devices.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ..data.taskset import TaskSet
from ..data.transforms import Compose, Transform

if TYPE_CHECKING:
    from .callbacks import Callback

_AUGMENT_TAG = 0x61756700  # keeps these seeds apart from the data-order and dropout seeds
_CALLBACK_TAG = 0x62637400  # and the batch callbacks' apart from the transforms'


def augment_seed(seed: int, epoch: int, step: int, rank: int = 0) -> int:
    """The seed of step ``step``'s augmentation generator: a function of its arguments only
    (``rank`` keeps the processes of a distributed run apart)."""
    return _step_seed([seed, epoch, step, rank, _AUGMENT_TAG])


def batch_callback_seed(seed: int, epoch: int, step: int, position: int, rank: int = 0) -> int:
    """The seed of the generator given to the batch callback at ``position`` (its index
    among the callbacks that override ``on_batch``) at step ``step``."""
    return _step_seed([seed, epoch, step, rank, _CALLBACK_TAG, position])


def _step_seed(entropy: list[int]) -> int:
    return int(np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint64)[0]
               >> np.uint64(1))


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


def apply_batch_callbacks(callbacks: Sequence[Callback], trainer: Any, x: Tensor,
                          y: dict[str, Tensor], *, seed: int, epoch: int, step: int,
                          rank: int = 0) -> tuple[Tensor, dict[str, Tensor]]:
    """``(x, y)`` passed through each callback's ``on_batch`` in order, under
    ``torch.no_grad``, each with a generator seeded by :func:`batch_callback_seed`; every
    output is checked (:func:`check_batch`)."""
    for position, callback in enumerate(callbacks):
        gen = torch.Generator(device=x.device)
        gen.manual_seed(batch_callback_seed(seed, epoch, step, position, rank))
        with torch.no_grad():
            out = callback.on_batch(trainer, x, y, gen)
        x, y = check_batch(out, x, y, f"{type(callback).__name__}.on_batch")
    return x, y


def _check_tensor(value: Any, like: Tensor, what: str, where: str) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(f"{where} returned {what} of type {type(value).__name__}; it must be "
                        "a torch.Tensor")
    for attr in ("shape", "dtype", "device"):
        if getattr(value, attr) != getattr(like, attr):
            raise ValueError(f"{where} returned {what} with {attr} {getattr(value, attr)}, "
                             f"but the batch it received has {attr} {getattr(like, attr)}: "
                             "a batch callback must keep shapes (hence the batch size), "
                             "dtypes and devices")


def check_batch(out: Any, x: Tensor, y: Mapping[str, Tensor], where: str
                ) -> tuple[Tensor, dict[str, Tensor]]:
    """``out`` as ``(x, y)`` when it keeps the contract of ``Callback.on_batch`` against the
    batch ``(x, y)`` it was made from; else a ``TypeError``/``ValueError`` naming ``where``."""
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise TypeError(f"{where} must return the pair (x, y), got "
                        f"{type(out).__name__}" + ("" if out is not None else
                                                  " (did it forget `return x, y`?)"))
    new_x, new_y = out
    _check_tensor(new_x, x, "x", where)
    if not isinstance(new_y, Mapping):
        raise TypeError(f"{where} returned y of type {type(new_y).__name__}; it must be a "
                        "dict {task: targets}")
    if set(new_y) != set(y):
        raise ValueError(f"{where} returned targets for tasks {sorted(new_y)}; the batch has "
                         f"{sorted(y)}: keep exactly the same keys")
    for task, target in y.items():
        _check_tensor(new_y[task], target, f"y[{task!r}]", where)
    return new_x, {task: new_y[task] for task in y}
