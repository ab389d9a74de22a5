"""Interaction monitors: how the task gradients relate during training.

Every ``monitor_every`` steps the trainer asks the gradient engine for the Gramian
``G = J Jᵀ`` of the task gradients on the shared parameters (or features) and logs, from it,

- ``cos/<a>/<b>``: pairwise cosine similarities ``G_ab / sqrt(G_aa G_bb)``;
- ``conflicts``: the number of pairs with a negative cosine (conflicting gradients);
- ``grad_norm/<task>``: ``sqrt(G_tt)``;
- ``weight/<task>``: the method's weights of that step (weight methods only);
- ``head_cos/<a>/<b>``: the cosine between the gradient of ``L_a`` on head ``a``'s own
  parameters and that of ``L_b`` on head ``b``'s — the task-specific-layer panel of
  Anon. 2025 (ICLR'26 sub.), Figure 4 (bottom). It is defined only when the two heads have
  parameters of identical shapes (e.g. two regression heads with the same output size);
  pairs whose shapes differ are skipped (no column), since the two vectors then live in
  different spaces.

The head gradients are ``K`` small backward passes through the heads only (the encoder is
not traversed), taken before the engine's backward frees the graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Any

import torch
from torch import Tensor

from ..balance.engine import StepResult


def head_gradients(model: Any, losses: Tensor, task_names: Sequence[str]
                   ) -> dict[str, tuple[tuple[torch.Size, ...], Tensor]] | None:
    """``{task: (parameter shapes, flat gradient of L_task on its own head)}``.

    Returns None when the model has no ``task_parameters`` (no head split to read).
    The graph is retained for the step's backward.
    """
    task_parameters = getattr(model, "task_parameters", None)
    if not callable(task_parameters):
        return None
    out: dict[str, tuple[tuple[torch.Size, ...], Tensor]] = {}
    for k, name in enumerate(task_names):
        params = [p for p in task_parameters(name) if p.requires_grad]
        if not params:
            continue
        grads = torch.autograd.grad(losses[k], params, retain_graph=True, allow_unused=True)
        flat = torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1)
                          for g, p in zip(grads, params)])
        out[name] = (tuple(p.shape for p in params), flat.detach())
    return out


def _cosine(a: Tensor, b: Tensor) -> float:
    denom = a.norm() * b.norm()
    return float((a @ b) / denom.clamp_min(1e-30))


def monitor_row(result: StepResult, task_names: Sequence[str], *, step: int, epoch: int,
                heads: dict[str, tuple[tuple[torch.Size, ...], Tensor]] | None = None
                ) -> dict[str, Any]:
    """One flat monitor row from the engine's :class:`StepResult` (Gramian included).

    Parameters
    ----------
    result : StepResult
        With ``gramian`` (K, K) — request it with ``compute_gramian=True``.
    task_names : sequence of K str
    heads : output of :func:`head_gradients`, optional
    """
    row: dict[str, Any] = {"step": int(step), "epoch": int(epoch), "level": result.level}
    cos = result.cosine_similarity()
    if cos is not None and result.gramian is not None:
        cos64 = cos.detach().to("cpu", torch.float64)
        norms = result.gramian.detach().to("cpu", torch.float64).diagonal().clamp_min(0).sqrt()
        conflicts = 0
        for i, j in combinations(range(len(task_names)), 2):
            value = float(cos64[i, j])
            row[f"cos/{task_names[i]}/{task_names[j]}"] = value
            conflicts += value < 0
        row["conflicts"] = conflicts
        for i, name in enumerate(task_names):
            row[f"grad_norm/{name}"] = float(norms[i])
    if result.weights is not None:
        for name, w in zip(task_names, result.weights.detach().to("cpu").tolist()):
            row[f"weight/{name}"] = float(w)
    if heads:
        for a, b in combinations([t for t in task_names if t in heads], 2):
            if heads[a][0] == heads[b][0]:
                row[f"head_cos/{a}/{b}"] = _cosine(heads[a][1], heads[b][1])
    return row
