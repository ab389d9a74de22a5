"""The per-task gradient engine: task gradients once per step, then one backward.

For a step with task losses ``L = (L_1, …, L_K)`` and a balancing method, the engine

1. computes exactly what the method declares (nothing for loss-only methods; otherwise
   the task gradients at the requested level):

   - ``representation`` level: ``g_k = ∂L_k/∂z`` for the shared features ``z``, one
     autograd call per task, each reaching only its own head (see
     :func:`tasklens.balance._autograd.head_grads`: vmap over the K unit vectors would
     cost K² head passes), giving the ``(K, N·d)`` Jacobian;
   - ``parameter`` level: the same head pass, then one batched vector-Jacobian product
     through the encoder, ``J_k = (∂z/∂θ_s)ᵀ g_k``, giving ``(K, P)`` for the shared
     parameters ``θ_s``; or, when no ``z`` is given, one batched backward of ``L`` to
     ``θ_s``. A Gramian-only path accumulates ``G = Σ_chunks J_c J_cᵀ`` over parameter
     chunks and never holds the full ``K × P`` Jacobian;

2. asks the method for weights ``w`` or a direction ``d``;

3. runs **one** backward of a surrogate whose gradient is the update:

   - weights: ``S = Σ_k w_k L_k + A`` (``A``: the model's auxiliary losses, unbalanced);
   - direction ``d`` over the shared parameters (or over ``z``):
     ``S = Σ_k L_k + A + ⟨θ_s, stopgrad(d − Σ_k J_k)⟩`` — its gradient on ``θ_s`` is
     ``d + ∂A/∂θ_s`` and every head still receives the plain gradient of its own task;
   - weights of a method that declares ``head_gradient = "task"`` (MGDA, CAGrad, ...): the
     same backward of ``S``, after which each head's gradient is replaced by the plain
     ``∂(Σ_k L_k + A)/∂θ_head`` taken, before it, on the heads' part of the graph only (see
     :mod:`tasklens.balance._heads`); the shared parameters receive ``Σ_k w_k ∇L_k`` as before;
   - ``head_gradient = "scaled"`` (DB-MTL, IMTL): the same, with the method's head scales
     ``c`` of the step: heads receive ``c_k ∇L_k`` (weights: the hook replaces them by
     ``∂(Σ_k c_k L_k + A)/∂θ_head``; a direction's surrogate starts from ``Σ_k c_k L_k + A``
     and its correction is ``d − Σ_k c_k J_k``, so the shared parameters still get ``d``);
   - methods with ``regularizes_saliency`` (RepMTL) take the representation-level task
     gradients ``S_k = ∂L_k/∂z`` with ``create_graph=True`` and add their differentiable
     ``R(S)`` to ``S``, so encoder and heads also receive ``∂R`` (second order).

What a step computes is resolved once, as a :class:`~tasklens.balance._plan.StepPlan`
(:func:`plan_step`, printable), and run by :func:`execute`; :func:`backward` and
:func:`backward_split` build a plan and execute it. After the optimiser step,
:func:`update_after_step` feeds methods that learn from re-evaluated losses (FAMO) or a
held-out batch (MOML: the engine takes the held-out task gradients at the plan's level).

Everything stays on the tensors' device; no per-parameter Python loop touches the hot path
except the optional chunked Gramian.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from . import kernel_gramian as _kg
from ._autograd import (
    flat_dot,
    head_grads,
    leaf_grads,
    parameter_gramian,
    parameter_jacobian,
    representation_jacobian,
    stack_losses,
)
from ._base import BalanceContext, BalanceMethod, check_finite_output
from ._gramian import gramian as task_gramian
from ._heads import (
    backward_with_heads,
    check_finite_gramian,
    checked_head_scales,
    checked_weights,
    head_objective,
    note_post_step_method,
    plain_heads,
    resolve_heads,
    scaled_sum,
)
from ._plan import StepPlan, needs_jacobian, plan_step
from .distributed import GradientReducer

if TYPE_CHECKING:
    from .kernel_gramian import LinearRecorder

__all__ = ["StepPlan", "StepResult", "backward", "backward_split", "describe_requirements",
           "execute", "parameter_gramian", "parameter_jacobian", "plan_step",
           "representation_jacobian", "update_after_step"]

logger = logging.getLogger("tasklens")


@dataclass(frozen=True)
class StepResult:
    """What one balanced step computed (all tensors detached).

    Attributes
    ----------
    losses : (K,) tensor
    weights : (K,) tensor or None
        The method's weights (None for direction methods).
    gramian : (K, K) tensor or None
        Inner products of the task gradients at ``level``, when they were computed.
    level : str or None
    objective : float
        Value of ``Σ_k w_k L_k + A`` (weights) or ``Σ_k L_k + A`` (direction), plus the
        saliency regulariser when the method has one.
    regularizer : float or None
        Value of the method's saliency regulariser ``R(S)`` (None for methods without one).
    """

    losses: Tensor
    weights: Tensor | None
    gramian: Tensor | None
    level: str | None
    objective: float
    regularizer: float | None = None

    def cosine_similarity(self) -> Tensor | None:
        """Pairwise cosine similarity of the task gradients, from the Gramian."""
        if self.gramian is None:
            return None
        norms = self.gramian.diagonal().clamp_min(1e-30).sqrt()
        return self.gramian / (norms[:, None] * norms[None, :])


@dataclass
class _Gradients:
    """The step's task gradients: Jacobian and / or Gramian, and the attached saliencies."""

    jacobian: Tensor | None = None
    gramian: Tensor | None = None
    saliency: Tensor | None = None


def _saliency_regularizer(method: BalanceMethod, saliency: Tensor, losses: Tensor) -> Tensor:
    """The method's ``R(S)``, checked to be a finite scalar tensor."""
    reg = method.saliency_regularizer(saliency, losses)
    if not isinstance(reg, Tensor) or reg.ndim != 0:
        raise RuntimeError(f"method {method.name!r} returned a saliency regulariser that is not "
                           f"a scalar tensor: {getattr(reg, 'shape', type(reg).__name__)}")
    if not bool(torch.isfinite(reg)):
        raise FloatingPointError(f"non-finite saliency regulariser of method {method.name!r}: "
                                 f"{float(reg.detach())}")
    return reg


def _jacobian_for(method: BalanceMethod, jacobian: Tensor | None) -> Tensor | None:
    """The Jacobian for the method's context, only when it reads it (the context checks
    every entry for NaN, which costs a pass over K × P numbers)."""
    if jacobian is None or not needs_jacobian(method):
        return None
    return jacobian.detach()


def _kernel_gramian(losses: Tensor, features: Tensor | None, recorder: LinearRecorder,
                    params: Sequence[Tensor], chunk_size: int | None) -> Tensor | None:
    """The sample-kernel Gramian, or None when the recording does not cover ``params``."""
    try:
        return _kg.linear_kernel_gramian(losses, features, recorder, params,
                                         chunk_size=chunk_size)
    except _kg.KernelGramianError as exc:
        logger.debug("kernel Gramian not applicable (%s); using the Jacobian", exc)
        return None


def _check_leaves(leaves: list[Tensor], features: Tensor, k: int) -> None:
    if len(leaves) != k:
        raise ValueError(f"task_features has {len(leaves)} tensors for {k} losses")
    bad = [i for i, t in enumerate(leaves) if not t.is_leaf or not t.requires_grad
           or t.shape != features.shape]
    if bad:
        raise ValueError(f"task_features {bad} must be leaves with requires_grad and z's shape "
                         f"{tuple(features.shape)} (use z.detach().requires_grad_())")


def _check_step(plan: StepPlan, stacked: Tensor, features: Tensor | None,
                leaves: list[Tensor] | None, auxiliary_loss: Tensor | None,
                compute_gramian: bool) -> BalanceMethod:
    """The per-step checks that only the step's tensors allow (the rest was planned)."""
    method = plan.method
    if method is None:
        raise ValueError("the plan carries no method; build it with plan_step(method, ...)")
    k = len(stacked)
    if plan.num_tasks is None:
        method.check_num_tasks(k)
    elif k != plan.num_tasks:
        raise ValueError(f"got {k} task losses but the plan was made for {plan.num_tasks}")
    if compute_gramian and plan.route == "none":
        raise ValueError("this plan computes no task gradients; build it with "
                         "plan_step(..., monitor=True) to ask for the Gramian")
    if plan.split:
        if not isinstance(features, Tensor) or leaves is None:
            raise ValueError("level='representation' needs features (the shared z the heads "
                             "read) and task_features (each head's copy of it)")
        if auxiliary_loss is not None:
            raise ValueError("a split step (per-task copies of z) takes no auxiliary_loss")
        _check_leaves(leaves, features, k)
    elif leaves is not None:
        raise ValueError("task_features needs a split plan: plan_step(method, split=True)")
    elif plan.level == "representation" and features is None and (
            plan.computes_gradients or compute_gramian):
        raise ValueError("level='representation' needs features (the shared z the heads read)")
    return method


def _gradient_route(plan: StepPlan, stacked: Tensor,
                    features: Tensor | None) -> tuple[Tensor | None, Tensor]:
    """``(jacobian or None, gramian)`` by the plan's route (not the saliency routes)."""
    params = list(plan.shared_params or ())
    route = plan.route
    if route == "kernel_gramian" and plan.recorder is not None:
        gramian = _kernel_gramian(stacked, features, plan.recorder, params, plan.chunk_size)
        if gramian is not None:
            return None, gramian
        route = "chunked_gramian" if plan.gramian_only else "jacobian"
    if route == "chunked_gramian":
        return None, parameter_gramian(stacked, params, features, plan.chunk_size)
    if plan.level == "representation":
        jacobian = representation_jacobian(stacked, features, plan.chunk_size)  # type: ignore[arg-type]
    else:
        jacobian = parameter_jacobian(stacked, params, features, plan.chunk_size)
    return jacobian, task_gramian(jacobian)


def _task_gradients(plan: StepPlan, stacked: Tensor, features: Tensor | None,
                    leaves: list[Tensor] | None) -> _Gradients:
    if plan.split:
        saliency = leaf_grads(stacked, leaves, create_graph=plan.regularizes)  # type: ignore[arg-type]
    elif plan.regularizes:
        # the saliencies keep their graph: R(S) is backpropagated with the losses
        (saliency,) = head_grads(stacked, features, create_graph=True)  # type: ignore[arg-type]
    else:
        jacobian, gramian = _gradient_route(plan, stacked, features)
        return _Gradients(jacobian, gramian)
    jacobian = saliency.detach().reshape(len(stacked), -1)
    return _Gradients(jacobian, task_gramian(jacobian), saliency)


def _apply_shared(plan: StepPlan, method: BalanceMethod, ctx: BalanceContext, stacked: Tensor,
                  features: Tensor | None, aux: Tensor | None, reg: Tensor | None,
                  heads: list[Tensor] | None,
                  jacobian: Tensor | None) -> tuple[Tensor | None, Tensor]:
    """The one backward when the heads read the shared ``z`` (or no ``z`` is given)."""
    aux = aux if aux is not None else stacked.new_zeros(())
    if reg is not None:
        aux = aux + reg
    k = len(stacked)
    if method.output == "weights":
        weights = checked_weights(method, ctx, k, stacked.dtype)
        scales = checked_head_scales(method, ctx, k, stacked.dtype)
        objective = (weights * stacked).sum() + aux
        backward_with_heads(objective, head_objective(stacked, scales) + aux if heads else None,
                            heads)
        return weights, objective
    assert jacobian is not None
    direction = method.direction(ctx).detach().to(stacked.dtype)
    check_finite_output(direction, method.name, "direction", ctx)  # after the dtype cast
    scales = checked_head_scales(method, ctx, k, stacked.dtype)
    # the heads receive the gradient of Σ_k c_k L_k (c = 1 unless "scaled"); the correction
    # removes its shared part Σ_k c_k J_k, so the shared parameters receive exactly d
    correction = direction - scaled_sum(jacobian, scales)
    base = head_objective(stacked, scales) + aux
    if plan.level == "representation":
        surrogate = base + (features.reshape(-1) * correction).sum()  # type: ignore[union-attr]
    else:
        surrogate = base + flat_dot(list(plan.shared_params or ()), correction)
    surrogate.backward()
    return None, stacked.sum() + aux


def _leaf_sum(leaves: list[Tensor], like: Tensor) -> Tensor:
    return sum((z.grad for z in leaves if z.grad is not None), torch.zeros_like(like))


def _apply_split(method: BalanceMethod, ctx: BalanceContext, stacked: Tensor, features: Tensor,
                 leaves: list[Tensor], reg: Tensor | None, heads: list[Tensor] | None,
                 jacobian: Tensor | None) -> tuple[Tensor | None, Tensor]:
    """The one backward when each head read its own leaf ``z_k`` (see :func:`backward_split`)."""
    weights: Tensor | None = None
    k = len(stacked)
    if method.output == "weights":
        weights = checked_weights(method, ctx, k, stacked.dtype)
        scales = checked_head_scales(method, ctx, k, stacked.dtype)
        objective = (weights * stacked).sum()
        plain = head_objective(stacked, scales) if heads else None
        if reg is not None:
            objective = objective + reg
            plain = None if plain is None else plain + reg
        backward_with_heads(objective, plain, heads)
        upstream = _leaf_sum(leaves, features)
    else:
        assert jacobian is not None
        upstream = method.direction(ctx).detach().to(features.dtype).reshape(features.shape)
        check_finite_output(upstream, method.name, "direction", ctx)
        scales = checked_head_scales(method, ctx, k, stacked.dtype)
        # the heads receive the gradient of Σ_k c_k L_k (c = 1 unless "scaled"); the
        # encoder receives d through z.backward below, not the leaves' sum
        objective = head_objective(stacked, scales)
        if reg is not None:
            objective = objective + reg
        objective.backward()
        if reg is not None:
            # the leaves hold c_k g_k + ∂R/∂z_k; keep only the regulariser's part next to d
            upstream = upstream + _leaf_sum(leaves, features) - \
                scaled_sum(jacobian, scales).reshape(features.shape)
        if scales is not None:  # report Σ_k L_k (+ R), as without head scales
            objective = stacked.detach().sum() + (0 if reg is None else reg.detach())
    features.backward(upstream)
    return weights, objective


def execute(
    plan: StepPlan,
    losses: Tensor | Mapping[str, Tensor] | Sequence[Tensor],
    features: Tensor | None = None,
    *,
    task_features: Sequence[Tensor] | None = None,
    auxiliary_loss: Tensor | None = None,
    step: int = 0,
    epoch: int = 0,
    compute_gramian: bool = False,
) -> StepResult:
    """Run one planned step: the task gradients of the plan's route, the method's weights or
    direction, and one backward (gradients accumulate in ``.grad``; call
    ``optimizer.step()`` afterwards, then :func:`update_after_step` when
    ``plan.post_step`` is set).

    Parameters
    ----------
    plan : StepPlan
        From :func:`plan_step` (once per loop).
    losses : (K,) tensor, or mapping / sequence of K scalar tensors
        Task losses of this step, still attached to the graph.
    features : tensor, optional
        The shared ``z`` the heads read (required at representation level and for a split
        plan; makes the parameter level cheaper).
    task_features : sequence of K tensors, optional
        A split plan's per-task leaves ``z.detach().requires_grad_()``, in task order.
    auxiliary_loss : scalar tensor, optional
        Model terms added unweighted (not with a split plan).
    step, epoch : int
    compute_gramian : bool
        Also compute the Gramian for monitoring (the plan must have ``monitor=True`` when the
        method itself reads no gradient).

    Returns
    -------
    StepResult
    """
    if not isinstance(plan, StepPlan):
        raise TypeError(f"plan must be a StepPlan (tasklens.balance.engine.plan_step), got "
                        f"{type(plan).__name__}")
    return _execute(plan, stack_losses(losses), features,
                    None if task_features is None else list(task_features),
                    auxiliary_loss, step, epoch, compute_gramian)


def _execute(plan: StepPlan, stacked: Tensor, features: Tensor | None,
             leaves: list[Tensor] | None, auxiliary_loss: Tensor | None, step: int, epoch: int,
             compute_gramian: bool) -> StepResult:
    method = _check_step(plan, stacked, features, leaves, auxiliary_loss, compute_gramian)
    note_post_step_method(method)
    needs_grads = plan.computes_gradients or compute_gramian
    grads = _task_gradients(plan, stacked, features, leaves) if needs_grads else _Gradients()
    reg = None if not plan.regularizes or grads.saliency is None else \
        _saliency_regularizer(method, grads.saliency, stacked)
    level = plan.level if needs_grads else None
    seen_losses, jacobian, gramian = stacked.detach(), grads.jacobian, grads.gramian
    if plan.reducer is not None:
        seen_losses, jacobian, gramian = plan.reducer.reduce_step(
            level, seen_losses, None if jacobian is None else jacobian.detach(),
            None if gramian is None else gramian.detach())
    check_finite_gramian(gramian)
    heads = resolve_heads(stacked, features, None if plan.split else plan.shared_params,
                          plan.head_params, need_heads=plain_heads(method), stops=leaves or ())
    ctx = BalanceContext(
        losses=seen_losses, gramian=None if gramian is None else gramian.detach(),
        jacobian=_jacobian_for(method, jacobian), step=step, epoch=epoch,
        level=plan.level if method.needs_gradients else None,
        features=features.detach() if plan.context_features and features is not None
        else None,
    )
    if plan.split:
        weights, objective = _apply_split(method, ctx, stacked, features, leaves,  # type: ignore[arg-type]
                                          reg, heads, jacobian)
    else:
        weights, objective = _apply_shared(plan, method, ctx, stacked, features,
                                           auxiliary_loss, reg, heads, jacobian)
    if not method.post_step_update:
        # methods that learn from the step's own context (DWA, GradNorm); FAMO and MOML
        # learn after the optimizer step: update_after_step
        method.update(ctx)
    return StepResult(stacked.detach(), weights, None if gramian is None else gramian.detach(),
                      level, float(objective.detach()),
                      None if reg is None else float(reg.detach()))


def _loss_vector(losses: Tensor | Mapping[str, Tensor] | Sequence[Tensor]) -> Tensor:
    if isinstance(losses, Tensor):
        return losses
    values = list(losses.values()) if isinstance(losses, Mapping) else list(losses)
    return torch.stack(values)


def update_after_step(
    plan: StepPlan,
    losses: Tensor | Mapping[str, Tensor] | Sequence[Tensor],
    features: Tensor | None = None,
    *,
    step: int = 0,
    epoch: int = 0,
) -> None:
    """Feed a post-step method (``plan.post_step``) the losses evaluated after the optimiser
    step, and the task gradients its update needs, taken here at the plan's level.

    Parameters
    ----------
    plan : StepPlan
    losses : (K,) tensor, or mapping / sequence of K scalar tensors
        ``post_step == "same"``: the step's batch re-evaluated (no graph needed);
        ``"held_out"``: a held-out batch's losses, attached to the graph when the method's
        update needs the Jacobian (MOML).
    features : tensor, optional
        That forward's shared ``z`` (required at representation level when the update needs
        task gradients; makes the parameter level cheaper).
    step, epoch : int
    """
    method = plan.method
    if method is None or plan.post_step is None:
        raise ValueError(f"method {plan.method_name!r} does not learn after the optimiser "
                         "step (plan.post_step is None); nothing to update")
    stacked = _loss_vector(losses)
    if plan.post_step == "same":
        method.update(BalanceContext(losses=stacked.detach(), step=step, epoch=epoch))
        return
    jacobian = None
    if "jacobian" in plan.post_step_inputs:
        if plan.level == "representation":
            if not isinstance(features, Tensor):
                raise ValueError("the held-out update at level='representation' needs "
                                 "features (the held-out forward's z)")
            jacobian = representation_jacobian(stacked, features)
        else:
            jacobian = parameter_jacobian(stacked, list(plan.shared_params or ()),
                                          features if isinstance(features, Tensor) else None)
    method.update(BalanceContext(
        losses=stacked.detach(), jacobian=None if jacobian is None else jacobian.detach(),
        step=step, epoch=epoch, level=plan.level,
    ))


def backward(
    losses: Tensor | Mapping[str, Tensor] | Sequence[Tensor],
    features: Tensor | None,
    method: BalanceMethod,
    *,
    shared_params: Sequence[Tensor] | None = None,
    level: str | None = None,
    auxiliary_loss: Tensor | None = None,
    step: int = 0,
    epoch: int = 0,
    chunk_size: int | None = None,
    gramian_only: bool = False,
    compute_gramian: bool = False,
    reducer: GradientReducer | None = None,
    recorder: LinearRecorder | None = None,
    head_params: Sequence[Iterable[Tensor]] | None = None,
) -> StepResult:
    """Balance the task losses of one step and run one backward (gradients accumulate in
    ``.grad`` as with ``loss.backward()``; call ``optimizer.step()`` afterwards).

    Parameters
    ----------
    losses : (K,) tensor, or mapping / sequence of K scalar tensors
        Task losses of this step, still attached to the graph.
    features : tensor or None
        The shared representation ``z`` the heads read (needed at ``representation`` level,
        and makes the ``parameter`` level cheaper).
    method : BalanceMethod
        From :func:`tasklens.balance.get`.
    shared_params : sequence of tensors
        The shared parameters (required at ``parameter`` level).
    level : {"parameter", "representation"}, optional
        Where task gradients are taken. Default (the one rule of the Trainer too, see
        :mod:`tasklens.balance._plan`): ``parameter`` when the method supports it and
        ``shared_params`` is given, else ``representation`` when the method supports it and
        ``features`` is given. Ignored by loss-only methods (unless ``compute_gramian``).

        .. versionchanged:: step plan
           **The default changed** for calls that pass both ``features`` and
           ``shared_params`` without ``level``: it used to be ``representation`` (MGDA became
           MGDA-UB in a hand-written loop while the Trainer used ``parameter``); it is now
           ``parameter``, like the Trainer. Pass ``level="representation"`` for the old
           behaviour. Calls with ``features`` only, or ``shared_params`` only, are unchanged.
    auxiliary_loss : scalar tensor, optional
        Model terms added unweighted (reconstruction, independence penalties).
    gramian_only : bool
        For methods that read only the Gramian (and losses): accumulate it per parameter
        without holding the full Jacobian (parameter level).
    compute_gramian : bool
        Also compute the Gramian for monitoring when the method does not need it.
    reducer : GradientReducer, optional
        Data parallelism: the losses and task gradients are reduced across processes
        before the method sees them (see :mod:`tasklens.balance.distributed`); afterwards
        average the parameter gradients (``reducer.average_gradients``) before the
        optimiser step.
    recorder : LinearRecorder, optional
        A :class:`~tasklens.balance.kernel_gramian.LinearRecorder` that recorded the
        encoder's forward: at parameter level, for methods that read only the Gramian (and
        the losses), the Gramian then comes from the exact sample-kernel identity
        (:func:`~tasklens.balance.kernel_gramian.linear_kernel_gramian`) without the K
        per-task weight gradients; when the recording does not cover ``shared_params``
        (a non-``nn.Linear`` parameter, a layer called twice) the usual path is used.
    head_params : sequence of K sequences of tensors, optional
        The parameters only task ``k`` uses (e.g. ``model.task_parameters(task)``), in task
        order. For methods with ``head_gradient == "task"`` each head receives its plain task
        gradient ``∇L_k`` instead of ``w_k ∇L_k`` (``"scaled"``: ``c_k ∇L_k``). Default:
        derived from the graph, as the leaves the losses reach after ``features`` (without
        ``features``: the leaves only one task's loss reaches, outside ``shared_params``; see
        :mod:`tasklens.balance._heads`).
        They must not overlap ``shared_params`` (checked, also against the derived heads).

    Returns
    -------
    StepResult

    Notes
    -----
    Builds a :class:`StepPlan` (:func:`plan_step`) and runs it (:func:`execute`); a loop can
    build the plan once instead and call :func:`execute` every step.
    """
    if not isinstance(method, BalanceMethod):
        raise TypeError(f"method must be a BalanceMethod (tasklens.balance.get(name)), "
                        f"got {type(method).__name__}")
    stacked = stack_losses(losses)
    plan = plan_step(method, level=level, shared_params=shared_params,
                     features=features is not None, head_params=head_params,
                     recorder=recorder, reducer=reducer, num_tasks=len(stacked),
                     monitor=compute_gramian, gramian_only=gramian_only, chunk_size=chunk_size)
    return _execute(plan, stacked, features, None, auxiliary_loss, step, epoch, compute_gramian)


def backward_split(
    losses: Tensor | Mapping[str, Tensor] | Sequence[Tensor],
    features: Tensor,
    task_features: Sequence[Tensor],
    method: BalanceMethod,
    *,
    step: int = 0,
    epoch: int = 0,
    compute_gramian: bool = False,
    reducer: GradientReducer | None = None,
    head_params: Sequence[Iterable[Tensor]] | None = None,
) -> StepResult:
    """Representation-level step when each head read its own detached copy of ``z``.

    The caller encodes once, ``z = encode(x)``, gives head ``k`` the leaf
    ``z_k = z.detach().requires_grad_()`` and computes ``L_k`` from it. Then every task's
    ``g_k = ∂L_k/∂z_k`` comes from **one** backward through the heads (the tasks' graphs are
    disjoint), instead of K calls that each traverse every head. The update is the same as
    :func:`backward` at ``level="representation"``:

    - weights: one backward of ``Σ_k w_k L_k`` through the heads leaves ``w_k g_k`` on each
      leaf; their sum is pushed through the encoder with ``z.backward``;
    - direction ``d`` over ``z``: the heads get the plain ``Σ_k L_k`` gradient and the
      encoder ``(∂z/∂θ_s)ᵀ d``;
    - a saliency regulariser ``R`` (``regularizes_saliency``): ``g_k`` are taken with
      ``create_graph=True`` and ``R(g)`` joins the backward through the heads, which leaves
      ``∂R/∂z_k`` on each leaf (second order through head ``k``); the leaves' sum reaches the
      encoder as above — the same update as the shared-``z`` path, since ``g_k`` depends on
      ``z`` only through ``z_k``.

    Parameters
    ----------
    features : (N, d) tensor
        ``z``, attached to the encoder's graph.
    task_features : sequence of K tensors
        The leaves the heads read, in task order (each ``z.detach().requires_grad_()``).
    reducer : GradientReducer, optional
        Data parallelism, as in :func:`backward` (Gramian-and-loss methods only).
    head_params : sequence of K sequences of tensors, optional
        As in :func:`backward` (default: derived from the graph between the leaves and the
        losses).
    """
    if not isinstance(method, BalanceMethod):
        raise TypeError(f"method must be a BalanceMethod (tasklens.balance.get(name)), "
                        f"got {type(method).__name__}")
    stacked = stack_losses(losses)
    leaves = list(task_features)
    if isinstance(features, Tensor):
        _check_leaves(leaves, features, len(stacked))
    plan = plan_step(method, split=True, head_params=head_params, reducer=reducer,
                     num_tasks=len(stacked), monitor=compute_gramian)
    return _execute(plan, stacked, features, leaves, None, step, epoch, compute_gramian)


def describe_requirements(method: BalanceMethod) -> dict[str, Any]:
    """What the engine will compute for ``method`` (for logs and error messages)."""
    return {"method": method.name, "requires": sorted(method.requires),
            "levels": sorted(method.levels), "output": method.output,
            "head_gradient": method.head_gradient}
