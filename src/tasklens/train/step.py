"""Helpers of one training step: the model's step plan (head parameter groups, split heads,
kernel-Gramian recorder), MOML's held-out forward, and the checks between the engine's
backward and ``optimizer.step()``.

A finite loss can still have a non-finite gradient (``sqrt`` or ``log`` at 0, an overflow in
the backward pass). Without a check, loss-weighting methods write NaN into every parameter
and gradient methods stop on a bare "gramian contains NaN". The trainer therefore

- turns the engine's :class:`tasklens.balance.NonFiniteGradientError` (a non-finite task
  Gramian, weights or direction) into a :class:`NonFiniteGradientError` naming the step, the
  epoch and the task(s);
- before ``optimizer.step()``, checks every gradient it is about to apply for finiteness
  (one fused ``isfinite`` reduction per parameter tensor, one host synchronisation). Only when
  that fails does it look for the culprit: it re-evaluates the batch (in a forked RNG, so the
  run's randomness is untouched) and takes each task's gradient on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ..balance import BalanceMethod
from ..balance._plan import StepPlan, gramian_suffices, plan_step
from ..balance.kernel_gramian import KernelGramianError, recorder_for
from ..nn.losses import task_loss, task_losses, task_mapping
from .evaluation import model_device, to_device
from .trainer_state import NonFiniteLossError, divergence_note

if TYPE_CHECKING:
    from .trainer import Trainer

logger = logging.getLogger("tasklens")


class NonFiniteGradientError(FloatingPointError):
    """A gradient became NaN or infinite although every loss is finite; names step, epoch
    and the task(s) whose own gradient is non-finite (empty when none is on its own)."""

    def __init__(self, message: str, *, step: int, epoch: int, tasks: list[str]) -> None:
        super().__init__(message)
        self.step, self.epoch, self.tasks = step, epoch, tasks


def head_parameter_groups(model: Any, task_names: Sequence[str]) -> list[list[Tensor]] | None:
    """``[[parameters only task k uses] for k]`` from ``model.task_parameters``, or None when
    the model does not say (the engine then derives the heads from the graph)."""
    task_parameters = getattr(model, "task_parameters", None)
    if not callable(task_parameters):
        return None
    return [[p for p in task_parameters(t) if p.requires_grad] for t in task_names]


def plan_for_model(model: Any, method: BalanceMethod, task_names: Sequence[str], *,
                   level: str, shared_params: Sequence[Tensor], monitor: bool,
                   reducer: Any = None) -> StepPlan:
    """The Trainer's :class:`~tasklens.balance.engine.StepPlan` for ``model``.

    - features: the model's ``z`` when its heads read one shared representation
      (``shares_representation``, default True);
    - split: at representation level, on such a model without ``auxiliary_losses`` (whose
      terms may read the heads' outputs), each head reads its own detached copy of ``z``;
    - head parameters: ``model.task_parameters(task)`` when the model has it;
    - recorder: the ``nn.Linear`` layers holding the shared parameters, when the step needs
      only the parameter-level Gramian (for the method, or for the monitors) and those
      layers hold all of them (the exact sample-kernel route; the Trainer still checks the
      first step's recording and falls back when it does not cover them).
    - reducer: data parallelism (see :mod:`tasklens.train.distributed`).
    """
    shares = bool(getattr(model, "shares_representation", True))
    split = level == "representation" and shares and getattr(
        model, "auxiliary_losses", None) is None
    recorder = None
    if level == "parameter" and gramian_suffices(method) and (method.needs_gradients
                                                             or monitor):
        recorder = recorder_for(model, shared_params)
    return plan_step(method, level=level, shared_params=shared_params, features=shares,
                     split=split, head_params=head_parameter_groups(model, task_names),
                     recorder=recorder, num_tasks=len(task_names), monitor=monitor,
                     reducer=reducer)


def held_out_forward(trainer: Trainer, batches: Sequence[tuple[Tensor, dict[str, Tensor]]]
                     ) -> tuple[Tensor, Any]:
    """``(losses, z)`` of the held-out batch of this step (MOML), chosen by the step number
    (deterministic and resume-safe); the engine takes the task gradients it needs."""
    model = trainer.model
    xh, yh = batches[trainer.step % len(batches)]
    device = model_device(model)
    xh, yh = to_device(xh, device), to_device(yh, device)
    z = model.encode(xh)
    return task_losses(trainer.taskset, model.decode(z), yh), z


def optimized_parameters(optimizer: torch.optim.Optimizer) -> list[Tensor]:
    """The parameters ``optimizer.step()`` updates."""
    return [p for group in optimizer.param_groups for p in group["params"]]


def gradients_finite(params: Sequence[Tensor]) -> bool:
    """Whether every existing ``.grad`` is finite (one host synchronisation)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return True
    return bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())


def tasks_with_non_finite_gradient(trainer: Trainer, x: Tensor,
                                   y: dict[str, Tensor]) -> list[str]:
    """Re-evaluate the batch and return the tasks whose own gradient on the trainable
    parameters is not finite (the failure path only; the run's RNG is left untouched)."""
    model = trainer.model
    params = [p for p in model.parameters() if p.requires_grad]
    device = model_device(model)
    devices = [device.index or 0] if device.type == "cuda" else []
    bad = []
    with torch.random.fork_rng(devices=devices):
        outputs = model.decode(model.encode(x))
        tasks = task_mapping(trainer.taskset)
        for name in trainer.task_names:
            # each loss on its own graph: through a stacked (K,) tensor, task k's gradient
            # would also run a zero upstream through the other tasks' branches, and
            # 0 × inf = NaN there would be blamed on task k
            loss = task_loss(tasks[name], outputs[name], y[name])
            grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            if not all(bool(torch.isfinite(g).all()) for g in grads if g is not None):
                bad.append(name)
    return bad


def raise_non_finite_gradient(trainer: Trainer, x: Tensor, y: dict[str, Tensor],
                              cause: Exception | None = None) -> None:
    """Raise :class:`NonFiniteGradientError` for the current step (saving a checkpoint first
    when the trainer writes them: the parameters are still those before the step)."""
    saved = ""
    if trainer.checkpoint_dir is not None:
        saved = f"; the last good state was saved to {trainer.save_checkpoint()}"
    tasks = tasks_with_non_finite_gradient(trainer, x, y)
    names = [n for n, p in trainer.model.named_parameters()
             if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
    where = f"; parameters with non-finite gradients: {names[:5]}" if names else ""
    culprit = (f"for task(s) {tasks}" if tasks else
               "(no single task's gradient is non-finite on its own: the combination — the "
               "auxiliary terms or the method's weights / direction — is)")
    detail = f" ({cause})" if cause is not None else ""
    raise NonFiniteGradientError(
        f"non-finite gradient at step {trainer.step} (epoch {trainer.epoch}, batch "
        f"{trainer.batch_in_epoch}) {culprit} although every loss is finite{detail}{where}"
        f"{saved}. Lower the learning rate, clip gradients, or guard operations with an "
        "infinite derivative (sqrt or log at 0)",
        step=trainer.step, epoch=trainer.epoch, tasks=tasks,
    ) from cause


def raise_non_finite_loss(trainer: Trainer, losses: Tensor, aux: dict[str, Tensor],
                          cause: Exception) -> None:
    """Raise :class:`NonFiniteLossError` naming the step, the epoch and the task(s) (and
    auxiliary terms) whose loss is not finite; a diverged state never overwrites a finite
    checkpoint."""
    bad = [trainer.task_names[i] for i in
           torch.nonzero(~torch.isfinite(losses.detach())).flatten().tolist()]
    bad += [f"auxiliary:{n}" for n, v in aux.items() if not bool(torch.isfinite(v))]
    saved = divergence_note(trainer)
    raise NonFiniteLossError(
        f"non-finite loss at step {trainer.step} (epoch {trainer.epoch}, batch "
        f"{trainer.batch_in_epoch}) for task(s) {bad or '?'}: {cause}{saved}. Lower the "
        "learning rate, check the targets, or clip gradients",
        step=trainer.step, epoch=trainer.epoch, tasks=bad,
    ) from cause


def check_recorder(trainer: Trainer) -> None:
    """Whether the kernel-Gramian recording covers the shared parameters; checked on the
    first step only (the model's structure does not change between steps). When it does
    not, the plan falls back to the per-task gradients for the rest of the run."""
    recorder = trainer.plan.recorder
    if recorder is None or trainer._recorder_checked:
        return
    try:
        recorder.terms_for(trainer.shared_params)
    except KernelGramianError as exc:
        logger.info("task Gramian via per-task gradients: %s", exc)
        trainer.plan = trainer.plan.without_recorder(
            f"the recording does not cover the shared parameters ({exc})")
        return
    trainer._recorder_checked = True
