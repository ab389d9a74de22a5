"""Slow, loop-based references for tasklens.represent tests (written from the definitions only).

Nothing here imports tasklens.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np


def equal_width_bins(column: np.ndarray, num_bins: int) -> list[int]:
    """Bin index 1..num_bins of each value: floor((v - lo) / width) + 1, the maximum in the last."""
    lo, hi = float(np.min(column)), float(np.max(column))
    if hi == lo:
        # numpy's histogram widens a zero range to [v - 0.5, v + 0.5]: the value sits mid-range
        return [num_bins // 2 + 1] * len(column)
    width = (hi - lo) / num_bins
    out = []
    for v in column:
        k = int(math.floor((float(v) - lo) / width))
        out.append(min(k, num_bins - 1) + 1)
    return out


def mutual_info_loops(x: list, y: list) -> float:
    """Plug-in mutual information in nats by an explicit double loop over joint counts."""
    n = len(x)
    joint = Counter(zip(x, y, strict=True))
    cx, cy = Counter(x), Counter(y)
    total = 0.0
    for a in cx:
        for b in cy:
            nab = joint.get((a, b), 0)
            if nab == 0:
                continue
            total += nab / n * math.log(nab * n / (cx[a] * cy[b]))
    return total


def entropy_loops(x: list) -> float:
    n = len(x)
    return -sum(c / n * math.log(c / n) for c in Counter(x).values())


def mig_loops(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> float:
    """MIG from the loop MI: mean over factors of the top-two gap over the factor entropy."""
    binned = [equal_width_bins(codes[:, d], num_bins) for d in range(codes.shape[1])]
    gaps = []
    for f in range(factors.shape[1]):
        y = factors[:, f].tolist()
        mis = sorted((mutual_info_loops(b, y) for b in binned), reverse=True)
        gaps.append((mis[0] - mis[1]) / entropy_loops(y))
    return sum(gaps) / len(gaps)


def dci_scores_loops(importance: np.ndarray, eps: float = 1e-11) -> tuple[float, float]:
    """(disentanglement, completeness) of a (D, F) importance matrix by explicit loops."""
    n_codes, n_factors = importance.shape
    total = float(importance.sum())
    dis = 0.0
    for d in range(n_codes):
        row = [importance[d, f] + eps for f in range(n_factors)]
        s = sum(row)
        h = -sum(r / s * math.log(r / s, n_factors) for r in row) if n_factors > 1 else 0.0
        dis += (1.0 - h) * float(importance[d].sum()) / total
    comp = 0.0
    for f in range(n_factors):
        col = [importance[d, f] + eps for d in range(n_codes)]
        s = sum(col)
        h = -sum(c / s * math.log(c / s, n_codes) for c in col) if n_codes > 1 else 0.0
        comp += (1.0 - h) * float(importance[:, f].sum()) / total
    return dis, comp


def modularity_loops(mi: np.ndarray) -> float:
    """Ridgeway & Mozer modularity by loops over codes and factors."""
    n_codes, n_factors = mi.shape
    scores = []
    for d in range(n_codes):
        sq = [float(mi[d, f]) ** 2 for f in range(n_factors)]
        theta = max(sq)
        if theta == 0:
            scores.append(0.0)
            continue
        rest = sum(sq) - theta
        scores.append(1.0 - rest / (theta * (n_factors - 1)))
    return sum(scores) / len(scores)


def hsic_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA as HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with centering matrices."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = x @ x.T, y @ y.T

    def hsic(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.trace(a @ h @ b @ h)) / (n - 1) ** 2

    return hsic(k, l_) / math.sqrt(hsic(k, k) * hsic(l_, l_))


def pearson_loops(a: list[float], b: list[float]) -> float:
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    cov = sum((p - ma) * (q - mb) for p, q in zip(a, b, strict=True))
    va = sum((p - ma) ** 2 for p in a)
    vb = sum((q - mb) ** 2 for q in b)
    return cov / math.sqrt(va * vb)


def average_ranks(a: list[float]) -> list[float]:
    """Ranks 1..n with ties given their average rank."""
    order = sorted(range(len(a)), key=lambda i: a[i])
    ranks = [0.0] * len(a)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and a[order[j + 1]] == a[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def rsa_loops(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman correlation of the upper triangles of 1 - corr RDMs, by loops."""
    n = x.shape[0]
    dx, dy = [], []
    for i in range(n):
        for j in range(i + 1, n):
            dx.append(1.0 - pearson_loops(x[i].tolist(), x[j].tolist()))
            dy.append(1.0 - pearson_loops(y[i].tolist(), y[j].tolist()))
    return pearson_loops(average_ranks(dx), average_ranks(dy))
