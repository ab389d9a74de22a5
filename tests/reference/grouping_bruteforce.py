"""Brute-force references for network selection and TAG grouping (tests only)."""

from __future__ import annotations

from itertools import combinations

import numpy as np


def best_selection_loss(candidates: list[tuple[set[str], dict[str, float], float]],
                        tasks: list[str], budget: float) -> float:
    """Minimum over all affordable candidate subsets of Σ_t min loss; inf if none covers."""
    best = np.inf
    for size in range(1, len(candidates) + 1):
        for subset in combinations(candidates, size):
            if sum(c[2] for c in subset) > budget + 1e-9:
                continue
            total = 0.0
            for t in tasks:
                options = [c[1][t] for c in subset if t in c[0]]
                if not options:
                    total = np.inf
                    break
                total += min(options)
            best = min(best, total)
    return best


def best_tag_score(affinity: np.ndarray, n_groups: int) -> float:
    """Max over all ways to choose ≤ n_groups groups covering every task of Σ_a best score."""
    k = len(affinity)
    groups = [g for size in range(1, k + 1) for g in combinations(range(k), size)]

    def score(a: int, g: tuple[int, ...]) -> float:
        others = [b for b in g if b != a]
        return 0.0 if not others else float(np.mean([affinity[a, b] for b in others]))

    best = -np.inf
    for n in range(1, n_groups + 1):
        for chosen in combinations(groups, n):
            covered = set().union(*chosen)
            if len(covered) < k:
                continue
            total = sum(max(score(a, g) for g in chosen if a in g) for a in range(k))
            best = max(best, total)
    return best
