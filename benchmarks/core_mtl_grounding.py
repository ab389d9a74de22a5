"""Benchmark: CORE-MTL hard vs soft grounding on shaded shapes, in distribution and under a
photometric shift (Wu et al. 2026, arXiv:2606.02221, eqs. 13–15, Table 6, Table 3).

Library: :func:`tasklens.studies.core_mtl_grounding.grounding_study`. Prints the tables and
writes ``grounding.json``, ``grounding.md`` and ``grounding.png`` to ``--out`` (a rerun
resumes).

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/core_mtl_grounding.py
--out /tmp/core_grounding`` (``--quick``: one seed, one epoch, 128 images).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from tasklens.studies.core_mtl_grounding import grounding_study, save_grounding


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tasklens-output/core-mtl-grounding")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--n-train", type=int, default=1024)
    parser.add_argument("--n-test", type=int, default=512)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.quick:
        args.seeds, args.epochs, args.n_train, args.n_test = 1, 1, 128, 64
    started = time.perf_counter()
    result = grounding_study(args.out, seeds=range(args.seeds), epochs=args.epochs,
                             n_train=args.n_train, n_test=args.n_test, size=args.size)
    result = save_grounding(result, args.out)
    print(f"# core_mtl grounding — {platform.processor() or platform.machine()}, torch "
          f"{torch.__version__}, numpy {np.__version__}, 1 thread; {result.settings}; "
          f"wall {time.perf_counter() - started:.0f} s")
    print(result.table())
    if result.failed:
        print(f"failed runs: {result.failed}")
    print(f"files: {result.files}")


if __name__ == "__main__":
    main()
