"""Grouping from a task-affinity matrix (Fifty et al. 2021, "Efficiently identifying task
groupings for multi-task learning", TAG §3.3)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np

from .._common.validation import check_choice, check_scalar
from ..data.matrix import TaskMatrix
from .selection import Candidate, Selection, select_networks


def group_scores(affinity: TaskMatrix, group: Sequence[str]) -> dict[str, float]:
    """Score of each member of ``group``: the mean affinity onto it from the others.

    ``score(a | G) = 1/(|G|−1) Σ_{b ∈ G, b ≠ a} affinity[a, b]`` with the
    :class:`~tasklens.data.matrix.TaskMatrix` convention that ``[a, b]`` is "b onto a".
    A singleton scores 0: no other task acts on it (the no-transfer baseline).
    """
    members = list(group)
    idx = [affinity.index(t) for t in members]
    if len(members) == 1:
        return {members[0]: 0.0}
    sub = affinity.values[np.ix_(idx, idx)]
    return {a: float((sub[i].sum() - sub[i, i]) / (len(members) - 1))
            for i, a in enumerate(members)}


def select_groups_from_affinity(
    affinity: Any,
    n_groups: int,
    *,
    task_names: Sequence[str] | None = None,
    max_group_size: int | None = None,
    method: str = "partition_dp",
) -> Selection:
    """Pick at most ``n_groups`` task groups that cover every task, maximizing the summed
    (equivalently mean) best score of each task over the chosen groups.

    Scores come from :func:`group_scores`; the search is the network selection of
    :func:`~tasklens.grouping.select_networks` with per-task loss = −score and unit cost.
    The returned ``Selection.total_loss`` is therefore −(summed best score).

    Parameters
    ----------
    affinity : TaskMatrix, DataFrame, or (K, K) array with ``task_names``
        Higher means more affinity; ``[a, b]`` is the effect of b onto a.
    n_groups : int
        Budget B: the largest number of groups (networks).
    max_group_size : int, optional
        Limits the candidate groups (default: all sizes).
    method : {"partition_dp", "branch_and_bound", "exhaustive"}
        ``partition_dp`` (default) is exact and costs O(3^K · B): the optimum equals the
        best partition of the tasks into at most B blocks, each block scored by its best
        enclosing group (a task keeps the group that serves it best, so the tasks served
        by one chosen group form a block). The other two run the generic network
        selection over all candidate groups and serve as cross-checks on small K.
    """
    matrix = TaskMatrix.coerce(affinity, task_names)
    if not matrix.higher_is_better:
        raise ValueError(f"affinity {matrix.name!r} has higher_is_better=False; negate it first")
    if not np.all(np.isfinite(matrix.values)):
        raise ValueError("affinity contains NaN or infinite entries")
    check_choice(method, "method", ("partition_dp", "branch_and_bound", "exhaustive"))
    n_groups = check_scalar(n_groups, "n_groups", numbers.Integral, low=1)
    max_group_size = check_scalar(max_group_size, "max_group_size", numbers.Integral, low=1,
                                  allow_none=True)
    names = list(matrix.task_names)
    if len(names) < 2:
        raise ValueError("grouping needs at least two tasks")
    top = len(names) if max_group_size is None else max_group_size
    if method == "partition_dp":
        return _partition_dp(matrix, n_groups, top)
    candidates = []
    for size in range(1, top + 1):
        for group in combinations(names, size):
            scores = group_scores(matrix, group)
            candidates.append(Candidate(frozenset(group), {t: -s for t, s in scores.items()}))
    return select_networks(candidates, float(n_groups), tasks=names, method=method)


_MAX_DP_TASKS = 20


def _partition_dp(matrix: TaskMatrix, n_groups: int, max_size: int) -> Selection:
    names = list(matrix.task_names)
    k = len(names)
    if k > _MAX_DP_TASKS:
        raise ValueError(f"partition_dp handles up to {_MAX_DP_TASKS} tasks, got {k}")
    block_loss, block_group = _block_losses(matrix, names, max_size)
    history = _cover_dp(block_loss, k, n_groups)
    # unwind: at level b, the block chosen for S; the rest is covered with b−1 blocks
    groups: list[int] = []
    s_mask, level = (1 << k) - 1, n_groups - 1
    while s_mask:
        block = int(history[level][s_mask]) if level >= 0 else s_mask
        groups.append(int(block_group[block]))
        s_mask ^= block
        level -= 1
    chosen_groups = sorted(set(groups), key=lambda m: (bin(m).count("1"), m))
    candidates = []
    for g_mask in chosen_groups:
        members = [names[i] for i in range(k) if g_mask >> i & 1]
        scores = group_scores(matrix, members)
        candidates.append(Candidate(frozenset(members), {t: -v for t, v in scores.items()}))
    assignment = {t: min((c for c in candidates if t in c.tasks), key=lambda c: c.losses[t])
                  for t in names}
    total = float(sum(assignment[t].losses[t] for t in names))
    return Selection(tuple(candidates), assignment, total, float(len(candidates)),
                     float(n_groups), "partition_dp", int(3**k))


def _block_losses(matrix: TaskMatrix, names: list[str], max_size: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """block_loss[P]: min over groups G ⊇ P of Σ_{a∈P} −score(a | G); block_group[P]: that G."""
    k = len(names)
    block_loss = np.full(1 << k, np.inf)
    block_group = np.zeros(1 << k, dtype=np.int64)
    for size in range(1, max_size + 1):
        for group in combinations(range(k), size):
            scores = group_scores(matrix, [names[i] for i in group])
            neg = np.array([-scores[names[i]] for i in group])
            sub = np.arange(1, 1 << size)
            bits = (sub[:, None] >> np.arange(size)[None, :]) & 1
            sums = bits @ neg
            masks = bits @ (1 << np.array(group))
            g_mask = int(sum(1 << i for i in group))
            better = sums < block_loss[masks] - 1e-15
            block_loss[masks[better]] = sums[better]
            block_group[masks[better]] = g_mask
    return block_loss, block_group


def _cover_dp(block_loss: np.ndarray, k: int, n_groups: int) -> list[np.ndarray]:
    """Per number of blocks b, the block chosen for each subset S in the best cover of S with
    at most b blocks (dynamic programming over submasks, 3^k)."""
    best = block_loss.copy()
    choice = np.arange(1 << k)
    history = [choice.copy()]
    for _ in range(1, n_groups):
        new_best, new_choice = best.copy(), choice.copy()
        for s_mask in range(1, 1 << k):
            _best_split(s_mask, block_loss, best, new_best, new_choice)
        best, choice = new_best, new_choice
        history.append(choice.copy())
    return history


def _best_split(s_mask: int, block_loss: np.ndarray, best: np.ndarray, new_best: np.ndarray,
                new_choice: np.ndarray) -> None:
    """Try every block containing S's lowest task, the rest covered by one fewer block."""
    low = s_mask & -s_mask
    rest = s_mask ^ low
    sub = rest
    while True:
        block = sub | low
        if block != s_mask:
            value = block_loss[block] + best[s_mask ^ block]
            if value < new_best[s_mask] - 1e-15:
                new_best[s_mask], new_choice[s_mask] = value, block
        if sub == 0:
            break
        sub = (sub - 1) & rest
