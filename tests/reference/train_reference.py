"""Plain references for the tasklens.train tests: per-task autograd loops, no engine.

Nothing here is imported by the library; it recomputes task gradients one task at a time,
the textbook way, so that the trainer's monitors (which go through the batched engine) can
be checked against it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def flat_task_gradients(losses: Sequence[torch.Tensor], params: Sequence[torch.Tensor]
                        ) -> torch.Tensor:
    """(K, P) matrix: row k is ∂ losses[k] / ∂ params, flattened, one backward per task."""
    rows = []
    for loss in losses:
        grads = torch.autograd.grad(loss, list(params), retain_graph=True, allow_unused=True)
        rows.append(torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1)
                               for g, p in zip(grads, params)]))
    return torch.stack(rows)


def cosine_matrix(rows: torch.Tensor) -> torch.Tensor:
    """(K, K) cosines between the rows of ``rows`` (K, P), computed in float64."""
    r = rows.to(torch.float64)
    unit = r / r.norm(dim=1, keepdim=True)
    return unit @ unit.T


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine of two flat vectors, in float64."""
    a64, b64 = a.to(torch.float64).reshape(-1), b.to(torch.float64).reshape(-1)
    return float(a64 @ b64 / (a64.norm() * b64.norm()))
