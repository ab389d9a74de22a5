"""Validate a task grouping by training it (issue 5: "train the chosen groups and compare
their total test loss with one all-task network, all single-task networks and random
groupings of the same budget")."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._common.validation import check_positive_int, check_seed
from ..affinity.gains import GainSettings, train_and_evaluate
from ..data.taskset import TaskSet, TaskSetSplit


@dataclass(frozen=True)
class GroupingValidation:
    """Total test loss of several groupings of the same tasks.

    Attributes
    ----------
    totals : dict str -> float
        ``Σ_tasks`` of each task's best test loss over the networks that serve it, per
        grouping: ``"chosen"``, ``"all_in_one"``, ``"single_task"``, ``"random_<i>"``.
    groupings : dict str -> list of list of str
        The groups of each grouping.
    task_losses : dict str -> dict str -> float
        Per grouping, each task's best test loss.
    settings : dict
    """

    totals: dict[str, float]
    groupings: dict[str, list[list[str]]]
    task_losses: dict[str, dict[str, float]]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def random_mean(self) -> float:
        values = [v for k, v in self.totals.items() if k.startswith("random_")]
        return float(np.mean(values)) if values else float("nan")

    def summary(self, digits: int = 4) -> str:
        """A plain-text table: each grouping's total test loss, its difference from the
        chosen grouping (negative: better than the chosen one) and its groups.

        Parameters
        ----------
        digits : int
            Decimals of the losses.
        """
        chosen = self.totals.get("chosen", float("nan"))
        rows = [(name, f"{total:.{digits}f}", f"{total - chosen:+.{digits}f}",
                 " | ".join(",".join(g) for g in self.groupings.get(name, [])))
                for name, total in sorted(self.totals.items(), key=lambda kv: kv[1])]
        if any(k.startswith("random_") for k in self.totals):
            rows.append(("random (mean)", f"{self.random_mean:.{digits}f}",
                         f"{self.random_mean - chosen:+.{digits}f}", ""))
        header = ("grouping", "total test loss", "vs chosen", "groups")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
        lines = ["GroupingValidation (lower total test loss is better)",
                 "  ".join(h.ljust(w) for h, w in zip(header[:3], widths)) + "  " + header[3]]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3]
                  for r in rows]
        return "\n".join(line.rstrip() for line in lines)

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        return {"totals": self.totals, "groupings": self.groupings,
                "task_losses": self.task_losses, "random_mean": self.random_mean,
                "settings": self.settings}


def random_groupings(tasks: Sequence[str], n_groups: int, count: int,
                     seed: int | np.random.Generator | None = 0) -> list[list[list[str]]]:
    """``count`` random partitions of ``tasks`` into ``n_groups`` non-empty groups."""
    names = list(tasks)
    n_groups = check_positive_int(n_groups, "n_groups")
    if n_groups > len(names):
        raise ValueError(f"n_groups={n_groups} exceeds the {len(names)} tasks")
    rng = check_seed(seed)
    out = []
    for _ in range(check_positive_int(count, "count", minimum=0)):
        order = rng.permutation(len(names))
        # the first n_groups tasks seed the groups (non-empty); the rest land uniformly
        labels = np.concatenate([np.arange(n_groups),
                                 rng.integers(0, n_groups, len(names) - n_groups)])
        out.append([[names[i] for i in order[labels == g]] for g in range(n_groups)])
    return out


def _check_groups(groups: Iterable[Iterable[str]], names: list[str]) -> list[list[str]]:
    """The groups as sorted lists; they must name known tasks and serve every task."""
    chosen = [sorted(set(g)) for g in groups]
    if not chosen or any(not g for g in chosen):
        raise ValueError("groups must be a non-empty list of non-empty task groups")
    unknown = sorted({t for g in chosen for t in g} - set(names))
    if unknown:
        raise ValueError(f"groups name unknown task(s) {unknown}; tasks are {names}")
    missing = sorted(set(names) - {t for g in chosen for t in g})
    if missing:
        raise ValueError(f"groups leave task(s) {missing} unserved; every task needs a group")
    return chosen


def _train_groupings(split: TaskSetSplit, groupings: dict[str, list[list[str]]], seed: int,
                     settings: GainSettings) -> dict[str, dict[str, float]]:
    """Per grouping, each task's lowest test loss among its networks (each network once)."""
    cache: dict[tuple[str, ...], dict[str, float]] = {}
    task_losses: dict[str, dict[str, float]] = {}
    for label, part in groupings.items():
        best: dict[str, float] = {}
        for group in part:
            key = tuple(group)
            if key not in cache:
                run = train_and_evaluate(split, list(key), seed, settings)
                cache[key] = {t: float(run["metrics"][t]["loss"]) for t in key}
            for t, loss in cache[key].items():
                best[t] = min(best.get(t, np.inf), loss)
        task_losses[label] = best
    return task_losses


def validate_grouping(
    taskset: TaskSet | TaskSetSplit,
    groups: Iterable[Iterable[str]],
    *,
    n_random: int = 3,
    seed: int = 0,
    settings: GainSettings | None = None,
) -> GroupingValidation:
    """Train the chosen groups and the reference groupings; compare total test loss.

    Every network is an HPS model trained by :func:`tasklens.affinity.train_and_evaluate`
    with the same settings and seed; a task's loss is the lowest test loss among the
    networks of its grouping that serve it (as in network selection).

    Parameters
    ----------
    taskset : TaskSet (split with ``settings.split_seed``) or TaskSetSplit
    groups : iterable of iterables of task names
        The grouping to validate (e.g. ``[sorted(c.tasks) for c in selection.candidates]``);
        together they must cover every task of the task set.
    n_random : int
        Random partitions with the same number of groups.
    """
    settings = GainSettings() if settings is None else settings
    split = (taskset.split(settings.test_size, seed=settings.split_seed)
             if isinstance(taskset, TaskSet) else taskset)
    if not isinstance(split, TaskSetSplit):
        raise TypeError(f"taskset must be a TaskSet or TaskSetSplit, got {type(taskset).__name__}")
    names = split.train.task_names
    chosen = _check_groups(groups, names)
    groupings = {"chosen": chosen, "all_in_one": [list(names)],
                 "single_task": [[t] for t in names]}
    for i, part in enumerate(random_groupings(names, len(chosen), n_random, seed)):
        groupings[f"random_{i}"] = part
    task_losses = _train_groupings(split, groupings, seed, settings)
    totals = {label: float(sum(losses.values())) for label, losses in task_losses.items()}
    return GroupingValidation(totals, groupings, task_losses,
                              {"seed": seed, "n_random": n_random,
                               "training": settings.to_dict()})
