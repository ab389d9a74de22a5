"""Argument and printing boilerplate shared by the CORE-MTL study benchmarks
(``core_mtl_grounding.py``, ``core_mtl_scaling.py``, ``core_mtl_robustness.py``).

Imported as ``_common`` when a benchmark runs as a script (``benchmarks/`` on ``sys.path``)
and as ``benchmarks._common`` when imported from the repository root.
"""

from __future__ import annotations

import argparse
import platform
import time
from typing import Any

import numpy as np
import torch


def study_parser(doc: str, out: str, *, seeds: int = 3, epochs: int = 10,
                 **sizes: int) -> argparse.ArgumentParser:
    """Parser with ``--out``, ``--seeds``, ``--epochs``, ``--quick`` and one integer option
    per keyword of ``sizes`` (``n_train=1024`` → ``--n-train``, default 1024)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", default=out)
    parser.add_argument("--seeds", type=int, default=seeds)
    parser.add_argument("--epochs", type=int, default=epochs)
    for name, default in sizes.items():
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=default)
    parser.add_argument("--quick", action="store_true")
    return parser


def one_thread() -> float:
    """Pin torch to one thread (the benchmarks' timing protocol); the start time."""
    torch.set_num_threads(1)
    return time.perf_counter()


def machine() -> str:
    """The processor (or machine type) and the torch / numpy versions."""
    return (f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
            f"numpy {np.__version__}")


def print_study(name: str, result: Any, started: float) -> None:
    """The header line (machine, settings, wall time), the table, failed runs and files of
    a saved study result."""
    print(f"# core_mtl {name} — {machine()}, 1 thread; {result.settings}; "
          f"wall {time.perf_counter() - started:.0f} s")
    print(result.table())
    if result.failed:
        print(f"failed runs: {result.failed}")
    print(f"files: {result.files}")
