"""Input attribution similarity (IAS) between single-task models
(Azorin et al. 2023, Table 7 eq. 1; revisited from Song et al. 2019)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..data.matrix import TaskMatrix
from ..data.tasks import Task
from ..nn.losses import task_loss
from ._models import check_batch, check_models, eval_mode, resolve_tasks, task_output

#: ``attribution(model, task, x, y) -> (N, ...)`` attribution map of each sample
Attribution = Callable[[nn.Module, Task, Tensor, Tensor], Tensor]


def input_x_gradient(model: nn.Module, task: Task, x: Tensor, y: Tensor) -> Tensor:
    """InputXGradient (Shrikumar et al. 2016) of each sample's task loss: ``x_i ⊙ ∂ℓ_i/∂x_i``.

    ``ℓ_i`` is sample ``i``'s loss for ``task`` (the batch loss is a mean over samples, so
    ``N ∂L/∂x_i = ∂ℓ_i/∂x_i`` when samples do not interact, as in eval mode).

    Decision: we attribute the *loss* rather than one output unit, so one definition covers
    every task kind (classification, multi-output regression, dense outputs) without choosing
    a target unit; for a classifier it attributes ``−log p(y_i | x_i)``.

    Parameters
    ----------
    model : nn.Module
        Returns ``{task: output}`` or the output tensor.
    task : Task
    x : (N, ...) tensor
    y : (N, ...) tensor
        The task's encoded targets.

    Returns
    -------
    (N, ...) tensor, the shape of ``x``
    """
    inputs = x.detach().clone().requires_grad_(True)
    loss = task_loss(task, task_output(model, task.name, inputs), y) * inputs.shape[0]
    (grad,) = torch.autograd.grad(loss, inputs)
    return inputs.detach() * grad


def captum_attribution(method: str, **attribute_kwargs: Any) -> Attribution:
    """An :data:`Attribution` from a Captum attribution class (lazily imported).

    Captum attributes a model *output*: the head output for ``task`` (for classification,
    the logit of the sample's label; for multi-output regression, the sum of the outputs).

    Parameters
    ----------
    method : str
        A class of ``captum.attr``, e.g. ``"InputXGradient"``, ``"IntegratedGradients"``.
    **attribute_kwargs
        Passed to ``.attribute`` (e.g. ``n_steps=``).
    """
    try:
        from captum import attr as captum_attr
    except ImportError as exc:
        raise ImportError("Captum attributions need the captum package: pip install captum "
                          "(or use attribution='input_x_gradient', built in)") from exc
    cls = getattr(captum_attr, method, None)
    if cls is None:
        raise ValueError(f"captum.attr has no attribution method {method!r}")

    def attribute(model: nn.Module, task: Task, x: Tensor, y: Tensor) -> Tensor:
        def forward(inp: Tensor) -> Tensor:
            out = task_output(model, task.name, inp)
            if task.kind != "classification" and out.ndim > 1:
                out = out.reshape(out.shape[0], -1).sum(dim=1)
            return out

        target = y.long() if task.kind == "classification" else None
        return cls(forward).attribute(x, target=target, **attribute_kwargs)

    return attribute


def _resolve_attribution(attribution: str | Attribution) -> Attribution:
    if callable(attribution):
        return attribution
    if not isinstance(attribution, str):
        raise TypeError("attribution must be 'input_x_gradient', the name of a captum.attr "
                        f"class, or a callable; got {type(attribution).__name__}")
    if attribution == "input_x_gradient":
        return input_x_gradient
    return captum_attribution(attribution)


def input_attribution_similarity(
    models: Mapping[str, nn.Module],
    tasks: Any,
    batch: Any,
    *,
    attribution: str | Attribution = "input_x_gradient",
) -> TaskMatrix:
    """Input attribution similarity of single-task models on a batch.

    ``IAS[a, b] = (1/|X|) Σ_{x∈X} S_cos(Attr(STL_a, x), Attr(STL_b, x))``
    (Azorin et al. 2023, Table 7 eq. 1); symmetric, in [−1, 1]. Each attribution map
    is flattened over all input dimensions. A sample whose map is exactly zero for a model
    has no direction: it contributes 0 to that model's row (the diagonal is then < 1).
    Models run in eval mode.

    Parameters
    ----------
    models : mapping {task: nn.Module}
        The single-task model of each task (output ``{task: out}`` or a tensor).
    tasks : TaskSet, mapping {name: Task} or sequence of Task
        K >= 2 tasks (fixes the order).
    batch : (x, {task: y})
        Inputs ``(N, ...)`` and each task's targets.
    attribution : "input_x_gradient", a ``captum.attr`` class name, or callable
        ``attribution(model, task, x, y) -> (N, ...)``. Default: :func:`input_x_gradient`.

    Returns
    -------
    TaskMatrix, (K, K), symmetric
    """
    tmap = resolve_tasks(tasks)
    mods = check_models(models, tmap)
    x, y = check_batch(batch, tmap)
    attr = _resolve_attribution(attribution)
    maps = []
    with eval_mode(*mods.values()):
        for name, task in tmap.items():
            a = attr(mods[name], task, x, y[name])
            if not isinstance(a, Tensor) or a.shape[0] != x.shape[0]:
                raise ValueError(f"the attribution of task {name!r} must be a tensor with "
                                 f"{x.shape[0]} rows, got {getattr(a, 'shape', type(a))}")
            flat = a.detach().reshape(x.shape[0], -1).to(torch.float64)
            if not bool(torch.isfinite(flat).all()):
                raise ValueError(f"the attribution map of task {name!r} has NaN or infinite "
                                 "values")
            norms = torch.linalg.vector_norm(flat, dim=1, keepdim=True)
            maps.append(flat / torch.where(norms > 0, norms, torch.ones_like(norms)))
    unit = torch.stack(maps)  # (K, N, D)
    values = torch.einsum("and,bnd->ab", unit, unit) / x.shape[0]
    out = np.clip(values.cpu().numpy(), -1.0, 1.0)
    return TaskMatrix((out + out.T) / 2, tuple(tmap), "input attribution similarity (IAS)")
