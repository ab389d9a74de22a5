"""Slow, explicit references for the model-based affinity scores (002 Table 7).

Written from the definitions only, with plain torch / numpy; nothing here imports tasklens.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

LossFn = Callable[[dict, dict], dict]


def plain_losses(kinds: dict[str, str]) -> LossFn:
    """``losses(outputs, targets) -> {task: scalar}`` with the textbook loss of each kind."""

    def losses(outputs: dict, targets: dict) -> dict:
        out = {}
        for t, kind in kinds.items():
            o, y = outputs[t], targets[t]
            if kind == "regression":
                out[t] = ((o - y.to(o.dtype)) ** 2).mean()
            elif kind == "classification":
                out[t] = F.cross_entropy(o, y.long())
            else:
                out[t] = F.binary_cross_entropy_with_logits(o, y.to(o.dtype))
        return out

    return losses


def gt_per_pair(model: torch.nn.Module, losses: LossFn, x: torch.Tensor, y: dict,
                tasks: Sequence[str], shared_names: Sequence[str], *, lr: float | None = None,
                optimizer: torch.optim.Optimizer | None = None) -> np.ndarray:
    """Gradient transference by an explicit loop over the K × K pairs.

    For each (a, b): deep-copy the model (and the optimizer, sharing the copied
    parameters), take task b's gradient on the shared parameters only, step (``p -= lr g``
    or the copied optimizer's own ``step()``), and evaluate task a's loss.
    ``Z[a, b] = 1 - L_a(after) / L_a(before)``.
    """
    k = len(tasks)
    z = np.zeros((k, k))
    model.eval()
    with torch.no_grad():
        before = losses(model(x), y)
    for i, a in enumerate(tasks):
        for j, b in enumerate(tasks):
            m, opt = copy.deepcopy((model, optimizer))
            m.eval()
            named = dict(m.named_parameters())
            shared = [named[n] for n in shared_names]
            loss_b = losses(m(x), y)[b]
            grads = torch.autograd.grad(loss_b, shared)
            if opt is None:
                with torch.no_grad():
                    for p, g in zip(shared, grads):
                        p -= lr * g
            else:
                for p in m.parameters():
                    p.grad = None
                for p, g in zip(shared, grads):
                    p.grad = g.clone()
                opt.step()
            with torch.no_grad():
                after = losses(m(x), y)[a]
            z[i, j] = 1.0 - float(after) / float(before[a])
    return z


def gs_per_task(model: torch.nn.Module, losses: LossFn, x: torch.Tensor, y: dict,
                tasks: Sequence[str], shared_names: Sequence[str]) -> np.ndarray:
    """Cosine similarity of per-task gradients on the shared parameters, one autograd call
    per task."""
    model.eval()
    named = dict(model.named_parameters())
    shared = [named[n] for n in shared_names]
    vecs = []
    for t in tasks:
        grads = torch.autograd.grad(losses(model(x), y)[t], shared)
        vecs.append(np.concatenate([g.detach().double().numpy().ravel() for g in grads]))
    k = len(tasks)
    out = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            out[i, j] = vecs[i] @ vecs[j] / (np.linalg.norm(vecs[i]) * np.linalg.norm(vecs[j]))
    return out


def linear_mse_input_x_gradient(w: np.ndarray, c: float, x: np.ndarray,
                                y: np.ndarray) -> np.ndarray:
    """x_i ⊙ ∂ℓ_i/∂x_i for ŷ = w·x + c and ℓ_i = (ŷ_i − y_i)², by hand: x_i ⊙ 2 r_i w."""
    residual = x @ w + c - y
    return x * (2.0 * residual[:, None] * w[None, :])


def mean_cosine(maps_a: np.ndarray, maps_b: np.ndarray) -> float:
    """Average over samples of the cosine between two (N, D) attribution maps."""
    total = 0.0
    for u, v in zip(maps_a, maps_b):
        total += float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))
    return total / len(maps_a)
