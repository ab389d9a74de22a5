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


@pytest.fixture
def one_torch_thread():
    """The test machine is shared: keep torch on one thread inside a test, then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
