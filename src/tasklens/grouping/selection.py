"""Network selection under a budget (Standley et al. 2020, "Which tasks should be learned
together in multi-task learning?", §3.3–3.4).

Given candidate networks — each a subset of tasks with a measured (or estimated) loss per
task it serves and a cost — choose networks whose total cost fits the budget so that the
sum over tasks of the best loss any chosen network reaches on that task is smallest. Every
task must be served by at least one chosen network.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from .._common.validation import check_choice, check_names, check_scalar

SELECTION_METHODS = ("branch_and_bound", "exhaustive")
# Exhaustive search enumerates 2^M subsets; beyond this it is refused with a clear message.
_MAX_EXHAUSTIVE_CANDIDATES = 22


@dataclass(frozen=True)
class Candidate:
    """A candidate network: the tasks it is trained on, its loss per task, and its cost.

    Parameters
    ----------
    tasks : frozenset of str
        The tasks the network solves.
    losses : mapping str -> float
        Loss (lower is better) of each task in ``tasks`` when served by this network.
    cost : float
        Inference (or training) cost, in the budget's units; must be positive.
    name : str, optional
        A label; the same subset may appear twice with different costs and names
        (e.g. a full-size and a half-size network).
    """

    tasks: frozenset[str]
    losses: Mapping[str, float]
    cost: float = 1.0
    name: str | None = None

    def __post_init__(self) -> None:
        tasks = frozenset(check_names(self.tasks, "tasks"))
        if not tasks:
            raise ValueError("a Candidate needs at least one task")
        if not isinstance(self.losses, Mapping):
            raise TypeError(f"Candidate {self.label}: losses must be a mapping task -> loss, "
                            f"got {type(self.losses).__name__}")
        missing = sorted(tasks - set(self.losses))
        if missing:
            raise ValueError(f"Candidate {self.label}: losses has no value for tasks {missing}")
        extra = sorted(set(self.losses) - tasks)
        if extra:
            raise ValueError(f"Candidate {self.label}: losses names tasks {extra} not in tasks")
        where = f"Candidate {self.label}:"
        losses = {t: check_scalar(self.losses[t], f"{where} losses[{t!r}]", numbers.Real,
                                  finite=True) for t in sorted(tasks)}
        cost = check_scalar(self.cost, f"{where} cost", numbers.Real, low=0.0,
                            include_low=False, finite=True)
        object.__setattr__(self, "tasks", tasks)
        object.__setattr__(self, "losses", losses)
        object.__setattr__(self, "cost", cost)

    @property
    def label(self) -> str:
        return self.name or "{" + ",".join(sorted(self.tasks)) + "}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.label, "tasks": sorted(self.tasks), "losses": dict(self.losses),
                "cost": self.cost}


@dataclass(frozen=True)
class Selection:
    """The chosen networks.

    Attributes
    ----------
    candidates : tuple of Candidate
        The chosen networks, in input order.
    assignment : dict str -> Candidate
        For each task, the chosen network that serves it with the lowest loss.
    total_loss : float
        Sum over tasks of the best loss among chosen networks.
    total_cost : float
    budget : float
    method : str
    nodes_explored : int
        Search nodes visited (a measure of the search effort).
    """

    candidates: tuple[Candidate, ...]
    assignment: dict[str, Candidate]
    total_loss: float
    total_cost: float
    budget: float
    method: str
    nodes_explored: int = field(default=0, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidates": [c.to_dict() for c in self.candidates],
            "assignment": {t: c.label for t, c in self.assignment.items()},
            "total_loss": self.total_loss,
            "total_cost": self.total_cost,
            "budget": self.budget,
            "method": self.method,
            "nodes_explored": self.nodes_explored,
        }


def _check_candidates(candidates: Iterable[Candidate], budget: float,
                      tasks: Sequence[str] | None) -> tuple[list[Candidate], list[str]]:
    if isinstance(candidates, (str, bytes, Candidate)):
        raise TypeError(f"candidates must be a list of Candidate objects, got {candidates!r}")
    cands = list(candidates)
    if not cands:
        raise ValueError("candidates is empty; give at least one Candidate")
    for c in cands:
        if not isinstance(c, Candidate):
            raise TypeError(f"candidates must be Candidate objects, got {type(c).__name__}")
    check_scalar(budget, "budget", numbers.Real, low=0.0, include_low=False, finite=True)
    served = set().union(*(c.tasks for c in cands))
    all_tasks = sorted(served) if tasks is None else check_names(tasks, "tasks")
    unserved = [t for t in all_tasks if t not in served]
    if unserved:
        raise ValueError(f"tasks {unserved} are served by no candidate; add a network for them")
    return cands, all_tasks


def _assemble(chosen: Sequence[int], cands: list[Candidate], tasks: list[str], budget: float,
              method: str, nodes: int) -> Selection:
    picked = [cands[i] for i in sorted(chosen)]
    assignment: dict[str, Candidate] = {}
    for t in tasks:
        options = [c for c in picked if t in c.tasks]
        assignment[t] = min(options, key=lambda c: c.losses[t])
    total = float(sum(assignment[t].losses[t] for t in tasks))
    return Selection(tuple(picked), assignment, total, float(sum(c.cost for c in picked)),
                     float(budget), method, nodes)


def select_networks(
    candidates: Iterable[Candidate],
    budget: float,
    *,
    tasks: Sequence[str] | None = None,
    method: str = "branch_and_bound",
) -> Selection:
    """Choose networks within ``budget`` minimizing the summed best loss per task.

    Standley et al. (2020) §3.4 solve this with branch and bound; ``method="exhaustive"``
    enumerates every affordable subset (a reference for small problems).

    Parameters
    ----------
    candidates : iterable of Candidate
    budget : float
        Maximum total cost of the chosen networks.
    tasks : sequence of str, optional
        Tasks that must be served (default: every task any candidate serves).
    method : {"branch_and_bound", "exhaustive"}

    Returns
    -------
    Selection
        Ties in total loss are broken by lower total cost, then by the earlier candidates.

    Raises
    ------
    ValueError
        When a task is served by no candidate, or no affordable set serves every task.
    """
    check_choice(method, "method", SELECTION_METHODS)
    cands, all_tasks = _check_candidates(candidates, budget, tasks)
    budget = float(budget)
    loss = np.full((len(cands), len(all_tasks)), np.inf)
    col = {t: j for j, t in enumerate(all_tasks)}
    for i, c in enumerate(cands):
        for t, v in c.losses.items():
            if t in col:
                loss[i, col[t]] = v
    costs = np.array([c.cost for c in cands])
    if method == "exhaustive":
        chosen, nodes = _exhaustive(loss, costs, budget)
    else:
        chosen, nodes = _branch_and_bound(loss, costs, budget)
    if chosen is None:
        raise ValueError(
            f"no set of candidates within budget {budget} serves every task; raise the budget "
            f"(cheapest covering needs more) or add cheaper networks"
        )
    return _assemble(chosen, cands, all_tasks, budget, method, nodes)


def _better(total: float, cost: float, best: tuple[float, float]) -> bool:
    # A relative tolerance keeps float noise from deciding between equal-loss sets.
    tol = 1e-12 * max(1.0, abs(best[0]))
    return total < best[0] - tol or (abs(total - best[0]) <= tol and cost < best[1] - 1e-12)


def _exhaustive(loss: np.ndarray, costs: np.ndarray,
                budget: float) -> tuple[list[int] | None, int]:
    m = len(costs)
    if m > _MAX_EXHAUSTIVE_CANDIDATES:
        raise ValueError(
            f"exhaustive search over {m} candidates (2^{m} subsets) is too large; "
            "use method='branch_and_bound'"
        )
    best: tuple[float, float] = (math.inf, math.inf)
    best_set: list[int] | None = None
    nodes = 0
    for size in range(1, m + 1):
        for subset in combinations(range(m), size):
            nodes += 1
            cost = float(costs[list(subset)].sum())
            if cost > budget + 1e-12:
                continue
            per_task = loss[list(subset)].min(axis=0)
            if not np.all(np.isfinite(per_task)):
                continue
            total = float(per_task.sum())
            if _better(total, cost, best):
                best, best_set = (total, cost), list(subset)
    return best_set, nodes


def _lower_bound(loss: np.ndarray, costs: np.ndarray, current: np.ndarray, remaining: float,
                 all_fit_min: np.ndarray | None) -> float:
    """A lower bound on the total loss reachable by adding candidates within ``remaining``.

    Uncovered tasks end no lower than the best fitting candidate's loss. Covered tasks
    improve by at most the improvement of the chosen set, which is at most the sum of the
    candidates' individual improvements (the best-of-set is subadditive in gains), so the
    fractional-knapsack optimum over individual improvements bounds it.
    """
    fits = costs <= remaining
    if not fits.any():
        return float(current.sum()) if np.all(np.isfinite(current)) else math.inf
    loss, costs = loss[fits], costs[fits]
    covered = np.isfinite(current)
    best_fit = all_fit_min if all_fit_min is not None else loss.min(axis=0)
    uncovered_part = float(best_fit[~covered].sum())
    if not math.isfinite(uncovered_part):
        return math.inf
    if not covered.any():
        return uncovered_part
    gains = np.maximum(current[covered] - loss[:, covered], 0.0)
    gains = np.where(np.isfinite(gains), gains, 0.0).sum(axis=1)
    useful = gains > 0
    gains, costs = gains[useful], costs[useful]
    if gains.size == 0:
        return uncovered_part + float(current[covered].sum())
    order = np.argsort(-gains / costs)
    gains, costs = gains[order], costs[order]
    spent = np.cumsum(costs)
    whole = spent <= remaining
    max_gain = float(gains[whole].sum())
    n_whole = int(whole.sum())
    if n_whole < len(gains):
        left = remaining - (spent[n_whole - 1] if n_whole else 0.0)
        max_gain += float(gains[n_whole] * left / costs[n_whole])
    return uncovered_part + float(current[covered].sum()) - max_gain


def _branch_and_bound(loss: np.ndarray, costs: np.ndarray,
                      budget: float) -> tuple[list[int] | None, int]:
    m, k = loss.shape
    # Visit candidates with the lowest mean loss per unit of cost first: good incumbents
    # early make the bound prune more.
    served = np.isfinite(loss)
    mean_loss = np.where(served, loss, 0.0).sum(axis=1) / np.maximum(served.sum(axis=1), 1)
    order = np.lexsort((costs, mean_loss))
    loss, costs = loss[order], costs[order]
    # suffix_min[i, t]: best loss on task t among candidates i.. ; the bound when all fit
    suffix_min = np.full((m + 1, k), np.inf)
    suffix_max_cost = np.zeros(m + 1)
    for i in range(m - 1, -1, -1):
        suffix_min[i] = np.minimum(suffix_min[i + 1], loss[i])
        suffix_max_cost[i] = max(suffix_max_cost[i + 1], costs[i])

    best: tuple[float, float] = (math.inf, math.inf)
    best_set: tuple[int, ...] | None = None
    nodes = 0
    # Explicit stack (depth can reach the number of candidates): (index, per-task best
    # losses so far, cost spent, chosen indices).
    stack: list[tuple[int, np.ndarray, float, tuple[int, ...]]] = [
        (0, np.full(k, np.inf), 0.0, ())
    ]
    while stack:
        i, current, spent, chosen = stack.pop()
        nodes += 1
        if np.all(np.isfinite(current)):
            total = float(current.sum())
            if _better(total, spent, best):
                best, best_set = (total, spent), chosen
        if i == m:
            continue
        remaining = budget - spent + 1e-12
        bound = _lower_bound(loss[i:], costs[i:], current, remaining,
                             suffix_min[i] if suffix_max_cost[i] <= remaining else None)
        if bound > best[0] + 1e-12 * max(1.0, abs(best[0])):
            continue
        stack.append((i + 1, current, spent, chosen))  # exclude candidate i
        if costs[i] <= remaining:
            improved = np.minimum(current, loss[i])
            if np.any(improved < current):  # a network that improves no task only costs budget
                stack.append((i + 1, improved, spent + float(costs[i]), (*chosen, i)))
    if best_set is None:
        return None, nodes
    return [int(order[i]) for i in best_set], nodes
