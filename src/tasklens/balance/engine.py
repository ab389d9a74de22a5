"""The per-task gradient engine: task gradients once per step, then one backward.

For a step with task losses ``L = (L_1, …, L_K)`` and a balancing method, the engine

1. computes exactly what the method declares (nothing for loss-only methods; otherwise
   the task gradients at the requested level):

   - ``representation`` level: ``g_k = ∂L_k/∂z`` for the shared features ``z``, one
     autograd call per task, each reaching only its own head (see :func:`_head_grads`:
     vmap over the K unit vectors would cost K² head passes), giving the ``(K, N·d)``
     Jacobian;
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
   - methods with ``regularizes_saliency`` (RepMTL) take the representation-level task
     gradients ``S_k = ∂L_k/∂z`` with ``create_graph=True`` and add their differentiable
     ``R(S)`` to ``S``, so encoder and heads also receive ``∂R`` (second order).

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

from ._base import LEVELS, BalanceContext, BalanceMethod
from ._gramian import accumulate
from ._gramian import gramian as task_gramian
from ._heads import (
    backward_with_heads,
    check_finite_gramian,
    check_finite_output,
    checked_weights,
    note_post_step_method,
    plain_heads,
    resolve_heads,
)
from .distributed import GradientReducer

if TYPE_CHECKING:
    from .kernel_gramian import LinearRecorder

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


def _stack_losses(losses: Tensor | Mapping[str, Tensor] | Sequence[Tensor]) -> Tensor:
    if isinstance(losses, Tensor):
        if losses.ndim != 1:
            raise ValueError(f"losses must be a (K,) tensor, got shape {tuple(losses.shape)}")
        stacked = losses
    else:
        values = list(losses.values()) if isinstance(losses, Mapping) else list(losses)
        if not values:
            raise ValueError("losses is empty; pass one scalar loss per task")
        bad = [i for i, v in enumerate(values) if not isinstance(v, Tensor) or v.ndim != 0]
        if bad:
            raise ValueError(f"losses must be scalar tensors; entries {bad} are not")
        stacked = torch.stack(values)
    if not stacked.requires_grad:
        raise ValueError("losses do not require grad; compute them from the model's output "
                         "inside the step (not under torch.no_grad)")
    if not bool(torch.isfinite(stacked).all()):
        bad_idx = torch.nonzero(~torch.isfinite(stacked)).flatten().tolist()
        raise FloatingPointError(f"non-finite loss for task index(es) {bad_idx}: "
                                 f"{stacked.detach().tolist()}")
    return stacked


def _batched_grad(outputs: Tensor, inputs: Sequence[Tensor], grad_outputs: Tensor,
                  chunk_size: int | None) -> list[Tensor]:
    """``[∂⟨outputs, grad_outputs[k]⟩/∂input for k]`` stacked on dim 0, for each input.

    Uses vmap (``is_grads_batched``); falls back to a loop over chunks of the K rows when
    an operator has no batching rule.
    """
    k = grad_outputs.shape[0]
    if chunk_size is None:
        try:
            grads = torch.autograd.grad(outputs, inputs, grad_outputs=grad_outputs,
                                        retain_graph=True, is_grads_batched=True,
                                        allow_unused=True)
            return [torch.zeros((k, *x.shape), dtype=x.dtype, device=x.device) if g is None
                    else g for g, x in zip(grads, inputs)]
        except RuntimeError:
            chunk_size = 1  # an operator without a batching rule: go sequential
    parts: list[list[Tensor]] = [[] for _ in inputs]
    for start in range(0, k, chunk_size):
        block = grad_outputs[start:start + chunk_size]
        for row in block:
            grads = torch.autograd.grad(outputs, inputs, grad_outputs=row, retain_graph=True,
                                        allow_unused=True)
            for i, (g, x) in enumerate(zip(grads, inputs)):
                parts[i].append(torch.zeros_like(x) if g is None else g)
    return [torch.stack(p) for p in parts]


_NOT_IN_GRAPH = ("features is not in the graph of the losses (no loss depends on it, so every "
                 "task gradient would be zero): pass the very tensor the heads read, "
                 "z = encoder(x) with the losses computed from heads(z) — not a copy, a "
                 "detached tensor or another forward's output")


def _head_grads(losses: Tensor, features: Tensor, create_graph: bool = False) -> tuple[Tensor]:
    """``(K, *z.shape)`` gradients ``∂L_k/∂z``, one autograd call per task.

    With ``create_graph`` the result stays attached (for saliency regularisers).

    Each call reaches only the part of the graph between ``z`` and ``L_k`` (its own head in
    an HPS model). Batching the K unit vectors with vmap instead pushes every one of them
    through every head — K² head work: at K = 40 (linear heads, batch 256, d = 128) the
    vmap pass took 124 ms against 52 ms for this loop and 15 ms for a whole EW step.
    """
    if not features.requires_grad:
        raise ValueError(_NOT_IN_GRAPH)
    grads = []
    unused = []
    for k in range(len(losses)):
        (g,) = torch.autograd.grad(losses[k], features, retain_graph=True, allow_unused=True,
                                   create_graph=create_graph)
        if g is None:
            unused.append(k)
        grads.append(torch.zeros_like(features) if g is None else g)
    if unused and len(unused) == len(losses):
        # every task gradient would be zero: an all-zero Gramian, equal weights, no error
        raise ValueError(_NOT_IN_GRAPH)
    if unused:
        logger.warning("the losses of task index(es) %s do not depend on features; their "
                       "task gradients are zero", unused)
    return (torch.stack(grads),)


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
    if jacobian is None or not ("jacobian" in method.requires or method.output == "direction"):
        return None
    return jacobian.detach()


def _kernel_gramian(losses: Tensor, features: Tensor | None, recorder: LinearRecorder,
                    params: Sequence[Tensor], chunk_size: int | None) -> Tensor | None:
    """The sample-kernel Gramian, or None when the recording does not cover ``params``."""
    from .kernel_gramian import KernelGramianError, linear_kernel_gramian

    try:
        return linear_kernel_gramian(losses, features, recorder, params, chunk_size=chunk_size)
    except KernelGramianError as exc:
        logger.debug("kernel Gramian not applicable (%s); using the Jacobian", exc)
        return None


def representation_jacobian(losses: Tensor, features: Tensor,
                            chunk_size: int | None = None) -> Tensor:
    """(K, N·d) task gradients with respect to the shared features ``z``.

    ``chunk_size`` is accepted for symmetry with :func:`parameter_jacobian`; the head pass
    is always one call per task.
    """
    (grads,) = _head_grads(losses, features)
    return grads.reshape(len(losses), -1)


def parameter_jacobian(losses: Tensor, params: Sequence[Tensor], features: Tensor | None = None,
                       chunk_size: int | None = None) -> Tensor:
    """(K, P) task gradients with respect to ``params`` (flattened and concatenated).

    With ``features``, each head is traversed once (one call per task) and the encoder by
    one batched vector-Jacobian product over the K head gradients (vmap; ``chunk_size``
    switches to a sequential loop); without, one batched backward from the losses.
    """
    k = len(losses)
    if features is not None:
        (gz,) = _head_grads(losses, features)
        grads = _batched_grad(features, list(params), gz, chunk_size)
    else:
        eye = torch.eye(k, dtype=losses.dtype, device=losses.device)
        grads = _batched_grad(losses, list(params), eye, chunk_size)
    return torch.cat([g.reshape(k, -1) for g in grads], dim=1)


def parameter_gramian(losses: Tensor, params: Sequence[Tensor], features: Tensor | None = None,
                      chunk_size: int | None = None, params_per_chunk: int | None = None,
                      max_chunk_entries: int = 2**25) -> Tensor:
    """(K, K) Gramian of parameter-level task gradients, accumulated over parameter chunks.

    Each chunk costs one batched backward from ``features`` (or the losses) and holds
    ``K × (parameters in the chunk)`` gradient entries. By default parameters are grouped
    greedily, in order, so that a chunk holds at most ``max_chunk_entries`` entries (a single
    tensor larger than that forms its own chunk): a model that fits the budget costs one
    backward, and the memory stays bounded for the ones that do not. ``params_per_chunk``
    instead fixes the number of parameter tensors per chunk.
    """
    k = len(losses)
    eye = torch.eye(k, dtype=losses.dtype, device=losses.device)
    if features is not None:
        (upstream,) = _head_grads(losses, features)
        root = features
    else:
        upstream, root = eye, losses
    gram = torch.zeros((k, k), dtype=losses.dtype, device=losses.device)
    for chunk in _parameter_chunks(list(params), k, params_per_chunk, max_chunk_entries):
        grads = _batched_grad(root, chunk, upstream, chunk_size)
        flat = torch.cat([g.reshape(k, -1) for g in grads], dim=1)
        accumulate(gram, flat)
    return gram


def _parameter_chunks(params: list[Tensor], k: int, params_per_chunk: int | None,
                      max_chunk_entries: int) -> list[list[Tensor]]:
    if params_per_chunk is not None:
        if params_per_chunk < 1:
            raise ValueError(f"params_per_chunk must be >= 1, got {params_per_chunk}")
        return [params[i:i + params_per_chunk] for i in range(0, len(params), params_per_chunk)]
    if max_chunk_entries < 1:
        raise ValueError(f"max_chunk_entries must be >= 1, got {max_chunk_entries}")
    chunks: list[list[Tensor]] = []
    entries = 0
    for p in params:
        size = k * p.numel()
        if chunks and entries + size <= max_chunk_entries:
            chunks[-1].append(p)
            entries += size
        else:
            chunks.append([p])
            entries = size
    return chunks


def _resolve_level(method: BalanceMethod, features: Tensor | None,
                   params: list[Tensor] | None, level: str | None, needs_grads: bool,
                   k: int) -> str | None:
    """The level the task gradients are taken at, after every check of the arguments."""
    regularizes = method.regularizes_saliency
    if regularizes and features is None:
        raise ValueError(f"method {method.name!r} regularises the task gradients w.r.t. the "
                         "shared representation; pass features= (the z every head reads)")
    if needs_grads and level is None:
        if features is not None and ("representation" in method.levels
                                     or not method.needs_gradients):
            level = "representation"
        else:
            level = "parameter"
    if level is not None and level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; choose one of {LEVELS}")
    if method.needs_gradients or regularizes:
        method.check_level(level)
    method.check_num_tasks(k)
    if needs_grads and level == "parameter" and not params:
        raise ValueError("level='parameter' needs shared_params (e.g. model.shared_parameters())")
    if needs_grads and level == "representation" and features is None:
        raise ValueError("level='representation' needs features (the shared z the heads read)")
    return level


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
        Where task gradients are taken; default: ``representation`` if ``features`` is
        given and the method supports it, else ``parameter``. Ignored by loss-only methods.
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
        gradient ``∇L_k`` instead of ``w_k ∇L_k``. Default: derived from the graph, as the
        leaves the losses reach after ``features`` (without ``features``: the leaves only one
        task's loss reaches, outside ``shared_params``; see :mod:`tasklens.balance._heads`).
        They must not overlap ``shared_params`` (checked, also against the derived heads).

    Returns
    -------
    StepResult
    """
    if not isinstance(method, BalanceMethod):
        raise TypeError(f"method must be a BalanceMethod (tasklens.balance.get(name)), "
                        f"got {type(method).__name__}")
    stacked = _stack_losses(losses)
    k = len(stacked)
    regularizes = method.regularizes_saliency
    needs_grads = method.needs_gradients or compute_gramian or regularizes
    params = list(shared_params) if shared_params is not None else None
    level = _resolve_level(method, features, params, level, needs_grads, k)
    note_post_step_method(method)

    if reducer is not None:
        reducer.check_method(method, level)
        gramian_only = False  # a Gramian does not reduce across processes; the Jacobian does
    jacobian = gramian = saliency = None
    wants_jacobian = "jacobian" in method.requires or method.output == "direction"
    gramian_from_params = level == "parameter" and not wants_jacobian
    if needs_grads and regularizes:
        # the saliencies keep their graph: R(S) is backpropagated with the losses
        (saliency,) = _head_grads(stacked, features, create_graph=True)  # type: ignore[arg-type]
        jacobian = saliency.detach().reshape(k, -1)
        gramian = task_gramian(jacobian)
    elif needs_grads:
        if gramian_from_params and recorder is not None and reducer is None:
            gramian = _kernel_gramian(stacked, features, recorder, params, chunk_size)  # type: ignore[arg-type]
        if gramian is None and gramian_from_params and gramian_only:
            gramian = parameter_gramian(stacked, params, features, chunk_size)  # type: ignore[arg-type]
        elif gramian is None:
            if level == "representation":
                jacobian = representation_jacobian(stacked, features, chunk_size)  # type: ignore[arg-type]
            else:
                jacobian = parameter_jacobian(stacked, params, features, chunk_size)  # type: ignore[arg-type]
            gramian = task_gramian(jacobian)
    seen_losses = stacked.detach()
    if reducer is not None:
        seen_losses, jacobian, gramian = reducer.reduce_step(
            level if needs_grads else None, seen_losses,
            None if jacobian is None else jacobian.detach(),
            None if gramian is None else gramian.detach())
    check_finite_gramian(gramian)
    heads = resolve_heads(stacked, features, params, head_params,
                          need_heads=plain_heads(method))
    ctx = BalanceContext(
        losses=seen_losses,
        gramian=None if gramian is None else gramian.detach(),
        jacobian=_jacobian_for(method, jacobian),
        step=step, epoch=epoch, level=level if method.needs_gradients else None,
    )
    aux = auxiliary_loss if auxiliary_loss is not None else stacked.new_zeros(())
    reg = None if saliency is None else _saliency_regularizer(method, saliency, stacked)
    if reg is not None:
        aux = aux + reg
    weights: Tensor | None = None
    if method.output == "weights":
        weights = checked_weights(method, ctx, k, stacked.dtype)
        objective = (weights * stacked).sum() + aux
        backward_with_heads(objective, stacked.sum() + aux if heads else None, heads)
    else:
        assert jacobian is not None
        direction = method.direction(ctx).detach().to(stacked.dtype)
        check_finite_output(method, direction, "direction")
        correction = direction - jacobian.sum(dim=0)
        plain = stacked.sum() + aux
        if level == "representation":
            surrogate = plain + (features.reshape(-1) * correction).sum()  # type: ignore[union-attr]
        else:
            surrogate = plain + _flat_dot(params, correction)  # type: ignore[arg-type]
        surrogate.backward()
        objective = plain
    if not method.post_step_update:
        # methods that learn from the step's own context (DWA, GradNorm); FAMO-style
        # methods need the losses re-evaluated after the optimizer step: the caller
        # (the Trainer) does that.
        method.update(ctx)
    return StepResult(stacked.detach(), weights, None if gramian is None else gramian.detach(),
                      level if needs_grads else None, float(objective.detach()),
                      None if reg is None else float(reg.detach()))


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
    stacked = _stack_losses(losses)
    k = len(stacked)
    leaves = list(task_features)
    if len(leaves) != k:
        raise ValueError(f"task_features has {len(leaves)} tensors for {k} losses")
    bad = [i for i, t in enumerate(leaves) if not t.is_leaf or not t.requires_grad
           or t.shape != features.shape]
    if bad:
        raise ValueError(f"task_features {bad} must be leaves with requires_grad and z's shape "
                         f"{tuple(features.shape)} (use z.detach().requires_grad_())")
    regularizes = method.regularizes_saliency
    needs_grads = method.needs_gradients or compute_gramian or regularizes
    if method.needs_gradients or regularizes:
        method.check_level("representation")
    method.check_num_tasks(k)
    note_post_step_method(method)
    if reducer is not None:
        reducer.check_method(method, "representation")
    jacobian = gramian = saliency = None
    if needs_grads:
        grads = torch.autograd.grad(stacked.sum(), leaves, retain_graph=True,
                                    allow_unused=True, create_graph=regularizes)
        saliency = torch.stack([torch.zeros_like(z) if g is None else g
                                for g, z in zip(grads, leaves)])
        jacobian = saliency.detach().reshape(k, -1)
        gramian = task_gramian(jacobian)
    reg = _saliency_regularizer(method, saliency, stacked) if regularizes else None
    seen_losses = stacked.detach()
    if reducer is not None:
        seen_losses, jacobian, gramian = reducer.reduce_step(
            "representation" if needs_grads else None, seen_losses, jacobian,
            None if gramian is None else gramian.detach())
    check_finite_gramian(gramian)
    heads = resolve_heads(stacked, features, None, head_params,
                          need_heads=plain_heads(method), stops=leaves)
    ctx = BalanceContext(
        losses=seen_losses,
        gramian=None if gramian is None else gramian.detach(),
        jacobian=_jacobian_for(method, jacobian),
        step=step, epoch=epoch, level="representation" if method.needs_gradients else None,
    )
    weights: Tensor | None = None
    if method.output == "weights":
        weights = checked_weights(method, ctx, k, stacked.dtype)
        objective = (weights * stacked).sum()
        plain = stacked.sum() if heads else None
        if reg is not None:
            objective = objective + reg
            plain = None if plain is None else plain + reg
        backward_with_heads(objective, plain, heads)
        upstream = sum((z.grad for z in leaves if z.grad is not None),
                       torch.zeros_like(features))
    else:
        assert jacobian is not None
        objective = stacked.sum()
        if reg is not None:
            objective = objective + reg
        objective.backward()
        upstream = method.direction(ctx).detach().to(features.dtype).reshape(features.shape)
        check_finite_output(method, upstream, "direction")
        if reg is not None:
            # the leaves hold g_k + ∂R/∂z_k; keep only the regulariser's part next to d
            leaf_sum = sum((z.grad for z in leaves if z.grad is not None),
                           torch.zeros_like(features))
            upstream = upstream + leaf_sum - jacobian.sum(dim=0).reshape(features.shape)
    features.backward(upstream)
    if not method.post_step_update:
        method.update(ctx)
    return StepResult(stacked.detach(), weights, None if gramian is None else gramian.detach(),
                      "representation" if needs_grads else None, float(objective.detach()),
                      None if reg is None else float(reg.detach()))


def _flat_dot(params: Sequence[Tensor], flat: Tensor) -> Tensor:
    """⟨concat(params), flat⟩ with ``flat`` split to the parameters' shapes."""
    total = flat.new_zeros(())
    offset = 0
    for p in params:
        n = p.numel()
        total = total + (p.reshape(-1) * flat[offset:offset + n]).sum()
        offset += n
    if offset != flat.numel():
        raise RuntimeError(f"direction has {flat.numel()} entries, shared parameters {offset}")
    return total


def describe_requirements(method: BalanceMethod) -> dict[str, Any]:
    """What the engine will compute for ``method`` (for logs and error messages)."""
    return {"method": method.name, "requires": sorted(method.requires),
            "levels": sorted(method.levels), "output": method.output,
            "head_gradient": method.head_gradient}
