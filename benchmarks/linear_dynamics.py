"""Benchmark: closed-form MTL dynamics vs ODE integration vs discrete gradient descent.

Anon. 2025 (shared/seeds/Anon. 2025 (ICLR'26 sub.)): Theorem 2 (closed form) against eq. 5
integrated with scipy solve_ivp (DOP853, rtol 1e-9) — the baseline, measured in the same run —
and full-batch gradient descent (train_linear_mtl, t = epochs * learning_rate).

Problems: (a) Figure 3's size (N_i = 4, N_io = 2, N_s = 4, init scale 1e-3);
(b) Multi-MNIST size (N_i = 1296, two 10-way tasks, N_s = 20; random correlations).
Outputs, at ``--points`` time points on horizons 10/s_min and 1000/s_min: per-task loss
curves, network functions and (where it fits in memory) full Q Q^T.

Run: ``.venv/bin/python benchmarks/linear_dynamics.py`` (add ``--quick`` for a short run).
Prints one table; time in seconds, wall clock and CPU time of this process, and the speed-up
over the ODE in both ("speed-up": wall, "cpu s-up": CPU; closed-form times include building
MTLDynamics: the SVDs; best of 10 repeats; the ODE best of 3 on (a) and on
(b) at 10/s_min, once on (b) at 1000/s_min; GD once; the machine is shared, so the best of a
few repeats is the least noisy estimate), peak = tracemalloc peak of NumPy/Python allocations
(torch's own allocations are not traced).
The ODE baseline's time is the integration (all three outputs come from one run) plus the
products that turn its weights into that output.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from tasklens.linear.dynamics import MTLDynamics, zero_balanced_init
from tasklens.linear.simulate import gradient_flow, train_linear_mtl

QQT_MEMORY_LIMIT = 2e9  # bytes: skip the full Q Q^T output above this
REPEATS = 10  # best-of for the closed form (milliseconds; the long ODE runs once)


def measure(fn: Callable[[], Any], repeats: int = 1) -> tuple[Any, float, float, float]:
    """Run ``fn``: (result, best wall s, best CPU s over ``repeats``, peak MiB traced on run 1).

    The machine is shared, so the best of a few repeats is the least noisy estimate of a
    method's cost; CPU time (``time.process_time``) is less sensitive to other jobs than wall
    time. The Multi-MNIST-sized ODE baseline at 1000/s_min (minutes) runs once.
    """
    tracemalloc.start()
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    best, best_cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    for _ in range(repeats - 1):
        del out
        start, cpu = time.perf_counter(), time.process_time()
        out = fn()
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return out, best, best_cpu, peak


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def orthonormal(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    return np.linalg.qr(rng.standard_normal((rows, cols)))[0]


def figure3_problem(seed: int) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray]]:
    """Figure 3 / Appendix E: S_1 = diag(4, 3), S_2 = diag(2, 1.5), conflicting tasks."""
    rng = np.random.default_rng(seed)
    V1 = orthonormal(rng, 4, 2)
    V2 = orthonormal(rng, 4, 2)
    sig = [
        orthonormal(rng, 2, 2) @ np.diag([4.0, 3.0]) @ V1.T,
        orthonormal(rng, 2, 2) @ np.diag([2.0, 1.5]) @ V2.T,
    ]
    for s in range(seed, seed + 100):  # N_i = N_o: pick an init that Theorem 2 covers
        ws, heads = zero_balanced_init(4, 4, [2, 2], 1e-3, s)
        if MTLDynamics(sig, ws, heads).method == "closed_form":
            return sig, ws, heads
    raise RuntimeError("no closed-form init found")


def mnist_sized_problem(seed: int) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray]]:
    """N_i = 1296, two 10-way tasks with partly aligned input modes, N_s = 20."""
    rng = np.random.default_rng(seed)
    V1 = orthonormal(rng, 1296, 10)
    V2 = np.linalg.qr(V1 + 0.7 * orthonormal(rng, 1296, 10))[0]
    s = np.linspace(2.0, 0.3, 10)
    sig = [
        orthonormal(rng, 10, 10) @ np.diag(s) @ V1.T,
        orthonormal(rng, 10, 10) @ np.diag(0.8 * s) @ V2.T,
    ]
    ws, heads = zero_balanced_init(1296, 20, [10, 10], 1e-2, seed)
    return sig, ws, heads


def whitened_inputs(n: int, n_in: int, seed: int) -> np.ndarray:
    z = np.random.default_rng(seed).standard_normal((n, n_in))
    w, q = np.linalg.eigh(z.T @ z / n)
    return z @ (q / np.sqrt(w)) @ q.T


def run_problem(name: str, problem, points: int, horizons, gd_epochs: int, n_gd: int):
    """Yield table rows as they are measured."""
    sig, ws, heads = problem
    dyn = MTLDynamics(sig, ws, heads)
    s = dyn.basis.S
    s_min = float(s[s > 1e-12].min())
    n = dyn.n_inputs + dyn.n_outputs
    for factor in horizons:
        t = np.linspace(0.0, factor / s_min, points)
        ode_repeats = 3 if (n < 100 or factor <= 10) else 1
        flow, t_ode, c_ode, m_ode = measure(
            lambda t=t: gradient_flow(sig, ws, heads, t, rtol=1e-9), ode_repeats
        )
        funcs_ode, t_f, c_f, m_f = measure(lambda flow=flow: flow.network_functions())
        label = f"{name}, T={factor}/s_min"
        loss_cf, t_l, c_l, m_l = measure(lambda t=t: MTLDynamics(sig, ws, heads).losses(t), REPEATS)
        yield (label, "losses", "ode", t_ode, c_ode, m_ode, None, 1.0)
        err_l = rel_err(loss_cf, flow.losses)
        yield (label, "losses", dyn.method, t_l, c_l, m_l, err_l, t_ode / t_l)
        fun_cf, t_n, c_n, m_n = measure(
            lambda t=t: MTLDynamics(sig, ws, heads).network_functions(t), REPEATS
        )
        err_f = max(rel_err(a, b) for a, b in zip(fun_cf, funcs_ode))
        yield (label, "network fns", "ode", t_ode + t_f, c_ode + c_f, max(m_ode, m_f), None, 1.0)
        yield (label, "network fns", dyn.method, t_n, c_n, m_n, err_f, (t_ode + t_f) / t_n)
        del fun_cf, funcs_ode
        if points * n * n * 8 * 3 < QQT_MEMORY_LIMIT:
            q = [np.concatenate([flow.shared.swapaxes(1, 2), *flow.heads], axis=1)]
            x_ode, t_q0, c_q0, _ = measure(lambda q=q: q[0] @ q[0].swapaxes(1, 2))
            x_cf, t_q, c_q, m_q = measure(lambda t=t: MTLDynamics(sig, ws, heads).qqt(t), REPEATS)
            yield (label, "Q Q^T", "ode", t_ode + t_q0, c_ode + c_q0, m_ode, None, 1.0)
            err_q = rel_err(x_cf, x_ode)
            yield (label, "Q Q^T", dyn.method, t_q, c_q, m_q, err_q, (t_ode + t_q0) / t_q)
        else:
            gib = points * n * n * 8 / 2**30
            skipped = f"Q Q^T skipped ({gib:.1f} GiB)"
            yield (label, skipped, "-", np.nan, np.nan, np.nan, None, None)
        del flow
        if factor == horizons[0] and gd_epochs > 0:
            x = whitened_inputs(n_gd, dyn.n_inputs, 0)
            ys = [x @ m.T for m in sig]
            lr = (factor / s_min) / gd_epochs
            res, t_gd, c_gd, m_gd = measure(
                lambda x=x, ys=ys, lr=lr: train_linear_mtl(
                    x,
                    ys,
                    dyn.n_hidden,
                    learning_rate=lr,
                    epochs=gd_epochs,
                    record_every=max(1, gd_epochs // 100),
                    weights=([ws], heads),
                    n_probe=1,
                )
            )
            err = rel_err(res.losses, dyn.losses(res.t))
            yield (label, f"losses (GD, lr={lr:.2g})", "gd", t_gd, c_gd, m_gd, err, t_ode / t_gd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (fewer points/epochs)")
    parser.add_argument("--points", type=int, default=None, help="time points (default 1000)")
    args = parser.parse_args()
    points = args.points or (200 if args.quick else 1000)
    import scipy
    import torch

    print(
        f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  {platform.machine()}"
        f"  {os.cpu_count()} cores  python {platform.python_version()}"
        f"  numpy {np.__version__}  scipy {scipy.__version__}  torch {torch.__version__}"
        f"  points={points}  quick={args.quick}"
    )
    rows_a = run_problem(
        "(a) Fig.3",
        figure3_problem(0),
        points,
        (10, 1000),
        gd_epochs=2000 if args.quick else 20000,
        n_gd=64,
    )
    rows_b = run_problem(
        "(b) MNIST-size",
        mnist_sized_problem(0),
        points,
        (10,) if args.quick else (10, 1000),
        gd_epochs=0 if args.quick else 1000,
        n_gd=1500,
    )
    header = (
        f"{'problem':28s} {'output':28s} {'method':12s} {'time s':>9s} {'cpu s':>9s} "
        f"{'peak MiB':>9s} {'rel err':>9s} {'speed-up':>9s} {'cpu s-up':>9s}"
    )
    print(header)
    print("-" * len(header), flush=True)
    baseline_cpu: dict[tuple[str, str], float] = {}  # ODE CPU time per (problem, output)
    for label, out, method, sec, cpu, mem, err, ratio in itertools.chain(rows_a, rows_b):
        kind = "losses" if out.startswith("losses") else out
        if method == "ode":
            baseline_cpu[(label, kind)] = cpu
        if err is None:
            err_s = "baseline" if method == "ode" else "-"
        else:
            err_s = f"{err:.1e}"
        ratio_s = "-" if ratio is None else f"{ratio:.1f}x"
        base = baseline_cpu.get((label, kind))
        cpu_s = "-" if ratio is None or base is None else f"{base / cpu:.1f}x"
        print(
            f"{label:28s} {out:28s} {method:12s} {sec:9.4f} {cpu:9.4f} {mem:9.1f} {err_s:>9s} "
            f"{ratio_s:>9s} {cpu_s:>9s}",
            flush=True,
        )


if __name__ == "__main__":
    main()
