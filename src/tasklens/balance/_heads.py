"""What the gradient engine does around its one backward: task heads, finiteness, misuse.

Head gradients
--------------
The engine backpropagates ``Σ_k w_k L_k`` once, so the parameters only task ``k`` uses (its
*head*) receive ``w_k ∇L_k``. Methods that declare ``head_gradient = "task"``
(:class:`~tasklens.balance._base.BalanceMethod`) must instead give head ``k`` its plain task
gradient ``∇L_k``. Since ``L_j`` does not depend on head ``k`` for ``j ≠ k``, the plain
gradients of all heads are one backward of ``Σ_k L_k (+ A)`` restricted to the head
parameters (:func:`head_task_gradients`, the heads' part of the graph only), taken before the
main backward; during it, a hook on each head parameter replaces the incoming ``w_k ∇L_k`` by
that gradient before it is accumulated (:func:`backward_with_heads`). The shared parameters'
gradients are untouched: they come from the same backward as before.

Methods that declare ``head_gradient = "scaled"`` give head ``k`` ``c_k ∇L_k`` with the
method's own (K,) head scales of the step (:meth:`~BalanceMethod.head_scales`, checked by
:func:`checked_head_scales`): the same hook machinery with ``Σ_k c_k L_k (+ A)`` in place of
``Σ_k L_k (+ A)``. A direction method needs no hook: the engine's surrogate starts from
``Σ_k c_k L_k`` and subtracts ``Σ_k c_k J_k`` in its correction, so the shared parameters
still receive exactly the direction.

Which parameters are heads: the caller says so (``head_params``, one sequence per task, like
TorchJD's ``tasks_params``), or they are derived from the graph: with ``features``, the leaves
the losses reach without passing through ``features`` (:func:`graph_leaves`; TorchJD's
``mtl_backward`` infers its ``tasks_params`` the same way), less those several tasks reach;
without, the leaves exactly one task's loss reaches (:func:`single_task_leaves`, which needs
the (K,) losses to be a ``torch.stack`` of per-task losses — else a warning, and the heads
keep ``w_k ∇L_k``).
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from ._base import (
    _STEPS_SINCE_UPDATE,
    BalanceContext,
    BalanceMethod,
    NonFiniteGradientError,
    check_finite_output,
)


def graph_leaves(root: Tensor, stops: Iterable[Tensor] = ()) -> list[Tensor]:
    """Leaf tensors requiring grad that ``root`` reaches in the autograd graph without passing
    through any tensor of ``stops`` (in first-visit order, each once)."""
    return _walk([root.grad_fn], list(stops))


def _walk(starts: list[Any], stops: list[Tensor]) -> list[Tensor]:
    stop_tensors = {id(t) for t in stops}
    # hold the node wrappers while walking: torch creates them on access and an id is only
    # unique while its object lives
    stop_objs = [t.grad_fn for t in stops if t.grad_fn is not None]
    stop_nodes = {id(n) for n in stop_objs}
    found: dict[int, Tensor] = {}
    seen: set[int] = set()
    keep_alive: list[Any] = [stop_objs]
    stack = list(starts)
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen or id(node) in stop_nodes:
            continue
        seen.add(id(node))
        keep_alive.append(node)
        variable = getattr(node, "variable", None)
        if isinstance(variable, Tensor):  # AccumulateGrad: a leaf
            if id(variable) not in stop_tensors:
                found.setdefault(id(variable), variable)
            continue
        stack.extend(n for n, _ in node.next_functions)
    return list(found.values())


def single_task_leaves(losses: Tensor, stops: Sequence[Tensor] = ()) -> list[Tensor] | None:
    """Leaves that exactly one task's loss reaches (without passing ``stops``), or None when
    the (K,) losses are not a ``torch.stack`` of K separate losses (then the tasks' graphs
    cannot be told apart)."""
    fn = losses.grad_fn
    if fn is None or type(fn).__name__ != "StackBackward0" or \
            len(fn.next_functions) != len(losses):
        return None
    users: dict[int, int] = {}
    leaves: dict[int, Tensor] = {}
    for node, _ in fn.next_functions:
        for leaf in _walk([node], list(stops)):
            users[id(leaf)] = users.get(id(leaf), 0) + 1
            leaves[id(leaf)] = leaf
    return [leaf for key, leaf in leaves.items() if users[key] == 1]


def _check_head_groups(head_params: Sequence[Iterable[Tensor]], k: int) -> list[list[Tensor]]:
    if isinstance(head_params, Tensor) or not isinstance(head_params, Sequence):
        raise TypeError("head_params must be a sequence with one sequence of parameters per "
                        f"task, got {type(head_params).__name__}")
    groups = [list(g) for g in head_params]
    if len(groups) != k:
        raise ValueError(f"head_params has {len(groups)} groups for {k} losses; pass one "
                         "sequence of parameters per task, in task order")
    owner: dict[int, int] = {}
    for task, group in enumerate(groups):
        for p in group:
            if not isinstance(p, Tensor):
                raise TypeError(f"head_params[{task}] holds a {type(p).__name__}, not a tensor")
            if owner.setdefault(id(p), task) != task:
                raise ValueError(f"a parameter of shape {tuple(p.shape)} is in head_params of "
                                 f"tasks {owner[id(p)]} and {task}; a parameter several tasks "
                                 "use is shared: move it to shared_params")
    return groups


def resolve_heads(
    losses: Tensor, features: Tensor | None, shared: Sequence[Tensor] | None,
    head_params: Sequence[Iterable[Tensor]] | None, *, need_heads: bool,
    stops: Sequence[Tensor] = (),
) -> list[Tensor] | None:
    """The head parameters (all tasks together), checked not to overlap ``shared``.

    Parameters
    ----------
    losses : (K,) tensor
    features : tensor or None
        The shared representation; with it, heads not given are derived from the graph.
    shared : sequence of tensors or None
        The shared parameters the caller passed.
    head_params : sequence of K sequences of tensors, optional
    need_heads : bool
        Whether the caller needs the heads (a ``"task"`` or ``"scaled"`` weights method);
        otherwise they are only
        derived to check ``shared``.
    stops : sequence of tensors
        More tensors the derivation must not pass (the per-task copies of ``z``).

    Returns
    -------
    list of tensors or None
        None when no heads were needed.
    """
    shared_ids = {id(p) for p in shared} if shared is not None else set()
    if head_params is not None:
        heads = _given_heads(head_params, len(losses), shared_ids)
    elif features is not None and (need_heads or shared_ids):
        heads = _heads_after_features(losses, [features, *stops], shared_ids, need_heads)
    elif need_heads:
        found = _single_task_heads(losses, stops, shared_ids)
        if found is None:
            return None
        heads = found
    else:
        return None
    heads = [p for p in heads if p.requires_grad]
    return heads if need_heads else None


def _given_heads(head_params: Sequence[Iterable[Tensor]], k: int,
                 shared_ids: set[int]) -> list[Tensor]:
    heads = [p for g in _check_head_groups(head_params, k) for p in g]
    overlap = [p for p in heads if id(p) in shared_ids]
    if overlap:
        raise ValueError(f"{len(overlap)} parameter(s) (shapes "
                         f"{[tuple(p.shape) for p in overlap[:3]]}) are both in "
                         "shared_params and in head_params; a parameter is either shared "
                         "or task-specific (pass e.g. model.shared_parameters() and "
                         "model.task_parameters(task))")
    return heads


def _heads_after_features(losses: Tensor, stops: list[Tensor], shared_ids: set[int],
                          need_heads: bool) -> list[Tensor]:
    """The leaves reached after ``features`` (checked against ``shared``); for a ``"task"``
    or ``"scaled"`` method only those a single task reaches."""
    heads = graph_leaves(losses, stops)
    overlap = [p for p in heads if id(p) in shared_ids]
    if overlap:
        raise ValueError(f"{len(overlap)} parameter(s) in shared_params (shapes "
                         f"{[tuple(p.shape) for p in overlap[:3]]}) are used after "
                         "features, i.e. by the task heads; pass only the parameters of "
                         "the encoder that computes features (e.g. "
                         "model.shared_parameters()), not the heads'")
    if need_heads:  # a leaf after features that several losses use is no head
        single = single_task_leaves(losses, stops)
        if single is not None:
            keep = {id(p) for p in single}
            heads = [p for p in heads if id(p) in keep]
    return heads


def _single_task_heads(losses: Tensor, stops: Sequence[Tensor],
                       shared_ids: set[int]) -> list[Tensor] | None:
    """No features: the leaves only one task reaches, outside shared_params (an encoder
    layer left out of a partial shared_params is reached by every task: not a head)."""
    single = single_task_leaves(losses, stops)
    if single is None:
        warnings.warn(
            "this method gives each task head its own task gradient, but the heads "
            "cannot be told apart (no features=, no head_params=, and the losses are not "
            "a torch.stack of per-task losses); heads receive w_k * grad L_k. Pass "
            "head_params=[params of task 1, ...]", UserWarning, stacklevel=5)
        return None
    return [p for p in single if id(p) not in shared_ids]


def head_task_gradients(objective: Tensor, heads: Sequence[Tensor]) -> list[Tensor | None]:
    """``∂objective/∂θ`` for every head parameter; the graph is kept for the main backward."""
    if not heads:
        return []
    return list(torch.autograd.grad(objective, list(heads), retain_graph=True,
                                    allow_unused=True))


def check_finite_gramian(gramian: Tensor | None) -> None:
    """Raise :class:`NonFiniteGradientError` naming the tasks whose gradient is not finite."""
    if gramian is None or bool(torch.isfinite(gramian).all()):
        return
    finite = torch.isfinite(gramian)
    bad = torch.nonzero(~finite.diagonal()).flatten().tolist()
    if not bad:
        bad = torch.nonzero(~finite.all(dim=1)).flatten().tolist()
    raise NonFiniteGradientError(
        f"the gradient of task index(es) {bad} is NaN or infinite although the losses are "
        "finite (an operation with an infinite derivative, e.g. sqrt or log at 0, or an "
        "overflow; note that a zero upstream through such an operation in one task's branch, "
        "0 × inf = NaN, also spoils the other tasks' gradients when the losses share one "
        "stacked tensor); lower the learning rate, clip gradients, or guard that operation",
        tasks=bad)


_WARNED_NO_UPDATE: weakref.WeakSet[Any] = weakref.WeakSet()


def note_post_step_method(method: BalanceMethod) -> None:
    """Warn once when a method that learns after the optimiser step (FAMO, MOML) takes a
    second engine step without :meth:`~BalanceMethod.update` having been called."""
    if not method.post_step_update:
        return
    pending = _STEPS_SINCE_UPDATE.get(method, 0)
    if pending >= 1 and method not in _WARNED_NO_UPDATE:
        _WARNED_NO_UPDATE.add(method)
        what = ("the same batch's losses re-evaluated" if method.update_batch == "same"
                else "a held-out batch's losses")
        warnings.warn(
            f"method {method.name!r} learns its weights after each optimiser step, but its "
            "update() was not called since the last step, so the weights never move (they "
            f"stay near their start). After optimizer.step(), call method.update("
            f"BalanceContext(losses=...)) with {what}, or train with tasklens.train.Trainer, "
            "which does it", UserWarning, stacklevel=4)
    _STEPS_SINCE_UPDATE[method] = pending + 1


def plain_heads(method: BalanceMethod) -> bool:
    """Whether the heads need their own (plain or scaled) task gradient in place of the
    weighted one (a direction method's surrogate already gives it)."""
    return method.head_gradient in ("task", "scaled") and method.output == "weights"


def checked_head_scales(method: BalanceMethod, ctx: BalanceContext, k: int,
                        dtype: torch.dtype) -> Tensor | None:
    """The (K,) head scales ``c`` of a ``"scaled"`` method, detached and checked (shape,
    finite, positive); None for the other declarations.

    Call it after the method's weights or direction and before :meth:`~BalanceMethod.update`,
    so that the scales belong to the same step (IMTL's ``e^{s}`` before its update of ``s``).
    """
    if method.head_gradient != "scaled":
        return None
    scales = torch.as_tensor(method.head_scales(ctx)).detach().to(dtype).clone()
    if scales.shape != (k,):
        raise RuntimeError(f"method {method.name!r} returned head scales of shape "
                           f"{tuple(scales.shape)}, expected ({k},)")
    check_finite_output(scales, method.name, "head scales", ctx)
    if not bool((scales > 0).all()):
        bad = torch.nonzero(scales <= 0).flatten().tolist()
        raise ValueError(
            f"method {method.name!r} returned non-positive head scales for task index(es) "
            f"{bad} ({scales.tolist()}); head scales c_k multiply the head gradients and must "
            "be positive")
    return scales


def head_objective(stacked: Tensor, scales: Tensor | None) -> Tensor:
    """``Σ_k L_k`` or, with head scales, ``Σ_k c_k L_k``: the objective whose gradient the
    heads receive."""
    return stacked.sum() if scales is None else (scales.to(stacked.dtype) * stacked).sum()


def checked_weights(method: BalanceMethod, ctx: BalanceContext, k: int,
                    dtype: torch.dtype) -> Tensor:
    """The method's (K,) weights, detached, checked for shape and finiteness."""
    # a copy: a stateful method may return a view of its state and update it in place later
    # in the step (GradNorm), which would change the weights this step reports
    weights = method.weights(ctx).detach().to(dtype).clone()
    if weights.shape != (k,):
        raise RuntimeError(f"method {method.name!r} returned weights of shape "
                           f"{tuple(weights.shape)}, expected ({k},)")
    # after the cast to the losses' dtype, which may overflow what the method checked
    check_finite_output(weights, method.name, "weights", ctx)
    return weights


def backward_with_heads(objective: Tensor, plain: Tensor | None,
                        heads: list[Tensor] | None) -> None:
    """``objective.backward()``; with ``heads``, each head receives ``∂plain/∂θ_head``
    instead of ``∂objective/∂θ_head`` (added to its ``.grad`` like any gradient).

    The replacement is a tensor hook on each head parameter, so it happens *before* the
    gradient is accumulated: hooks that read the accumulated gradient during the backward
    (``DistributedDataParallel``'s all-reduce) see the task gradient.
    """
    if not heads or plain is None:
        objective.backward()
        return
    head_grads = head_task_gradients(plain, heads)
    fired: set[int] = set()

    def replace(i: int, g: Tensor) -> Callable[[Tensor], Tensor]:
        def hook(_: Tensor) -> Tensor:
            fired.add(i)
            return g
        return hook

    handles = [p.register_hook(replace(i, g.detach())) for i, (p, g) in
               enumerate(zip(heads, head_grads)) if g is not None]
    try:
        objective.backward()
    finally:
        for handle in handles:
            handle.remove()
    for i, (p, g) in enumerate(zip(heads, head_grads)):
        if g is not None and i not in fired:  # not reached by the objective at all
            p.grad = g.detach() if p.grad is None else p.grad + g.detach()


def scaled_sum(jacobian: Tensor, scales: Tensor | None) -> Tensor:
    """``Σ_k J_k`` or ``Σ_k c_k J_k`` over the rows of the (K, ...) task gradients: the
    shared part of the gradient of :func:`head_objective`."""
    return jacobian.sum(dim=0) if scales is None else \
        torch.tensordot(scales.to(jacobian.dtype), jacobian, dims=1)
