"""Ground truth for task affinity: the measured multi-task gain of every pair (and subset).

For a pair ``(a, b)`` the gain is the change in task ``a``'s test performance when ``a`` is
trained together with ``b`` in one hard-parameter-sharing network, versus ``a`` trained
alone — what the affinity scores of Azorin et al. 2023 try to predict: an asymmetric
score "considers how much the target task a benefits from being learned with the partner
task b" (002 supplementary, Section 3), and the joint model ``MTL(a,b)`` is trained on
``L_a + L_b`` (ibid.; here the ``"ew"`` method, the default). With ``n`` tasks the
pairwise ground truth needs ``n + C(n, 2)`` trainings per seed (105 for the 14 Yeast
tasks); they are independent jobs run by :func:`tasklens.affinity.sweep.run_jobs`, so a
sweep resumes after a kill and runs on several processes or a Ray cluster.

Definitions (per seed ``s``; the single-task run and the multi-task run of a seed share
the seed, i.e. data order and encoder initialisation, which pairs the comparison):

- metric gain: ``g_ab = σ_a (M_a(ab, s) − M_a(a, s))`` with ``M_a`` the primary metric of
  ``a`` (the first of ``Task.metrics``) on the test split and ``σ_a = +1`` when higher is
  better, ``−1`` otherwise — positive means ``b`` helps ``a``, in metric units;
- loss gain: ``h_ab = (L_a(a, s) − L_a(ab, s)) / L_a(a, s)``, the relative decrease of a's
  test loss (same form as gradient transference, Azorin et al. 2023 Table 7 eq. 5) — positive means
  lower loss with ``b``; relative so that tasks with different loss scales are comparable.

Both are averaged over seeds, with the standard error ``std(ddof=1) / sqrt(n_seeds)`` (NaN
with one seed). Higher order: the gain of task ``a`` in any subset ``S ∋ a`` is the same
difference with ``S`` in place of ``{a, b}`` (:meth:`GroundTruth.subset_gain`).
"""

from __future__ import annotations

import functools
import hashlib
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._common.io import atomic_write, write_json
from .._common.validation import check_positive_int, check_scalar
from ..data.matrix import TaskMatrix
from ..data.metrics import get_metric
from ..data.taskset import TaskSet, TaskSetSplit
from ._models import split_and_tasks
from .sweep import SweepResult, run_jobs


class SweepError(RuntimeError):
    """Some jobs of a sweep failed; the finished ones are saved, a rerun retries the rest.

    Attributes
    ----------
    errors : dict {job id: message}
    out_dir : str
    """

    def __init__(self, errors: Mapping[str, str], out_dir: str) -> None:
        self.errors, self.out_dir = dict(errors), out_dir
        first = "; ".join(f"{k}: {v}" for k, v in list(self.errors.items())[:3])
        super().__init__(f"{len(self.errors)} job(s) failed ({first}); see the *.error.json "
                         f"files in {out_dir}; finished jobs are kept and a rerun retries "
                         "only the missing ones")


# --------------------------------------------------------------------------- settings, jobs
@dataclass(frozen=True)
class GainSettings:
    """How each ground-truth model is built and trained (hashed into every job id).

    Attributes
    ----------
    epochs : int
    lr : float
    batch_size : int
    method : str
        Balancing method of :mod:`tasklens.balance` (``"ew"``: the plain sum of losses).
    optimizer : str
    hidden : tuple of int
        Encoder widths (:func:`tasklens.nn.hps_for`).
    code_dim, head_hidden, head_depth : int
    test_size : float
        Fraction of samples held out for the test metrics.
    split_seed : int
        Seed of the train/test split (the same split for every job).
    """

    epochs: int = 5
    lr: float = 1e-3
    batch_size: int = 64
    method: str = "ew"
    optimizer: str = "adam"
    hidden: tuple[int, ...] = (64,)
    code_dim: int = 32
    head_hidden: int = 32
    head_depth: int = 1
    test_size: float = 0.2
    split_seed: int = 0

    def __post_init__(self) -> None:
        check_positive_int(self.epochs, "epochs")
        check_positive_int(self.batch_size, "batch_size")
        # stored as Python floats: NumPy scalars accepted, and to_dict stays JSON-ready
        object.__setattr__(self, "lr", check_scalar(
            self.lr, "lr", numbers.Real, low=0.0, include_low=False, finite=True))
        object.__setattr__(self, "test_size", check_scalar(
            self.test_size, "test_size", numbers.Real, low=0.0, high=1.0, include_low=False,
            include_high=False))
        object.__setattr__(self, "hidden", tuple(int(h) for h in np.atleast_1d(self.hidden)))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["hidden"] = list(self.hidden)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> GainSettings:
        kwargs = dict(values)
        if "hidden" in kwargs:
            kwargs["hidden"] = tuple(kwargs["hidden"])
        return cls(**kwargs)


@dataclass(frozen=True)
class GainJob:
    """One training: the tasks trained together (one task = single-task) and the seed."""

    tasks: tuple[str, ...]
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {"tasks": list(self.tasks), "seed": int(self.seed)}

    @property
    def label(self) -> str:
        return f"{'+'.join(self.tasks)}@seed{self.seed}"


def _check_names(task_names: Sequence[str], what: str = "task_names") -> list[str]:
    if isinstance(task_names, str):
        raise TypeError(f"{what} must be a sequence of task names, not one string")
    names = [str(t) for t in task_names]
    if len(set(names)) != len(names):
        raise ValueError(f"{what} contains duplicates: {names}")
    if len(names) < 2:
        raise ValueError(f"{what} has {len(names)} task(s) ({names}); a multi-task gain "
                         "needs at least 2 tasks")
    return names


def _check_seeds(seeds: Iterable[int]) -> list[int]:
    out = [check_positive_int(s, "seed", minimum=0) for s in seeds]
    if not out:
        raise ValueError("seeds is empty; pass at least one seed, e.g. seeds=(0,)")
    if len(set(out)) != len(out):
        raise ValueError(f"seeds contains duplicates: {out}")
    return out


def _canonical_subset(subset: Iterable[str], names: Sequence[str]) -> tuple[str, ...]:
    members = list(subset) if not isinstance(subset, str) else [subset]
    unknown = [t for t in members if t not in names]
    if unknown:
        raise ValueError(f"unknown task(s) {unknown} in subset {members}; tasks are "
                         f"{list(names)}")
    if len(set(members)) != len(members):
        raise ValueError(f"subset {members} repeats a task")
    return tuple(t for t in names if t in members)  # order of the task set


def pairwise_gain_jobs(task_names: Sequence[str], seeds: Iterable[int] = (0,), *,
                       subsets: Iterable[Iterable[str]] | None = None) -> list[GainJob]:
    """The trainings of the ground truth: every task alone, every pair, optional subsets.

    ``n + C(n, 2)`` jobs per seed, plus one per extra subset (of size >= 3; pairs and
    singletons given there are already included).

    Parameters
    ----------
    task_names : sequence of str
        n >= 2 distinct tasks.
    seeds : iterable of int
        Replicates; each job trains with its own seed.
    subsets : iterable of task-name collections, optional
        Higher-order groups to train as well (for :meth:`GroundTruth.subset_gain`).
    """
    names = _check_names(task_names)
    seed_list = _check_seeds(seeds)
    groups: list[tuple[str, ...]] = [(t,) for t in names]
    groups += [tuple(p) for p in combinations(names, 2)]
    for subset in subsets or ():
        group = _canonical_subset(subset, names)
        if len(group) < 2:
            raise ValueError(f"subset {list(group)} has fewer than 2 tasks")
        if group not in groups:
            groups.append(group)
    return [GainJob(g, s) for s in seed_list for g in groups]


# --------------------------------------------------------------------------- one training
def train_and_evaluate(split: TaskSetSplit, tasks: Sequence[str], seed: int,
                       settings: GainSettings) -> dict[str, Any]:
    """Train one HPS model on ``tasks`` and evaluate it on the test split.

    Builds ``hps_for(split.train.select(tasks), seed=seed)`` and fits it with
    :class:`tasklens.train.Trainer` for ``settings.epochs`` epochs (method, optimizer,
    lr, batch size from ``settings``; data order and initialisation from ``seed``).
    Top-level and picklable, so it can run in a worker process.

    Parameters
    ----------
    split : TaskSetSplit
        ``train`` and ``test`` task sets containing ``tasks``.
    tasks : sequence of str
        One task (single-task baseline) or several (the multi-task run).
    seed : int
    settings : GainSettings

    Returns
    -------
    dict
        ``tasks``, ``seed``, ``metrics`` ``{task: {metric: value, ..., "loss": value}}`` on
        the test split, ``primary`` ``{task: metric name}``, ``higher_is_better``
        ``{task: bool}``, ``epochs_run``.
    """
    from ..nn import hps_for
    from ..train import Trainer, evaluate

    names = list(tasks)
    train, test = split.train.select(names), split.test.select(names)
    model = hps_for(train, seed=seed, hidden=settings.hidden, code_dim=settings.code_dim,
                    head_hidden=settings.head_hidden, head_depth=settings.head_depth)
    result = Trainer(model, train, settings.method, optimizer=settings.optimizer,
                     lr=settings.lr, batch_size=settings.batch_size, seed=seed,
                     progress=False).fit(settings.epochs)
    metrics = evaluate(model, test)
    primary = {t: train[t].metrics[0] for t in names}
    return {"tasks": names, "seed": int(seed), "metrics": metrics, "primary": primary,
            "higher_is_better": {t: get_metric(m).higher_is_better for t, m in primary.items()},
            "epochs_run": result.epochs_run}


def run_gain_job(job: GainJob, settings: Mapping[str, Any], *,
                 split: TaskSetSplit) -> dict[str, Any]:
    """The sweep function of the ground truth: ``settings["training"]`` holds the
    :class:`GainSettings`; ``split`` is bound with :func:`functools.partial`."""
    return train_and_evaluate(split, job.tasks, job.seed,
                              GainSettings.from_dict(settings["training"]))


def data_fingerprint(split: TaskSetSplit) -> str:
    """SHA-256 (16 hex digits) of the train and test inputs, targets and task kinds, so
    that result files computed on other data are never reused."""
    digest = hashlib.sha256()
    for part in (split.train, split.test):
        digest.update(np.ascontiguousarray(part.inputs).tobytes())
        for name, task in part.tasks.items():
            digest.update(f"{name}:{task.kind}".encode())
            digest.update(np.ascontiguousarray(task.targets).tobytes())
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------- ground truth
def _records(results: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for res in results:
        group = tuple(res["tasks"])
        for task in group:
            values = res["metrics"][task]
            metric = res["primary"][task]
            rows.append({"group": "+".join(group), "size": len(group), "seed": int(res["seed"]),
                         "task": task, "metric": metric, "value": float(values[metric]),
                         "loss": float(values["loss"]),
                         "higher_is_better": bool(res["higher_is_better"][task])})
    return rows


def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    arr = np.asarray(values, dtype=np.float64)
    se = float(arr.std(ddof=1) / np.sqrt(len(arr))) if len(arr) > 1 else math.nan
    return float(arr.mean()), se


@dataclass(frozen=True)
class GroundTruth:
    """Measured multi-task gains (see the module docstring for the definitions).

    Attributes
    ----------
    metric_gain, metric_gain_se : TaskMatrix, (K, K)
        ``[a, b]``: mean (and standard error over seeds) of the signed change of a's primary
        test metric when trained with b; diagonal 0.
    loss_gain, loss_gain_se : TaskMatrix, (K, K)
        The same for the relative decrease of a's test loss.
    n_seeds : TaskMatrix, (K, K)
        Seeds with both runs available for each pair.
    metrics : dict {task: primary metric name}
    records : tuple of dict
        One row per (trained group, seed, task): ``group``, ``size``, ``seed``, ``task``,
        ``metric``, ``value``, ``loss``, ``higher_is_better``.
    settings : dict
    version : str
    """

    metric_gain: TaskMatrix
    metric_gain_se: TaskMatrix
    loss_gain: TaskMatrix
    loss_gain_se: TaskMatrix
    n_seeds: TaskMatrix
    metrics: dict[str, str]
    records: tuple[dict[str, Any], ...] = field(repr=False)
    settings: dict[str, Any] = field(default_factory=dict)
    version: str = __version__

    @property
    def task_names(self) -> tuple[str, ...]:
        return self.metric_gain.task_names

    def subset_gain(self, subset: Iterable[str], *, kind: str = "metric"
                    ) -> dict[str, tuple[float, float, int]]:
        """Gain of each task of ``subset`` when trained in the whole subset vs alone.

        Parameters
        ----------
        subset : collection of >= 2 task names (must have been trained as a group)
        kind : {"metric", "loss"}

        Returns
        -------
        dict {task: (mean gain, standard error, number of seeds)}
        """
        if kind not in ("metric", "loss"):
            raise ValueError(f"unknown kind {kind!r}; choose 'metric' or 'loss'")
        group = _canonical_subset(subset, self.task_names)
        if len(group) < 2:
            raise ValueError(f"subset {list(group)} needs at least 2 tasks")
        key = "+".join(group)
        with_rows = {(r["task"], r["seed"]): r for r in self.records if r["group"] == key}
        if not with_rows:
            raise ValueError(f"the group {list(group)} was not trained; add it with "
                             f"subsets=[{list(group)}] in the sweep")
        alone = {(r["task"], r["seed"]): r for r in self.records if r["size"] == 1}
        out = {}
        for task in group:
            diffs = []
            for (t, seed), row in with_rows.items():
                base = alone.get((task, seed))
                if t != task or base is None:
                    continue
                diffs.append(_gain(base, row, kind))
            mean, se = _mean_se(diffs)
            out[task] = (mean, se, len(diffs))
        return out

    def records_frame(self) -> Any:
        """The raw per-run table as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(list(self.records))

    def to_dict(self) -> dict[str, Any]:
        return {"metric_gain": self.metric_gain.to_dict(),
                "metric_gain_se": self.metric_gain_se.to_dict(),
                "loss_gain": self.loss_gain.to_dict(), "loss_gain_se": self.loss_gain_se.to_dict(),
                "n_seeds": self.n_seeds.to_dict(), "metrics": dict(self.metrics),
                "records": [dict(r) for r in self.records], "settings": dict(self.settings),
                "version": self.version}

    def save(self, out_dir: str | Path) -> Path:
        """Write ``ground_truth.json`` and CSVs (``metric_gain``, ``loss_gain`` and their
        standard errors, ``runs``) into ``out_dir``, atomically."""
        out = Path(out_dir)
        write_json(out / "ground_truth.json", self.to_dict())
        for name in ("metric_gain", "metric_gain_se", "loss_gain", "loss_gain_se"):
            with atomic_write(out / f"{name}.csv") as handle:
                getattr(self, name).to_frame().to_csv(handle)
        with atomic_write(out / "runs.csv") as handle:
            self.records_frame().to_csv(handle, index=False)
        return out


def _gain(alone: Mapping[str, Any], with_: Mapping[str, Any], kind: str) -> float:
    if kind == "metric":
        sign = 1.0 if alone["higher_is_better"] else -1.0
        return sign * (with_["value"] - alone["value"])
    if alone["loss"] == 0:
        return math.nan  # a perfect single-task loss leaves no room for a relative change
    return (alone["loss"] - with_["loss"]) / alone["loss"]


def ground_truth_from_results(results: Iterable[Mapping[str, Any]],
                              task_names: Sequence[str], *,
                              settings: Mapping[str, Any] | None = None) -> GroundTruth:
    """Aggregate :func:`train_and_evaluate` outputs into a :class:`GroundTruth`.

    Pairs without both runs for any seed get NaN gains (and ``n_seeds`` 0).
    """
    names = _check_names(task_names)
    rows = _records(results)
    alone = {(r["task"], r["seed"]): r for r in rows if r["size"] == 1}
    pairs = {(r["task"], r["group"], r["seed"]): r for r in rows if r["size"] == 2}
    k = len(names)
    mats = {n: np.zeros((k, k)) for n in ("m", "mse", "l", "lse", "n")}
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i == j:
                continue
            group = "+".join(t for t in names if t in (a, b))
            m_diffs, l_diffs = [], []
            for (task, g, seed), row in pairs.items():
                if task == a and g == group and (a, seed) in alone:
                    m_diffs.append(_gain(alone[(a, seed)], row, "metric"))
                    l_diffs.append(_gain(alone[(a, seed)], row, "loss"))
            mats["m"][i, j], mats["mse"][i, j] = _mean_se(m_diffs)
            mats["l"][i, j], mats["lse"][i, j] = _mean_se(l_diffs)
            mats["n"][i, j] = len(m_diffs)
    metrics = {t: next((r["metric"] for r in rows if r["task"] == t), "") for t in names}
    tn = tuple(names)
    return GroundTruth(
        metric_gain=TaskMatrix(mats["m"], tn, "multi-task gain (primary metric, b onto a)"),
        metric_gain_se=TaskMatrix(mats["mse"], tn, "standard error of the metric gain"),
        loss_gain=TaskMatrix(mats["l"], tn, "multi-task gain (relative loss decrease)"),
        loss_gain_se=TaskMatrix(mats["lse"], tn, "standard error of the loss gain"),
        n_seeds=TaskMatrix(mats["n"], tn, "seeds per pair"),
        metrics=metrics, records=tuple(rows), settings=dict(settings or {}),
    )


def ground_truth_sweep(
    taskset: TaskSet | TaskSetSplit,
    out_dir: str | Path,
    *,
    tasks: Sequence[str] | None = None,
    seeds: Iterable[int] = (0,),
    settings: GainSettings | None = None,
    subsets: Iterable[Iterable[str]] | None = None,
    workers: int = 1,
    backend: str = "process",
    worker_threads: int | None = None,
    progress: bool | None = None,
    ray_address: str | None = None,
) -> GroundTruth:
    """Train every task alone and every pair (and ``subsets``), then measure the gains.

    Resumable: each finished training is one JSON file in ``out_dir``; a rerun skips them.
    The aggregated result is also saved there (:meth:`GroundTruth.save`).

    Parameters
    ----------
    taskset : TaskSet or TaskSetSplit
        A TaskSet is split once with ``settings.test_size`` and ``settings.split_seed``.
    out_dir : path
    tasks : sequence of str, optional
        The tasks to study (default: all); n >= 2.
    seeds : iterable of int
    settings : GainSettings, optional
    subsets : iterable of task collections, optional
        Higher-order groups (see :func:`pairwise_gain_jobs`).
    workers, backend, worker_threads, progress, ray_address
        See :func:`tasklens.affinity.sweep.run_jobs` (``backend="ray"`` runs the trainings
        as Ray tasks, on the cluster at ``ray_address`` or on a local instance).

    Raises
    ------
    SweepError
        When some trainings failed (the others are saved; rerun to retry).
    """
    settings = GainSettings() if settings is None else settings
    if not isinstance(settings, GainSettings):
        raise TypeError(f"settings must be a GainSettings, got {type(settings).__name__}")
    split, names = split_and_tasks(taskset, tasks, settings.test_size, settings.split_seed)
    jobs = pairwise_gain_jobs(names, seeds, subsets=subsets)
    sweep_settings = {"training": settings.to_dict(), "data": data_fingerprint(split)}
    fn = functools.partial(run_gain_job, split=split)
    sweep: SweepResult = run_jobs(jobs, fn, out_dir, settings=sweep_settings, workers=workers,
                                  backend=backend, worker_threads=worker_threads,
                                  progress=progress, ray_address=ray_address)
    if sweep.errors:
        raise SweepError(sweep.errors, sweep.out_dir)
    record = {**sweep_settings, "tasks": names, "seeds": sorted({j.seed for j in jobs}),
              "n_jobs": len(jobs), "backend": backend, "workers": workers}
    truth = ground_truth_from_results(sweep.results.values(), names, settings=record)
    truth.save(out_dir)
    return truth
