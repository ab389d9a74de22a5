"""The CLI: version, listing, showing a built-in set, and clear errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tasklens import __version__
from tasklens.cli.main import app

runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_data_list_names_every_builtin() -> None:
    from tasklens.data.builtin import BUILTIN_DATASETS

    result = runner.invoke(app, ["data", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in BUILTIN_DATASETS:
        assert name in result.output


def test_data_show_yeast_writes_png(tmp_path) -> None:
    pytest.importorskip("river")
    result = runner.invoke(app, ["data", "show", "yeast", "--out", str(tmp_path)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    png = tmp_path / "yeast.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Class14" in result.output


def test_unknown_dataset_is_a_clear_error() -> None:
    result = runner.invoke(app, ["data", "show", "nope"])
    assert result.exit_code == 2  # one line on stderr, no traceback
    assert result.stderr.startswith("error: unknown data set 'nope'")
    assert result.stderr.count("\n") == 1


def test_quickstart_writes_forecast_figures(tmp_path) -> None:
    pytest.importorskip("river")
    result = runner.invoke(app, ["quickstart", "--data", "yeast", "--out", str(tmp_path)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "linear-theory forecast" in result.output and "91 task pairs" in result.output
    for name in ("yeast_samples.png", "yeast_alignment.png", "yeast_predicted_losses.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    import json

    saved = json.loads((tmp_path / "yeast_linear_analysis.json").read_text())
    assert len(saved["spectrum"]["task_names"]) == 14


def test_linear_analyze_subset_of_tasks(tmp_path) -> None:
    pytest.importorskip("river")
    result = runner.invoke(app, ["linear", "analyze", "--data", "yeast", "--tasks",
                                 "Class12,Class13", "--out", str(tmp_path)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    # Class12 and Class13 of Yeast are nearly the same label: one overlap of 0.988
    assert "Class12 vs Class13: aligned; overlap singular values [0.988]" in result.output
