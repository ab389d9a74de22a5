"""Benchmark: gradient transference (GT) for all K × K pairs — batched pass vs loops.

Three ways to get the same (K, K) matrix on one batch of an MLP hard-parameter-sharing model
(Azorin et al. 2023, Table 7 eq. 5; plain-SGD lookahead):

- ``per-pair loop`` (the baseline): for each pair (a, b), deep-copy the model, take task
  b's gradient on the shared parameters, step, evaluate L_a — K² copies, backwards and
  forwards;
- ``per-b loop``: :func:`tasklens.affinity.gradients.gradient_transference` with
  ``vectorize=False`` (batched gradients, then one forward per lookahead set);
- ``batched``: the same with ``torch.vmap`` over the K stacked lookahead sets (default).

All three run in the same process; the table prints seconds (best of ``--repeats``), the
ratios to the batched pass, and the largest |ΔZ| between the batched pass and the baseline.

Run: ``.venv/bin/python benchmarks/affinity_gt.py`` (``--quick`` for a short run).
"""

from __future__ import annotations

import argparse
import copy
import platform
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch

from tasklens.affinity.gradients import gradient_transference
from tasklens.data import TaskSet
from tasklens.nn import hps_for, task_losses


def make_problem(k: int, n: int, features: int, seed: int) -> tuple[Any, Any, Any]:
    """K regression/classification tasks on Gaussian inputs, an MLP HPS model, one batch."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features)).astype(np.float32)
    targets, kinds = {}, {}
    for t in range(k):
        w = rng.standard_normal(features)
        if t % 2 == 0:
            targets[f"t{t}"], kinds[f"t{t}"] = np.tanh(x @ w / np.sqrt(features)), "regression"
        else:
            targets[f"t{t}"] = np.digitize(x @ w, [-1.0, 1.0])
            kinds[f"t{t}"] = "classification"
    ts = TaskSet.from_arrays(x, targets, kinds=kinds)
    model = hps_for(ts, hidden=(128, 128), code_dim=64, head_hidden=64, head_depth=2,
                    seed=seed)
    batch = next(iter(ts.dataloader(n, shuffle=False)))
    return ts, model, batch


def per_pair_loop(model: Any, ts: TaskSet, batch: Any, lr: float) -> np.ndarray:
    """The explicit K² loop: deepcopy, SGD step on θ_s with g_b, evaluate L_a."""
    x, y = batch
    names = ts.task_names
    model.eval()
    with torch.no_grad():
        before = task_losses(ts, model(x), y)
    shared_ids = {id(p) for p in model.shared_parameters()}
    shared_names = [n for n, p in model.named_parameters() if id(p) in shared_ids]
    z = np.zeros((len(names), len(names)))
    for i in range(len(names)):
        for j in range(len(names)):
            m = copy.deepcopy(model)
            params = dict(m.named_parameters())
            shared = [params[n] for n in shared_names]
            grads = torch.autograd.grad(task_losses(ts, m(x), y)[j], shared)
            with torch.no_grad():
                for p, g in zip(shared, grads):
                    p -= lr * g
                after = task_losses(ts, m(x), y)[i]
            z[i, j] = 1.0 - float(after) / float(before[i])
    return z


def best_time(fn: Callable[[], Any], repeats: int) -> tuple[Any, float]:
    out, best = None, float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return out, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="K = 5, 10; smaller batch; 1 run")
    parser.add_argument("--tasks", type=int, nargs="+", default=None)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lr", type=float, default=0.05)
    args = parser.parse_args()
    ks = args.tasks or ([5, 10] if args.quick else [5, 10, 14])
    n = args.batch or (64 if args.quick else 256)
    repeats = args.repeats or (1 if args.quick else 3)
    torch.set_num_threads(args.threads)

    print(f"# torch {torch.__version__}, numpy {np.__version__}, python "
          f"{platform.python_version()}, {platform.machine()}, threads {args.threads}, "
          f"batch {n}, best of {repeats}")
    print(f"{'K':>3} {'per-pair loop s':>16} {'per-b loop s':>13} {'batched s':>10} "
          f"{'pair/batched':>13} {'per-b/batched':>14} {'max |dZ|':>9}")
    for k in ks:
        ts, model, batch = make_problem(k, n, 32, seed=k)
        gradient_transference(model, ts, batch, lr=args.lr)  # warm-up (vmap tracing caches)
        z_ref, t_pair = best_time(partial(per_pair_loop, model, ts, batch, args.lr), repeats)
        _, t_loop = best_time(partial(gradient_transference, model, ts, batch, lr=args.lr,
                                      vectorize=False), repeats)
        z, t_batch = best_time(partial(gradient_transference, model, ts, batch, lr=args.lr,
                                       vectorize=True), repeats)
        err = float(np.abs(z.values - z_ref).max())
        print(f"{k:>3} {t_pair:>16.4f} {t_loop:>13.4f} {t_batch:>10.4f} "
              f"{t_pair / t_batch:>12.1f}x {t_loop / t_batch:>13.2f}x {err:>9.1e}")


if __name__ == "__main__":
    main()
