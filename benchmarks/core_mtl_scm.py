"""Benchmark: the OOD gap of the source-optimal linear head on an entangled code, simulated
against Wu et al. 2026 (arXiv:2606.02221) App. A eq. 27, over a grid of mixing angles ψ and
residual shifts.

Library: :func:`tasklens.studies.core_mtl_scm.scm_gap_grid`. Prints the Markdown table (a few
seconds).

Run: ``OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/core_mtl_scm.py``.
"""

from __future__ import annotations

import argparse
import os
import time

from tasklens.studies.core_mtl_scm import scm_gap_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started, load = time.perf_counter(), os.getloadavg()[0]
    grid = scm_gap_grid(n=args.n, seed=args.seed)
    print(f"# scm_gap_grid n={grid.n} seed={grid.seed} w*={grid.w_star} noise={grid.noise}; "
          f"wall {time.perf_counter() - started:.1f} s, load average {load:.2f}")
    print(grid.table())
    print(f"max |z| = {grid.max_abs_z():.2f}")


if __name__ == "__main__":
    main()
