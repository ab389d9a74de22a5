"""Candidates from measurements: exact losses of trained groups, or the higher-order
approximation of Standley et al. (2020) §3.5 from single-task and pairwise losses."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from itertools import combinations

from .._common.validation import check_names, check_scalar
from .selection import Candidate


def candidates_from_losses(
    group_losses: Mapping[frozenset[str], Mapping[str, float]],
    cost: float | Callable[[frozenset[str]], float] = 1.0,
) -> list[Candidate]:
    """One :class:`Candidate` per measured group.

    Parameters
    ----------
    group_losses : mapping frozenset -> mapping task -> loss
        Test loss of each task when trained in that group.
    cost : float or callable
        Cost of every network, or a function of the group.
    """
    if not isinstance(group_losses, Mapping):
        raise TypeError(f"group_losses must be a mapping frozenset -> {{task: loss}}, got "
                        f"{type(group_losses).__name__}")
    out = []
    for group, losses in group_losses.items():
        g = frozenset(group)
        out.append(Candidate(g, dict(losses), cost(g) if callable(cost) else cost))
    return out


def _check_pair_inputs(names: list[str], single_losses: Mapping[str, float],
                       pair_losses: Mapping[tuple[str, str], float]) -> None:
    """Every task has a single loss, every ordered pair a pair loss, all finite."""
    if len(names) < 2:
        raise ValueError("higher_order_approximation needs at least two tasks")
    missing_single = [t for t in names if t not in single_losses]
    if missing_single:
        raise ValueError(f"single_losses has no value for tasks {missing_single}")
    missing_pairs = [(a, b) for a in names for b in names if a != b and (a, b) not in pair_losses]
    if missing_pairs:
        raise ValueError(
            f"pair_losses lacks {len(missing_pairs)} ordered pair(s), e.g. {missing_pairs[:3]}; "
            "give the loss of a trained with b for both orders"
        )
    for key, value in list(single_losses.items()) + list(pair_losses.items()):
        if not math.isfinite(float(value)):
            raise ValueError(f"loss for {key} is not finite")


def higher_order_approximation(
    single_losses: Mapping[str, float],
    pair_losses: Mapping[tuple[str, str], float],
    *,
    max_size: int | None = None,
    cost: float | Callable[[frozenset[str]], float] = 1.0,
    tasks: Iterable[str] | None = None,
) -> list[Candidate]:
    """Estimate every group's per-task losses from pairs (Standley et al. 2020, §3.5).

    The loss of task ``a`` in a group ``G`` with ``|G| ≥ 2`` is estimated as the mean of
    its losses in the pairs ``{a, b}``, ``b ∈ G \\ {a}``:
    ``L̂(a | G) = 1/(|G|−1) Σ_{b ∈ G, b ≠ a} L(a | {a, b})``. Singletons use the
    single-task loss.

    Parameters
    ----------
    single_losses : mapping task -> loss
        Each task's loss when trained alone.
    pair_losses : mapping (a, b) -> loss
        Loss of task ``a`` when trained together with ``b``; both orders are needed.
    max_size : int, optional
        Largest group to generate (default: all tasks).
    cost : float or callable
        Cost of each candidate network (a number or a function of the group).

    Returns
    -------
    list of Candidate
        Singletons, then every group of size 2 … ``max_size``.
    """
    names = check_names(tasks, "tasks") if tasks is not None else list(single_losses)
    _check_pair_inputs(names, single_losses, pair_losses)
    top = len(names) if max_size is None else check_scalar(max_size, "max_size",
                                                           numbers.Integral, low=1)
    out: list[Candidate] = []
    for size in range(1, top + 1):
        for group in combinations(names, size):
            g = frozenset(group)
            if size == 1:
                losses = {group[0]: float(single_losses[group[0]])}
            else:
                losses = {a: sum(float(pair_losses[(a, b)]) for b in group if b != a) / (size - 1)
                          for a in group}
            out.append(Candidate(g, losses, cost(g) if callable(cost) else cost))
    return out
