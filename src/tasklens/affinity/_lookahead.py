"""The one-step lookahead of gradient transference: ``θ_s^{t+1|b}`` for every task ``b`` at once.

Two rules for "one step on the shared parameters with task b's gradient ``g_b``":

``"sgd"`` (default; Fifty et al. 2021, eq. 2, and Azorin et al. 2023, Table 7 eq. 5)
    ``θ_s^{t+1|b} = θ_s^t − η g_b`` with the learning rate ``η`` (the optimizer's current
    per-group ``lr`` when an optimizer is given).

``"optimizer"`` (momentum-aware)
    The update the optimizer *would* take this step if ``g_b`` were the whole gradient,
    starting from its current state, which is read but never changed:

    - ``torch.optim.SGD``: ``g ← g_b + λ θ`` (weight decay); ``m' = μ m + (1 − τ) g`` (``m' = g``
      when no buffer exists yet, as torch does on its first step); ``d = g + μ m'`` with
      Nesterov, else ``d = m'``; ``θ' = θ − η d``.
    - ``torch.optim.Adam`` / ``AdamW``: with ``s`` = the optimizer's step count + 1,
      ``m' = β1 m + (1 − β1) g``, ``v' = β2 v + (1 − β2) g²`` (AMSGrad: ``v' ← max(v_max, v')``),
      ``θ' = θ − η/(1 − β1^s) · m' / (√v' / √(1 − β2^s) + ε)``; Adam adds ``λ θ`` to ``g``,
      AdamW (decoupled) first scales ``θ`` by ``1 − η λ``.

    So the lookahead includes the momentum carried from earlier steps (common to every
    ``b``) plus ``b``'s share of this step. Other optimizers are refused with a clear error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

LOOKAHEAD_RULES: tuple[str, ...] = ("sgd", "optimizer")


def _group_of(optimizer: torch.optim.Optimizer, params: Sequence[Tensor]) -> list[dict | None]:
    """The optimizer's parameter group of each parameter (None: the optimizer skips it)."""
    where = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    return [where.get(id(p)) for p in params]


def _lr(group: dict) -> float:
    return float(group["lr"])


def _sgd_step(p: Tensor, g: Tensor, group: dict, state: dict) -> Tensor:
    """SGD (momentum, dampening, Nesterov, weight decay) update of ``p`` for each ``g[b]``."""
    if group.get("maximize", False):
        g = -g
    wd = float(group.get("weight_decay", 0.0))
    if wd:
        g = g + wd * p
    mu = float(group.get("momentum", 0.0))
    if mu:
        buf = state.get("momentum_buffer")
        if buf is None:
            new_buf = g
        else:
            new_buf = mu * buf + (1.0 - float(group.get("dampening", 0.0))) * g
        g = g + mu * new_buf if group.get("nesterov", False) else new_buf
    return p - _lr(group) * g


def _adam_step(p: Tensor, g: Tensor, group: dict, state: dict, decoupled: bool) -> Tensor:
    """Adam / AdamW update of ``p`` for ``g : (K, *p.shape)`` from the current moments."""
    if group.get("maximize", False):
        g = -g
    lr = _lr(group)
    wd = float(group.get("weight_decay", 0.0))
    beta1, beta2 = (float(b) for b in group["betas"])
    eps = float(group["eps"])
    base = p
    if wd and decoupled:
        base = p * (1.0 - lr * wd)
    elif wd:
        g = g + wd * p
    step = float(state["step"]) + 1.0 if "step" in state else 1.0
    m = state.get("exp_avg")
    v = state.get("exp_avg_sq")
    m_new = (1.0 - beta1) * g if m is None else beta1 * m + (1.0 - beta1) * g
    v_new = (1.0 - beta2) * g * g if v is None else beta2 * v + (1.0 - beta2) * g * g
    if group.get("amsgrad", False):
        v_max = state.get("max_exp_avg_sq")
        if v_max is not None:
            v_new = torch.maximum(v_max, v_new)
    bc1 = 1.0 - beta1 ** step
    bc2 = 1.0 - beta2 ** step
    denom = v_new.sqrt() / bc2 ** 0.5 + eps
    return base - (lr / bc1) * m_new / denom


def lookahead_parameters(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    *,
    lr: float | None,
    optimizer: torch.optim.Optimizer | None,
    rule: str,
) -> list[Tensor]:
    """``θ_s^{t+1|b}`` for every ``b``: one ``(K, *p.shape)`` tensor per shared parameter.

    Parameters
    ----------
    params : sequence of P tensors
        The shared parameters ``θ_s^t``.
    grads : sequence of P tensors, each (K, *p.shape)
        ``grads[i][b]`` is task ``b``'s gradient for ``params[i]``.
    lr : float or None
        Learning rate of the ``"sgd"`` rule when no optimizer is given.
    optimizer : torch.optim.Optimizer or None
        Gives the per-parameter learning rate (and, for ``"optimizer"``, the update rule and
        its state). A shared parameter it does not hold is left unchanged, as its step would.
    rule : {"sgd", "optimizer"}
        See the module docstring.
    """
    out: list[Tensor] = []
    if optimizer is None:
        assert lr is not None and rule == "sgd"
        return [p.detach() - lr * g for p, g in zip(params, grads)]
    groups = _group_of(optimizer, params)
    is_adam = isinstance(optimizer, torch.optim.Adam)
    decoupled = isinstance(optimizer, torch.optim.AdamW)
    for p, g, group in zip(params, grads, groups):
        theta = p.detach()
        if group is None:
            out.append(theta.expand_as(g))
            continue
        if rule == "sgd":
            out.append(theta - _lr(group) * g)
            continue
        state: dict[str, Any] = optimizer.state.get(p, {})
        if is_adam:
            out.append(_adam_step(theta, g, group, state,
                                  decoupled or bool(group.get("decoupled_weight_decay", False))))
        else:
            out.append(_sgd_step(theta, g, group, state))
    return out


def check_lookahead_options(lr: Any, optimizer: Any, rule: str) -> float | None:
    """Validate the learning-rate source and the rule; returns ``lr`` as a float (or None)."""
    from ._models import check_positive_float

    if rule not in LOOKAHEAD_RULES:
        raise ValueError(f"unknown lookahead rule {rule!r}; choose one of {LOOKAHEAD_RULES}")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got "
                        f"{type(optimizer).__name__}")
    if optimizer is not None and lr is not None:
        raise ValueError("pass either lr= or optimizer= (whose current learning rate is "
                         "used), not both")
    if optimizer is None and lr is None:
        raise ValueError("the lookahead needs a learning rate: pass lr= or the training "
                         "optimizer= (its current per-group learning rate is used)")
    if rule == "optimizer":
        if optimizer is None:
            raise ValueError("rule='optimizer' (momentum-aware lookahead) needs optimizer=")
        if type(optimizer) not in (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW):
            raise TypeError(f"rule='optimizer' supports torch.optim.SGD, Adam and AdamW, not "
                            f"{type(optimizer).__name__}; use rule='sgd' (plain step with "
                            "the optimizer's learning rate)")
    return None if lr is None else check_positive_float(lr, "lr")
