"""The :class:`Trainer`: one multi-task training loop driven by the methods' declarations.

At construction the method's declarations and the model are resolved once into a
:class:`~tasklens.balance.engine.StepPlan` (``trainer.plan``; ``print`` it). Each step:
``z = model.encode(x)``, ``outputs = model.decode(z)``, the ``(K,)`` task losses, the model's
optional auxiliary terms, then :func:`tasklens.balance.engine.execute` (which computes
exactly what the plan says and runs one backward), ``optimizer.step()``, and — only for
methods that declare ``post_step_update`` — :func:`tasklens.balance.engine.update_after_step`
with the same batch's losses re-evaluated after the step (FAMO) or a held-out batch's
(MOML; the engine takes its task gradients). No method is special-cased by name.

Auxiliary model terms (protocol)
--------------------------------
A model may define ``auxiliary_losses(x, z, outputs[, targets]) -> {name: scalar tensor}``
(reconstruction, independence penalties, losses of extra forward passes on
counterfactual inputs it builds itself). Their sum enters the engine as
``auxiliary_loss`` (added unweighted to the balanced objective) and each term is logged
as ``train/aux/<name>``. Representation-level models (e.g. the dual-stream encoder of
Wu et al. 2026 (CORE-MTL)) plug in this way, without trainer branches.

Reproducibility
---------------
The epoch's data order is a function of ``(seed, epoch)``; torch's RNG (dropout) runs in a
forked state seeded from ``seed`` and saved in checkpoints, so that resuming at an epoch
boundary or mid-epoch continues bit-identically on CPU. The caller's global RNG state is
left untouched.
"""

from __future__ import annotations

import contextlib
import logging
import numbers
import time
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .. import __version__
from .._common.io import check_writable_dir, clean_stale_temps
from .._common.progress import track
from .._common.validation import check_scalar
from ..balance import LEVELS, BalanceMethod, NonFiniteGradientError
from ..balance import get as get_method
from ..balance._plan import StepPlan, default_level
from ..balance.engine import StepResult, execute, update_after_step
from ..data.taskset import TaskSet
from ..nn.losses import task_losses
from . import distributed as dist
from . import step_cap as cap
from .accumulators import EpochAccumulator
from .augment import Transform, apply_batch_callbacks, augment_batch, check_transforms
from .callbacks import Callback, EarlyStopping
from .checkpoint import load_checkpoint, save_checkpoint
from .evaluation import model_device, to_device
from .loggers import CSVLogger, JSONLLogger
from .model_terms import auxiliary_terms, make_optimizer
from .monitors import head_gradients
from .records import epoch_row, log_step
from .result import SPLITS, TrainResult, averaged, split_metrics
from .step import (
    check_recorder,
    gradients_finite,
    held_out_forward,
    optimized_parameters,
    plan_for_model,
    raise_non_finite_gradient,
    raise_non_finite_loss,
)
from .trainer_state import (
    NonFiniteLossError,
    capture,
    check_resumable,
    data_fingerprint,
    kept_checkpoint,
    restore,
    state_is_finite,
)

logger = logging.getLogger("tasklens")

CHECKPOINT_NAME = "last.pt"


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffling seed of ``epoch``: a function of ``(seed, epoch)`` only."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def torch_seed(seed: int) -> int:
    """The seed of torch's (forked) RNG for a run, distinct from every epoch's data seed."""
    return int(np.random.SeedSequence([seed, 2**32 - 1]).generate_state(1)[0])


class Trainer:
    """Train a multi-task model with a balancing method.

    Parameters
    ----------
    model : MTLModel
        ``encode``, ``decode``, ``shared_parameters()``, optional ``task_parameters(name)``
        and ``auxiliary_losses(x, z, outputs)`` (see the module docstring). Its heads must
        be named like the task set's tasks. Training runs on its parameters' device.
    taskset : TaskSet
        Training data.
    method : str or BalanceMethod
        A name for :func:`tasklens.balance.get` (default hyper-parameters) or an instance.
    optimizer : {"adam", "adamw", "sgd"} or callable(params) -> Optimizer
    lr : float
        Learning rate for a named optimiser (at a resume it replaces the checkpoint's,
        with a warning: see docs/train.md, "Checkpoints and training faults").
    batch_size : int
    level : {"parameter", "representation"}, optional
        Where task gradients are taken. Default: the one rule of
        :func:`tasklens.balance.engine.backward` — ``parameter`` when the method supports it,
        else ``representation``; for loss-only methods, where the monitors look
        (``parameter``). The resolved :class:`~tasklens.balance.engine.StepPlan` is
        ``trainer.plan`` (``print(trainer.plan)`` says what each step computes and why).
    val, test : TaskSet, optional
        Evaluated after every epoch (``val/…``, ``test/…`` columns).
    seed : int
        Data order and torch randomness (dropout) of the run.
    callbacks : sequence of Callback
    monitor_every : int
        Every that many steps, log the interaction monitors (0 = off).
    checkpoint_dir : path, optional
        Where ``last.pt`` is written (atomically) at every epoch end, at a ``max_steps``
        stop, every ``checkpoint_every`` steps, and before a non-finite-loss error (never a
        diverged state over a finite one). Checked to be writable at construction.
    checkpoint_every : int, optional
        Steps between mid-epoch checkpoints (needs ``checkpoint_dir``).
    early_stopping : int or EarlyStopping, optional
        Patience (on ``val/loss``) or a configured callback; needs ``val``.
    average_last_k : int
        Epochs averaged in ``TrainResult.averaged_metrics``.
    progress : bool, optional
        Progress bar per epoch (default: only on a terminal).
    log_dir : path, optional
        Adds a :class:`CSVLogger` and a :class:`JSONLLogger` writing there.
    eval_batch_size : int
        Batch size of the evaluation passes.
    transforms : Transform or sequence of Transform, optional
        Augments training batches only, seeded by ``(seed, epoch, step)`` (train/augment.py).
        Callbacks overriding :meth:`Callback.on_batch` then may change the batch further.
    distributed : bool, optional
        Data parallel over ``torch.distributed`` (torchrun); default: when running under it.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        taskset: TaskSet,
        method: str | BalanceMethod = "ew",
        *,
        optimizer: str | Callable[[Any], torch.optim.Optimizer] = "adam",
        lr: float = 1e-3,
        batch_size: int = 128,
        level: str | None = None,
        val: TaskSet | None = None,
        test: TaskSet | None = None,
        seed: int = 0,
        callbacks: Sequence[Callback] = (),
        monitor_every: int = 0,
        checkpoint_dir: str | Path | None = None,
        checkpoint_every: int | None = None,
        early_stopping: int | EarlyStopping | None = None,
        average_last_k: int = 1,
        progress: bool | None = None,
        log_dir: str | Path | None = None,
        eval_batch_size: int = 512,
        transforms: Transform | Sequence[Transform] | None = None,
        distributed: bool | None = None,
    ) -> None:
        if not isinstance(taskset, TaskSet):
            raise TypeError(f"taskset must be a TaskSet, got {type(taskset).__name__}")
        taskset.check_not_empty("taskset")
        self.taskset = taskset
        self.task_names = list(taskset.task_names)
        self.model = self._check_model(model)
        self.method = self._check_method(method)
        self.level = self._resolve_level(level)
        self._reducer = dist.data_parallel_reducer(distributed)
        self.is_main = dist.rank(self._reducer) == 0  # rank 0 writes logs and checkpoints
        self.batch_size = check_scalar(batch_size, "batch_size", numbers.Integral, low=1)
        self.eval_batch_size = check_scalar(eval_batch_size, "eval_batch_size",
                                            numbers.Integral, low=1)
        self.seed = check_scalar(seed, "seed", numbers.Integral, low=0)
        # float(lr) would take the string "0.01"; check_scalar takes NumPy scalars, not str
        self.lr = check_scalar(lr, "lr", numbers.Real, low=0.0, include_low=False, finite=True)
        self.val = self._check_eval_set(val, "val")
        self.test = self._check_eval_set(test, "test")
        self.transforms = check_transforms(transforms, taskset)
        self._held_out_batches: list[tuple[Tensor, dict[str, Tensor]]] | None = None
        if self.method.update_batch == "held_out":
            if self.val is None:
                raise ValueError(
                    f"method {self.method.name!r} learns from a held-out batch after every "
                    "step; pass val= (a TaskSet with the same tasks)"
                )
            # fixed order, chosen by the step number: deterministic and resume-safe
            self._held_out_batches = list(self.val.dataloader(self.batch_size, shuffle=False))
        self.monitor_every = check_scalar(monitor_every, "monitor_every", numbers.Integral,
                                          low=0)
        self.average_last_k = check_scalar(average_last_k, "average_last_k", numbers.Integral,
                                           low=1)
        self.checkpoint_dir = check_writable_dir(checkpoint_dir, "checkpoint_dir")
        log_dir = check_writable_dir(log_dir, "log_dir")
        self.checkpoint_every = check_scalar(checkpoint_every, "checkpoint_every",
                                             numbers.Integral, low=1, allow_none=True)
        if self.checkpoint_every is not None and self.checkpoint_dir is None:
            raise ValueError("checkpoint_every needs checkpoint_dir= (where to write)")
        if self.checkpoint_dir is not None and self.is_main:  # orphans of a killed run
            clean_stale_temps(self.checkpoint_dir, CHECKPOINT_NAME)
        self.progress = progress if self.is_main else False
        self.callbacks = self._check_callbacks(callbacks, early_stopping,
                                               log_dir if self.is_main else None)
        self._step_start_callbacks, self._batch_callbacks = (
            [cb for cb in self.callbacks if getattr(type(cb), hook) is not getattr(Callback, hook)]
            for hook in ("on_step_start", "on_batch"))
        self._optimizer_spec = optimizer
        self.optimizer = make_optimizer(optimizer, self.model, self.lr)
        self.shared_params = [p for p in self.model.shared_parameters() if p.requires_grad]
        if not self.shared_params and (self.method.needs_gradients or self.monitor_every):
            raise ValueError("the model has no trainable shared parameters, but the method or "
                             "the monitors need task gradients on them")
        # everything a step computes, resolved once (level and task count checked here)
        self.plan: StepPlan = plan_for_model(self.model, self.method, self.task_names,
                                             level=self.level, shared_params=self.shared_params,
                                             monitor=self.monitor_every > 0,
                                             reducer=self._reducer)
        self._recorder_checked = False
        # training state (all of it goes into checkpoints)
        self.epoch = 0
        self.step = 0
        self.batch_in_epoch = 0
        self.history: list[dict[str, Any]] = []
        self.monitor_history: list[dict[str, Any]] = []
        self.stop_training = False
        self.stop_reason: str | None = None
        self._torch_rng: Tensor | None = None
        self._data_sha256: str | None = None
        self._in_fit = False
        self._acc = EpochAccumulator()

    # ------------------------------------------------------------------ validation
    def _check_model(self, model: Any) -> torch.nn.Module:
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module (an MTLModel), got "
                            f"{type(model).__name__}")
        for attr in ("encode", "decode", "shared_parameters"):
            if not callable(getattr(model, attr, None)):
                raise TypeError(f"model must provide {attr}() (see tasklens.nn.MTLModel)")
        names = getattr(model, "task_names", None)
        if names is not None and sorted(names) != sorted(self.task_names):
            raise ValueError(f"the model's tasks {list(names)} differ from the task set's "
                             f"{self.task_names}; build the model for this task set "
                             "(e.g. tasklens.nn.hps_for(taskset))")
        return model

    def _check_method(self, method: Any) -> BalanceMethod:
        if isinstance(method, str):
            return get_method(method)
        if not isinstance(method, BalanceMethod):
            raise TypeError(f"method must be a method name or a BalanceMethod, got "
                            f"{type(method).__name__}")
        return method

    def _resolve_level(self, level: str | None) -> str:
        if level is not None and level not in LEVELS:
            raise ValueError(f"unknown level {level!r}; choose 'parameter' or 'representation'")
        shares = getattr(self.model, "shares_representation", True)
        if level is None:  # the rule of engine.backward (see tasklens.balance._plan)
            level = default_level(self.method, shared_params=True, features=shares)
        if level == "representation" and not shares:
            raise ValueError(f"level='representation' needs a model whose heads read one "
                             f"shared z; {type(self.model).__name__} has per-task features — "
                             "use level='parameter'")
        return level

    def _check_eval_set(self, ts: TaskSet | None, name: str) -> TaskSet | None:
        if ts is None:
            return None
        if not isinstance(ts, TaskSet):
            raise TypeError(f"{name} must be a TaskSet or None, got {type(ts).__name__}")
        # same tasks, input shape, kinds, classes and output sizes (not only kinds)
        ts.check_compatible(self.taskset, name)
        return ts

    def _check_callbacks(self, callbacks: Sequence[Callback], early_stopping: Any,
                         log_dir: str | Path | None) -> list[Callback]:
        cbs = list(callbacks)
        bad = [type(c).__name__ for c in cbs if not isinstance(c, Callback)]
        if bad:
            raise TypeError(f"callbacks must be tasklens.train.Callback instances; got {bad}")
        if early_stopping is not None:
            if not isinstance(early_stopping, EarlyStopping):
                early_stopping = EarlyStopping(early_stopping)
            if self.val is None and early_stopping.monitor.startswith("val/"):
                raise ValueError("early_stopping monitors a validation metric; pass val=")
            cbs.append(early_stopping)
        self.early_stopping = early_stopping
        if log_dir is not None:
            cbs += [CSVLogger(log_dir), JSONLLogger(log_dir)]
        self.log_dir = None if log_dir is None else Path(log_dir)
        return cbs

    # ------------------------------------------------------------------ settings
    def settings(self) -> dict[str, Any]:
        """The run's defining settings (primitives only)."""
        hp = {k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
              for k, v in self.method.hparams().items()}
        opt = self._optimizer_spec if isinstance(self._optimizer_spec, str) else \
            type(self.optimizer).__name__
        return {
            "method": self.method.name, "method_hparams": hp, "optimizer": opt,
            "lr": self.lr, "batch_size": self.batch_size, "level": self.level,
            "seed": self.seed, "tasks": list(self.task_names),
            "model": type(self.model).__name__, "monitor_every": self.monitor_every,
            "checkpoint_every": self.checkpoint_every, "average_last_k": self.average_last_k,
            "early_stopping": None if self.early_stopping is None
            else self.early_stopping.settings(),
            "taskset": self.taskset.name, "n_train": len(self.taskset),
            "transforms": None if self.transforms is None else repr(self.transforms),
            "batch_callbacks": [type(cb).__name__ for cb in self._batch_callbacks],
        }

    # ------------------------------------------------------------------ one step
    @property
    def _recorder(self) -> Any:
        """The plan's recorder of the shared ``nn.Linear`` layers (kernel Gramian route)."""
        return self.plan.recorder

    def _forward(self, x: Tensor) -> tuple[Any, dict[str, Tensor], dict[str, Tensor] | None]:
        """``(z, outputs, per-task copies of z or None)`` of the training forward."""
        recorder = self.plan.recorder
        with recorder if recorder is not None else contextlib.nullcontext():
            z = self.model.encode(x)
        # A split plan (representation level, one shared z, no auxiliary terms): each head
        # reads its own detached copy of z, so one backward through the heads yields every
        # task's ∂L_k/∂z (see engine.backward_split).
        leaves = ({t: z.detach().requires_grad_() for t in self.task_names}
                  if self.plan.split and isinstance(z, Tensor) else None)
        return z, self.model.decode(leaves if leaves is not None else z), leaves

    def _balanced_backward(self, x: Tensor, y: dict[str, Tensor], z: Any, losses: Tensor,
                           leaves: dict[str, Tensor] | None, aux: dict[str, Tensor],
                           monitor: bool) -> StepResult:
        """The engine's step of the plan, its errors named after the step."""
        features = z if isinstance(z, Tensor) and getattr(
            self.model, "shares_representation", True) else None
        check_recorder(self)
        try:
            return execute(self.plan, losses, features,
                           task_features=None if leaves is None else list(leaves.values()),
                           auxiliary_loss=sum(aux.values()) if aux else None,
                           step=self.step, epoch=self.epoch, compute_gramian=monitor)
        except NonFiniteGradientError as exc:  # finite losses, non-finite task gradients
            raise_non_finite_gradient(self, x, y, exc)
        except FloatingPointError as exc:
            raise_non_finite_loss(self, losses, aux, exc)
        raise AssertionError("unreachable")  # both handlers raise

    def _train_step(self, x: Tensor, y: dict[str, Tensor]) -> None:
        model = self.model
        model.train()
        self.optimizer.zero_grad(set_to_none=True)
        z, outputs, leaves = self._forward(x)
        losses = task_losses(self.taskset, outputs, y)
        aux = {} if leaves is not None else auxiliary_terms(model, x, z, outputs, y)
        if aux and not all(bool(torch.isfinite(v)) for v in aux.values()):
            raise_non_finite_loss(self, losses, aux,
                                  FloatingPointError("non-finite auxiliary loss"))
        monitor = self.monitor_every > 0 and self.step % self.monitor_every == 0
        heads = None
        if monitor and bool(torch.isfinite(losses.detach()).all()):
            heads = head_gradients(model, losses, self.task_names)
        result = dist.global_losses(
            self._balanced_backward(x, y, z, losses, leaves, aux, monitor), self._reducer)
        if self.plan.recorder is not None:
            self.plan.recorder.clear()  # release the recorded activations
        # averaged first: a NaN on one process reaches all, which then all raise alike
        dist.average_gradients(optimized_parameters(self.optimizer), self._reducer)
        if not gradients_finite(optimized_parameters(self.optimizer)):
            raise_non_finite_gradient(self, x, y)
        self.optimizer.step()
        self._post_step(x, y)
        if result.regularizer is not None:  # RepMTL's R(S): logged like a model term
            aux = {**aux, "saliency_regularizer": losses.new_tensor(result.regularizer)}
        self._acc.add(result.losses, result.weights, aux)
        log_step(self, result, monitor, heads)

    def _post_step(self, x: Tensor, y: dict[str, Tensor]) -> None:
        """The plan's post-step inputs: the same batch re-evaluated (FAMO) or a held-out
        batch (MOML, whose task gradients the engine takes)."""
        if self.plan.post_step == "same":
            with torch.no_grad():
                after = dist.mean_over_processes(
                    task_losses(self.taskset, self.model(x), y), self._reducer)
            update_after_step(self.plan, after, step=self.step, epoch=self.epoch)
        elif self.plan.post_step == "held_out":
            assert self._held_out_batches is not None
            losses, z = held_out_forward(self, self._held_out_batches)
            update_after_step(self.plan, losses, z, step=self.step, epoch=self.epoch)

    # ------------------------------------------------------------------ epochs
    @contextlib.contextmanager
    def _rng_scope(self) -> Iterator[None]:
        """Fork torch's RNG so that training randomness neither reads nor leaks global state."""
        device = model_device(self.model)
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            if self._torch_rng is None:
                torch.manual_seed(torch_seed(self.seed))
            else:
                torch.set_rng_state(self._torch_rng)
            self._in_fit = True
            try:
                yield
            finally:
                self._in_fit = False
                self._torch_rng = torch.get_rng_state()

    def fit(self, epochs: int, *, resume: bool | str | Path = False,
            max_steps: int | None = None) -> TrainResult:
        """Train until ``epochs`` epochs (or ``max_steps`` steps) in total are done.

        Parameters
        ----------
        epochs : int
            Total number of epochs (a resumed or continued run does the remaining ones).
        resume : bool or path
            ``True``: continue from ``<checkpoint_dir>/last.pt`` when it exists (else start
            fresh); a path: continue from that checkpoint (it must exist).
        max_steps : int, optional
            Stop after this many optimizer steps in total (global steps under torchrun),
            possibly inside an epoch, whose row is then ``"partial": True`` and holds the
            evaluation at the stop; a later fit continues it bit-identically
            (:mod:`tasklens.train.step_cap`). ``None``: no cap.

        Returns
        -------
        TrainResult
            ``stop_reason`` names the cap when it, not ``epochs``, ended the training
            (``stopped_early`` stays False: that flag is for callbacks).

        Raises
        ------
        NonFiniteLossError
            A loss became NaN/inf; the message names step, epoch and task, and the
            checkpoint that resumes.
        CheckpointError
            ``resume`` names a file that is unreadable or damaged, or that does not fit
            this trainer (other tasks, seed, batch size, method, level, optimiser class,
            architecture or training data); nothing is changed then.
        NonFiniteGradientError
            Finite losses but a NaN/inf gradient (nothing is applied); names step, epoch and
            the task(s) whose own gradient is non-finite.
        """
        epochs = check_scalar(epochs, "epochs", numbers.Integral, low=1)
        max_steps = check_scalar(max_steps, "max_steps", numbers.Integral, low=1,
                                 allow_none=True)
        if resume:
            self._resume(resume)
        if self.step == 0 and self.batch_in_epoch == 0 and self.epoch == 0:
            self.method.reset()
        self.stop_training, self.stop_reason = False, None
        if cap.will_train(self, epochs, max_steps):
            cap.drop_partial_row(self)  # the epoch a previous cap stopped in continues
        device = model_device(self.model)
        dist.broadcast_model(self.model, self._reducer)
        for cb in self.callbacks:
            cb.on_fit_start(self)
        with self._rng_scope():
            while (self.epoch < epochs and not self.stop_training
                   and cap.steps_left(self, max_steps)):
                self._run_epoch(epochs, max_steps, device)
        if not self.stop_training:
            self.stop_reason = cap.cap_reason(self, epochs, max_steps)
        result = self.result()
        for cb in self.callbacks:
            cb.on_fit_end(self, result)
        return result

    def _run_epoch(self, epochs: int, max_steps: int | None, device: torch.device) -> None:
        """The rest of the current epoch, or its batches up to the step cap."""
        started = time.perf_counter()
        loader = self.taskset.dataloader(dist.global_batch_size(self), shuffle=True,
                                         seed=epoch_seed(self.seed, self.epoch))
        stop = cap.batch_stop(self, len(loader), max_steps)
        with torch.random.fork_rng(devices=[]):
            # creating a DataLoader iterator draws a seed from torch's global RNG;
            # keep that draw out of the run's RNG so a mid-epoch resume matches
            batches = dist.sharded(islice(iter(loader), self.batch_in_epoch, stop),
                                   self._reducer)
        for x, y in track(batches, f"epoch {self.epoch + 1}/{epochs}",
                          total=stop - self.batch_in_epoch, enabled=self.progress):
            self._run_batch(x, y, device)
            if (self.checkpoint_every and self.step % self.checkpoint_every == 0
                    and self.batch_in_epoch < stop):  # the epoch's end or the stop saves
                self.save_checkpoint()
            if self.stop_training:
                break
        if self.batch_in_epoch < len(loader) and not self.stop_training:
            cap.end_partial_epoch(self, started)  # the cap fell inside the epoch
        else:
            self._end_epoch(started)

    def _run_batch(self, x: Any, y: dict[str, Any], device: torch.device) -> None:
        """One training step on a loader batch: device, augmentation, batch callbacks."""
        x, y = to_device(x, device), to_device(y, device)
        # each process draws its own augmentation of its own shard
        at = {"seed": self.seed, "epoch": self.epoch, "step": self.step,
              "rank": dist.rank(self._reducer)}
        x = augment_batch(self.transforms, x, **at)
        x, y = apply_batch_callbacks(self._batch_callbacks, self, x, y, **at)
        for cb in self._step_start_callbacks:
            cb.on_step_start(self, x, y)
        self._train_step(x, y)
        self.step += 1
        self.batch_in_epoch += 1

    def _end_epoch(self, started: float) -> None:
        row = epoch_row(self, started)
        self.history.append(row)
        self.epoch += 1
        self.batch_in_epoch = 0
        self._acc.reset()
        logger.info("epoch %d: %s", row["epoch"], ", ".join(
            f"{k} {row[k]:.4g}" for k in ("train/loss", "val/loss", "test/loss") if k in row))
        for cb in self.callbacks:
            cb.on_epoch_end(self, row)
        if self.checkpoint_dir is not None:
            self.save_checkpoint()

    def result(self) -> TrainResult:
        """The :class:`TrainResult` of the training done so far."""
        final = {s: split_metrics(self.history[-1], s, self.task_names)
                 for s in SPLITS} if self.history else {s: {} for s in SPLITS}
        avg = {s: averaged(self.history, s, self.task_names, self.average_last_k)
               for s in SPLITS}
        return TrainResult(
            history=tuple(dict(r) for r in self.history),
            monitor_history=tuple(dict(r) for r in self.monitor_history),
            final_metrics=final, averaged_metrics=avg, epochs_run=len(self.history),
            steps=self.step, stopped_early=self.stop_training, stop_reason=self.stop_reason,
            settings=self.settings(), seed=self.seed, version=__version__,
        )

    # ------------------------------------------------------------------ checkpoints
    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.checkpoint_dir is None else self.checkpoint_dir / CHECKPOINT_NAME

    @property
    def data_sha256(self) -> str:
        """SHA-256 of the training inputs and targets (computed once, kept in checkpoints)."""
        if self._data_sha256 is None:
            self._data_sha256 = data_fingerprint(self.taskset)
        return self._data_sha256

    def save_checkpoint(self, path: str | Path | None = None, *,
                        allow_non_finite: bool = False) -> Path:
        """Write the full training state (atomically) to ``path`` or ``checkpoint_dir``.

        Raises :class:`NonFiniteLossError` (and writes nothing) when the parameters or the
        optimiser state are NaN/inf, unless ``allow_non_finite`` (e.g. to inspect a
        diverged state in another file): a diverged state never replaces a finite one.
        """
        dest = Path(path) if path is not None else self.checkpoint_path
        if dest is None:
            raise ValueError("no checkpoint path: pass path= or build the trainer with "
                             "checkpoint_dir=")
        if not allow_non_finite and not state_is_finite(self.model, self.optimizer):
            raise NonFiniteLossError(
                f"the parameters or optimiser state are non-finite after {self.step} steps "
                f"(epoch {self.epoch}); not saved: {kept_checkpoint(dest)}. Lower the "
                "learning rate or clip gradients", step=self.step, epoch=self.epoch, tasks=[])
        # inside fit() the live state of the forked RNG; outside, the state fit() left
        torch_rng = torch.get_rng_state() if self._in_fit else self._torch_rng
        state = capture(self, torch_rng)
        return dist.on_main(self._reducer, lambda: save_checkpoint(dest, state), dest)

    def _resume(self, resume: bool | str | Path) -> None:
        if resume is True:
            path = self.checkpoint_path
            if path is None:
                raise ValueError("resume=True needs checkpoint_dir=; or pass resume=<path>")
            if not path.is_file():
                logger.info("no checkpoint at %s; training from the start", path)
                return
        else:
            path = Path(resume)
        state = load_checkpoint(path)
        check_resumable(self, state, path)  # everything is checked before anything changes
        restore(self, state, model_device(self.model))
