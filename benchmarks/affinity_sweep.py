"""Benchmark: the whole pairwise ground-truth sweep on Yeast with 1 and 2 worker processes.

14 binary tasks → 14 single-task + C(14, 2) = 91 pair trainings = 105 jobs (one seed), each
an HPS MLP (103 → 64 → 32, one linear head per task) trained for ``--epochs`` epochs with
Adam on 80 % of the 2,417 genes and evaluated on the rest
(:func:`tasklens.affinity.gains.ground_truth_sweep`, process backend, one torch thread
per worker). Baseline: the same sweep with 1 worker, in the same run. Also measured: the
rerun on the finished directory (every job skipped), the summed wall and CPU seconds of the
jobs themselves (from their result files; CPU time is what the work costs, independent of
how many other processes share the cores), and the largest difference between the gain
matrices of the two sweeps (the per-job seeds make them identical).

Finally, as a use of the ground truth, the training-free alignment score is evaluated
against the measured gains (:func:`tasklens.affinity.evaluation.evaluate_scores`).

Run: ``.venv/bin/python benchmarks/affinity_sweep.py`` (``--quick``: 5 tasks, 15 jobs).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from tasklens.affinity.alignment import alignment_affinity
from tasklens.affinity.evaluation import evaluate_scores
from tasklens.affinity.gains import GainSettings, ground_truth_sweep, pairwise_gain_jobs
from tasklens.affinity.sweep import read_result
from tasklens.data.yeast import yeast


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 tasks (15 jobs)")
    parser.add_argument("--tasks", type=int, default=None, help="number of Yeast tasks")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=None, help="keep the sweeps here")
    args = parser.parse_args()
    ts = yeast()
    n_tasks = args.tasks or (5 if args.quick else 14)
    names = ts.task_names[:n_tasks]
    settings = GainSettings(epochs=args.epochs, batch_size=64, hidden=(64,), code_dim=32,
                            head_hidden=32, head_depth=1)
    n_jobs = len(pairwise_gain_jobs(names))
    print(f"# torch {torch.__version__}, numpy {np.__version__}, python "
          f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"# Yeast: {n_tasks} tasks, {n_jobs} trainings, {args.epochs} epochs each, "
          f"1 torch thread per worker")
    root = args.out or Path(tempfile.mkdtemp(prefix="tasklens-sweep-"))
    times, reruns, truths = {}, {}, {}
    for w in args.workers:
        out = root / f"workers{w}"
        start = time.perf_counter()
        truths[w] = ground_truth_sweep(ts, out, tasks=names, settings=settings, workers=w,
                                       backend="process", worker_threads=1)
        times[w] = time.perf_counter() - start
        start = time.perf_counter()
        ground_truth_sweep(ts, out, tasks=names, settings=settings, workers=w,
                           backend="process", worker_threads=1)
        reruns[w] = time.perf_counter() - start
    base = times.get(1, times[args.workers[0]])  # the 1-worker sweep is the baseline
    print(f"{'workers':>7} {'sweep s':>9} {'rerun s':>8} {'baseline / this':>16} "
          f"{'sum job wall s':>15} {'sum job CPU s':>14}")
    for w in args.workers:
        records = [read_result(p) for p in (root / f"workers{w}").glob("*.json")
                   if p.name != "ground_truth.json"]
        wall = sum(r["elapsed_s"] for r in records)
        cpu = sum(r.get("cpu_s", float("nan")) for r in records)
        print(f"{w:>7} {times[w]:>9.1f} {reruns[w]:>8.2f} {base / times[w]:>15.2f}x "
              f"{wall:>15.1f} {cpu:>14.1f}")
    first = truths[args.workers[0]]
    diff = max(float(np.nanmax(np.abs(t.metric_gain.values - first.metric_gain.values)))
               for t in truths.values())
    print(f"# max |gain difference| between worker counts: {diff:.1e}")
    gain = first.metric_gain.values[~np.eye(n_tasks, dtype=bool)]
    print(f"# metric gain (binary accuracy, b onto a): mean {gain.mean():+.4f}, "
          f"min {gain.min():+.4f}, max {gain.max():+.4f}, "
          f"positive {np.mean(gain > 0):.0%}")
    alignment = alignment_affinity(ts.select(names), score="overlap")
    for target, label in (("metric", first.metric_gain), ("loss", first.loss_gain)):
        row = evaluate_scores({"alignment": alignment}, label).overall["alignment"]
        print(f"# alignment overlap vs {target} gain: Spearman {row['spearman']:+.3f}, "
              f"Kendall {row['kendall']:+.3f}, sign agreement {row['sign_agreement']:.2f}, "
              f"top-1 match {row['top1_match']:.2f}")
    print(f"# sweeps kept in {root}")


if __name__ == "__main__":
    main()
