"""CORE-MTL at small scale: corruption robustness, component ablation, λ sensitivity.

Wu, Zou, Wu and Wang 2026 ("CORE-MTL: Rethinking Gradient Balancing via Causal Orthogonal
Representations", arXiv:2606.02221): Table 2 right / App. J (corruptions), Table 5
(components), App. G/H (λ_CKA, λ_CFA). All three train on the source colours of
``colored_digits`` with the shortcut stress test's settings
(:mod:`tasklens.studies.core_mtl_robustness`) and share one run folder, so a model two
experiments need is trained once; a rerun resumes.

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/core_mtl_robustness.py
--out tasklens-output/core-mtl-robustness`` (``--experiments corruption,ablation`` for a
subset; ``--quick`` for a smoke test: 1 seed, 1 epoch, 200 digits).
"""

from __future__ import annotations

import platform
import time

import numpy as np
import torch

from tasklens.studies.core_mtl_robustness import (
    component_ablation,
    corruption_robustness,
    lambda_sensitivity,
    save_robustness,
)

try:  # run as a script (benchmarks/ on sys.path) or imported as benchmarks.core_mtl_robustness
    from _common import one_thread, study_parser
except ModuleNotFoundError:
    from benchmarks._common import one_thread, study_parser

EXPERIMENTS = {"corruption": corruption_robustness, "ablation": component_ablation,
               "sensitivity": lambda_sensitivity}


def main() -> None:
    parser = study_parser(__doc__, "tasklens-output/core-mtl-robustness")
    parser.add_argument("--experiments", default="corruption,ablation,sensitivity")
    args = parser.parse_args()
    one_thread()
    seeds, epochs, n = tuple(range(args.seeds)), args.epochs, None
    if args.quick:
        seeds, epochs, n = (0,), 1, 200
    print(f"# core_mtl_robustness — {platform.machine()}, torch {torch.__version__}, numpy "
          f"{np.__version__}, 1 thread; colored_digits (n={n or 1797}), {epochs} epochs, "
          f"seeds {list(seeds)}")
    for name in args.experiments.split(","):
        t0 = time.perf_counter()
        result = EXPERIMENTS[name.strip()](args.out, seeds=seeds, epochs=epochs, n=n,
                                           progress=False)
        result = save_robustness(result, args.out)
        print(f"\n## {name} ({time.perf_counter() - t0:.0f} s, runs resumed or trained)\n")
        print(open(result.files["markdown"]).read(), flush=True)
        if result.failed:
            print(f"failed runs: {result.failed}")


if __name__ == "__main__":
    main()
