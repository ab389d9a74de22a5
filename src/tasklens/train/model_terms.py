"""What the Trainer asks of a model and its optimiser beyond ``encode`` / ``decode``.

- :func:`auxiliary_terms`: the model's optional ``auxiliary_losses(x, z, outputs[, targets])``
  (reconstruction, independence penalties, extra forward passes on counterfactual inputs),
  validated as ``{name: scalar tensor}``;
- :func:`make_optimizer`: a named optimiser or a user factory over the trainable parameters;
- :func:`kernel_gramian_recorder`: the recorder of the shared ``nn.Linear`` layers that lets
  the engine take the exact sample-kernel Gramian.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from ..balance import BalanceMethod
from ..balance.kernel_gramian import LinearRecorder

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}


def auxiliary_terms(model: torch.nn.Module, x: Tensor, z: Any, outputs: dict[str, Tensor],
                    targets: dict[str, Tensor]) -> dict[str, Tensor]:
    """The model's auxiliary loss terms of one step (``{}`` when it defines none).

    Terms that need the labels (CORE-MTL's counterfactual loss) declare a fourth argument,
    ``targets``.
    """
    fn = getattr(model, "auxiliary_losses", None)
    if not callable(fn):
        return {}
    wants_targets = len(inspect.signature(fn).parameters) >= 4
    terms = fn(x, z, outputs, targets) if wants_targets else fn(x, z, outputs)
    if not isinstance(terms, dict):
        raise TypeError(f"model.auxiliary_losses must return a dict {{name: scalar tensor}},"
                        f" got {type(terms).__name__}")
    for name, value in terms.items():
        if not isinstance(value, Tensor) or value.ndim != 0:
            raise TypeError(f"auxiliary loss {name!r} must be a scalar tensor")
    return dict(terms)


def make_optimizer(spec: Any, model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    """``spec`` (a name of :data:`OPTIMIZERS`, or ``callable(params) -> Optimizer``) over the
    model's trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    if isinstance(spec, str):
        if spec not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {spec!r}; choose one of "
                             f"{sorted(OPTIMIZERS)} or pass callable(params) -> Optimizer")
        return OPTIMIZERS[spec](params, lr=lr)
    if callable(spec):
        opt = spec(params)
        if not isinstance(opt, torch.optim.Optimizer):
            raise TypeError(f"optimizer(params) must return a torch Optimizer, got "
                            f"{type(opt).__name__}")
        return opt
    raise TypeError(f"optimizer must be a name or callable(params), got "
                    f"{type(spec).__name__}")


def kernel_gramian_recorder(model: torch.nn.Module, method: BalanceMethod, level: str,
                            shared_params: Sequence[Tensor],
                            monitors: bool) -> LinearRecorder | None:
    """A recorder of the ``nn.Linear`` layers holding the shared parameters, when the step
    needs only the parameter-level Gramian (the exact sample-kernel route of
    :mod:`tasklens.balance.kernel_gramian`) — for the method, or for the monitors.

    None when the method reads the Jacobian, returns a direction or regularises saliencies,
    at representation level, or when other modules hold shared parameters (convolutions,
    normalisation layers). The Trainer still checks the first step's recording (a layer
    called twice, an in-place activation) and drops the recorder if it does not cover them.
    """
    gramian_only = (method.output == "weights" and "jacobian" not in method.requires
                    and not method.regularizes_saliency)
    if level != "parameter" or not gramian_only or not (method.needs_gradients or monitors):
        return None
    shared = {id(p) for p in shared_params}
    linears = [mod for mod in model.modules() if isinstance(mod, torch.nn.Linear)
               and any(id(p) in shared for p in mod.parameters(recurse=False))]
    covered = {id(p) for mod in linears for p in mod.parameters(recurse=False)}
    if not linears or not shared <= covered:
        return None
    return LinearRecorder(*linears)
