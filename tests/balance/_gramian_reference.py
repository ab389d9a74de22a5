"""Brute-force references shared by the kernel-Gramian tests (test_kernel_gramian,
test_kernel_factor, test_conv_gramian).

``loop_gramian`` builds ``J Jᵀ`` with ``J``'s rows from one ``torch.autograd.grad(L_k,
params)`` call per task: no hooks, no unfolding, no kernel identity, no batching over tasks,
so it is independent of the code under test.
"""

from __future__ import annotations

import torch
from torch import Tensor


def loop_gramian(losses: Tensor, params: list[Tensor], *, double: bool = False) -> Tensor:
    """``(K, K)`` Gramian of the per-task gradients of ``losses`` (K,) w.r.t. ``params``.

    A parameter a loss does not reach contributes a zero gradient. ``double``: form the
    product in float64 (a reference tighter than a float32 result under test).
    """
    rows = []
    for loss in losses:
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        rows.append(torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1)
                               for g, p in zip(grads, params)]))
    jac = torch.stack(rows)
    if double:
        jac = jac.double()
    return jac @ jac.T


def head_loss(out: Tensor, gen: torch.Generator) -> Tensor:
    """A scalar task loss of a head's output ``out``: squared error to a random target
    drawn from ``gen`` plus a tanh term (so second-layer curvature is not trivial)."""
    target = torch.randn(out.shape, generator=gen, dtype=out.dtype)
    return ((out - target) ** 2).mean() + 0.1 * torch.tanh(out).sum()
