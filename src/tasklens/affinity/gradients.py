"""MTL-based affinities from task gradients: gradient similarity (GS) and gradient
transference (GT), per step and averaged over training by monitors.

Both read a multi-task model (:class:`tasklens.nn.MTLModel`) and one batch ``(x, {task: y})``.
They run with the model in eval mode (dropout off, batch-norm statistics neither used from
the batch nor updated), so a score is a deterministic function of the parameters and the
batch; each module's training flag is restored afterwards. Parameters, ``.grad`` fields and
optimizer state are never modified.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

from .._common.validation import check_choice, check_positive_int
from ..balance.engine import parameter_jacobian
from ..data.matrix import TaskMatrix
from ..nn.base import MTLModel
from ..nn.losses import task_loss
from ._lookahead import LOOKAHEAD_RULES, check_lookahead_options, lookahead_parameters
from ._models import (
    check_batch,
    check_finite_losses,
    check_positive_float,
    cosine_matrix,
    eval_mode,
    resolve_tasks,
)

logger = logging.getLogger("tasklens")


def _check_model(model: Any) -> MTLModel:
    if not isinstance(model, MTLModel):
        raise TypeError(f"model must be a tasklens.nn.MTLModel (e.g. from hps_for), got "
                        f"{type(model).__name__}")
    return model


def _shared(model: MTLModel) -> list[tuple[str, nn.Parameter]]:
    """(name, parameter) of the trainable shared parameters θ_s, in model order."""
    shared = {id(p) for p in model.shared_parameters()}
    named = [(n, p) for n, p in model.named_parameters() if id(p) in shared and p.requires_grad]
    if not named:
        raise ValueError("the model has no trainable shared parameters; gradient affinities "
                         "are taken on the shared backbone θ_s")
    return named


def _losses_and_jacobian(model: MTLModel, tmap: Mapping[str, Any], x: Tensor,
                         y: Mapping[str, Tensor], params: list[Tensor]
                         ) -> tuple[Tensor, Tensor]:
    """Task losses (K,) and their gradients on ``params`` (K, P), one batched pass."""
    z = model.encode(x)
    out = model.decode(z)
    losses = torch.stack([task_loss(t, out[n], y[n]) for n, t in tmap.items()])
    check_finite_losses(losses, list(tmap), "on this batch")
    features = z if isinstance(z, Tensor) and z.requires_grad else None
    jac = parameter_jacobian(losses, params, features)
    return losses.detach(), jac.detach()


# --------------------------------------------------------------------------- GS
def gradient_similarity(model: MTLModel, tasks: Any, batch: Any) -> TaskMatrix:
    """Gradient similarity on one batch: cosine of the task gradients on the shared backbone.

    ``GS[a, b] = S_cos(∂L_a/∂θ_B, ∂L_b/∂θ_B)`` — the summand of
    Azorin et al. 2023, Table 7 eq. 4 (averaged over training by
    :class:`GradientSimilarityMonitor`). Symmetric, in [−1, 1], unit diagonal. The task
    gradients come from one batched pass of the gradient engine
    (:func:`tasklens.balance.engine.parameter_jacobian`). A task whose gradient is exactly
    zero has no direction: its row and column are 0. (Azorin et al. 2023 Table 5 prints ``100 ·
    GS``.)

    Parameters
    ----------
    model : MTLModel
    tasks : TaskSet, mapping {name: Task} or sequence of Task
        K >= 2 tasks of the model (fixes the order).
    batch : (x, {task: y})
        ``x : (N, ...)``, targets ``(N, ...)`` per task.

    Returns
    -------
    TaskMatrix, (K, K)
    """
    model = _check_model(model)
    tmap = resolve_tasks(tasks, available=model.task_names)
    x, y = check_batch(batch, tmap)
    params = [p for _, p in _shared(model)]
    with eval_mode(model):
        _, jac = _losses_and_jacobian(model, tmap, x, y, params)
    return TaskMatrix(cosine_matrix(jac), tuple(tmap), "gradient similarity (GS)")


# --------------------------------------------------------------------------- GT
def _lookahead_losses(model: MTLModel, tmap: Mapping[str, Any], x: Tensor,
                      y: Mapping[str, Tensor], names: list[str], stacked: list[Tensor],
                      vectorize: bool | None) -> Tensor:
    """(K_b, K_a) losses of every task a at the K lookahead parameter sets ``stacked``."""

    def losses_at(*values: Tensor) -> Tensor:
        out = functional_call(model, dict(zip(names, values)), (x,))
        return torch.stack([task_loss(t, out[n], y[n]) for n, t in tmap.items()])

    if vectorize is not False:
        try:
            return torch.vmap(losses_at)(*stacked)
        except (RuntimeError, NotImplementedError) as exc:
            # e.g. data-dependent control flow or an operator without a batching rule
            if vectorize:
                raise
            logger.info("gradient transference: vmap failed (%s); looping over tasks", exc)
    return torch.stack([losses_at(*(v[b] for v in stacked)) for b in range(len(tmap))])


def gradient_transference(
    model: MTLModel,
    tasks: Any,
    batch: Any,
    *,
    lr: float | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    rule: str = "sgd",
    vectorize: bool | None = None,
) -> TaskMatrix:
    """Gradient transference (lookahead) on one batch, for all K × K pairs at once.

    ``Z[a, b] = 1 − L_a(θ_s^{t+1|b}, θ_a^t) / L_a(θ_s^t, θ_a^t)`` — the summand of
    Azorin et al. 2023, Table 7 eq. 5 (Fifty et al. 2021, eq. 2–3), averaged over
    training by :class:`GradientTransferenceMonitor`. ``θ_s^{t+1|b}`` is one step on the
    shared parameters only, with task ``b``'s gradient on the same batch; heads stay at
    step ``t``. Positive: a step for ``b`` lowers ``a``'s loss. Asymmetric; entry
    ``[a, b]`` is the effect of ``b`` onto ``a`` (:class:`TaskMatrix` convention); the
    diagonal is each task's own relative loss decrease.

    Computation: one forward, the K shared-parameter gradients in one batched pass
    (:func:`tasklens.balance.engine.parameter_jacobian`), the K lookahead parameter sets
    stacked, and all K × K losses from one ``torch.vmap`` over
    ``torch.func.functional_call``. When vmap cannot handle the model (data-dependent
    control flow, an operator without a batching rule, ``.item()`` calls), it falls back to
    a loop over the K lookahead sets (``vectorize=None``; logged at INFO level).

    Parameters
    ----------
    model : MTLModel
    tasks : TaskSet, mapping {name: Task} or sequence of Task
        K >= 2 tasks of the model.
    batch : (x, {task: y})
    lr : float, optional
        Step size ``η`` of the plain-SGD lookahead, when no optimizer is given.
    optimizer : torch.optim.Optimizer, optional
        The training optimizer: its current per-group learning rate is used (and, with
        ``rule="optimizer"``, its update rule and state; see :mod:`._lookahead`).
    rule : {"sgd", "optimizer"}
        ``"sgd"``: ``θ_s − η g_b``. ``"optimizer"``: the momentum-aware step — what SGD with
        momentum / Adam / AdamW would do this step if ``g_b`` were the whole gradient, from
        the optimizer's current state (read, not changed).
    vectorize : bool or None
        None: vmap with the loop as fallback; True: vmap only (errors propagate); False:
        the loop.

    Returns
    -------
    TaskMatrix, (K, K), asymmetric
    """
    model = _check_model(model)
    tmap = resolve_tasks(tasks, available=model.task_names)
    x, y = check_batch(batch, tmap)
    lr = check_lookahead_options(lr, optimizer, rule)
    named = _shared(model)
    names = [n for n, _ in named]
    params = [p for _, p in named]
    with eval_mode(model):
        before, jac = _losses_and_jacobian(model, tmap, x, y, params)
        zero = [n for n, v in zip(tmap, before.tolist()) if v == 0.0]
        if zero:
            raise ValueError(f"task(s) {zero} have zero loss on this batch; the transference "
                             "ratio L_a(after)/L_a(before) is undefined")
        k = len(tmap)
        grads, offset = [], 0
        for p in params:
            grads.append(jac[:, offset:offset + p.numel()].reshape(k, *p.shape))
            offset += p.numel()
        with torch.no_grad():
            stacked = lookahead_parameters(params, grads, lr=lr, optimizer=optimizer, rule=rule)
            after = _lookahead_losses(model, tmap, x, y, names, stacked, vectorize)
    check_finite_losses(after.reshape(-1), [f"{a}<-{b}" for b in tmap for a in tmap],
                        "after the lookahead step (learning rate too large?)")
    values = 1.0 - (after.T / before[:, None])  # after[b, a] -> Z[a, b]
    return TaskMatrix(values.to(torch.float64).cpu().numpy(), tuple(tmap),
                      "gradient transference (GT)")


# --------------------------------------------------------------------------- monitors
class _AveragingMonitor:
    """Average a per-step TaskMatrix over the calls of ``update`` it is due on."""

    _name = ""

    def __init__(self, tasks: Any, every: int = 1) -> None:
        self.tasks = resolve_tasks(tasks)
        self.every = check_positive_int(every, "every")
        self.reset()

    def reset(self) -> None:
        """Forget every recorded step."""
        self.calls = 0
        self.count = 0
        self._sum = np.zeros((len(self.tasks), len(self.tasks)))

    def _due(self) -> bool:
        due = self.calls % self.every == 0
        self.calls += 1
        return due

    def _add(self, matrix: TaskMatrix) -> TaskMatrix:
        self._sum += matrix.values
        self.count += 1
        return matrix

    def result(self) -> TaskMatrix:
        """The average over the recorded steps, as a (K, K) TaskMatrix."""
        if self.count == 0:
            raise ValueError(f"{type(self).__name__} has recorded no step yet; call "
                             "update(model, batch) during training first")
        return TaskMatrix(self._sum / self.count, tuple(self.tasks), self._name)


class GradientSimilarityMonitor(_AveragingMonitor):
    """GS averaged over training (Azorin et al. 2023, Table 7 eq. 4).

    Call :meth:`update` with the model and the training batch of a step (before or after
    the optimizer step, consistently); every ``every``-th call (the first included) records
    :func:`gradient_similarity`. :meth:`result` averages the recorded matrices. 002 averages
    one value per epoch; pass ``every`` = steps per epoch for that.

    Parameters
    ----------
    tasks : TaskSet, mapping {name: Task} or sequence of Task
    every : int
        Record on calls 0, every, 2·every, …
    """

    _name = "gradient similarity (GS)"

    def update(self, model: MTLModel, batch: Any) -> TaskMatrix | None:
        """Record this step if due; returns the step's matrix, or None when skipped."""
        if not self._due():
            return None
        return self._add(gradient_similarity(model, self.tasks, batch))


class GradientTransferenceMonitor(_AveragingMonitor):
    """GT averaged over training (Azorin et al. 2023, Table 7 eq. 5; Fifty et al. 2021).

    Every ``every``-th call of :meth:`update` (the first included) records
    :func:`gradient_transference` on the step's batch, before the optimizer step of that
    batch (the lookahead starts from ``θ^t``). :meth:`result` averages the recorded
    matrices.

    Parameters
    ----------
    tasks : TaskSet, mapping {name: Task} or sequence of Task
    every : int
        Record on calls 0, every, 2·every, …
    lr, rule, vectorize
        Defaults for :func:`gradient_transference`; ``update`` may pass the optimizer.
    """

    _name = "gradient transference (GT)"

    def __init__(self, tasks: Any, every: int = 1, *, lr: float | None = None,
                 rule: str = "sgd", vectorize: bool | None = None) -> None:
        super().__init__(tasks, every)
        self.lr = None if lr is None else check_positive_float(lr, "lr")
        self.rule = check_choice(rule, "lookahead rule", LOOKAHEAD_RULES)
        self.vectorize = vectorize

    def update(self, model: MTLModel, batch: Any,
               optimizer: torch.optim.Optimizer | None = None) -> TaskMatrix | None:
        """Record this step if due; returns the step's matrix, or None when skipped."""
        if not self._due():
            return None
        lr = None if optimizer is not None else self.lr
        return self._add(gradient_transference(model, self.tasks, batch, lr=lr,
                                               optimizer=optimizer, rule=self.rule,
                                               vectorize=self.vectorize))
