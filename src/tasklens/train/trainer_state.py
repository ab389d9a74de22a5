"""The :class:`~tasklens.train.Trainer`'s checkpoint: what it holds, when it fits, how it loads.

:func:`capture` builds the payload that :func:`~tasklens.train.checkpoint.save_checkpoint`
writes; :func:`check_resumable` validates a loaded payload against a trainer *before*
anything is changed, and :func:`restore` then applies it (all or nothing). Rules of a
resume (docs/train.md, "Checkpoints and training faults"):

- refused with :class:`CheckpointError`: other tasks, seed, batch size, method, gradient
  level, optimiser class, model architecture (every tensor's key, shape and dtype), an
  optimiser state that does not fit the parameters, or other training data (the SHA-256
  of the training inputs and targets, :func:`data_fingerprint`);
- overridden, with a warning: the hyper-parameters of the optimiser's parameter groups
  (``lr``, betas, weight decay, momentum …) and the method's hyper-parameters come from
  the resuming trainer — what ``result.settings`` reports is what runs; the optimiser's
  moments and step counts come from the checkpoint.

:func:`state_is_finite` guards every write, so that a diverged state never replaces a
finite checkpoint (:func:`divergence_note` says which checkpoint resumes).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..data.storage import hash_rows
from ..data.taskset import TaskSet
from .checkpoint import CheckpointError, load_checkpoint, load_method_state, method_state
from .distributed import global_batch_size

if TYPE_CHECKING:
    from .trainer import Trainer

logger = logging.getLogger("tasklens")

_IMPLEMENTATION_FLAGS = ("foreach", "fused", "capturable", "differentiable")
"""Boolean optimiser options that only choose a kernel; any other boolean option (amsgrad,
nesterov, centered, maximize) is part of what the optimiser is, and refused if changed."""
_REFUSED = ("tasks", "seed", "batch_size", "method_name", "level", "optimizer_class")


class NonFiniteLossError(FloatingPointError):
    """A task (or auxiliary) loss, or the trained state, became NaN or infinite; names
    step, epoch and task."""

    def __init__(self, message: str, *, step: int, epoch: int, tasks: list[str]) -> None:
        super().__init__(message)
        self.step, self.epoch, self.tasks = step, epoch, tasks


# ------------------------------------------------------------------ fingerprints
def data_fingerprint(taskset: TaskSet) -> str:
    """SHA-256 (hex) of a task set's training inputs and targets: names, dtypes, shapes
    and bytes, in task order. One pass over the arrays, no copy when they are
    contiguous."""
    h = hashlib.sha256()
    hash_rows(h, "inputs", taskset.inputs)  # block by block when the inputs are on disk
    for name in taskset.task_names:
        hash_rows(h, f"task/{name}", taskset[name].targets)
    return h.hexdigest()


def state_is_finite(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> bool:
    """Whether the model's parameters and the optimiser's floating state are all finite.

    Buffers are not checked: a model may hold ``-inf`` masks on purpose.
    """
    tensors = list(model.parameters())
    for entry in optimizer.state.values():
        tensors += [v for v in entry.values() if isinstance(v, torch.Tensor)]
    return all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point())


# ------------------------------------------------------------------ save
def capture(trainer: Trainer, torch_rng: torch.Tensor | None) -> dict[str, Any]:
    """The full training state of ``trainer`` as a checkpoint payload."""
    return {
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "method_name": trainer.method.name,
        "method": method_state(trainer.method),
        "torch_rng": None if torch_rng is None else torch_rng.clone(),
        "epoch": trainer.epoch, "step": trainer.step,
        "batch_in_epoch": trainer.batch_in_epoch,
        "seed": trainer.seed, "batch_size": global_batch_size(trainer),
        "tasks": list(trainer.task_names), "level": trainer.level,
        "optimizer_class": type(trainer.optimizer).__name__,
        "model_class": type(trainer.model).__name__,
        "data_sha256": trainer.data_sha256,
        "settings": json.dumps(trainer.settings()),
        "accumulators": trainer._acc.state_dict(),
        "history": json.dumps(trainer.history),
        "monitor_history": json.dumps(trainer.monitor_history),
    }


def divergence_note(trainer: Trainer) -> str:
    """What the non-finite-loss error says about checkpoints: saves the state when it is
    still finite (the failing step was not applied), otherwise keeps the file on disk and
    names the finite state it holds."""
    path = trainer.checkpoint_path
    if path is None:
        return ""
    if state_is_finite(trainer.model, trainer.optimizer):
        try:
            trainer.save_checkpoint()
        except (OSError, CheckpointError) as exc:  # keep the loss error the one raised
            return f"; saving the state before this step failed ({exc}), so " + \
                kept_checkpoint(path)
        return (f"; the state before this step (finite) was saved to {path}: "
                "fit(..., resume=True) continues from it")
    return "; the parameters were already non-finite, so " + kept_checkpoint(path)


def kept_checkpoint(path: Path) -> str:
    """Describe the checkpoint left on disk at ``path`` (read and verified)."""
    if not path.is_file():
        return f"nothing was written to {path} (no finite state of this run was saved)"
    try:
        old = load_checkpoint(path)
    except (CheckpointError, OSError) as exc:
        return f"{path} was left as it was, but it does not load either: {exc}"
    return (f"{path} was kept: it holds the last finite state (step {old['step']}, epoch "
            f"{old['epoch']}); fit(..., resume=True) continues from it")


# ------------------------------------------------------------------ resume
_FIELDS: dict[str, type | tuple[type, ...]] = {
    "model": dict, "optimizer": dict, "method": dict, "method_name": str, "epoch": int,
    "step": int, "batch_in_epoch": int, "seed": int, "batch_size": int, "tasks": list,
    "level": str, "optimizer_class": str, "model_class": str, "data_sha256": str,
    "accumulators": dict, "history": str, "monitor_history": str,
    "torch_rng": (torch.Tensor, type(None)),
}


_GLOBAL = {"batch_size": " — the global batch size, batch_size × processes under "
                         "torchrun: on W processes pass batch_size=<saved>/W"}


def check_resumable(trainer: Trainer, state: dict[str, Any], path: Path) -> None:
    """Raise :class:`CheckpointError` unless ``state`` can be loaded into ``trainer``
    completely; changes nothing."""
    bad = [k for k, t in _FIELDS.items() if not isinstance(state.get(k), t)]
    if bad:
        raise CheckpointError(f"checkpoint {path} lacks or has malformed entries {bad}; it "
                              "was not written by this version of the Trainer")
    mine = capture_settings(trainer)
    for key in _REFUSED:
        if state[key] != mine[key]:
            raise CheckpointError(f"checkpoint {path} was written with {key}={state[key]!r}, "
                                  f"this trainer has {mine[key]!r}; resume with the same "
                                  "settings (or start a new run)" + _GLOBAL.get(key, ""))
    if state["data_sha256"] != trainer.data_sha256:
        raise CheckpointError(
            f"checkpoint {path} was trained on other data (SHA-256 of the training inputs "
            f"and targets {state['data_sha256'][:12]}…, this trainer's "
            f"{trainer.data_sha256[:12]}…); resume on the same training set, or start a new "
            "run from its weights: model.load_state_dict(load_checkpoint(path)['model'])")
    _check_tensors(trainer.model.state_dict(), state["model"],
                   f"checkpoint {path} holds a model ({state['model_class']}) of another "
                   f"architecture than this trainer's {type(trainer.model).__name__}")
    _check_optimizer(trainer.optimizer, state["optimizer"], path)
    _check_bookkeeping(state, path)


def _check_bookkeeping(state: dict[str, Any], path: Path) -> None:
    """The parts applied after the model: RNG state, accumulators, histories."""
    rng = state["torch_rng"]
    problems = []
    if rng is not None and (rng.dtype != torch.uint8 or rng.ndim != 1):
        problems.append("torch_rng is not a byte vector")
    if not {"count", "weight_count", "loss", "weights", "aux"} <= set(state["accumulators"]):
        problems.append("the epoch accumulators are incomplete")
    for key in ("history", "monitor_history"):
        try:
            ok = isinstance(json.loads(state[key]), list)
        except ValueError:
            ok = False
        if not ok:
            problems.append(f"{key} is not a JSON list")
    if problems:
        raise CheckpointError(f"checkpoint {path}: {'; '.join(problems)}; nothing was loaded")


def capture_settings(trainer: Trainer) -> dict[str, Any]:
    """The settings a resume must keep (see ``_REFUSED``)."""
    return {"tasks": list(trainer.task_names), "seed": trainer.seed,
            "batch_size": global_batch_size(trainer), "method_name": trainer.method.name,
            "level": trainer.level, "optimizer_class": type(trainer.optimizer).__name__}


def _check_tensors(expected: dict[str, Any], got: dict[str, Any], what: str) -> None:
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    wrong = [f"{k}: {tuple(got[k].shape)} {got[k].dtype} instead of "
             f"{tuple(v.shape)} {v.dtype}" for k, v in expected.items()
             if k in got and (not isinstance(got[k], torch.Tensor)
                              or got[k].shape != v.shape or got[k].dtype != v.dtype)]
    if missing or unexpected or wrong:
        parts = [f"missing {missing[:5]}" if missing else "",
                 f"unexpected {unexpected[:5]}" if unexpected else "",
                 f"mismatched {wrong[:5]}" if wrong else ""]
        raise CheckpointError(f"{what}: {'; '.join(p for p in parts if p)}. Nothing was "
                              "loaded; build the same model as the checkpointed run")


def _check_optimizer(optimizer: torch.optim.Optimizer, saved: dict[str, Any],
                     path: Path) -> None:
    groups, state = saved.get("param_groups"), saved.get("state")
    where = f"checkpoint {path}: the optimiser state does not fit this trainer's parameters"
    if not isinstance(groups, list) or not isinstance(state, dict) or not all(
            isinstance(g, dict) and isinstance(g.get("params"), list) for g in groups):
        raise CheckpointError(f"{where} (malformed)")
    sizes = [len(g["params"]) for g in groups]
    mine = [len(g["params"]) for g in optimizer.param_groups]
    if sizes != mine:
        raise CheckpointError(f"{where}: parameter groups of sizes {sizes}, this optimiser "
                              f"has {mine}")
    _check_switched_options(groups, optimizer.param_groups, where)
    params = {pid: p for g_saved, g in zip(groups, optimizer.param_groups)
              for pid, p in zip(g_saved["params"], g["params"])}
    for pid, entry in state.items():
        if pid not in params or not isinstance(entry, dict):
            raise CheckpointError(f"{where}: state for unknown parameter {pid!r}")
        for name, value in entry.items():
            if isinstance(value, torch.Tensor) and value.ndim > 0 \
                    and value.shape != params[pid].shape:
                raise CheckpointError(f"{where}: {name} of parameter {pid} has shape "
                                      f"{tuple(value.shape)}, the parameter "
                                      f"{tuple(params[pid].shape)}")


def _check_switched_options(saved: list[dict[str, Any]], mine: list[dict[str, Any]],
                            where: str) -> None:
    for i, (g_saved, g) in enumerate(zip(saved, mine)):
        switched = [f"{k}={g_saved[k]!r} in the checkpoint, {v!r} here" for k, v in g.items()
                    if isinstance(v, bool) and k not in _IMPLEMENTATION_FLAGS
                    and k in g_saved and g_saved[k] != v]
        if switched:  # e.g. Adam's amsgrad, RMSprop's centered: other state tensors
            raise CheckpointError(f"{where}: group {i} has {', '.join(switched)}; such "
                                  "options change the optimiser's state, resume with the "
                                  "checkpoint's")


def restore(trainer: Trainer, state: dict[str, Any], device: torch.device) -> None:
    """Apply a payload accepted by :func:`check_resumable`. The method's state is decoded
    first (it is the only part that can still fail, and fails without side effects)."""
    load_method_state(trainer.method, state["method"])
    fresh = [{k: v for k, v in g.items() if k != "params"}
             for g in trainer.optimizer.param_groups]
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    _override_hyperparameters(trainer.optimizer, fresh, state)
    trainer.epoch, trainer.step = int(state["epoch"]), int(state["step"])
    trainer.batch_in_epoch = int(state["batch_in_epoch"])
    trainer._torch_rng = state["torch_rng"]
    trainer._acc.load_state_dict(state["accumulators"], device)
    trainer.history = json.loads(state["history"])
    trainer.monitor_history = json.loads(state["monitor_history"])
    _warn_method_hparams(trainer, state)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) \
            and a.shape == b.shape and bool(torch.equal(a, b))
    return bool(a == b)


def _override_hyperparameters(optimizer: torch.optim.Optimizer, fresh: list[dict[str, Any]],
                              state: dict[str, Any]) -> None:
    """The resuming trainer's group hyper-parameters win over the checkpoint's."""
    changed = []
    for i, (group, mine) in enumerate(zip(optimizer.param_groups, fresh)):
        for key, value in mine.items():
            if key in group and not _same(group[key], value):
                changed.append(f"{key} {group[key]!r} -> {value!r}"
                               + (f" (group {i})" if len(fresh) > 1 else ""))
            group[key] = value
    if changed:
        logger.warning("resuming from step %s with other optimiser settings than the "
                       "checkpoint: %s (the resuming trainer's settings are used)",
                       state["step"], ", ".join(changed))


def _warn_method_hparams(trainer: Trainer, state: dict[str, Any]) -> None:
    try:
        saved = json.loads(state.get("settings", "{}")).get("method_hparams", {})
    except (TypeError, ValueError):
        return
    now = trainer.settings()["method_hparams"]
    changed = [f"{k} {saved.get(k)!r} -> {v!r}" for k, v in now.items() if saved.get(k) != v]
    if changed:
        logger.warning("resuming with other hyper-parameters of method %r than the "
                       "checkpoint: %s (the resuming trainer's are used)",
                       trainer.method.name, ", ".join(changed))
