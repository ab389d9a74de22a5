"""Benchmark: every balancing method on Multi-digits, several seeds, with Δm against single-task.

For each method of :func:`tasklens.balance.available` an HPS MLP (:func:`tasklens.nn.hps_for`,
default encoder and heads) is trained on :func:`tasklens.data.multi_digits` (two 10-way tasks,
``left`` and ``right``) with Adam; the test metrics are averaged over the last
``average_last_k`` epochs (``TrainResult.averaged_metrics``). Single-task baselines (one model
per task, method EW, same settings and seeds) come from
:func:`tasklens.train.single_task_baselines`. Per method the table gives the test accuracy of
each task (mean ± std over seeds), Δm (%) against the single-task baselines of the *same seed*
(:func:`tasklens.train.delta_m`, Maninis et al. 2019 eq. 5, positive = the multi-task model
is better; computed on accuracy only, the metric the table shows), the relative change of the
left task alone, and the mean time per epoch with its ratio to EW measured in the same run.

Time per epoch is ``TrainResult.history[*]["time_s"]``: the training steps plus one test
evaluation (the same for every method), averaged over epochs and seeds.

A method whose ``update`` needs a held-out batch after each step (``update_batch ==
"held_out"``, i.e. MOML's meta-objective) is decided from its declarations (never by name): it
trains on ``1 − val_fraction`` of the training split and draws its held-out batches from the
rest (``Trainer(val=)``), so it sees the same labelled data as every other method — MOML's own
protocol (a meta-validation split carved from the training data). ``val_fraction=0`` skips
such methods instead. A method whose Trainer construction refuses the setup is skipped with
the reason.

Run::

    .venv/bin/python benchmarks/balance_multidigits.py [--quick] [--variant permuted]
        [--seeds 0 1 2] [--epochs 8] [--methods ew mgda ...] [--out results.csv]

Only ``--out`` writes files: the summary table at that path and the per-run rows next to it
(``<stem>_runs.csv``). The script sets ``torch.set_num_threads(--threads)`` (default 1: on a
shared machine, two threads per process are many times slower than one).
"""

from __future__ import annotations

import argparse
import csv
import math
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tasklens import __version__, balance
from tasklens._common.io import atomic_write
from tasklens._common.validation import check_choice, check_positive_int
from tasklens.data import TaskSet
from tasklens.data.digits import MULTI_VARIANTS, multi_digits
from tasklens.nn import hps_for
from tasklens.train import Trainer, delta_m, single_task_baselines

TASKS = ("left", "right")
METRIC = "accuracy"
QUICK_METHODS = ("ew", "mgda", "pcgrad", "famo")
STL = "single-task"


@dataclass(frozen=True)
class RunRecord:
    """One trained model: a method (or the single-task baselines) at one seed.

    ``accuracy`` maps task → test accuracy averaged over the last ``average_last_k`` epochs;
    ``delta_m`` and ``delta_left`` are in percent against the same seed's single-task runs
    (0 for the baselines themselves); ``time_per_epoch`` in seconds (for ``STL``: the two
    single-task models together, per epoch).
    """

    method: str
    seed: int
    accuracy: dict[str, float]
    delta_m: float
    delta_left: float
    time_per_epoch: float


@dataclass(frozen=True)
class MethodSummary:
    """Mean and sample standard deviation (ddof=1; 0 with one seed) over seeds of one method."""

    method: str
    n_seeds: int
    accuracy_mean: dict[str, float]
    accuracy_std: dict[str, float]
    delta_m_mean: float
    delta_m_std: float
    delta_left_mean: float
    delta_left_std: float
    time_per_epoch: float
    time_ratio_to_ew: float


@dataclass(frozen=True)
class SweepResult:
    """The sweep's runs, per-method summaries (sorted by Δm, best first), skips and settings."""

    runs: tuple[RunRecord, ...]
    summaries: tuple[MethodSummary, ...]
    skipped: dict[str, str]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"runs": [r.__dict__ for r in self.runs],
                "summaries": [s.__dict__ for s in self.summaries],
                "skipped": dict(self.skipped), "settings": dict(self.settings)}


def skip_reason(method: balance.BalanceMethod, val_fraction: float) -> str | None:
    """Why ``method`` cannot run with the Trainer, from its declarations; None if it can."""
    if method.update_batch == "held_out" and val_fraction <= 0:
        return ("its update needs task gradients of a held-out batch after each step "
                "(update_batch='held_out'): the Trainer takes it from val=, and this sweep "
                "runs with val_fraction=0 (no split carved from the training data)")
    return None


def make_splits(n: int, variant: str, *, data_seed: int = 0, split_seed: int = 0,
                test_size: float = 0.2) -> tuple[TaskSet, TaskSet]:
    """The Multi-digits train and test sets (fixed data and split seeds for every run)."""
    ts = multi_digits(n=n, variant=variant, seed=data_seed)
    parts = ts.split(test_size=test_size, seed=split_seed)
    return parts.train, parts.test


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def run_sweep(
    train: TaskSet,
    test: TaskSet,
    methods: Sequence[str],
    seeds: Sequence[int],
    epochs: int,
    *,
    batch_size: int = 64,
    lr: float = 1e-3,
    average_last_k: int = 3,
    val_fraction: float = 0.1,
    model_kwargs: dict[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> SweepResult:
    """Train every method at every seed and the single-task baselines; summarise.

    Parameters
    ----------
    train, test : TaskSet
        Tasks ``left`` and ``right`` (any two-or-more-task set with an ``accuracy`` metric
        per task works).
    methods : sequence of str
        Names for :func:`tasklens.balance.get`; must include ``"ew"`` (the time baseline).
    seeds : sequence of int
        Model initialisation and data order of each run (``hps_for(seed=)``,
        ``Trainer(seed=)``); the single-task baselines use the same seeds.
    epochs : int
    batch_size, lr, average_last_k
        Trainer settings shared by all runs (Adam).
    val_fraction : float in [0, 1)
        Share of ``train`` held out for methods that learn from a held-out batch after each
        step (MOML); 0 skips them. Other methods train on all of ``train``.
    model_kwargs : dict, optional
        Extra arguments of :func:`tasklens.nn.hps_for` (e.g. smaller ``hidden`` in tests).
    log : callable(str), optional
        Receives one progress line per finished run.

    Returns
    -------
    SweepResult
    """
    epochs = check_positive_int(epochs, "epochs")
    methods = list(dict.fromkeys(methods))
    unknown = sorted(set(methods) - set(balance.available()))
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {list(balance.available())}")
    if "ew" not in methods:
        raise ValueError("methods must include 'ew' (the baseline of the time ratios)")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed, e.g. seeds=[0, 1, 2]")
    if not 0.0 <= float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    model_kwargs = dict(model_kwargs or {})
    tasks = list(train.task_names)
    settings = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "optimizer": "adam",
                "average_last_k": average_last_k, "seeds": seeds, "model_kwargs": model_kwargs,
                "val_fraction": val_fraction,
                "n_train": len(train), "n_test": len(test), "taskset": train.name,
                "tasklens": __version__, "torch": torch.__version__, "numpy": np.__version__}
    common = {"batch_size": batch_size, "lr": lr, "average_last_k": average_last_k,
              "progress": False}

    def say(msg: str) -> None:
        if log is not None:
            log(msg)

    skipped: dict[str, str] = {}
    for name in methods:
        reason = skip_reason(balance.get(name), val_fraction)
        if reason is not None:
            skipped[name] = reason
            say(f"{name}: skipped — {reason}")
    runs: list[RunRecord] = []
    # seed-major order: on a shared machine the load drifts, and interleaving the methods
    # within each seed exposes EW and the others to the same drift (fairer time ratios)
    for seed in seeds:
        started = time.perf_counter()
        stl = single_task_baselines(lambda ts, s=seed: hps_for(ts, seed=s, **model_kwargs),
                                    train, epochs, test=test, seed=seed, **common)
        per_epoch = (time.perf_counter() - started) / epochs
        runs.append(RunRecord(STL, seed, {t: stl[t][METRIC] for t in tasks}, 0.0, 0.0,
                              per_epoch))
        say(f"{STL} seed {seed}: " + ", ".join(f"{t} {stl[t][METRIC]:.3f}" for t in tasks))
        for name in methods:
            if name in skipped:
                continue
            record = _train_one(name, seed, train, test, epochs, stl, tasks, common,
                                model_kwargs, val_fraction)
            if isinstance(record, str):
                skipped[name] = record
                runs = [r for r in runs if r.method != name]
                say(f"{name}: skipped — {record}")
                continue
            runs.append(record)
            say(f"{name} seed {seed}: " + ", ".join(f"{t} {record.accuracy[t]:.3f}"
                                                    for t in tasks)
                + f", Δm {record.delta_m:+.2f} %, {record.time_per_epoch:.2f} s/epoch")
    return SweepResult(tuple(runs), summarise(runs, tasks), skipped, settings)


def _train_one(name: str, seed: int, train: TaskSet, test: TaskSet, epochs: int,
               stl: dict[str, dict[str, float]], tasks: Sequence[str], common: dict[str, Any],
               model_kwargs: dict[str, Any], val_fraction: float = 0.0) -> RunRecord | str:
    """One multi-task run, or the reason it cannot run (Trainer refusal, divergence)."""
    val = None
    if balance.get(name).update_batch == "held_out":
        # the same split for every seed: only the model and the data order vary
        parts = train.split(test_size=val_fraction, seed=0)
        train, val = parts.train, parts.test
    try:
        trainer = Trainer(hps_for(train, seed=seed, **model_kwargs), train, name, test=test,
                          val=val, seed=seed, **common)
    except (ValueError, TypeError) as exc:
        return f"the Trainer refuses it here: {exc}"
    try:
        result = trainer.fit(epochs)
    except FloatingPointError as exc:  # NonFiniteLossError: keep the sweep going
        return f"diverged (non-finite loss) at seed {seed}: {exc}"
    metrics = result.averaged_metrics["test"]
    dm = delta_m(metrics, stl, metrics={t: [METRIC] for t in tasks})
    first = tasks[0]
    dleft = 100.0 * (metrics[first][METRIC] - stl[first][METRIC]) / stl[first][METRIC]
    per_epoch = float(np.mean([row["time_s"] for row in result.history]))
    return RunRecord(name, seed, {t: metrics[t][METRIC] for t in tasks}, dm, dleft, per_epoch)


def summarise(runs: Sequence[RunRecord], tasks: Sequence[str]) -> tuple[MethodSummary, ...]:
    """Per-method mean ± std over seeds, time ratio to EW, sorted by Δm (best first)."""
    by_method: dict[str, list[RunRecord]] = {}
    for r in runs:
        by_method.setdefault(r.method, []).append(r)
    ew = by_method.get("ew")
    ew_time = float(np.mean([r.time_per_epoch for r in ew])) if ew else math.nan
    out = []
    for name, rs in by_method.items():
        acc = {t: _mean_std([r.accuracy[t] for r in rs]) for t in tasks}
        dm = _mean_std([r.delta_m for r in rs])
        dl = _mean_std([r.delta_left for r in rs])
        t_epoch = float(np.mean([r.time_per_epoch for r in rs]))
        out.append(MethodSummary(name, len(rs), {t: a[0] for t, a in acc.items()},
                                 {t: a[1] for t, a in acc.items()}, dm[0], dm[1], dl[0], dl[1],
                                 t_epoch, t_epoch / ew_time))
    return tuple(sorted(out, key=lambda s: -s.delta_m_mean))


# ---------------------------------------------------------------------------- output
def table_rows(result: SweepResult, tasks: Sequence[str] = TASKS) -> list[list[str]]:
    """Markdown-ready rows: method, accuracies, Δm, Δ left, s/epoch, ×EW."""
    rows = []
    for s in result.summaries:
        accs = [f"{100 * s.accuracy_mean[t]:.1f} ± {100 * s.accuracy_std[t]:.1f}" for t in tasks]
        ratio = "–" if s.method == STL else f"{s.time_ratio_to_ew:.2f}×"
        rows.append([s.method, *accs, f"{s.delta_m_mean:+.2f} ± {s.delta_m_std:.2f}",
                     f"{s.delta_left_mean:+.2f} ± {s.delta_left_std:.2f}",
                     f"{s.time_per_epoch:.2f}", ratio])
    return rows


def header(tasks: Sequence[str] = TASKS) -> list[str]:
    return ["method", *[f"{t} acc (%)" for t in tasks], "Δm (%)", f"Δ {tasks[0]} (%)",
            "s/epoch", "time ×EW"]


def print_table(result: SweepResult, tasks: Sequence[str] = TASKS) -> None:
    print("| " + " | ".join(header(tasks)) + " |")
    print("|" + "---|" * len(header(tasks)))
    for row in table_rows(result, tasks):
        print("| " + " | ".join(row) + " |")
    for name, reason in result.skipped.items():
        print(f"skipped {name}: {reason}")


def write_csv(result: SweepResult, path: Path, tasks: Sequence[str] = TASKS) -> list[Path]:
    """The summary at ``path``, the per-run rows at ``<stem>_runs.csv`` beside it."""
    runs_path = path.with_name(f"{path.stem}_runs{path.suffix or '.csv'}")
    with atomic_write(path) as fh:
        w = csv.writer(fh)
        w.writerow(["method", "n_seeds", *[f"{t}_acc_mean" for t in tasks],
                    *[f"{t}_acc_std" for t in tasks], "delta_m_mean", "delta_m_std",
                    "delta_left_mean", "delta_left_std", "time_per_epoch_s", "time_ratio_to_ew"])
        for s in result.summaries:
            w.writerow([s.method, s.n_seeds, *[s.accuracy_mean[t] for t in tasks],
                        *[s.accuracy_std[t] for t in tasks], s.delta_m_mean, s.delta_m_std,
                        s.delta_left_mean, s.delta_left_std, s.time_per_epoch,
                        s.time_ratio_to_ew])
        for name, reason in result.skipped.items():
            w.writerow([name, 0, *[""] * (2 * len(tasks) + 5), f"skipped: {reason}"])
    with atomic_write(runs_path) as fh:
        w = csv.writer(fh)
        w.writerow(["method", "seed", *[f"{t}_acc" for t in tasks], "delta_m", "delta_left",
                    "time_per_epoch_s"])
        for r in result.runs:
            w.writerow([r.method, r.seed, *[r.accuracy[t] for t in tasks], r.delta_m,
                        r.delta_left, r.time_per_epoch])
    return [path, runs_path]


def main(argv: Sequence[str] | None = None) -> SweepResult:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"1 seed, 1 epoch, methods {' '.join(QUICK_METHODS)}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--methods", nargs="+", default=None,
                        help="default: every method of tasklens.balance.available()")
    parser.add_argument("--variant", default="baseline", help="baseline or permuted")
    parser.add_argument("--n", type=int, default=6000, help="samples before the 80/20 split")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--average-last-k", type=int, default=3)
    parser.add_argument("--val-fraction", type=float, default=0.1,
                        help="share of the training split held out for MOML's meta-updates "
                        "(0: skip such methods)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="CSV path (nothing written "
                        "without it)")
    args = parser.parse_args(argv)
    check_choice(args.variant, "--variant", MULTI_VARIANTS)
    if args.quick:
        args.seeds, args.epochs = args.seeds[:1], 1
        args.methods = args.methods or list(QUICK_METHODS)
    methods = args.methods or list(balance.available())
    if "ew" not in methods:
        methods = ["ew", *methods]
    torch.set_num_threads(check_positive_int(args.threads, "--threads"))
    print(f"tasklens {__version__}, torch {torch.__version__}, numpy {np.__version__}, "
          f"Python {platform.python_version()}, threads {torch.get_num_threads()}")
    train, test = make_splits(args.n, args.variant)
    print(f"multi_digits(n={args.n}, variant={args.variant!r}): train {len(train)}, "
          f"test {len(test)}; epochs {args.epochs}, seeds {args.seeds}, batch "
          f"{args.batch_size}, Adam lr {args.lr}, last-{args.average_last_k} averaging")
    started = time.perf_counter()
    result = run_sweep(train, test, methods, args.seeds, args.epochs,
                       batch_size=args.batch_size, lr=args.lr,
                       average_last_k=args.average_last_k, val_fraction=args.val_fraction,
                       log=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(f"wall time {time.perf_counter() - started:.0f} s")
    print_table(result)
    if args.out is not None:
        for p in write_csv(result, args.out):
            print(f"wrote {p}")
    return result


if __name__ == "__main__":
    main()
