"""The :class:`~tasklens.train.Trainer` under ``torchrun``: data parallelism over processes.

Under ``torchrun --nproc_per_node W script.py`` every process builds the same Trainer. The
Trainer then (see docs/scale.md, "torchrun"):

- joins the process group (initialising it from torchrun's environment — ``gloo`` on CPU,
  ``nccl`` on CUDA — when the script has not);
- broadcasts rank 0's parameters and buffers at the start of ``fit`` (as
  ``DistributedDataParallel`` does), so every process starts from the same model;
- draws the single-process order of global batches of ``batch_size × W`` samples (the
  shuffle seeded with ``(seed, epoch)``, every sample once per epoch: the
  ``DistributedSampler`` semantics) and gives process ``r`` rows ``[r·b, (r+1)·b)`` of each
  (``batch_size`` is per process, PyTorch's DDP convention);
- passes a :class:`~tasklens.balance.TorchDistributedReducer` to the step plan, so that
  every process sees the global losses and task gradients (or ``K × K`` Gramian) and
  derives the same weights, and averages the parameter gradients before the optimiser
  step: ``W`` processes take the steps one process takes with ``batch_size × W``;
- evaluates on the full validation and test sets (on every process: identical models give
  identical metrics, so early stopping agrees);
- writes checkpoints and log files from rank 0 only (atomically), the others waiting at a
  barrier. A checkpoint records the global batch size, so it resumes on any number of
  processes with ``batch_size × W`` unchanged.

Methods that need the representation-level Jacobian itself are refused at construction
(by :meth:`~tasklens.balance.GradientReducer.check_method`, naming the alternatives).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import torch
from torch import Tensor

from ..balance import TorchDistributedReducer
from ..balance.engine import StepResult

T = TypeVar("T")


def data_parallel_reducer(distributed: bool | None) -> TorchDistributedReducer | None:
    """The reducer of the Trainer's ``distributed`` option, or None for one process.

    ``None`` (auto): data parallel when a process group of more than one process is
    initialised, or when torchrun's environment (``WORLD_SIZE > 1``) is set, in which case
    the group is initialised here. ``True``: the same, but an error when there is no
    group to join. ``False``: a single-process run even inside a process group.
    """
    if distributed is not None and not isinstance(distributed, bool):
        raise TypeError(f"distributed must be True, False or None, got {distributed!r}")
    if distributed is False:
        return None
    import torch.distributed as dist

    if not dist.is_available():
        if distributed:
            raise ValueError("distributed=True, but this torch build has no "
                             "torch.distributed; use distributed=None or False")
        return None
    if not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if not dist.is_initialized():
        if distributed:
            raise ValueError("distributed=True needs an initialised process group: start the "
                             "script with torchrun --nproc_per_node N, or call "
                             "torch.distributed.init_process_group(...) before the Trainer")
        return None
    if dist.get_world_size() == 1:
        return None
    return TorchDistributedReducer()


def rank(reducer: TorchDistributedReducer | None) -> int:
    """This process's rank (0 on one process)."""
    if reducer is None:
        return 0
    import torch.distributed as dist

    return int(dist.get_rank(reducer.group))


def world_size(reducer: TorchDistributedReducer | None) -> int:
    return 1 if reducer is None else reducer.world_size


def shard(x: Tensor, y: dict[str, Tensor], reducer: TorchDistributedReducer | None
          ) -> tuple[Tensor, dict[str, Tensor]] | None:
    """This process's rows of a global batch, or None when it has fewer samples than
    processes (skipped on every process alike).

    A global batch that does not split evenly (the epoch's last) is split by
    ``tensor_split``: local sizes differ by one and its reduced loss is a mean of unequal
    means (the convention of ``DistributedDataParallel``).
    """
    world = world_size(reducer)
    if world == 1:
        return x, y
    return shard_rows(x, y, rank(reducer), world)


def shard_rows(x: Tensor, y: dict[str, Tensor], rank: int, world: int
               ) -> tuple[Tensor, dict[str, Tensor]] | None:
    """Rank ``rank``'s rows of a global batch split by ``tensor_split`` into ``world``
    parts, or None when the batch has fewer samples than processes (the rule of the Trainer
    under torchrun and of the Lightning adapter's :class:`ShardedBatches`)."""
    if len(x) < world:
        return None
    rows = torch.tensor_split(torch.arange(len(x)), world)[rank]
    return x[rows], {k: v[rows] for k, v in y.items()}


def sharded(batches: Iterable[tuple[Tensor, dict[str, Tensor]]],
            reducer: TorchDistributedReducer | None
            ) -> Iterator[tuple[Tensor, dict[str, Tensor]]]:
    """This process's share of each global batch (see :func:`shard`); a batch with fewer
    samples than processes is skipped (on every process alike)."""
    for x, y in batches:
        local = shard(x, y, reducer)
        if local is not None:
            yield local


def average_gradients(params: Sequence[Tensor], reducer: TorchDistributedReducer | None
                      ) -> None:
    """Each ``p.grad`` replaced by its mean over the processes (nothing on one process)."""
    if reducer is not None:
        reducer.average_gradients(params)


def broadcast_model(model: torch.nn.Module, reducer: TorchDistributedReducer | None) -> None:
    """Copy rank 0's parameters and buffers to every process."""
    if reducer is None:
        return
    import torch.distributed as dist

    src = dist.get_global_rank(reducer.group, 0) if reducer.group is not None else 0
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            dist.broadcast(t.data, src=src, group=reducer.group)


def mean_over_processes(tensor: Tensor, reducer: TorchDistributedReducer | None) -> Tensor:
    """``(1/W) Σ_p tensor^p`` (the tensor itself on one process)."""
    if reducer is None:
        return tensor
    return reducer.all_reduce_sum(tensor) / reducer.world_size


def global_losses(result: StepResult, reducer: TorchDistributedReducer | None) -> StepResult:
    """The step's result with the task losses averaged over the processes (what is logged;
    the engine returns this process's own)."""
    if reducer is None:
        return result
    return replace(result, losses=mean_over_processes(result.losses, reducer))


def on_main(reducer: TorchDistributedReducer | None, write: Callable[[], T], default: T) -> T:
    """Run ``write`` on rank 0 only, then wait for it on every process (a barrier), so that
    no process reads a file before it exists. Other ranks return ``default``."""
    if reducer is None:
        return write()
    import torch.distributed as dist

    try:
        return write() if rank(reducer) == 0 else default
    finally:  # also when the write fails: the others are released (torchrun then ends them)
        dist.barrier(group=reducer.group)


def global_batch_size(trainer: Any) -> int:
    """Samples per step over all processes (what a checkpoint records)."""
    return int(trainer.batch_size) * world_size(getattr(trainer, "_reducer", None))
