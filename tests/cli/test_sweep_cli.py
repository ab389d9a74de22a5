"""``tasklens sweep``: the ground-truth pairwise gains from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tasklens.cli.main import app

from ..analysis.conftest import write_mixed_csv

runner = CliRunner()
ARGS = ["--task", "reg", "--task", "bin", "--task", "cls", "--epochs", "1", "--seeds", "2",
        "--max-rows", "120"]


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    return write_mixed_csv(tmp_path / "d.csv", n=160)


def _files(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}


def test_sweep_writes_gains_that_match_the_job_records(csv: Path, tmp_path: Path) -> None:
    """The gains matrix equals the seed-averaged differences recomputed from the per-job
    result files (an independent aggregation), and a rerun trains nothing."""
    out = tmp_path / "out"
    result = runner.invoke(app, ["sweep", str(csv), "--out", str(out), *ARGS,
                                 "--executor", "serial"], env={"MPLBACKEND": "Agg"})
    assert result.exit_code == 0, (result.output, result.exception)
    assert (out / "gains.png").stat().st_size > 1000
    truth = json.loads((out / "ground_truth.json").read_text())
    names = truth["metric_gain"]["task_names"]
    assert names == ["reg", "bin", "cls"]
    records = [json.loads(p.read_text()) for p in out.glob("*.json")
               if p.name != "ground_truth.json"]
    assert len(records) == 2 * (3 + 3)  # seeds × (single tasks + pairs)
    runs = {(frozenset(r["result"]["tasks"]), r["result"]["seed"]): r["result"]
            for r in records}
    gain = np.asarray(truth["metric_gain"]["values"], dtype=float)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i == j:
                continue
            diffs = []
            for s in (0, 1):
                alone, both = runs[(frozenset([a]), s)], runs[(frozenset([a, b]), s)]
                m = alone["primary"][a]
                sign = 1.0 if alone["higher_is_better"][a] else -1.0
                diffs.append(sign * (both["metrics"][a][m] - alone["metrics"][a][m]))
            assert gain[i, j] == pytest.approx(np.mean(diffs), rel=1e-9, abs=1e-12)
    before = _files(out)
    again = runner.invoke(app, ["sweep", str(csv), "--out", str(out), *ARGS,
                                "--executor", "serial"], env={"MPLBACKEND": "Agg"})
    assert again.exit_code == 0, again.output
    after = _files(out)
    assert {n for n in after if after[n] != before[n]} == {"ground_truth.json"}


@pytest.mark.parametrize(("args", "needle"), [
    (["--executor", "threads"], "--executor"),
    (["--workers", "0"], "--workers"),
    (["--ray-address", "auto"], "--ray-address needs --executor ray"),
    (["--seeds", "0"], "--seeds"),
    (["--epochs", "0"], "--epochs"),
])
def test_sweep_bad_options_exit_2_before_any_work(csv: Path, tmp_path: Path, args, needle
                                                  ) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["sweep", str(csv), "--out", str(out), "--task", "reg",
                                 "--task", "bin", *args])
    assert result.exit_code == 2, result.output
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err and needle in err, err
    assert not out.exists()


def test_sweep_file_as_out_is_one_line_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("keep")
    result = runner.invoke(app, ["sweep", "--out", str(blocker)])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().startswith("error: --out")
    assert blocker.read_text() == "keep"
