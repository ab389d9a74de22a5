"""Shared test configuration: non-interactive plotting, location of shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"


@pytest.fixture
def shared_fixtures() -> Path:
    """The shared fixtures folder; tests using it skip when it is absent."""
    if not FIXTURES.is_dir():
        pytest.skip(f"shared fixtures folder not found at {FIXTURES}")
    return FIXTURES


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The test machine is shared: keep torch on one thread inside every test, then restore.

    Set here for every test rather than at import time in single modules, so that no result
    depends on which modules happened to be collected before it. Tests must still not depend on
    the thread count (or the CPU's instruction set): floats from different code paths are
    compared with tolerances, symmetry and the like hold by construction.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
