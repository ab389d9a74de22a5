"""An exact parameter-level Gramian for encoders built from ``nn.Linear`` layers, without the
K per-task weight gradients.

For a linear layer ``y = h Wᵀ + b`` applied to ``R`` rows (the batch, with any extra leading
dimensions flattened into rows), ``h : (R, in)`` its input and ``δ_k = ∂L_k/∂y : (R, out)``
task ``k``'s gradient at its output (pre-activation),

    ∇_W L_k = δ_kᵀ h,        ∇_b L_k = δ_kᵀ 1,

so the layer's share of the Gramian of the parameter-level task gradients is

    G_jk = ⟨δ_jᵀ h, δ_kᵀ h⟩_F + ⟨δ_jᵀ 1, δ_kᵀ 1⟩ = ⟨δ_j, (h hᵀ + 1 1ᵀ) δ_k⟩_F,

and the Gramian over all shared parameters is the sum over layers. This identity is the one
behind "ghost clipping" of per-example gradient norms (Goodfellow 2015, "Efficient
per-example gradient computations", arXiv:1510.01799; Li et al. 2022, arXiv:2110.05679,
Sec. 4); it is not from the seed papers. The weight term is evaluated in whichever of two
exact forms costs fewer multiply-adds (``K`` tasks):

- ``"kernel"`` (sample kernel ``M = h hᵀ``, ``R × R``): ``R²·in + K·R²·out + K²·R·out``;
- ``"explicit"`` (per-task weight gradients ``δ_kᵀ h`` by one matmul, then their Gram
  matrix): ``K·R·in·out + K²·in·out``.

The bias term is always ``s sᵀ`` with ``s_k = δ_kᵀ 1`` (``K·R·out + K²·out``), which equals
the ``1 1ᵀ`` part of the kernel above.

The ``δ_k`` of all layers come from batched backwards (``is_grads_batched``) from the
features ``z`` (or the losses) to the recorded layer *outputs*: autograd then propagates the
upstream gradients through every layer but the first and skips every weight gradient. The
cost per step is therefore ``K × (propagation through the layers after the first)`` plus the
per-layer terms, against ``K × (propagation + weight gradients) + K²·P`` for a per-task
loop (see :func:`linear_gramian_costs`).

``strategy="auto"`` (the default, what the engine uses) takes the δ's a few tasks at a time
and keeps per task only ``Φ_k = F δ_k`` for a factor ``Fᵀ F = [h, 1][h, 1]ᵀ`` of each layer's
kernel (:mod:`._kernel_factor`: the cost of the cheaper form above or less, the bias folded
in, the Gram matrix of ``Φ`` formed by :mod:`._gramian`); when a δ or an input lies outside
half the dtype's exponent range it falls back to the per-layer route below, which rescales
the factors first. ``"kernel"`` and ``"explicit"`` force that per-layer route and form.

Use
---
>>> recorder = LinearRecorder(model.encoder)                      # doctest: +SKIP
>>> with recorder:                                                # doctest: +SKIP
...     z = model.encoder(x)
>>> losses = ...  # (K,) from the heads                           # doctest: +SKIP
>>> try:                                                          # doctest: +SKIP
...     gram = linear_kernel_gramian(losses, z, recorder, shared_params)
... except KernelGramianError:
...     gram = engine.parameter_gramian(losses, shared_params, z)

:func:`gramian_with_fallback` does exactly this.

Only methods that read the Gramian (and losses) can use it; methods that need the Jacobian or
return a direction still need the explicit task gradients. As with
:func:`~tasklens.balance.engine.parameter_gramian` given ``features``, the losses must depend on
the recorded layers only through ``features``.

Measured (``benchmarks/balance_methods.py``, CPU, one thread, K = 40, the 1M-parameter MLP
128→1024→768→128, batch 256): one UPGrad step through the factored route ≈ 13–14× an EW
step, against ≈ 16–17× through the per-layer route and 23–32× for TorchJD 0.18 (its
autogram ``Engine`` or ``mtl_backward``); see benchmarks/RESULTS.md, "Speed (issue 13)".
Float32 error against a float64 reference (K = 40, that MLP): 1.4e-7 of ``max |G|`` for the
factored route, 4.8e-7 for the per-layer "kernel" form.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import torch
from torch import Tensor, nn

from .._common.validation import check_choice
from . import _conv_gramian as _conv
from ._autograd import batched_grad, head_grads, parameter_gramian, stack_losses
from ._gramian import accumulate, add, row_exponents, safe_exponent, scale_rows, symmetrize, unscale
from ._gramian import gramian as task_gramian
from ._kernel_factor import FactorLayer, factored_gramian

logger = logging.getLogger("tasklens")

STRATEGIES: tuple[str, ...] = ("auto", "kernel", "explicit")


class KernelGramianError(ValueError):
    """The recorded encoder forward cannot give the Gramian of ``params`` by the kernel route
    (a shared parameter outside every recorded ``nn.Linear`` call, a layer called twice, an
    output modified in place). Catch it and fall back to
    :func:`tasklens.balance.engine.parameter_gramian`."""


@dataclass(frozen=True)
class LinearCall:
    """One recorded ``nn.Linear`` call.

    Attributes
    ----------
    name : str
        The module's qualified name inside the recorded module (``"0"``, ``"encoder.2"``).
    module : nn.Linear
    inputs : (R, in) tensor or None
        The layer's input, detached, leading dimensions flattened into rows (None when the
        call's input or output was not a tensor).
    output : tensor
        The layer's output as returned (still attached to the graph), shape ``(..., out)``.
    version : int
        ``output._version`` at record time, to detect a later in-place modification.
    """

    name: str
    module: nn.Linear
    inputs: Tensor | None
    output: Any
    version: int


@dataclass(frozen=True)
class _LayerTerm:
    call: LinearCall
    weight: bool
    bias: bool


class LinearRecorder:
    """Context manager recording the input and output of every ``nn.Linear`` call made inside
    ``modules`` during a forward pass (forward hooks, removed on exit); also every
    ``nn.Conv2d`` and batch-norm call (:mod:`._conv_gramian`; alias :data:`LayerRecorder`).

    Parameters
    ----------
    *modules : nn.Module
        The encoder(s) whose ``nn.Linear`` submodules (including a module that is itself an
        ``nn.Linear``) are hooked.

    Notes
    -----
    Entering clears the previous recording, so one recorder can be reused every step. The
    recording keeps references to the layers' inputs and outputs until :meth:`clear` or the
    next ``with`` block.
    """

    def __init__(self, *modules: nn.Module) -> None:
        if not modules:
            raise ValueError("LinearRecorder needs at least one module (e.g. model.encoder)")
        bad = [type(m).__name__ for m in modules if not isinstance(m, nn.Module)]
        if bad:
            raise TypeError(f"LinearRecorder takes nn.Module arguments, got {bad}")
        self._layers: list[tuple[str, nn.Linear]] = []
        seen: set[int] = set()
        for root in modules:
            for name, sub in root.named_modules():
                if _recorded(sub) and id(sub) not in seen:
                    seen.add(id(sub))
                    self._layers.append((name or type(sub).__name__, sub))
        self._calls: list[LinearCall] = []
        self._handles: list[Any] = []

    @property
    def calls(self) -> tuple[LinearCall, ...]:
        """The recorded calls, in call order."""
        return tuple(self._calls)

    def clear(self) -> None:
        """Forget the recorded tensors (frees the activations they keep alive)."""
        self._calls = []

    def __enter__(self) -> LinearRecorder:
        if self._handles:
            raise RuntimeError("LinearRecorder is already active; do not nest the same recorder")
        self.clear()
        for name, layer in self._layers:
            self._handles.append(layer.register_forward_hook(self._hook_for(name),
                                                             with_kwargs=True))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _hook_for(self, name: str) -> Callable[..., None]:
        def hook(module: nn.Linear, args: tuple[Any, ...], kwargs: dict[str, Any],
                 output: Any) -> None:
            # Never raise inside the user's forward: problems are reported when the Gramian
            # is asked for, so the caller can fall back on the same graph.
            value = args[0] if args else kwargs.get("input")
            usable = isinstance(value, Tensor) and isinstance(output, Tensor)
            inputs = None
            if usable:  # nn.Linear: (R, in) rows; conv / batch norm: see _conv_gramian
                inputs = (value.detach().reshape(-1, module.in_features)
                          if isinstance(module, nn.Linear) else _conv.record_input(module, value))
            version = output._version if usable else -1
            self._calls.append(LinearCall(name, module, inputs, output, version))
        return hook

    def terms_for(self, params: Iterable[Tensor]) -> list[_LayerTerm]:
        """Match ``params`` to the recorded calls; raise :class:`KernelGramianError` unless each
        parameter is the weight or bias of exactly one recorded call."""
        params = list(params)
        if not params:
            raise ValueError("params is empty; pass the shared parameters (e.g. "
                             "list(model.encoder.parameters()))")
        wanted = {id(p): i for i, p in enumerate(params)}
        if len(wanted) != len(params):
            raise ValueError("params lists the same tensor more than once; pass each shared "
                             "parameter once")
        covered: set[int] = set()
        calls_per_module: dict[int, list[LinearCall]] = {}
        for call in self._calls:
            calls_per_module.setdefault(id(call.module), []).append(call)
        terms = []
        for calls in calls_per_module.values():
            layer = calls[0].module
            has_w = id(layer.weight) in wanted
            has_b = layer.bias is not None and id(layer.bias) in wanted
            if not (has_w or has_b):
                continue  # e.g. a head recorded by accident: not part of this Gramian
            if len(calls) > 1:
                raise KernelGramianError(
                    f"layer {calls[0].name!r} was called {len(calls)} times in the recorded "
                    "forward; its gradient sums over the calls, which the kernel Gramian does "
                    "not handle. Use engine.parameter_gramian")
            call = calls[0]
            if call.inputs is None:
                raise KernelGramianError(
                    f"could not read the input tensor or output tensor of layer {call.name!r}; "
                    "use engine.parameter_gramian")
            if call.output._version != call.version:
                raise KernelGramianError(
                    f"the output of layer {call.name!r} was modified in place after the layer "
                    "(e.g. nn.ReLU(inplace=True)); the recorded pre-activation is lost. Use "
                    "inplace=False or engine.parameter_gramian")
            if not call.output.requires_grad:
                raise KernelGramianError(
                    f"the output of layer {call.name!r} does not require grad; record the "
                    "forward with gradients enabled (not under torch.no_grad)")
            covered.update(id(p) for p, used in ((layer.weight, has_w), (layer.bias, has_b))
                           if used)
            terms.append(_LayerTerm(call, has_w, has_b))
        missing = [i for i, p in enumerate(params) if id(p) not in covered]
        if missing:
            shapes = [tuple(params[i].shape) for i in missing[:5]]
            raise KernelGramianError(
                f"shared parameters {missing[:5]}{' …' if len(missing) > 5 else ''} (shapes "
                f"{shapes}) are not the weight or bias of any nn.Linear, nn.Conv2d or batch "
                "norm call recorded by this LinearRecorder (e.g. a LayerNorm, an embedding, a "
                "Conv1d, or a layer outside the recorded modules or not called in the `with` "
                "block); use engine.parameter_gramian")
        return terms


def linear_gramian_costs(rows: int, in_features: int, out_features: int,
                         num_tasks: int) -> dict[str, int]:
    """Multiply-adds of the two exact forms of one layer's weight-Gramian term.

    Parameters
    ----------
    rows : int
        ``R``, rows the layer was applied to (batch × extra leading dimensions).
    in_features, out_features : int
    num_tasks : int
        ``K``.

    Returns
    -------
    dict
        ``{"kernel": R²·in + K·R²·out + K²·R·out, "explicit": K·R·in·out + K²·in·out}``.
    """
    r, i, o, k = rows, in_features, out_features, num_tasks
    return {"kernel": r * r * i + k * r * r * o + k * k * r * o,
            "explicit": k * r * i * o + k * k * i * o}


def _weight_term(h: Tensor, delta: Tensor, strategy: str) -> Tensor:
    """``G_jk = ⟨δ_jᵀ h, δ_kᵀ h⟩_F`` for ``h : (R, in)``, ``delta : (K, R, out)``.

    The product has four factors (``δ h hᵀ δᵀ``), so unless every row of ``δ`` and ``h`` lies
    within half the safe range of the dtype, ``h`` and each task's ``δ_k`` are first scaled
    by powers of two to magnitude ~1 and the scales are undone in float64 (the result is then
    float64; see :mod:`._gramian`). At ordinary scales nothing changes.
    """
    k = delta.shape[0]
    half = safe_exponent(delta.dtype) // 2
    flat_h = h.reshape(1, -1)
    if (row_exponents(delta.reshape(k, -1), delta.dtype, limit=half) is None
            and row_exponents(flat_h, h.dtype, limit=half) is None):
        return _plain_weight_term(h, delta, strategy)
    e_delta = row_exponents(delta.reshape(k, -1), delta.dtype, force=True)
    e_h = row_exponents(flat_h, h.dtype, force=True)
    assert e_delta is not None and e_h is not None
    scaled_h = scale_rows(flat_h, e_h.to(h.device)).reshape(h.shape)
    scaled_delta = scale_rows(delta.reshape(k, -1), e_delta.to(delta.device)).reshape(delta.shape)
    return unscale(_plain_weight_term(scaled_h, scaled_delta, strategy), e_delta + e_h)


def _plain_weight_term(h: Tensor, delta: Tensor, strategy: str) -> Tensor:
    k, rows, out = delta.shape
    if strategy == "auto":
        costs = linear_gramian_costs(rows, h.shape[1], out, k)
        strategy = "kernel" if costs["kernel"] < costs["explicit"] else "explicit"
    if strategy == "kernel":
        kernel = h @ h.T                                # (R, R)
        mixed = torch.matmul(kernel, delta)             # (K, R, out): M δ_k
        # not of the form A Aᵀ, so not symmetric in floating point: mirror its upper triangle
        return symmetrize(delta.reshape(k, -1) @ mixed.reshape(k, -1).T)
    grads = torch.matmul(delta.transpose(1, 2), h)      # (K, out, in): δ_kᵀ h
    return task_gramian(grads.reshape(k, -1))


def linear_kernel_gramian(
    losses: Tensor | Sequence[Tensor],
    features: Tensor | None,
    recorder: LinearRecorder,
    params: Iterable[Tensor],
    *,
    strategy: str = "auto",
    chunk_size: int | None = None,
) -> Tensor:
    """(K, K) Gramian ``G = J Jᵀ`` of the task gradients w.r.t. ``params``, from the recorded
    ``nn.Linear`` calls (formula and cost model in the module docstring).

    Parameters
    ----------
    losses : (K,) tensor or sequence of K scalar tensors
        Task losses, attached to the graph of the recorded forward.
    features : tensor or None
        The shared features ``z`` the heads read: each task's ``∂L_k/∂z`` is taken with one
        autograd call per task (its own head only, as the engine does); ``None`` backpropagates
        the K unit vectors from the losses in one batched call instead.
    recorder : LinearRecorder
        Active during the encoder forward that produced ``features`` / ``losses``.
    params : iterable of tensors
        The shared parameters; each must be the weight or bias of exactly one recorded
        ``nn.Linear`` call, otherwise :class:`KernelGramianError` is raised (fall back to
        :func:`tasklens.balance.engine.parameter_gramian`).
    strategy : {"auto", "kernel", "explicit"}
        ``"auto"``: the factored route over chunks of tasks (:mod:`._kernel_factor`), or, when
        a δ or an input lies outside half the dtype's exponent range, the per-layer route with
        the form of fewer multiply-adds (:func:`linear_gramian_costs`); ``"kernel"`` /
        ``"explicit"`` force the per-layer route and that form (for tests).
    chunk_size : int, optional
        Passed to the batched backward(s); set it to go through the K rows sequentially.

    Returns
    -------
    (K, K) tensor
        Exactly symmetric, on the losses' device, detached; in the losses' dtype, or in
        float64 when a layer's factors had to be rescaled (extreme gradient scales, see
        :mod:`tasklens.balance._gramian`).

    Raises
    ------
    KernelGramianError
        When the recording does not cover ``params`` exactly (see above).
    """
    if not isinstance(recorder, LinearRecorder):
        raise TypeError(f"recorder must be a LinearRecorder, got {type(recorder).__name__}")
    strategy = check_choice(strategy, "strategy", STRATEGIES)
    stacked = stack_losses(losses if isinstance(losses, Tensor) else list(losses))
    terms = recorder.terms_for(params)
    k = len(stacked)
    if features is not None:
        (upstream,) = head_grads(stacked, features)
        root = features
    else:
        upstream = torch.eye(k, dtype=stacked.dtype, device=stacked.device)
        root = stacked
    if strategy == "auto" and all(isinstance(t.call.module, nn.Linear) for t in terms):
        # (a recorder extended to other layer types uses the per-layer route below for them)
        layers = [FactorLayer(t.call.inputs, t.call.output, t.call.module.out_features,  # type: ignore[arg-type]
                              t.weight, t.bias) for t in terms]
        gram = factored_gramian(root, upstream, layers, chunk_size)
        if gram is not None:
            return gram
        # a δ or an input outside half the dtype's range: the per-layer route rescales them
    # One batched backward to the layers' outputs: no weight gradient is formed (except for
    # conv / batch-norm layers whose own parameters are cheaper to ask for: _conv_gramian).
    targets = [_conv.grad_targets(t.call.module, t.call.output, k, strategy, t.weight, t.bias)
               for t in terms]
    flat = iter(batched_grad(root, [x for xs in targets for x in xs], upstream, chunk_size))
    gram = torch.zeros((k, k), dtype=stacked.dtype, device=stacked.device)
    with torch.no_grad():
        for term, xs in zip(terms, targets):
            layer = term.call.module
            got = [next(flat) for _ in xs]
            if not isinstance(layer, nn.Linear):  # nn.Conv2d, batch norm
                gram = add(gram, _conv.layer_gramian(
                    layer, term.call.inputs, got, direct=xs[0] is not term.call.output,
                    weight=term.weight, bias=term.bias, weight_term=_weight_term))
                continue
            (delta,) = got
            delta = delta.reshape(k, -1, layer.out_features)
            if term.weight:
                h = term.call.inputs.to(delta.dtype)  # type: ignore[union-attr]
                gram = add(gram, _weight_term(h, delta, strategy))  # float64 if rescaled
            if term.bias:
                sums = delta.sum(dim=1)                 # (K, out): ∇_b L_k
                gram = accumulate(gram, sums)
    return gram  # a sum of exactly symmetric terms (see _gramian)


def gramian_with_fallback(
    losses: Tensor | Sequence[Tensor],
    params: Sequence[Tensor],
    features: Tensor | None,
    recorder: LinearRecorder | None,
    *,
    chunk_size: int | None = None,
    params_per_chunk: int | None = None,
) -> Tensor:
    """(K, K) parameter-level Gramian: :func:`linear_kernel_gramian` when ``recorder`` covers
    ``params``, else :func:`tasklens.balance.engine.parameter_gramian` on the same graph.

    Parameters
    ----------
    losses, features, chunk_size
        As in :func:`linear_kernel_gramian`.
    params : sequence of tensors
        The shared parameters.
    recorder : LinearRecorder or None
        ``None`` goes straight to the fallback.
    params_per_chunk : int, optional
        Passed to the fallback only (default: chunks by a memory budget).

    Returns
    -------
    (K, K) tensor
    """
    params = list(params)
    if recorder is not None:
        try:
            return linear_kernel_gramian(losses, features, recorder, params,
                                         chunk_size=chunk_size)
        except KernelGramianError as exc:
            logger.debug("kernel Gramian not applicable, using parameter_gramian: %s", exc)
    stacked = stack_losses(losses if isinstance(losses, Tensor) else list(losses))
    return parameter_gramian(stacked, params, features, chunk_size, params_per_chunk).detach()


def _recorded(module: nn.Module) -> bool:
    """Whether a recorder hooks ``module``: ``nn.Linear``, ``nn.Conv2d``, batch norm."""
    return isinstance(module, nn.Linear) or _conv.recordable(module)


#: The recorder also records ``nn.Conv2d`` and batch-norm calls; an alias naming that.
LayerRecorder = LinearRecorder


def recorder_for(model: nn.Module, shared_params: Sequence[Tensor]) -> LinearRecorder | None:
    """A recorder of the ``nn.Linear``, ``nn.Conv2d`` and batch-norm layers of ``model`` that
    hold ``shared_params``, or None when other modules hold some of them (LayerNorm,
    embeddings, other convolutions) or none is such a layer.

    Parameters
    ----------
    model : nn.Module
    shared_params : sequence of tensors

    Returns
    -------
    LinearRecorder or None
    """
    shared = {id(p) for p in shared_params}
    linears = [mod for mod in model.modules() if _recorded(mod)
               and any(id(p) in shared for p in mod.parameters(recurse=False))]
    covered = {id(p) for mod in linears for p in mod.parameters(recurse=False)}
    if not linears or not shared <= covered:
        return None
    return LinearRecorder(*linears)
