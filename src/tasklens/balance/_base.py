"""The balancing protocol: what a method declares, what the engine hands it, what it returns.

A method is a small object with class-level declarations that the trainer and the gradient
engine read *before* training, so that they compute exactly what the method needs and never
special-case a method by name:

``requires``
    Subset of ``{"losses", "gramian", "jacobian", "features"}``: the per-step quantities the
    method reads. A method that only needs the K×K Gramian ``G = J Jᵀ`` never requires the
    (K, P) Jacobian; the engine may then compute the Gramian without materialising ``J``.
    ``"features"``: at the representation level the context also carries the shared
    activations ``z`` the task gradients were taken at (GradDrop's sign correction); the
    engine fills it only for methods that declare it, and only there. It is a request, not a
    precondition: such a method must also work without it (``aggregate``, parameter level).
``levels``
    Subset of ``{"parameter", "representation"}``: where the task gradients may be taken —
    w.r.t. the shared parameters, or w.r.t. the shared features (the cheap "MGDA-UB" level of
    Sener & Koltun, 2018). Empty for methods that read losses only.
``output``
    ``"weights"``: the method returns task weights ``w`` (K,), and the update is one backward
    pass of ``Σᵢ wᵢ Lᵢ`` (equivalently the direction ``Jᵀ w`` — the class of updates
    ``g(θ) = Σₜ wₜ(θ) ∇θ Lₜ(θ)``, Wu et al. 2026 (CORE-MTL), eq. 4). ``"direction"``: the method
    must
    return the (P,) direction itself (it is not a combination of the current task gradients).
``update_batch`` / ``post_step_update``
    What :meth:`BalanceMethod.update` must receive. ``None`` (default): the step's own
    context, right after the backward (UW, DWA, GradNorm). ``"same"``: the *same* batch
    re-evaluated after the optimiser step (FAMO). ``"held_out"``: a held-out batch evaluated
    after the optimiser step (MOML's meta-objective). ``post_step_update`` is true for the last
    two; ``update_requires`` names the context fields that update needs.
``head_gradient``
    What each task head (the parameters only task ``k`` uses) receives in the update.
    ``"weighted"`` (default): ``w_k ∇L_k`` — the gradient of the balanced objective
    ``Σ_k w_k L_k``, right for loss-weighting methods whose weights *define* the objective.
    ``"task"``: the plain ``∇L_k`` — for gradient-aggregation methods whose papers or official
    code combine the task gradients on the *shared* parameters only and train each head on its
    own loss (MGDA, CAGrad, ...); with MGDA a task of weight 0 would otherwise never train its
    head. ``"scaled"``: ``c_k ∇L_k`` with per-task head scales ``c`` that the method computes
    at the same step (:meth:`BalanceMethod.head_scales`, (K,), finite and positive) — for
    methods whose source trains each head on a rescaled loss (DB-MTL: ``∇ log L_k``, i.e.
    ``c_k = 1 / L_k``; IMTL: ``e^{s_k} ∇L_k``). A ``"scaled"`` class must implement
    ``head_scales`` (checked when the class is created). Methods that return a
    ``"direction"`` declare ``"task"`` or ``"scaled"`` (there are no weights to apply; the
    engine's surrogate gives heads ``∇L_k``, or ``c_k ∇L_k``). Each method's docstring names
    its source.
``regularizes_saliency``
    True for methods that add a differentiable regulariser of the representation-level task
    gradients (the "task saliencies" ``S_k = ∂L_k/∂z``, RepMTL). The engine then takes the
    saliencies with ``create_graph=True``, calls :meth:`BalanceMethod.saliency_regularizer`
    and backpropagates ``Σ_k w_k L_k + R(S)``, so the encoder receives ``∂R/∂θ_s`` through
    ``z`` and every head ``∂R/∂θ_k`` (second-order terms). Such methods work only at the
    ``representation`` level, on a model whose heads read one shared ``z``.

Scale convention (sum)
----------------------
Weights are reported on the scale where equal weighting is the plain **sum** of the task
losses (EW: ``w = 1``). Methods whose paper returns a convex / mean combination of the task
gradients (MGDA, IMTL-G, UPGrad, CAGrad, Aligned-MTL, RLW, FAMO, ExcessMTL, ...) are multiplied
by K, so that K identical task gradients ``g`` aggregate to ``K g`` — the same learning-rate scale
as EW. Methods whose update has a scale of its own (Nash-MTL, FairGrad, DB-MTL, GradNorm) keep
the published scale; each class docstring says which applies.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import weakref
from abc import ABC
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from .._common.validation import check_scalar, check_seed
from ._gramian import gramian, symmetrize

INPUTS: tuple[str, ...] = ("losses", "gramian", "jacobian", "features")
LEVELS: tuple[str, ...] = ("parameter", "representation")
OUTPUTS: tuple[str, ...] = ("weights", "direction")
UPDATE_BATCHES: tuple[str | None, ...] = (None, "same", "held_out")
HEAD_GRADIENTS: tuple[str, ...] = ("weighted", "task", "scaled")

# How many engine steps each post-step-update method (FAMO, MOML) has taken since its last
# update() call; kept off the instance so that checkpoints (which store the methods' private
# attributes) do not change. Read by the engine to warn when update() is never called.
_STEPS_SINCE_UPDATE: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def _check_tensor(value: Any, name: str, ndim: int) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {tuple(value.shape)}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if value.numel() == 0:
        raise ValueError(
            f"{name} is empty (shape {tuple(value.shape)}); it needs at least one task and, "
            "for a jacobian, at least one gradient entry per task"
        )
    if not bool(torch.isfinite(value).all()):
        bad = int((~torch.isfinite(value)).sum())
        raise ValueError(
            f"{name} contains {bad} NaN or infinite value(s); check the losses / gradients "
            "of this step (a diverged task, a log of zero) before balancing"
        )
    return value


@dataclass(frozen=True)
class BalanceContext:
    """What the engine computed for one step; a method reads the fields it declared.

    Parameters
    ----------
    losses : (K,) tensor, optional
        Task losses of the step (detached values are enough).
    gramian : (K, K) tensor, optional
        ``G = J Jᵀ``, inner products of the task gradients.
    jacobian : (K, P) tensor, optional
        Task gradients, one row per task, at the method's level.
    step : int
        Global optimisation step (0-based).
    epoch : int
        Epoch index (0-based).
    level : {"parameter", "representation"} or None
        Where the gradients were taken; ``None`` when none were computed.
    features : (N, ...) tensor, optional
        The shared activations ``z`` (detached) the representation-level task gradients
        were taken at; filled by the engine only for methods whose ``requires`` holds
        ``"features"``. Row ``k`` of ``jacobian`` is ``∂L_k/∂z`` flattened like ``z``.
    """

    losses: Tensor | None = None
    gramian: Tensor | None = None
    jacobian: Tensor | None = None
    step: int = 0
    epoch: int = 0
    level: str | None = None
    features: Tensor | None = None

    def __post_init__(self) -> None:
        sizes: dict[str, int] = {}
        if self.losses is not None:
            sizes["losses"] = len(_check_tensor(self.losses, "losses", 1))
        if self.jacobian is not None:
            jac = _check_tensor(self.jacobian, "jacobian", 2)
            sizes["jacobian"] = jac.shape[0]
        if self.gramian is not None:
            gram = _check_tensor(self.gramian, "gramian", 2)
            if gram.shape[0] != gram.shape[1]:
                raise ValueError(f"gramian must be square (K, K), got shape {tuple(gram.shape)}")
            sizes["gramian"] = gram.shape[0]
        if len(set(sizes.values())) > 1:
            raise ValueError(
                f"inconsistent numbers of tasks across inputs: {sizes}; every input must have "
                "one entry (row) per task"
            )
        if self.level is not None and self.level not in LEVELS:
            raise ValueError(f"unknown level {self.level!r}; choose one of {LEVELS} or None")
        if self.features is not None and not isinstance(self.features, Tensor):
            raise TypeError(f"features must be a torch.Tensor or None, got "
                            f"{type(self.features).__name__}")

    @property
    def num_tasks(self) -> int:
        """K, from whichever input is present."""
        for value in (self.losses, self.gramian, self.jacobian):
            if value is not None:
                return int(value.shape[0])
        raise ValueError("the context holds no losses, gramian or jacobian")

    def gramian_or_compute(self, dtype: torch.dtype | None = None) -> Tensor:
        """The Gramian, computed as ``J Jᵀ`` when only the Jacobian was given.

        Parameters
        ----------
        dtype : torch.dtype, optional
            Type of the result (default: that of the stored Gramian / the Jacobian). A Gramian
            computed here is formed in that type (float64 avoids overflow of float32 squares).

        Returns
        -------
        (K, K) tensor
            Exactly symmetric.
        """
        if self.gramian is not None:
            gram = self.gramian if dtype is None else self.gramian.to(dtype)
            return symmetrize(gram)
        if self.jacobian is None:
            raise ValueError("neither gramian nor jacobian is in the context")
        return gramian(self.jacobian.detach(), dtype=dtype)


class BalanceMethod(ABC):
    """Base of every loss-weighting / gradient-aggregation method.

    Subclasses set the class-level declarations (see the module docstring), implement
    :meth:`weights` (``output == "weights"``) or :meth:`direction` (``output == "direction"``),
    and, when stateful, :meth:`reset` and :meth:`update`. Hyper-parameters are the keyword
    arguments of ``__init__`` and are stored as attributes of the same name.
    """

    name: ClassVar[str]
    requires: ClassVar[frozenset[str]] = frozenset()
    levels: ClassVar[frozenset[str]] = frozenset()
    output: ClassVar[str] = "weights"
    stochastic: ClassVar[bool] = False
    stateful: ClassVar[bool] = False
    update_batch: ClassVar[str | None] = None
    update_requires: ClassVar[frozenset[str]] = frozenset()
    min_tasks: ClassVar[int] = 2
    regularizes_saliency: ClassVar[bool] = False
    non_conflicting: ClassVar[bool] = False
    linear_under_scaling: ClassVar[bool] = False
    permutation_invariant: ClassVar[bool] = True
    head_gradient: ClassVar[str] = "weighted"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.head_gradient not in HEAD_GRADIENTS:
            raise TypeError(f"{cls.__name__}.head_gradient must be one of {HEAD_GRADIENTS}, "
                            f"got {cls.head_gradient!r}")
        if cls.output == "direction" and cls.head_gradient == "weighted":
            raise TypeError(f"{cls.__name__} returns a direction, so there are no weights to "
                            "give its heads: declare head_gradient = \"task\" (plain task "
                            "gradients) or \"scaled\" (with head_scales)")
        if cls.head_gradient == "scaled" and cls.head_scales is BalanceMethod.head_scales:
            raise TypeError(f"{cls.__name__} declares head_gradient = \"scaled\" but does not "
                            "implement head_scales(ctx) -> (K,) tensor of positive head scales "
                            "c_k; implement it, or declare \"task\" or \"weighted\"")
        for hook in ("update", "reset"):  # either clears the engine's "no update" count
            if hook in cls.__dict__:
                setattr(cls, hook, _counting(cls.__dict__[hook]))
        # Every method's output is checked for NaN / inf in one place, so a numerical failure
        # stops at the step that produced it, naming the method, step and task, instead of
        # silently corrupting the parameters (see check_finite_output).
        for attr in ("weights", "direction"):
            fn = cls.__dict__.get(attr)
            if fn is not None and not getattr(fn, "_checks_finite", False):
                setattr(cls, attr, _finite_checked(fn, attr))

    @property
    def post_step_update(self) -> bool:
        """Whether :meth:`update` needs losses evaluated after the optimiser step."""
        return self.update_batch is not None

    # ----------------------------------------------------------------- declarations
    @classmethod
    def hparam_names(cls) -> tuple[str, ...]:
        """Names of the accepted hyper-parameters (keyword arguments of ``__init__``)."""
        params = inspect.signature(cls.__init__).parameters
        return tuple(n for n, p in params.items() if n != "self" and p.kind == p.KEYWORD_ONLY)

    def hparams(self) -> dict[str, Any]:
        """Current hyper-parameters, ``{name: value}``."""
        return {name: getattr(self, name) for name in self.hparam_names()}

    @property
    def needs_gradients(self) -> bool:
        """Whether the engine must compute task gradients (a Gramian or a Jacobian)."""
        return bool(self.requires & {"gramian", "jacobian"})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hparams().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ validation
    def check_level(self, level: str | None) -> None:
        """Raise before training if gradients at ``level`` cannot feed this method.

        Loss-only methods ignore the level (nothing is computed there). Gradient methods need
        one of their declared ``levels``.
        """
        if level is not None and level not in LEVELS:
            raise ValueError(f"unknown level {level!r}; choose one of {LEVELS}")
        if self.regularizes_saliency and level != "representation":
            raise ValueError(
                f"method {self.name!r} regularises the task gradients w.r.t. the shared "
                f"representation z, so it needs level='representation' (got {level!r}) and a "
                "model whose heads all read one shared z (e.g. tasklens.nn.hps_for)"
            )
        if not self.needs_gradients:
            return
        if level is None:
            raise ValueError(
                f"method {self.name!r} needs task gradients; pass level= one of "
                f"{sorted(self.levels)}"
            )
        if level not in self.levels:
            raise ValueError(
                f"method {self.name!r} does not support gradients at level {level!r}; "
                f"supported: {sorted(self.levels)}"
            )

    def check_num_tasks(self, num_tasks: int) -> None:
        """Raise if ``num_tasks`` is below what the method is meaningful for."""
        if num_tasks < self.min_tasks:
            raise ValueError(
                f"method {self.name!r} needs at least {self.min_tasks} tasks, got {num_tasks}; "
                "use 'ew' for a single task"
            )

    def prepare(self, *, level: str | None, num_tasks: int) -> None:
        """All pre-training checks at once; the trainer calls this before the first step."""
        self.check_level(level)
        self.check_num_tasks(num_tasks)

    def _check_context(self, ctx: BalanceContext) -> int:
        if not isinstance(ctx, BalanceContext):
            raise TypeError(f"ctx must be a BalanceContext, got {type(ctx).__name__}")
        missing = []
        for need in sorted(self.requires):
            present = getattr(ctx, need) is not None
            if need == "gramian":
                present = present or ctx.jacobian is not None
            elif need == "features":  # a request to the engine, never a precondition:
                present = True            # aggregate() and the parameter level have no z
            if not present:
                missing.append(need)
        if missing:
            raise ValueError(
                f"method {self.name!r} requires {sorted(self.requires)} in the context; "
                f"missing {missing}"
            )
        num_tasks = ctx.num_tasks
        self.check_num_tasks(num_tasks)
        return num_tasks

    # ------------------------------------------------------------------- interface
    def weights(self, ctx: BalanceContext) -> Tensor:
        """Task weights ``w`` (K,) for this step; the update is ``∇ Σᵢ wᵢ Lᵢ = Jᵀ w``."""
        raise TypeError(
            f"method {self.name!r} returns a direction, not weights; call direction(ctx) "
            "with the jacobian in the context"
        )

    def direction(self, ctx: BalanceContext) -> Tensor:
        """The (P,) update direction (to be *descended*, like a gradient)."""
        if ctx.jacobian is None:
            raise ValueError(
                f"direction() of method {self.name!r} needs the jacobian in the context"
            )
        w = self.weights(ctx)
        return w.to(ctx.jacobian.dtype) @ ctx.jacobian

    def head_scales(self, ctx: BalanceContext) -> Tensor:
        """Per-task head scales ``c`` (K,) of this step (``head_gradient == "scaled"``):
        head ``k`` receives ``c_k ∇L_k``. Finite and positive; computed from the same step's
        context (and state) as the weights or direction, before :meth:`update`."""
        raise TypeError(f"method {self.name!r} declares head_gradient = "
                        f"{self.head_gradient!r}; only \"scaled\" methods have head scales")

    def aggregate(
        self, jacobian: Tensor, *, losses: Tensor | None = None, step: int = 0, epoch: int = 0
    ) -> Tensor:
        """Aggregate task gradients into one direction.

        Parameters
        ----------
        jacobian : (K, P) tensor
            One task gradient per row.
        losses : (K,) tensor, optional
            Needed only by methods that also read the losses.

        Returns
        -------
        (P,) tensor
            The update direction, on the sum scale (see the module docstring).
        """
        _check_tensor(jacobian, "jacobian", 2)
        ctx = BalanceContext(losses=losses, jacobian=jacobian, step=step, epoch=epoch)
        return self.direction(ctx)

    def saliency_regularizer(self, saliency: Tensor, losses: Tensor) -> Tensor:
        """Differentiable regulariser ``R(S)`` of the task saliencies (``regularizes_saliency``).

        Parameters
        ----------
        saliency : (K, N, d) tensor
            ``S_k = ∂L_k/∂z`` for every task, still attached to the graph
            (``create_graph=True``), so ``R`` can be backpropagated to heads and encoder.
        losses : (K,) tensor
            The step's task losses (attached).

        Returns
        -------
        scalar tensor
            Added, unweighted, to the objective the engine backpropagates.
        """
        raise TypeError(
            f"method {self.name!r} declares no saliency regulariser (regularizes_saliency is "
            "False); the engine must not call saliency_regularizer for it"
        )

    def update(self, ctx: BalanceContext) -> None:  # noqa: B027 - optional hook, no-op default
        """Learn from the step's result (stateful methods override)."""

    def reset(self) -> None:  # noqa: B027 - optional hook, no-op default
        """Forget all state (stateful methods override); stochastic methods re-seed."""


class NonFiniteGradientError(FloatingPointError, ValueError):
    """A task gradient (or the method's output) is NaN or infinite although the losses are
    finite. A ``ValueError`` too, so callers catching bad-input errors see it. ``tasks`` holds
    the 0-based indices of the offending tasks (may be empty)."""

    def __init__(self, message: str, *, tasks: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.tasks = list(tasks)


def check_finite_output(values: Tensor, method: str, what: str, ctx: BalanceContext) -> Tensor:
    """Raise :class:`NonFiniteGradientError` naming the method, step, epoch and the offending
    tasks / entries when ``values`` (per-task weights or head scales (K,), or a direction
    (P,)) holds NaN or infinite entries. The one check of every method output: the methods'
    own calls and the engine's (after the cast to the losses' dtype) both use it."""
    finite = torch.isfinite(values)
    if bool(finite.all()):
        return values
    bad = (~finite).nonzero().flatten().tolist()
    per_task = what in ("weights", "head scales")
    where = (f"task(s) {bad[:10]}" if per_task
             else f"{len(bad)} of {values.numel()} entries (first {bad[:5]})")
    raise NonFiniteGradientError(
        f"method {method!r} produced non-finite {what} at step {ctx.step} (epoch {ctx.epoch}) "
        f"for {where}: {values.flatten()[bad[:5]].tolist()}. The task gradients of this step "
        "are too large, too small or too nearly dependent for the method; lower the learning "
        "rate, rescale the losses, or use float64",
        tasks=bad if per_task else (),
    )


def _finite_checked(fn: Any, what: str) -> Any:
    @functools.wraps(fn)
    def checked(self: BalanceMethod, ctx: BalanceContext) -> Tensor:
        out = fn(self, ctx)
        if isinstance(out, Tensor) and isinstance(ctx, BalanceContext):
            check_finite_output(out, self.name, what, ctx)
        return out

    checked._checks_finite = True  # type: ignore[attr-defined]
    return checked


# the default direction (Jᵀ w) is checked too: w may be finite while Jᵀ w overflows
BalanceMethod.direction = _finite_checked(BalanceMethod.direction, "direction")  # type: ignore[method-assign]


def _counting(hook: Any) -> Any:
    """Wrap a subclass's ``update`` / ``reset`` so that the engine can tell it was called."""

    @functools.wraps(hook)
    def wrapper(self: BalanceMethod, *args: Any, **kwargs: Any) -> Any:
        _STEPS_SINCE_UPDATE[self] = 0
        return hook(self, *args, **kwargs)

    return wrapper


def as_output(weights: Any, like: Tensor) -> Tensor:
    """Weights as a tensor with the dtype and device of ``like``."""
    return torch.as_tensor(weights, dtype=like.dtype, device=like.device)


def check_real(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> float:
    """Check a real hyper-parameter lies in ``[low, high]`` (``(low, high]`` if ``low_open``).

    NumPy scalars are accepted (see :func:`tasklens._common.validation.check_scalar`).
    """
    return check_scalar(value, name, numbers.Real, low=low, high=high, include_low=not low_open)


def check_positive_losses(losses: Tensor, method: str) -> Tensor:
    """Losses must be > 0 for methods that take their logarithm or ratio."""
    if bool((losses <= 0).any()):
        raise ValueError(
            f"method {method!r} takes logarithms / ratios of the losses, which must be > 0; "
            f"got {losses.tolist()}. Shift the losses (e.g. add a small constant) or use 'ew'"
        )
    return losses


def gramian_numpy(ctx: BalanceContext) -> np.ndarray:
    """The context's Gramian as a float64 (K, K) NumPy array (symmetrised)."""
    return ctx.gramian_or_compute(torch.float64).detach().cpu().numpy()


def reference_tensor(ctx: BalanceContext) -> Tensor:
    """A tensor of the context whose dtype/device the method's output should follow."""
    for value in (ctx.jacobian, ctx.gramian, ctx.losses):
        if value is not None:
            return value
    raise ValueError("the context holds no losses, gramian or jacobian")


class SeededMethod(BalanceMethod):
    """Base of the stochastic methods: a ``seed`` hyper-parameter (int, numpy Generator or
    None) and a generator ``_rng`` that :meth:`reset` restarts, so an int seed replays the
    same sequence after a reset."""

    stochastic = True

    def _set_seed(self, seed: int | np.random.Generator | None) -> None:
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        self._rng = check_seed(self.seed)
