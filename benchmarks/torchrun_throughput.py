"""Benchmark: the Trainer on 1 vs 2 torchrun processes (gloo, CPU), and what it all-reduces.

Each case is a fresh ``python -m torch.distributed.run --standalone --nproc_per_node W``
launch of this file (``--worker``): a generated task set of ``--rows`` rows (64 features;
a 4-class, a binary and a regression task), ``hps_for`` defaults (``K = 3`` tasks,
``P = 98,880`` shared and ``P_all = 700,083`` trainable parameters), Adam, a fixed *global*
batch of ``--batch`` samples (``--batch / W`` per process, so every run takes the same
steps), ``--epochs`` epochs of which the first is a warm-up. Throughput = samples/s over
the timed epochs (rank 0's per-epoch ``time_s``).

Communication is counted, not estimated: in the workers
``TorchDistributedReducer.all_reduce_sum`` is wrapped to add up the bytes and the number
of every all-reduce (losses, task Jacobian or Gramian, averaged gradients, the logged
losses); one step's collectives are printed with their sizes.

Baselines in the same run: 1 process at the global batch (the reference) and at half of
it (a linear fit ``t_step(b) = t_0 + t_1 b`` of the compute time per step for a
per-process batch ``b``). The projection to ``W`` processes (or nodes, one process each)
at a bandwidth ``β`` and a latency ``α`` per collective::

    t_step(W) = t_0 + t_1 · B / W + n_coll · α + 2 (W − 1) / W · bytes_step / β
    samples/s(W) = B / t_step(W)

(a ring all-reduce sends and receives ``2 (W − 1) / W`` of the reduced bytes per process).

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/torchrun_throughput.py``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CASES = (("ew", "parameter"), ("upgrad", "parameter"), ("upgrad", "representation"))
#: (name, bytes/s, seconds per collective) of the projections
LINKS = (("10 Gb/s Ethernet", 1.25e9, 50e-6), ("100 Gb/s InfiniBand", 12.5e9, 5e-6))


# ------------------------------------------------------------------ the worker (per rank)
def make_taskset(rows: int, seed: int = 0):
    from tasklens.data import TaskSet

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 64)).astype(np.float32)
    w = rng.normal(size=(64, 3)) / 8.0
    z = x @ w
    return TaskSet.from_arrays(
        x, {"digit": np.digitize(z[:, 0], [-0.67, 0.0, 0.67]), "sign": (z[:, 1] > 0).astype(int),
            "value": z[:, 2] + 0.1 * rng.normal(size=rows)},
        {"digit": "classification", "sign": "binary", "value": "regression"})


def worker(args: argparse.Namespace) -> None:
    import torch

    from tasklens.balance import TorchDistributedReducer
    from tasklens.nn import hps_for
    from tasklens.train import Trainer

    torch.set_num_threads(1)
    calls: list[tuple[int, str]] = []
    original = TorchDistributedReducer.all_reduce_sum

    def counted(self, tensor):
        calls.append((tensor.numel() * tensor.element_size(), f"{tuple(tensor.shape)} "
                      f"{str(tensor.dtype).removeprefix('torch.')}"))
        return original(self, tensor)

    TorchDistributedReducer.all_reduce_sum = counted  # type: ignore[method-assign]
    world = int(os.environ.get("WORLD_SIZE", "1"))
    ts = make_taskset(args.rows)
    model = hps_for(ts, seed=0)
    trainer = Trainer(model, ts, args.method, level=args.level, lr=1e-3,
                      batch_size=args.batch // world, seed=0, progress=False)
    steps_per_epoch = -(-args.rows // args.batch)
    trainer.fit(args.epochs)
    times = [row["time_s"] for row in trainer.history[1:]]  # the first epoch: warm-up
    timed = sum(times)
    if trainer.is_main:
        per_step = len(calls) // (args.epochs * steps_per_epoch) if calls else 0
        step_calls = calls[:per_step]
        shared = sum(p.numel() for p in model.encoder.parameters())
        out = {"world": world, "method": args.method, "level": args.level,
               "batch": args.batch, "rows": args.rows, "epochs_timed": len(times),
               "seconds": timed, "samples_per_s": len(times) * args.rows / timed,
               "step_s": timed / (len(times) * steps_per_epoch),
               "bytes_per_step": sum(c[0] for c in calls) / (args.epochs * steps_per_epoch),
               "collectives_per_step": len(calls) / (args.epochs * steps_per_epoch),
               "one_step": [c[1] for c in step_calls],
               "P_shared": shared, "P_all": sum(p.numel() for p in model.parameters())}
        Path(args.json).write_text(json.dumps(out))


# ------------------------------------------------------------------ the launcher
def launch(world: int, method: str, level: str, batch: int, args: argparse.Namespace
           ) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", str(world), __file__, "--worker", "--method", method,
               "--level", level, "--batch", str(batch), "--rows", str(args.rows),
               "--epochs", str(args.epochs), "--json", str(out)]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode or not out.is_file():
            tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-3:]
            raise RuntimeError(f"torchrun {world} {method}/{level} failed: {tail}")
        res = json.loads(out.read_text())
        res["launch_s"] = time.perf_counter() - started
        return res


def project(one_b: dict, one_half: dict, two: dict, world: int, beta: float, alpha: float
            ) -> float:
    """Samples/s on ``world`` processes from the 1-process compute fit and the measured
    bytes and collectives per step of the 2-process run (see the module docstring)."""
    b, h = one_b["batch"], one_half["batch"]
    t1 = (one_b["step_s"] - one_half["step_s"]) / (b - h)
    t0 = one_b["step_s"] - t1 * b
    t1, t0 = max(t1, 0.0), max(t0, 0.0)
    comm = two["collectives_per_step"] * alpha + 2 * (world - 1) / world * \
        two["bytes_per_step"] / beta
    return b / (t0 + t1 * b / world + comm)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=16384)
    p.add_argument("--batch", type=int, default=256, help="global batch (all processes)")
    p.add_argument("--epochs", type=int, default=3, help="the first is a warm-up")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--method", default="ew", help=argparse.SUPPRESS)
    p.add_argument("--level", default="parameter", help=argparse.SUPPRESS)
    p.add_argument("--json", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args)
        return
    print(f"load average at start: {os.getloadavg()}; {os.cpu_count()} CPUs", flush=True)
    rows = []
    for method, level in CASES:
        one = launch(1, method, level, args.batch, args)
        half = launch(1, method, level, args.batch // 2, args)
        two = launch(2, method, level, args.batch, args)
        rows.append((one, half, two))
        print(f"- {method}/{level}: 1 proc {one['samples_per_s']:,.0f} samples/s "
              f"(step {one['step_s'] * 1e3:.1f} ms; batch {args.batch // 2}: "
              f"{half['step_s'] * 1e3:.1f} ms), 2 procs {two['samples_per_s']:,.0f} samples/s "
              f"(× {two['samples_per_s'] / one['samples_per_s']:.2f}); all-reduced per step "
              f"{two['bytes_per_step']:,.0f} B in {two['collectives_per_step']:.0f} "
              f"collectives: {two['one_step']}; P = {two['P_shared']:,}, P_all = "
              f"{two['P_all']:,}; load {os.getloadavg()[0]:.1f}", flush=True)
    print("\nprojected samples/s (compute from the 1-process fit, measured bytes):")
    for name, beta, alpha in LINKS:
        for (one, half, two), (method, level) in zip(rows, CASES):
            proj = {w: project(one, half, two, w, beta, alpha) for w in (1, 2, 4, 8, 16)}
            print(f"- {name}, {method}/{level}: " + ", ".join(
                f"W={w}: {v:,.0f}" for w, v in proj.items()), flush=True)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
