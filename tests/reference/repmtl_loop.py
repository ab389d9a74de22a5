"""Brute-force Rep-MTL regularisers: explicit loops over samples, elements and tasks.

Written from the paper's equations (Wang, Li & Xu, ICCV 2025, arXiv:2507.21049, eqs. 5-9),
independently of ``tasklens.balance.repmtl``: the affinities and anchors are built as explicit
d×d matrices, the cosine similarity is taken between their flattened entries, and the InfoNCE
ratio is formed literally (no log-sum-exp, no Gram-matrix shortcuts, no rescaling). Plain torch
operations on scalars, so the result can be differentiated (slow; tiny inputs only).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def tsr_loop(saliency: Tensor) -> Tensor:
    """Eq. 5-6 with one region per (sample, element); ``0 log 0 = 0``."""
    k, n, d = saliency.shape
    total = saliency.new_zeros(())
    for b in range(n):
        for j in range(d):
            mags = [saliency[t, b, j].abs() for t in range(k)]
            norm = sum(mags)
            if float(norm.detach()) == 0.0:
                continue  # all tasks silent here: entropy 0
            for t in range(k):
                p = mags[t] / norm
                if float(p.detach()) > 0.0:
                    total = total - p * torch.log(p)
    return total / (n * d)


def _cosine(a: Tensor, b: Tensor) -> Tensor:
    a, b = a.reshape(-1), b.reshape(-1)
    return (a * b).sum() / (torch.sqrt((a * a).sum()) * torch.sqrt((b * b).sum()))


def csa_loop(saliency: Tensor, temperature: float) -> Tensor:
    """Eq. 7-9: positives (anchor of b, affinity of task t on b), negatives (anchor b, anchor k)."""
    k, n, _ = saliency.shape
    affinity = [[torch.outer(saliency[t, b], saliency[t, b]) for b in range(n)]
                for t in range(k)]
    anchors = []
    for b in range(n):
        a_b = torch.stack([saliency[t, b] for t in range(k)], dim=1)  # (d, K)
        anchors.append(a_b @ a_b.T)
    total = saliency.new_zeros(())
    for b in range(n):
        denominator = saliency.new_zeros(())
        for other in range(n):
            if other != b:
                denominator = denominator + torch.exp(_cosine(anchors[b], anchors[other])
                                                      / temperature)
        for t in range(k):
            numerator = torch.exp(_cosine(anchors[b], affinity[t][b]) / temperature)
            total = total - torch.log(numerator / denominator)
    return total / (n * k)


def csa_aligned_value(saliency: Tensor, temperature: float) -> float:
    """Closed form of eq. 9 when every sample's task saliencies are parallel: all positive
    similarities are 1, so ``L = -1/τ + mean_b log Σ_{k≠b} exp(sim(Â_b, Â_k)/τ)``, where for
    parallel saliencies ``sim(Â_b, Â_k) = cos²(v_b, v_k)`` (``v_b``: the common direction)."""
    _, n, _ = saliency.shape
    direction = saliency[0].double()
    total = 0.0
    for b in range(n):
        terms = []
        for other in range(n):
            if other != b:
                cos = float(direction[b] @ direction[other]
                            / (direction[b].norm() * direction[other].norm()))
                terms.append(math.exp(cos * cos / temperature))
        total += math.log(sum(terms))
    return -1.0 / temperature + total / n


def csa_negative_part(saliency: Tensor, temperature: float) -> float:
    """``mean_b log Σ_{k≠b} exp(sim(Â_b, Â_k)/τ)``: the part of eq. 9 that does not involve the
    per-task affinities, so ``L_csa - this = -mean_{b,t} sim(Â_b, M_{t,b})/τ ≥ -1/τ``."""
    k, n, _ = saliency.shape
    anchors = []
    for b in range(n):
        a_b = torch.stack([saliency[t, b] for t in range(k)], dim=1).double()
        anchors.append(a_b @ a_b.T)
    total = 0.0
    for b in range(n):
        total += math.log(sum(math.exp(float(_cosine(anchors[b], anchors[o])) / temperature)
                              for o in range(n) if o != b))
    return total / n
