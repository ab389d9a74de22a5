"""Shared fixtures: a small mixed-kind CSV written by the tests, and tiny run settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

#: options that keep an end-to-end run to seconds (one epoch, few rows, trainings in the
#: test process: no pool start-up per run)
TINY = ["--epochs", "1", "--seeds", "2", "--max-rows", "240", "--executor", "serial"]


def write_mixed_csv(path: Path, n: int = 240, seed: int = 0, nan_rows: int = 0) -> Path:
    """Regression, binary and 3-class tasks from 6 numeric inputs and one categorical one;
    an id-like text column (not an input); ``nan_rows`` missing regression targets."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    colour = rng.choice(["red", "green", "blue"], size=n)
    reg = x[:, 0] + 0.5 * x[:, 1] + 0.1 * rng.normal(size=n)
    binary = (x[:, 0] - x[:, 2] > 0).astype(int)
    cls = np.where(x[:, 3] > 0.5, "high", np.where(x[:, 3] < -0.5, "low", "mid"))
    df = pd.DataFrame(x, columns=[f"x{i}" for i in range(6)])
    df["colour"] = colour
    df["row_id"] = [f"id-{i:05d}" for i in range(n)]
    df["reg"] = reg
    df["bin"] = binary
    df["cls"] = cls
    if nan_rows:
        df.loc[: nan_rows - 1, "reg"] = np.nan
    df.to_csv(path, index=False)
    return path


@pytest.fixture
def mixed_csv(tmp_path: Path) -> Path:
    return write_mixed_csv(tmp_path / "mixed.csv")


def invoke(args: list[str]) -> Any:
    """Run the CLI in-process; fail the test with its output unless it exits 0."""
    from typer.testing import CliRunner

    from tasklens.cli.main import app

    result = CliRunner().invoke(app, args, env={"COLUMNS": "200", "MPLBACKEND": "Agg"})
    assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture(scope="session")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny ``tasklens analyze`` of the default set, shared by the tests that read it
    (trainings on a pool of 2 worker processes; test_executor compares it with a serial
    run)."""
    out = tmp_path_factory.mktemp("default") / "out"
    invoke(["analyze", "--out", str(out), *TINY, "--executor", "process", "--workers", "2"])
    return out
