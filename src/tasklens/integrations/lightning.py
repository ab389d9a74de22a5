"""Balanced multi-task training inside PyTorch Lightning (manual optimisation).

:class:`BalancedModule` is a ``LightningModule`` around a tasklens model (``encode``,
``decode``, ``shared_parameters()``, optionally ``task_parameters(name)``, e.g.
:func:`tasklens.nn.hps_for`). Every training step runs the public engine entry
:func:`tasklens.balance.backward`, which computes exactly what the balancing method declares
(losses, Gramian or Jacobian, at parameter or representation level) and runs one backward;
then the optimiser steps. The step is the :class:`tasklens.train.Trainer`'s: the same
losses, level, head gradients and post-step update, so on the same batches the parameters
follow the Trainer's.

Under Lightning's DDP strategy (``Trainer(strategy="ddp", ...)``, CPU with gloo or GPUs with
nccl) each process holds its own share of the batch. The step then reduces what the method
sees across processes with :class:`tasklens.balance.TorchDistributedReducer` (mean task
losses; the mean Jacobian at parameter level; the ``K × K`` Gramian at representation level,
see :mod:`tasklens.balance.distributed`), so every process derives the same weights or
direction, and averages the parameter gradients before the optimiser step: the update is
the one a single process would take on the concatenated batch (equal local batch sizes).
DistributedDataParallel's own gradient hooks are kept out of the way: the engine's
backward runs inside the wrapped ``training_step`` and the gradients are averaged once,
by the reducer.

For a LightningModule of your own, call :func:`balanced_backward` from a manual-optimisation
``training_step`` instead of ``self.manual_backward(loss)``.

Refused here: methods that learn from a held-out batch after each step (``moml``),
models with ``auxiliary_losses`` (pass them to :func:`balanced_backward` yourself), and the
representation level for methods that need the representation Jacobian itself under DDP
(refused by the reducer, naming the alternatives).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from .._common.validation import check_scalar
from ..balance import BalanceContext, BalanceMethod, StepResult, TorchDistributedReducer
from ..balance import backward as engine_backward
from ..balance import get as get_method
from ..nn._utils import task_mapping
from ..nn.losses import task_losses

try:
    import lightning.pytorch as pl
except ImportError as exc:  # tests/integrations/test_lightning_missing.py
    raise ImportError("tasklens.integrations.lightning needs PyTorch Lightning: "
                      "pip install 'tasklens[lightning]'") from exc

#: named optimisers (as the tasklens Trainer names them)
OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def data_parallel_reducer() -> TorchDistributedReducer | None:
    """The reducer over the initialised ``torch.distributed`` world, or None when this is a
    single process (not initialised, or a world of one)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return TorchDistributedReducer()
    return None


def balanced_backward(
    losses: Tensor | Mapping[str, Tensor] | Sequence[Tensor],
    features: Tensor | None,
    method: BalanceMethod,
    *,
    shared_params: Sequence[Tensor],
    params: Iterable[Tensor],
    head_params: Sequence[Iterable[Tensor]] | None = None,
    level: str | None = None,
    auxiliary_loss: Tensor | None = None,
    step: int = 0,
    epoch: int = 0,
    reducer: TorchDistributedReducer | None = None,
) -> StepResult:
    """One balanced backward of a manual-optimisation step, data parallel when ``reducer``.

    Calls :func:`tasklens.balance.backward` (see there for every argument but ``params``);
    with a ``reducer`` the method sees the global losses and task gradients, and afterwards
    the gradients of ``params`` are averaged over the processes. Call ``optimizer.step()``
    next.

    Parameters
    ----------
    losses : (K,) tensor, or mapping / sequence of K scalar tensors
    features : (n, d) tensor or None
        The shared representation the heads read.
    method : BalanceMethod
    shared_params : sequence of tensors
    params : iterable of tensors
        Every parameter the optimiser updates (their gradients are averaged under data
        parallelism).
    head_params, level, auxiliary_loss, step, epoch
        As for :func:`tasklens.balance.backward`.
    reducer : TorchDistributedReducer, optional
        E.g. :func:`data_parallel_reducer`; None on one process.

    Returns
    -------
    StepResult
    """
    result = engine_backward(losses, features, method, shared_params=shared_params,
                             level=level, auxiliary_loss=auxiliary_loss, step=step,
                             epoch=epoch, reducer=reducer, head_params=head_params)
    if reducer is not None:
        reducer.average_gradients(list(params))
    return result


class ShardedBatches:
    """This process's share of each global batch, in the tasklens Trainer's order.

    Epoch ``e`` draws the order the :class:`tasklens.train.Trainer` draws (a shuffle seeded
    with ``epoch_seed(seed, e)``) over global batches of ``batch_size × world_size`` samples
    and yields rows ``[rank·b, (rank+1)·b)`` of each: ``batch_size`` is per process (the
    PyTorch DDP convention), and a DDP run on ``W`` processes takes the steps a single
    process takes with ``batch_size × W``. Use it with ``use_distributed_sampler=False``, so
    that Lightning leaves the sharding to it (its automatic ``DistributedSampler`` swap is
    not made for :meth:`tasklens.data.TaskSet.dataloader`'s batch sampler; untested).

    Parameters
    ----------
    taskset : TaskSet
    batch_size : int
        Samples per process and step.
    seed : int
        The run's seed (as the Trainer's ``seed``).
    rank, world_size : int, optional
        Default: read from ``torch.distributed`` when iteration starts (it is initialised by
        then inside ``Trainer.fit``), else ``0`` and ``1``.

    Notes
    -----
    Re-iterable: the ``e``-th iteration yields epoch ``e``'s order (:meth:`set_epoch`
    chooses another, e.g. after a resume). A last global batch that does not split evenly is
    split with ``tensor_split`` (local sizes differ by one sample, so its reduced loss is a
    mean of
    unequal means); one with fewer samples than processes is skipped.
    """

    def __init__(self, taskset: Any, batch_size: int, *, seed: int = 0,
                 rank: int | None = None, world_size: int | None = None) -> None:
        self.taskset = taskset
        self.batch_size = check_scalar(batch_size, "batch_size", numbers.Integral, low=1)
        self.seed = check_scalar(seed, "seed", numbers.Integral, low=0)
        self.rank = check_scalar(rank, "rank", numbers.Integral, low=0, allow_none=True)
        self.world_size = check_scalar(world_size, "world_size", numbers.Integral, low=1,
                                       allow_none=True)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch`` at the next iteration."""
        self.epoch = int(epoch)

    def _world(self) -> tuple[int, int]:
        import torch.distributed as dist

        live = dist.is_available() and dist.is_initialized()
        world = self.world_size or (dist.get_world_size() if live else 1)
        rank = self.rank if self.rank is not None else (dist.get_rank() if live else 0)
        if rank >= world:
            raise ValueError(f"rank {rank} is not below world_size {world}")
        return rank, world

    def __len__(self) -> int:
        _, world = self._world()
        n, b = len(self.taskset), self.batch_size * world
        return n // b + int(n % b >= world)

    def __iter__(self) -> Iterator[tuple[Tensor, dict[str, Tensor]]]:
        from ..train import epoch_seed
        from ..train.distributed import shard_rows

        rank, world = self._world()
        epoch, self.epoch = self.epoch, self.epoch + 1
        loader = self.taskset.dataloader(self.batch_size * world, shuffle=True,
                                         seed=epoch_seed(self.seed, epoch))
        for x, y in loader:
            local = shard_rows(x, y, rank, world)
            if local is not None:
                yield local


def _default_level(method: BalanceMethod, level: str | None) -> str:
    """The Trainer's rule: parameter level when the method supports it."""
    if level is not None:
        if level not in ("parameter", "representation"):
            raise ValueError(f"unknown level {level!r}; choose 'parameter' or "
                             "'representation'")
        return level
    if method.needs_gradients and "parameter" not in method.levels:
        return "representation"
    return "parameter"


def _check_model(model: Any) -> torch.nn.Module:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    for attr in ("encode", "decode", "shared_parameters"):
        if not callable(getattr(model, attr, None)):
            raise TypeError(f"model must provide {attr}() (see tasklens.nn.MTLModel)")
    if callable(getattr(model, "auxiliary_losses", None)):
        raise ValueError(f"{type(model).__name__} defines auxiliary_losses, which "
                         "BalancedModule does not add to the objective; train it with "
                         "tasklens.train.Trainer, or pass their sum as auxiliary_loss= to "
                         "balanced_backward in your own LightningModule")
    return model


def _check_optimizer(optimizer: Any) -> str | Callable[[Any], torch.optim.Optimizer]:
    if isinstance(optimizer, str) and optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of "
                         f"{sorted(OPTIMIZERS)} or pass callable(params) -> Optimizer")
    if not isinstance(optimizer, str) and not callable(optimizer):
        raise TypeError(f"optimizer must be a name or callable(params), got "
                        f"{type(optimizer).__name__}")
    return optimizer


class BalancedModule(pl.LightningModule):
    """A LightningModule that trains a tasklens model with a tasklens balancing method.

    Parameters
    ----------
    model : torch.nn.Module
        A tasklens multi-task model: ``encode(x) -> z``, ``decode(z) -> {task: output}``,
        ``shared_parameters()``, optionally ``task_parameters(name)`` (the heads).
    tasks : TaskSet, or mapping / sequence of Task
        The tasks (their kinds fix the losses and the order of the K losses).
    method : str or BalanceMethod
        A name for :func:`tasklens.balance.get` or an instance.
    level : {"parameter", "representation"}, optional
        Where task gradients are taken (default: as the tasklens Trainer).
    optimizer : {"adam", "adamw", "sgd"} or callable(params) -> Optimizer
    lr : float
        Learning rate of a named optimiser.

    Notes
    -----
    Batches are ``(x, {task: targets})``, as :meth:`tasklens.data.TaskSet.dataloader`
    yields. Logged: ``train/loss/<task>``, ``train/weight/<task>`` (weight methods) and,
    from ``validation_step``, ``val/loss/<task>`` and ``val/loss``.
    """

    def __init__(self, model: torch.nn.Module, tasks: Any, method: str | BalanceMethod = "ew",
                 *, level: str | None = None,
                 optimizer: str | Callable[[Any], torch.optim.Optimizer] = "adam",
                 lr: float = 1e-3) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.model = _check_model(model)
        self.tasks = task_mapping(tasks)  # {name: Task}: fixes the order of the K losses
        self.task_names = list(self.tasks)
        if isinstance(method, str):
            method = get_method(method)
        if not isinstance(method, BalanceMethod):
            raise TypeError(f"method must be a method name or a BalanceMethod, got "
                            f"{type(method).__name__}")
        if method.update_batch == "held_out":
            raise ValueError(f"method {method.name!r} learns from a held-out batch after "
                             "every step, which BalancedModule does not provide; train it "
                             "with tasklens.train.Trainer(val=...)")
        self.method = method
        self.level = _default_level(method, level)
        self.method.prepare(level=self.level if method.needs_gradients else None,
                            num_tasks=len(self.task_names))
        self.optimizer_spec = _check_optimizer(optimizer)
        self.lr = check_scalar(lr, "lr", numbers.Real, low=0, include_low=False)
        self._reducer: TorchDistributedReducer | None = None

    # ------------------------------------------------------------------ Lightning hooks
    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.model(x)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = [p for p in self.model.parameters() if p.requires_grad]
        if isinstance(self.optimizer_spec, str):
            return OPTIMIZERS[self.optimizer_spec](params, lr=self.lr)
        opt = self.optimizer_spec(params)
        if not isinstance(opt, torch.optim.Optimizer):
            raise TypeError(f"optimizer(params) must return a torch Optimizer, got "
                            f"{type(opt).__name__}")
        return opt

    def on_fit_start(self) -> None:
        # the process group exists only now (Lightning's DDP strategy sets it up)
        self._reducer = data_parallel_reducer()
        if self._reducer is not None:
            self._reducer.check_method(self.method, self.level if self.method.needs_gradients
                                       else None)
        if self.global_step == 0:
            self.method.reset()

    def training_step(self, batch: tuple[Tensor, dict[str, Tensor]], batch_idx: int) -> None:
        x, y = batch
        opt = self.optimizers()
        opt.zero_grad(set_to_none=True)
        model = self.model
        z = model.encode(x)
        losses = task_losses(self.tasks, model.decode(z), y)
        features = z if isinstance(z, Tensor) and getattr(
            model, "shares_representation", True) else None
        shared = [p for p in model.shared_parameters() if p.requires_grad]
        step, epoch = int(self.global_step), int(self.current_epoch)
        result = balanced_backward(
            losses, features, self.method, shared_params=shared,
            params=[p for p in model.parameters() if p.requires_grad],
            head_params=self._head_params(), level=self.level, step=step, epoch=epoch,
            reducer=self._reducer)
        opt.step()
        if self.method.update_batch == "same":  # FAMO: the same batch's losses after the step
            with torch.no_grad():
                after = task_losses(self.tasks, model(x), y)
            if self._reducer is not None:
                after = self._reducer.all_reduce_sum(after) / self._reducer.world_size
            self.method.update(BalanceContext(losses=after, step=step, epoch=epoch))
        self._log_step(result)

    def validation_step(self, batch: tuple[Tensor, dict[str, Tensor]],
                        batch_idx: int) -> Tensor:
        x, y = batch
        losses = task_losses(self.tasks, self.model(x), y)
        self.log_dict({f"val/loss/{t}": v for t, v in zip(self.task_names, losses)},
                      sync_dist=True, batch_size=len(x))
        total = losses.sum()
        self.log("val/loss", total, sync_dist=True, batch_size=len(x))
        return total

    # ------------------------------------------------------------------ helpers
    def _head_params(self) -> list[list[Tensor]] | None:
        task_parameters = getattr(self.model, "task_parameters", None)
        if not callable(task_parameters):
            return None  # the engine derives the heads from the graph
        return [[p for p in task_parameters(t) if p.requires_grad] for t in self.task_names]

    def _log_step(self, result: StepResult) -> None:
        values = {f"train/loss/{t}": v for t, v in zip(self.task_names, result.losses)}
        if result.weights is not None:
            values.update({f"train/weight/{t}": w
                           for t, w in zip(self.task_names, result.weights)})
        # the losses and weights are already global (reduced) under DDP: no sync needed
        self.log_dict(values, on_step=True, on_epoch=False, prog_bar=False)

