"""Benchmark: per-step cost of RepMTL against EW on an HPS MLP (CPU, one thread).

HPS model from :func:`tasklens.nn.hps_for` (32 inputs, encoder 256-256 → z of d = 64, four
300-unit layers per head), K regression tasks, batch 128. One step = zero_grad + forward +
the balanced backward (no optimiser step); median of ``--reps`` interleaved repetitions after
three warm-ups (interleaving exposes every case to the same load drift). Ratios are to the
plain EW step measured in the same run.

EW: the trainer's plain step (one backward of Σ L_k, parameter level, no task gradients).
EW-split: EW through backward_split (EW reads no gradients, so the same work as EW).
MGDA-split: first-order task gradients at representation level (one backward through the heads).
RepMTL: backward_split with the saliencies taken with create_graph=True and λ·(TSR + CSA)
backpropagated (second order through the heads). Also RepMTL with only TSR / only CSA.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/balance_repmtl.py [--ks 2 10] [--reps 30]``
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import torch

from tasklens import balance
from tasklens.balance.engine import backward, backward_split
from tasklens.data import TaskSet
from tasklens.nn import hps_for
from tasklens.nn.losses import task_losses


def make(k: int, n: int = 512, f: int = 32, seed: int = 0) -> TaskSet:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, f)).astype(np.float32)
    targets = {f"t{i}": (x @ rng.normal(size=f)).astype(np.float32) for i in range(k)}
    kinds = {t: "regression" for t in targets}
    return TaskSet.from_arrays(x, targets, kinds=kinds, name=f"bench{k}")


def step(model: torch.nn.Module, ts: TaskSet, x: torch.Tensor, y: dict[str, torch.Tensor],
         method: balance.BalanceMethod, split: bool) -> balance.StepResult:
    model.zero_grad(set_to_none=True)
    z = model.encode(x)
    if split:
        leaves = {t: z.detach().requires_grad_() for t in ts.task_names}
        losses = task_losses(ts, model.decode(leaves), y)
        return backward_split(losses, z, list(leaves.values()), method)
    losses = task_losses(ts, model.decode(z), y)
    return backward(losses, z, method, shared_params=list(model.shared_parameters()),
                    level="parameter")


def bench(k: int, batch: int = 128, reps: int = 30) -> list[tuple[int, str, float, float]]:
    ts = make(k)
    model = hps_for(ts, seed=0, hidden=(256, 256), code_dim=64, head_hidden=300, head_depth=4)
    x, y = next(iter(ts.dataloader(batch, shuffle=True, seed=0)))
    cases = [("EW (plain)", balance.get("ew"), False),
             ("EW (split, rep. level)", balance.get("ew"), True),
             ("MGDA (split, rep. level)", balance.get("mgda"), True),
             ("RepMTL TSR only", balance.get("repmtl", lambda_csa=0.0), True),
             ("RepMTL CSA only", balance.get("repmtl", lambda_tsr=0.0), True),
             ("RepMTL (both)", balance.get("repmtl"), True)]
    times = {name: [] for name, _, _ in cases}
    for _ in range(3):
        for _name, m, split in cases:
            step(model, ts, x, y, m, split)
    for _ in range(reps):  # interleaved, so that load changes hit every case alike
        for name, m, split in cases:
            t0 = time.perf_counter()
            step(model, ts, x, y, m, split)
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["EW (plain)"])
    rows = []
    for name, _, _ in cases:
        med = statistics.median(times[name])
        rows.append((k, name, med * 1e3, med / base))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", type=int, nargs="+", default=[2, 10])
    parser.add_argument("--reps", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"# torch {torch.__version__}, numpy {np.__version__}, Python "
          f"{platform.python_version()}, threads {torch.get_num_threads()}")
    ks = args.ks
    print("| K | step | median ms | × EW (plain) |")
    print("|---|---|---|---|")
    for k in ks:
        for k_, name, ms, ratio in bench(k, reps=args.reps):
            print(f"| {k_} | {name} | {ms:.2f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
