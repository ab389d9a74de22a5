"""Disentanglement metrics at the reference sample sizes: time of each, default vs fast DCI.

A sprites-like grid of 5 factors (3 shapes, 6 scales, 40 orientations, 32 x, 32 y) coded by a
random 10-d linear map plus noise. Every metric runs at disentanglement_lib's sizes (10,000
train / 5,000 test points, 64-sample votes). DCI runs four ways:

- ``reference``: a plain loop written here like disentanglement_lib's ``compute_dci`` (one
  ``GradientBoostingClassifier`` per factor, scipy entropies) with the same per-factor seeds;
- ``default, n_jobs=K``: ``tasklens.represent.dci`` (backend ``gbt``), factors in parallel —
  must equal it (``--n-jobs 1``: the sequential default path);
- ``fast (hist)``: ``backend="hist"``, sequential and with ``n_jobs=K`` — an approximation,
  its numbers are printed beside.

Run: ``.venv/bin/python benchmarks/represent_metrics.py [--n-jobs K] [--quick]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.stats
import sklearn

from tasklens.represent import (
    beta_vae_score,
    dci,
    factor_vae_score,
    irs,
    linear_code_source,
    mig,
    modularity_explicitness,
    sample_codes,
    sap,
)

LEVELS = (3, 6, 40, 32, 32)
CODE_DIM = 10


def reference_dci(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                  y_test: np.ndarray, seeds: np.ndarray) -> dict[str, float]:
    """disentanglement_lib's compute_importance_gbt + scores, restated with explicit seeds."""
    from sklearn.ensemble import GradientBoostingClassifier

    n_codes, n_factors = x_train.shape[1], y_train.shape[1]
    importance = np.zeros((n_codes, n_factors))
    acc_train, acc_test = [], []
    for i in range(n_factors):
        model = GradientBoostingClassifier(random_state=int(seeds[i]))
        model.fit(x_train, y_train[:, i])
        importance[:, i] = np.abs(model.feature_importances_)
        acc_train.append(np.mean(model.predict(x_train) == y_train[:, i]))
        acc_test.append(np.mean(model.predict(x_test) == y_test[:, i]))
    per_code = 1.0 - scipy.stats.entropy(importance.T + 1e-11, base=n_factors)
    per_factor = 1.0 - scipy.stats.entropy(importance + 1e-11, base=n_codes)
    return {
        "disentanglement": float(np.sum(per_code * importance.sum(1) / importance.sum())),
        "completeness": float(np.sum(per_factor * importance.sum(0) / importance.sum())),
        "informativeness_train": float(np.mean(acc_train)),
        "informativeness_test": float(np.mean(acc_test)),
    }


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def fmt(value: Any) -> str:
    if hasattr(value, "to_dict"):  # the represent result dataclasses
        value = value.to_dict()
    if isinstance(value, dict):
        return ", ".join(f"{k}={v:.4f}" for k, v in value.items()
                         if isinstance(v, float | int) and not isinstance(v, bool))
    return f"{value:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="1/10 of the sample sizes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="OpenMP/BLAS threads per process (1: parallelism only from n_jobs)")
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    # an oversubscribed OpenMP pool (the histogram booster) spins instead of working on a
    # shared machine; pin the inner threads so that rows compare per-process work
    with threadpool_limits(args.threads):
        _run(args)


def _run(args: argparse.Namespace) -> None:
    scale = 10 if args.quick else 1
    n_train, n_test = 10_000 // scale, 5_000 // scale
    votes = {"num_train": 10_000 // scale, "num_eval": 5_000 // scale}

    src, rep = linear_code_source(LEVELS, CODE_DIM, noise=0.1, seed=args.seed)
    c_tr, f_tr = sample_codes(rep, src, n_train, seed=args.seed + 1)
    c_te, f_te = sample_codes(rep, src, n_test, seed=args.seed + 2)

    print(f"# represent metrics: grid {LEVELS}, code dim {CODE_DIM}, "
          f"{n_train} train / {n_test} test")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}, threads/process {args.threads}, numpy {np.__version__}, "
          f"scikit-learn {sklearn.__version__}, python {platform.python_version()}")
    rows: list[tuple[str, str, float, str]] = []

    def run(metric: str, path: str, fn: Callable[[], Any]) -> Any:
        out, secs = timed(fn)
        rows.append((metric, path, secs, fmt(out)))
        print(f"{metric:<22} {path:<22} {secs:8.2f} s  {fmt(out)}", flush=True)
        return out

    run("MIG", "default", lambda: mig(c_tr, f_tr))
    run("SAP", "default", lambda: sap(c_tr, f_tr, c_te, f_te))
    run("Modularity/Explicit.", "default", lambda: modularity_explicitness(c_tr, f_tr, c_te, f_te))
    run("IRS", "default", lambda: irs(c_tr, f_tr))
    run("FactorVAE", "default", lambda: factor_vae_score(rep, src, args.seed, **votes,
                                                         num_variance_estimate=n_train))
    run("BetaVAE", "default", lambda: beta_vae_score(rep, src, args.seed, **votes))

    seeds = np.random.default_rng(args.seed).integers(0, 2**31 - 1, size=len(LEVELS))
    ref = run("DCI", "reference loop", lambda: reference_dci(c_tr, f_tr, c_te, f_te, seeds))
    t_ref = rows[-1][2]
    default = run("DCI", f"default, n_jobs={args.n_jobs}",
                  lambda: dci(c_tr, f_tr, c_te, f_te, args.seed, n_jobs=args.n_jobs))
    fast = run("DCI", "fast (hist)", lambda: dci(c_tr, f_tr, c_te, f_te, args.seed,
                                                 backend="hist"))
    fast_par = run("DCI", f"fast, n_jobs={args.n_jobs}",
                   lambda: dci(c_tr, f_tr, c_te, f_te, args.seed, backend="hist",
                               n_jobs=args.n_jobs))

    print()
    print(f"DCI default (n_jobs={args.n_jobs}) == reference loop:", default.to_dict() == ref)
    print("DCI fast - default:", {k: round(fast[k] - default[k], 4) for k in default})
    assert fast_par == fast
    for metric, path, secs, _ in rows:
        if metric == "DCI":
            print(f"  {path:<22} {secs:8.2f} s  ratio vs reference {t_ref / secs:5.2f}x")


if __name__ == "__main__":
    main()
