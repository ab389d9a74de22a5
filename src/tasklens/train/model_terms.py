"""What the Trainer asks of a model and its optimiser beyond ``encode`` / ``decode``.

- :func:`auxiliary_terms`: the model's optional ``auxiliary_losses(x, z, outputs[, targets])``
  (reconstruction, independence penalties, extra forward passes on counterfactual inputs),
  validated as ``{name: scalar tensor}``;
- :func:`make_optimizer`: a named optimiser or a user factory over the trainable parameters.

The recorder of the shared ``nn.Linear`` layers (the exact sample-kernel Gramian) is part of
the step plan: :func:`tasklens.train.step.plan_for_model`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

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
