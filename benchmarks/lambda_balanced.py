"""Benchmark: the λ-balanced closed form against the ODE path it replaces (issue 3, failure (d)).

For λ-balanced inits (``WᵀW − W_S W_Sᵀ = λI``, :func:`tasklens.linear.lambda_balanced_init`)
``MTLDynamics`` used to integrate eq. 5 of 000 (scipy, ``method="ode"``); it now uses
:class:`tasklens.linear.LambdaBalancedSolution`. Both compute ``QQᵀ(t)`` at the same time
points; the ratio is ODE time / closed-form time measured in the same run (closed form: best of
3; ODE: one run), and "max rel diff" is ``max |ΔQQᵀ| / max |QQᵀ_ODE|``. Σ_io ~ N(0, 1/N_i),
init scale 0.1.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lambda_balanced.py``
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from tasklens.linear import LambdaBalancedSolution, MTLDynamics, lambda_balanced_init

# (N_i, task output sizes, N_s, λ, time points, horizon)
CASES = (
    (8, [2, 2], 4, 1.0, 200, 30.0),
    (32, [4, 4], 8, -2.0, 200, 30.0),
    (64, [8, 8], 16, 5.0, 200, 30.0),
    (64, [8, 8], 16, 5.0, 200, 1000.0),
    (32, [4, 4], 8, -0.1, 200, 1000.0),
)


def best(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Shortest wall time of ``repeats`` calls, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    print(f"# numpy {np.__version__}, Python {platform.python_version()}")
    print("| N_i | task sizes | N_s | λ | T | closed form (s) | ODE path (s) | ratio | "
          "max rel diff |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n_in, sizes, n_s, lam, n_t, horizon in CASES:
        rng = np.random.default_rng(0)
        sigmas = [rng.standard_normal((m, n_in)) / np.sqrt(n_in) for m in sizes]
        w_s, heads = lambda_balanced_init(n_in, n_s, sizes, lam, scale=0.1, seed=1)
        t = np.linspace(0.0, horizon, n_t)
        t_cf, closed = best(lambda s=sigmas, a=w_s, h=heads, tt=t:
                            LambdaBalancedSolution(s, a, h).qqt(tt), 3)
        t_ode, ode = best(lambda s=sigmas, a=w_s, h=heads, tt=t:
                          MTLDynamics(s, a, h, method="ode").qqt(tt), 1)
        diff = np.abs(closed - ode).max() / np.abs(ode).max()
        print(f"| {n_in} | {sizes} | {n_s} | {lam} | {n_t} pts in [0, {horizon:g}] | "
              f"{t_cf:.4f} | {t_ode:.3f} | {t_ode / t_cf:.0f}× | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
