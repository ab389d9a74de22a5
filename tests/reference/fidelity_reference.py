"""Brute-force re-implementations of three methods as their authors wrote them (tests only).

Each follows the printed algorithm / the authors' training code step by step, with plain
loops and autograd on the authors' scalar objective, never the closed forms used by the
library:

- DB-MTL: Lin et al. 2023, "Dual-Balancing for Multi-Task Learning", arXiv:2308.12029,
  as run by the authors' LibMTL (``LibMTL/weighting/DB_MTL.py``, defaults in ``config.py``):
  task gradients of ``log Lₖ``, an EMA buffer started at zero with factor ``β / t^σ``, every
  task rescaled to the largest buffered norm.
- STCH: Lin et al. 2024, "Smooth Tchebycheff Scalarization for Multi-Objective
  Optimization", ICML; official ``Xi-L/STCH`` ``STCH_MTL/LibMTL/weighting/STCH.py``:
  ``Σ log L`` during warm-up epochs, nadir = mean loss of the last warm-up epoch, then
  ``K μ log Σ exp(log(L / nadir) / μ)``.
- GradDrop: Chen et al. 2020, "Just Pick a Sign", NeurIPS, Algorithm 1 (layer on a
  batch-separated activation ``A``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


# ------------------------------------------------------------------------------ DB-MTL
def db_mtl_directions(
    log_grads: Sequence[np.ndarray], *, beta: float, sigma: float, eps: float = 1e-8
) -> list[np.ndarray]:
    """The shared-parameter update of every step.

    Parameters
    ----------
    log_grads : sequence over steps of (K, P) arrays
        Row ``k`` of step ``t`` is ``∇ log Lₖ`` at that step (computed by the caller).
    """
    k, p = log_grads[0].shape
    buffer = [np.zeros(p) for _ in range(k)]  # the authors' init_param: zeros
    out = []
    for step, grads in enumerate(log_grads, start=1):
        factor = beta / step**sigma
        for task in range(k):
            buffer[task] = grads[task] + factor * (buffer[task] - grads[task])
        norms = [float(np.sqrt(np.sum(b * b))) for b in buffer]
        largest = max(norms)
        update = np.zeros(p)
        for task in range(k):
            update = update + (largest / (norms[task] + eps)) * buffer[task]
        out.append(update)
    return out


# -------------------------------------------------------------------------------- STCH
def stch_loss_gradients(
    steps: Sequence[tuple[int, np.ndarray]], *, mu: float, warmup_epoch: int
) -> list[np.ndarray]:
    """``∂(objective)/∂Lₖ`` of every step of the official STCH procedure.

    Parameters
    ----------
    steps : sequence of (epoch, (K,) losses)
        The training steps in order, with their (0-based) epoch.
    """
    average_loss, count, nadir = 0.0, 0, None
    out = []
    for epoch, values in steps:
        losses = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        if epoch < warmup_epoch:
            objective = torch.log(losses + 1e-20).sum()
        elif epoch == warmup_epoch:
            objective = torch.log(losses + 1e-20).sum()
            average_loss = average_loss + losses.detach()
            count += 1
        else:
            if nadir is None:
                nadir = average_loss / count
            logs = torch.log(losses / nadir + 1e-20)
            shifted = logs - logs.detach().max()
            objective = mu * torch.log(torch.sum(torch.exp(shifted / mu))) * len(values)
        objective.backward()
        assert losses.grad is not None
        out.append(losses.grad.numpy().copy())
    return out


# ----------------------------------------------------------------------------- GradDrop
def graddrop_layer(
    task_grads: np.ndarray, activations: np.ndarray, uniform: np.ndarray, leak: float
) -> np.ndarray:
    """Algorithm 1 for a batch-separated layer, one feature at a time.

    Parameters
    ----------
    task_grads : (K, N, d) array
        ``∇_A Lᵢ``.
    activations : (N, d) array
        ``A``.
    uniform : (d,) array
        The draws ``U``.

    Returns
    -------
    (N, d) array
        The new gradient ``Σᵢ (ℓ + (1 − ℓ) Mᵢ) ∘ ∇_A Lᵢ``.
    """
    k, n, d = task_grads.shape
    new = np.zeros((n, d))
    for j in range(d):
        signed = [sum(np.sign(activations[b, j]) * task_grads[i, b, j] for b in range(n))
                  for i in range(k)]
        total, magnitude = sum(signed), sum(abs(g) for g in signed)
        purity = 0.5 * (1.0 + total / magnitude) if magnitude > 0 else 0.5
        for i in range(k):
            positive = purity > uniform[j] and signed[i] > 0
            negative = purity < uniform[j] and signed[i] < 0
            keep = leak + (1.0 - leak) * float(positive or negative)
            for b in range(n):
                new[b, j] += keep * task_grads[i, b, j]
    return new
