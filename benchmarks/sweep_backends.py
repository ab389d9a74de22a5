"""Benchmark: the same ground-truth sweep on the process backend and on Ray.

The pairwise ground-truth sweep on Yeast's first ``--tasks`` tasks (``k`` single-task and
``k(k-1)/2`` pair trainings, one seed; an HPS MLP 103 → 64 → 32 with one linear head per
task, Adam, ``--epochs`` epochs; :func:`tasklens.affinity.gains.ground_truth_sweep`), each
run into a fresh directory with ``--workers`` workers and one torch thread per worker:

- ``process`` (the baseline): a local process pool (spawn);
- ``ray (own instance)``: ``backend="ray"`` with Ray not initialised, so the call starts a
  local instance with ``workers`` CPUs and shuts it down (what a one-off script pays);
- ``ray (running instance)``: the same sweep on an instance started beforehand (its start
  time is reported on its own): the cost on a cluster that is already up;
- ``process`` again, last: the first run also pays cold caches. Ratios are to the faster
  of the two process runs.

Also printed: the largest difference between the gain matrices of the backends (per-job
seeds: identical by construction, so 0 is expected).

Run: ``.venv/bin/python benchmarks/sweep_backends.py`` (``--quick``: 3 tasks, 6 jobs).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tasklens.affinity.gains import GainSettings, ground_truth_sweep
from tasklens.data.yeast import yeast


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 tasks (6 jobs), 1 epoch")
    parser.add_argument("--tasks", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    n_tasks = args.tasks or (3 if args.quick else 5)
    epochs = args.epochs or (1 if args.quick else 2)
    ts = yeast()
    names = ts.task_names[:n_tasks]
    settings = GainSettings(epochs=epochs, batch_size=64, hidden=(64,), code_dim=32,
                            head_hidden=32, head_depth=1)
    n_jobs = n_tasks + n_tasks * (n_tasks - 1) // 2
    print(f"# {n_jobs} jobs ({n_tasks} Yeast tasks, {epochs} epochs), {args.workers} "
          f"workers; {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch {torch.__version__}, ray {ray.__version__}, numpy {np.__version__}")

    def sweep(backend: str) -> Any:
        with tempfile.TemporaryDirectory() as out:
            return ground_truth_sweep(ts, Path(out), tasks=names, settings=settings,
                                      backend=backend, workers=args.workers,
                                      worker_threads=1, progress=False)

    rows = []
    t_proc, by_process = timed(lambda: sweep("process"))
    rows.append(("process (baseline)", t_proc))
    t_ray, by_ray = timed(lambda: sweep("ray"))
    rows.append(("ray (own instance)", t_ray))
    t_init, _ = timed(lambda: ray.init(num_cpus=args.workers, include_dashboard=False,
                                       log_to_driver=False))
    try:
        t_warm, by_warm = timed(lambda: sweep("ray"))
    finally:
        ray.shutdown()
    rows.append((f"ray (running instance; its start: {t_init:.1f} s)", t_warm))
    # the first run also pays cold caches (imports, the data file): run the baseline again
    t_again, _ = timed(lambda: sweep("process"))
    rows.append(("process again (after the Ray runs)", t_again))
    t_proc = min(t_proc, t_again)
    print("| backend | wall (s) | / best process run |")
    print("|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.1f} | {seconds / t_proc:.2f}× |")
    diff = max(float(np.nanmax(np.abs(other.metric_gain.values
                                      - by_process.metric_gain.values)))
               for other in (by_ray, by_warm))
    print(f"max |Δ metric gain| between backends: {diff:.3g}")


if __name__ == "__main__":
    main()
