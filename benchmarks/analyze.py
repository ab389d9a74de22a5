"""Benchmark: ``tasklens analyze --budget fast`` end to end, and where the time goes.

Two cases, each run as the user runs it (``python -m tasklens.cli.main analyze ...`` in a
fresh process, so imports count), wall-clock time measured around the process:

- ``default``: the built-in default set (2,000 two-digit images, 144 inputs, 5 tasks of
  three kinds). Target: at most 120 s on 2 cores.
- ``csv``: a seeded synthetic CSV of 10,000 rows × 50 columns (42 numeric inputs, 8
  tasks: 3 regression, 3 binary, 2 four-class), written to a temporary folder. Target: at
  most 180 s.

Per stage, the time recorded in results.json (``run.timings``); "report" is the rest of the
wall time (start-up, data loading, figures, HTML). The ratio is wall time / target (below 1
meets it).

Each case runs once per ``--executors`` entry (``--executor`` of the command: serial
trainings in the process, or a process pool with one worker per CPU); the load average
of the machine at the start and end of each run is printed with it (shared machines).

Run::

    .venv/bin/python benchmarks/analyze.py [--cases default csv] [--budget fast]
        [--threads 1] [--executors serial process]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGETS = {"default": 120.0, "csv": 180.0}
STAGES = ("summary", "theory", "multitask", "baselines", "grouping", "balancing",
          "representation")


def write_benchmark_csv(path: Path, n: int = 10_000, seed: int = 0) -> list[str]:
    """42 numeric inputs and 8 tasks sharing two latent directions in groups; returns the
    ``--task`` arguments."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 42))
    w = rng.normal(size=(42, 4))
    z = x @ w / np.sqrt(42)  # four latent directions, tasks read them in groups
    noise = 0.3 * rng.normal(size=(n, 8))
    cols = {f"x{i:02d}": x[:, i] for i in range(42)}
    cols["r0"] = z[:, 0] + noise[:, 0]
    cols["r1"] = z[:, 0] - 0.5 * z[:, 1] + noise[:, 1]
    cols["r2"] = np.tanh(z[:, 2]) + noise[:, 2]
    cols["b0"] = (z[:, 0] + noise[:, 3] > 0).astype(int)
    cols["b1"] = (z[:, 1] + noise[:, 4] > 0).astype(int)
    cols["b2"] = (z[:, 3] * z[:, 2] + noise[:, 5] > 0).astype(int)
    cols["c0"] = np.digitize(z[:, 2] + noise[:, 6], [-0.8, 0.0, 0.8])
    cols["c1"] = np.digitize(z[:, 3] + noise[:, 7], [-0.8, 0.0, 0.8])
    pd.DataFrame(cols).to_csv(path, index=False)
    tasks = ["r0", "r1", "r2", "b0", "b1", "b2", "c0:classification", "c1:classification"]
    return [arg for t in tasks for arg in ("--task", t)]


def run_case(case: str, budget: str, work: Path, threads: int, executor: str
             ) -> dict[str, float]:
    out = work / f"{case}-{executor}-out"
    args = [sys.executable, "-m", "tasklens.cli.main", "analyze", "--budget", budget,
            "--out", str(out), "--executor", executor]
    if case == "csv":
        args[4:4] = [str(work / "bench.csv"), *write_benchmark_csv(work / "bench.csv")]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MPLBACKEND": "Agg"}
    started = time.perf_counter()
    subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    timings = json.loads((out / "results.json").read_text())["run"]["timings"]
    row = {s: float(timings.get(s) or 0.0) for s in STAGES}
    row["report"] = wall - sum(row.values())
    row["wall"] = wall
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["default", "csv"],
                        choices=sorted(TARGETS))
    parser.add_argument("--budget", default="fast")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--executors", nargs="+", default=["serial", "process"],
                        choices=["serial", "process", "ray"])
    args = parser.parse_args()
    import torch

    print(f"# {platform.node()}: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
          f"torch {torch.__version__}, numpy {np.__version__}, Python "
          f"{platform.python_version()}, OMP_NUM_THREADS={args.threads}")
    header = ["case", "executor", *STAGES, "report", "wall (s)", "target (s)", "wall / target",
              "load avg (start → end)"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            for executor in args.executors:
                load = os.getloadavg()[0]
                row = run_case(case, args.budget, Path(tmp), args.threads, executor)
                cells = [f"{row[s]:.1f}" for s in (*STAGES, "report")]
                print(f"| {case} | {executor} | " + " | ".join(cells) + f" | {row['wall']:.1f}"
                      f" | {TARGETS[case]:.0f} | {row['wall'] / TARGETS[case]:.2f} | "
                      f"{load:.1f} → {os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
