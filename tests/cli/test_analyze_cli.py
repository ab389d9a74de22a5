"""``tasklens analyze`` on bad input: exit 2, one line naming the problem, nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tasklens.cli.main import app

from ..analysis.conftest import write_mixed_csv

runner = CliRunner()


def _error_line(result) -> str:
    """The command's stderr (one line, no traceback)."""
    err = result.stderr.strip()
    assert result.exit_code == 2, (result.output, result.exception)
    assert err.count("\n") == 0 and err.startswith("error: "), err
    assert "Traceback" not in result.output
    return err


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    return write_mixed_csv(tmp_path / "d.csv", n=60)


@pytest.mark.parametrize(("args", "needle"), [
    (["--task", "reg", "--task", "nope"], "'nope'"),
    (["--task", "reg", "--task", "bin", "--inputs", "x0,row_id"], "'row_id' is not numeric"),
    (["--task", "reg"], "only one task"),
    (["--task", "reg", "--task", "bin:bogus"], "unknown kind 'bogus'"),
    (["--task", "reg", "--task", "bin", "--budget", "huge"], "--budget"),
    (["--task", "reg", "--task", "bin", "--methods", "ew,nope"], "--methods"),
    (["--task", "reg", "--task", "bin", "--max-networks", "5"], "--max-networks"),
    (["--task", "reg", "--task", "bin", "--epochs", "0"], "--epochs"),
    (["--task", "reg", "--task", "bin", "--max-steps", "0"], "--max-steps"),
    (["--task", "reg", "--task", "bin", "--executor", "threads"], "--executor"),
    (["--task", "reg", "--task", "bin", "--workers", "0"], "--workers"),
    (["--task", "reg", "--task", "bin", "--image-model", "cnn"], "--image-model"),
    (["--task", "reg", "--task", "bin", "--ray-address", "auto"], "--ray-address"),
    (["--task", "reg", "--task", "bin", "--executor", "serial", "--ray-address", "auto"],
     "--ray-address needs --executor ray"),
])
def test_bad_options_exit_2_with_one_line_and_write_nothing(csv, tmp_path, args, needle):
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", str(csv), "--out", str(out), *args])
    assert needle in _error_line(result)
    assert not out.exists()


def test_nan_targets_exit_2_naming_the_column(tmp_path: Path) -> None:
    path = write_mixed_csv(tmp_path / "d.csv", n=60)
    df = pd.read_csv(path)
    df["bin"] = np.nan
    df.to_csv(path, index=False)
    out = tmp_path / "out"
    result = runner.invoke(app, ["analyze", str(path), "--task", "reg", "--task", "bin",
                                 "--out", str(out)])
    assert "'bin' has no values" in _error_line(result)
    assert not out.exists()


@pytest.mark.parametrize("kind", ["file", "under_file", "read_only_fs"])
def test_unwritable_out_exits_2_before_any_work(csv, tmp_path: Path, kind: str) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = {"file": blocker, "under_file": blocker / "out",
           "read_only_fs": Path("/proc/tasklens-analyze-test")}[kind]
    if kind == "read_only_fs" and not Path("/proc").is_dir():
        pytest.skip("no /proc on this system")
    result = runner.invoke(app, ["analyze", str(csv), "--task", "reg", "--task", "bin",
                                 "--out", str(out)])
    assert "--out" in _error_line(result)
    assert blocker.read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "d.csv"]


def test_missing_data_file_and_unknown_builtin(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", str(tmp_path / "absent.csv"), "--out",
                                 str(tmp_path / "o")])
    assert "does not exist" in _error_line(result)
    result = runner.invoke(app, ["analyze", "nope", "--out", str(tmp_path / "o")])
    assert "built-in set" in _error_line(result)


@pytest.mark.parametrize("command", ["train", "group", "compare-methods"])
def test_stage_subcommands_check_the_executor_options(csv, tmp_path: Path, command: str
                                                      ) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, [command, str(csv), "--task", "reg", "--task", "bin",
                                 "--out", str(out), "--workers", "0"])
    assert "--workers" in _error_line(result)
    assert not out.exists()


def test_max_steps_caps_every_training(tmp_path: Path) -> None:
    """``--max-steps 7`` on 400 rows (320 training rows, 5 batches of 64 per epoch): stage 3
    stops after its seventh step, inside the second of the 3 epochs asked for."""
    import json

    path = write_mixed_csv(tmp_path / "d.csv", n=400)
    out = tmp_path / "out"
    result = runner.invoke(app, ["train", str(path), "--task", "reg", "--task", "bin",
                                 "--out", str(out), "--epochs", "3", "--max-steps", "7",
                                 "--executor", "serial"],
                           env={"COLUMNS": "200", "MPLBACKEND": "Agg"})
    assert result.exit_code == 0, (result.output, result.exception)
    res = json.loads((out / "results.json").read_text())
    assert res["settings"]["max_steps"] == 7
    assert res["stages"]["summary"]["result"]["steps_per_training"] == 7
    assert max(res["stages"]["multitask"]["result"]["steps"]) == 6  # step indices 0…6


@pytest.mark.parametrize(("choice", "encoder"), [("mlp", "MLPEncoder"),
                                                 ("conv", "FlatImageEncoder")])
def test_image_model_option_is_recorded(tmp_path: Path, choice: str, encoder: str) -> None:
    """``--image-model`` on an image set: recorded in results.json and the report header;
    the saved stage-3 model has the matching encoder."""
    import json

    import torch

    from tasklens.analysis import AnalysisSettings, load_data
    from tasklens.analysis.training import build_model

    out = tmp_path / choice
    result = runner.invoke(app, ["train", "colored_digits", "--max-rows", "60", "--epochs", "1",
                                 "--seeds", "1", "--image-model", choice, "--executor",
                                 "serial", "--out", str(out)],
                           env={"COLUMNS": "200", "MPLBACKEND": "Agg"})
    assert result.exit_code == 0, (result.output, result.exception)
    res = json.loads((out / "results.json").read_text())
    assert res["settings"]["image_model"] == choice and res["data"]["image_model"] == choice
    assert res["data"]["models"].startswith(choice) and "3×8×8" in res["data"]["models"]
    assert f"models: {res['data']['models']}" in (out / "report.html").read_text("utf-8")
    # the weights stage 3 saved load strictly into the model of that choice
    st = AnalysisSettings.for_budget("fast", **{k: v for k, v in res["settings"].items()
                                                if k != "budget"})
    model = build_model(load_data("colored_digits", max_rows=60).taskset, st, 0)
    assert type(model.encoder).__name__ == encoder
    weights = next((out / "stages").rglob("all_ew_seed0.pt"))
    model.load_state_dict(torch.load(weights, weights_only=True))
