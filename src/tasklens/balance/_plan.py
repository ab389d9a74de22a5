"""The step plan: what one balanced step computes, resolved once from the method and the model.

:func:`plan_step` reads a method's declarations (``requires``, ``levels``, ``output``,
``head_gradient``, ``update_batch``, ``regularizes_saliency``) and what the caller will pass
(shared parameters, shared features, per-task copies of ``z``, head parameters, a
:class:`~tasklens.balance.kernel_gramian.LinearRecorder`, a reducer) and returns a frozen
:class:`StepPlan`. Every check of the level and the task count happens here, once;
:func:`tasklens.balance.engine.execute` then runs the plan every step without re-deriving it.
``str(plan)`` says what a step will compute and why.

The one default-level rule
--------------------------
When ``level`` is not given, task gradients are taken at the **parameter** level if the method
supports it and the shared parameters are known; otherwise at the **representation** level if
the method supports it and the shared features ``z`` are passed; otherwise at the level the
method supports (an error names what is missing). Loss-only methods get a level by the same
rule (it is where the monitors look). The :class:`~tasklens.train.Trainer` and
:func:`~tasklens.balance.engine.backward` both follow it.

Gradient routes
---------------
``"none"``
    Loss-only method and no monitoring: no task gradient is computed.
``"saliency"``
    Representation-level ``∂L_k/∂z`` kept attached (``create_graph=True``) for a method that
    regularises them (RepMTL).
``"jacobian"``
    The ``(K, P)`` (parameter level) or ``(K, N·d)`` (representation level) task gradients,
    then ``G = J Jᵀ``.
``"kernel_gramian"``
    Parameter level, the method reads only the Gramian, and a recorder of the shared
    ``nn.Linear``, ``nn.Conv2d`` and batch-norm layers is given: the exact sample-kernel
    Gramian (:mod:`~tasklens.balance.kernel_gramian`); falls back to the chunked
    Gramian (``gramian_only``) or the Jacobian when a step's recording does not cover the
    shared parameters.
``"chunked_gramian"``
    Parameter level, Gramian-only method, ``gramian_only=True``: ``G`` accumulated over
    parameter chunks without the full Jacobian.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from torch import Tensor

from ._base import LEVELS, BalanceMethod

if TYPE_CHECKING:
    from .distributed import GradientReducer
    from .kernel_gramian import LinearRecorder

ROUTES: tuple[str, ...] = ("none", "saliency", "jacobian", "kernel_gramian", "chunked_gramian")


def needs_jacobian(method: BalanceMethod) -> bool:
    """Whether the method reads the task gradients themselves, not only their Gramian (it
    requires ``"jacobian"`` or returns a direction)."""
    return "jacobian" in method.requires or method.output == "direction"


def gramian_suffices(method: BalanceMethod) -> bool:
    """Whether the step's task gradients are needed only through ``G = J Jᵀ`` (the one place
    this is decided: the kernel and chunked Gramian routes, the Trainer's recorder)."""
    return not needs_jacobian(method) and not method.regularizes_saliency


def default_level(method: BalanceMethod, *, shared_params: bool, features: bool) -> str:
    """The one default-level rule (module docstring).

    Parameters
    ----------
    method : BalanceMethod
    shared_params : bool
        Whether the step knows the shared parameters.
    features : bool
        Whether the step passes the shared features ``z``.

    Returns
    -------
    {"parameter", "representation"}
    """
    gradients = method.needs_gradients or method.regularizes_saliency
    supported = method.levels if gradients else frozenset(LEVELS)
    if "parameter" in supported and shared_params:
        return "parameter"
    if "representation" in supported and features:
        return "representation"
    return "parameter" if "parameter" in supported else "representation"


@dataclass(frozen=True)
class StepPlan:
    """What one balanced step computes (see the module docstring); build with :func:`plan_step`.

    Attributes
    ----------
    method_name : str
    level : {"parameter", "representation"}
        Where task gradients are taken when any are (for loss-only methods: by monitors).
    route : str
        One of :data:`ROUTES`: how the task gradients are obtained.
    output : {"weights", "direction"}
        What the method returns, hence the surrogate of the one backward.
    split : bool
        Each head reads its own detached copy of ``z`` (one backward through the heads gives
        every ``∂L_k/∂z``); the encoder receives the sum through ``z.backward``.
    head_gradient : {"weighted", "task", "scaled"}
        What each head receives: ``w_k ∇L_k``, the plain ``∇L_k``, or ``c_k ∇L_k`` with the
        method's head scales of the step (:meth:`BalanceMethod.head_scales`).
    heads : {"given", "derived", "none"}
        Where the head parameters come from (``head_params``, the graph, not needed).
    post_step : {None, "same", "held_out"}
        What :meth:`BalanceMethod.update` receives after the optimiser step.
    post_step_inputs : tuple of str
        The context fields the post-step update needs (``"jacobian"``: taken by the engine at
        ``level``, :func:`tasklens.balance.engine.update_after_step`).
    context_features : bool
        The method's context carries the activations ``z`` (``"features"`` in ``requires``,
        representation level).
    num_tasks : int or None
        K, checked at plan time when known.
    monitor : bool
        Whether steps may also ask for the Gramian for monitoring.
    reasons : tuple of (str, str)
        ``(decision, why)`` lines printed by ``str(plan)``.
    """

    method_name: str
    level: str
    route: str
    output: str
    split: bool
    head_gradient: str
    heads: str
    post_step: str | None
    post_step_inputs: tuple[str, ...]
    context_features: bool
    num_tasks: int | None
    monitor: bool
    reasons: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    method: BalanceMethod | None = field(default=None, repr=False, compare=False)
    shared_params: tuple[Tensor, ...] | None = field(default=None, repr=False, compare=False)
    head_params: tuple[tuple[Tensor, ...], ...] | None = field(default=None, repr=False,
                                                                compare=False)
    recorder: LinearRecorder | None = field(default=None, repr=False, compare=False)
    reducer: GradientReducer | None = field(default=None, repr=False, compare=False)
    gramian_only: bool = False
    chunk_size: int | None = field(default=None, compare=False)

    @property
    def regularizes(self) -> bool:
        """Whether the method adds a saliency regulariser to the backward."""
        return self.route == "saliency"

    @property
    def computes_gradients(self) -> bool:
        """Whether every step computes task gradients for the method itself."""
        return self.method is not None and (self.method.needs_gradients or self.regularizes)

    def without_recorder(self, why: str) -> StepPlan:
        """The same plan on the route that needs no recording (the recorder did not cover the
        shared parameters)."""
        if self.route != "kernel_gramian":
            return replace(self, recorder=None)
        route = "chunked_gramian" if self.gramian_only else "jacobian"
        reasons = tuple((d, w) for d, w in self.reasons if d != "gradients")
        return replace(self, recorder=None, route=route,
                       reasons=reasons + (("gradients", _ROUTE_TEXT[route] + "; " + why),))

    def to_dict(self) -> dict[str, Any]:
        """The plan's decisions (primitives only)."""
        return {"method": self.method_name, "level": self.level, "route": self.route,
                "output": self.output, "split": self.split,
                "head_gradient": self.head_gradient, "heads": self.heads,
                "post_step": self.post_step, "post_step_inputs": list(self.post_step_inputs),
                "context_features": self.context_features, "num_tasks": self.num_tasks,
                "monitor": self.monitor, "gramian_only": self.gramian_only,
                "reasons": [list(r) for r in self.reasons]}

    def __str__(self) -> str:
        k = "?" if self.num_tasks is None else str(self.num_tasks)
        lines = [f"StepPlan: method {self.method_name!r}, K = {k}"]
        lines += [f"  {decision}: {why}" for decision, why in self.reasons]
        return "\n".join(lines)


_ROUTE_TEXT = {
    "none": "none (the method reads the losses only; no task gradient is computed)",
    "saliency": "representation-level ∂L_k/∂z kept attached (create_graph) for the method's "
                "saliency regulariser R(S), then G = J Jᵀ",
    "jacobian": "the task-gradient Jacobian J, then G = J Jᵀ",
    "kernel_gramian": "the exact sample-kernel Gramian of the recorded nn.Linear / nn.Conv2d / "
                      "batch-norm layers (per layer the cheaper exact form: the sample kernel, "
                      "or the K weight gradients from the same batched backward, as for most "
                      "convolutions; falls back when a recording does not cover the shared "
                      "parameters)",
    "chunked_gramian": "G accumulated over parameter chunks (the full K × P Jacobian is "
                       "never held)",
}


def _check_level(method: BalanceMethod, level: str | None, shared: bool, features: bool,
                 gradients: bool) -> tuple[str, str]:
    """The resolved level and why, after every check of it."""
    if method.regularizes_saliency and not features:
        raise ValueError(f"method {method.name!r} regularises the task gradients w.r.t. the "
                         "shared representation; pass features= (the z every head reads)")
    if level is not None and level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; choose one of {LEVELS}")
    if level is None:
        resolved = default_level(method, shared_params=shared, features=features)
        why = "default rule: parameter level when the method supports it and the shared " \
              "parameters are known, else representation level"
    else:
        resolved, why = level, "given"
    if method.needs_gradients or method.regularizes_saliency:
        method.check_level(resolved)
    if not gradients:
        why += " (the method reads the losses only: used by monitors)"
    elif resolved == "parameter" and not shared:
        raise ValueError("level='parameter' needs shared_params (e.g. model.shared_parameters())")
    elif resolved == "representation" and not features:
        raise ValueError("level='representation' needs features (the shared z the heads read)")
    return resolved, why


def _route(method: BalanceMethod, level: str, gradients: bool, *, recorder: Any,
           reducer: Any, gramian_only: bool) -> str:
    if not gradients:
        return "none"
    if method.regularizes_saliency:
        return "saliency"
    if level != "parameter" or not gramian_suffices(method):
        return "jacobian"
    if recorder is not None and reducer is None:
        return "kernel_gramian"
    return "chunked_gramian" if gramian_only and reducer is None else "jacobian"


def _route_reason(method: BalanceMethod, route: str, level: str, split: bool) -> str:
    text = _ROUTE_TEXT[route]
    if split:
        return text + f"; at {level} level from one backward through the heads to their " \
                      "own copies of z"
    if route == "jacobian" and level == "parameter" and gramian_suffices(method):
        return text + " (the method reads only G, but no recorder covers the shared " \
                      "parameters and gramian_only is off, or data parallelism: a Gramian " \
                      "does not reduce across processes)"
    if route == "jacobian":
        why = "returns a direction" if method.output == "direction" else (
            "reads the Jacobian" if "jacobian" in method.requires else "reads the Gramian")
        return text + f" at {level} level (the method {why})"
    return text


def _backprop_reason(method: BalanceMethod, split: bool) -> str:
    reg = " + R(S)" if method.regularizes_saliency else ""
    c = "c_k " if method.head_gradient == "scaled" else ""
    if split and method.output == "weights":
        return (f"weights: one backward of Σ_k w_k L_k{reg} through the heads, then "
                "z.backward(Σ_k ∂/∂z_k) through the encoder")
    if split:
        return (f"direction d over z: one backward of Σ_k {c}L_k{reg} through the heads, then "
                "z.backward(d) through the encoder")
    if method.output == "weights":
        return f"weights: one backward of Σ_k w_k L_k + A{reg}"
    return (f"direction d: one backward of Σ_k {c}L_k + A + ⟨θ_s (or z), stopgrad(d − "
            f"Σ_k {c}J_k)⟩" + reg)


def _head_groups(head_params: Sequence[Iterable[Tensor]] | None
                 ) -> tuple[tuple[Tensor, ...], ...] | None:
    if head_params is None:
        return None
    if isinstance(head_params, Tensor) or not isinstance(head_params, Sequence):
        raise TypeError("head_params must be a sequence with one sequence of parameters per "
                        f"task, got {type(head_params).__name__}")
    return tuple(tuple(g) for g in head_params)


def plan_step(
    method: BalanceMethod,
    *,
    level: str | None = None,
    shared_params: Sequence[Tensor] | None = None,
    features: bool = False,
    split: bool = False,
    head_params: Sequence[Iterable[Tensor]] | None = None,
    recorder: LinearRecorder | None = None,
    reducer: GradientReducer | None = None,
    num_tasks: int | None = None,
    monitor: bool = False,
    gramian_only: bool = False,
    chunk_size: int | None = None,
) -> StepPlan:
    """Resolve what every step of a loop will compute (once; see the module docstring).

    Parameters
    ----------
    method : BalanceMethod
    level : {"parameter", "representation"}, optional
        Default: the one rule of the module docstring.
    shared_params : sequence of tensors, optional
        The shared parameters (needed at parameter level).
    features : bool
        Whether each step passes the shared features ``z`` the heads read.
    split : bool
        Whether each head reads its own detached copy of ``z`` (``task_features`` of
        :func:`~tasklens.balance.engine.execute`); representation level only.
    head_params : sequence of K sequences of tensors, optional
        The parameters only task ``k`` uses (default: derived from each step's graph).
    recorder : LinearRecorder, optional
        Records the shared ``nn.Linear`` layers (kernel Gramian route).
    reducer : GradientReducer, optional
        Data parallelism (see :mod:`tasklens.balance.distributed`).
    num_tasks : int, optional
        K, checked against the method now (and against each step's losses).
    monitor : bool
        Whether steps may ask for the Gramian for monitoring (``compute_gramian``).
    gramian_only : bool
        Gramian-only methods at parameter level accumulate the Gramian over parameter chunks
        instead of holding the Jacobian (when no recorder applies).
    chunk_size : int, optional
        Batched backwards go through the K rows in chunks of this size (sequentially).

    Returns
    -------
    StepPlan
    """
    if not isinstance(method, BalanceMethod):
        raise TypeError(f"method must be a BalanceMethod (tasklens.balance.get(name)), "
                        f"got {type(method).__name__}")
    gradients = method.needs_gradients or method.regularizes_saliency or monitor
    shared = tuple(shared_params) if shared_params is not None else None
    if split:
        if level not in (None, "representation"):
            raise ValueError(f"split (per-task copies of z) is a representation-level step; "
                             f"got level={level!r}")
        level, features = "representation", True
    resolved, level_why = _check_level(method, level, bool(shared), features, gradients)
    if num_tasks is not None:  # the protocol's pre-training hook (level and task count)
        method.prepare(level=resolved if method.needs_gradients else None, num_tasks=num_tasks)
    if reducer is not None:
        reducer.check_method(method, resolved if gradients else None)
    route = _route(method, resolved, gradients, recorder=recorder, reducer=reducer,
                   gramian_only=gramian_only)
    groups = _head_groups(head_params)
    heads = _heads_mode(method, groups is not None)
    context_features = "features" in method.requires and resolved == "representation"
    return StepPlan(
        method_name=method.name, level=resolved, route=route, output=method.output,
        split=split, head_gradient=method.head_gradient, heads=heads,
        post_step=method.update_batch,
        post_step_inputs=tuple(sorted(method.update_requires)) if method.update_batch else (),
        context_features=context_features, num_tasks=num_tasks, monitor=monitor,
        reasons=_reasons(method, resolved, level_why, route, split, heads, context_features),
        method=method, shared_params=shared, head_params=groups,
        recorder=recorder if route == "kernel_gramian" else None, reducer=reducer,
        gramian_only=gramian_only and reducer is None, chunk_size=chunk_size,
    )


def _heads_mode(method: BalanceMethod, given: bool) -> str:
    if not (method.head_gradient in ("task", "scaled") and method.output == "weights"):
        return "none"  # weighted heads, or a direction's surrogate gives the plain gradient
    return "given" if given else "derived"


def _reasons(method: BalanceMethod, level: str, level_why: str, route: str, split: bool,
             heads: str, context_features: bool) -> tuple[tuple[str, str], ...]:
    """The ``(decision, why)`` lines of ``str(plan)``."""
    own = method.needs_gradients or method.regularizes_saliency
    when = "only on monitoring steps: " if route != "none" and not own else ""
    reasons = [("level", f"{level} — {level_why}"),
               ("gradients", when + _route_reason(method, route, level, split)),
               ("backward", _backprop_reason(method, split)),
               ("heads", _heads_reason(method, heads))]
    if context_features:
        reasons.append(("context", "the activations z join the task gradients (the method "
                                   "requires 'features')"))
    if method.update_batch is not None:
        reasons.append(("post-step", _post_step_reason(method, level)))
    return tuple(reasons)


def _heads_reason(method: BalanceMethod, heads: str) -> str:
    scaled = method.head_gradient == "scaled"
    what = ("scaled task gradient c_k ∇L_k (head_gradient='scaled': c = the method's "
            "head_scales of the step" if scaled else "plain task gradient ∇L_k (")
    if method.output == "direction":
        return what + ("; " if scaled else "") + "the direction's surrogate gives it)"
    if heads == "none":
        return "w_k ∇L_k (head_gradient='weighted': the weights define the objective)"
    where = "head_params" if heads == "given" else "derived from the graph"
    return what + ("; " if scaled else "head_gradient='task'; ") + f"heads {where})"


def _post_step_reason(method: BalanceMethod, level: str) -> str:
    if method.update_batch == "same":
        return "update() with the same batch's losses re-evaluated after optimizer.step()"
    needs = sorted(method.update_requires) or ["losses"]
    return (f"update() with a held-out batch's {', '.join(needs)} after optimizer.step() "
            f"(task gradients by the engine at {level} level)")
