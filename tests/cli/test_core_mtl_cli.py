"""``tasklens core-mtl``: quick run writes table, JSON and PNG; bad options exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tasklens.cli.main import app

runner = CliRunner()


def test_quick_run_prints_table_and_writes_files(tmp_path: Path) -> None:
    out = tmp_path / "core"
    result = runner.invoke(app, ["core-mtl", "--quick", "--methods", "ew,core_mtl",
                                 "--out", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "| EW |" in result.output and "smallest digit gap" in result.output
    record = json.loads((out / "shortcut.json").read_text())
    assert record["methods"] == ["ew", "core_mtl"] and record["seeds"] == [0]
    assert record["settings"]["epochs"] == 1
    assert (out / "shortcut.png").read_bytes()[:4] == b"\x89PNG"
    for name in ("core_mtl_reconstructions.png", "core_mtl_swaps.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
        assert f"wrote {out / name}" in result.output.replace("\n", "")


def test_quick_experiments_share_the_run_folder(tmp_path: Path) -> None:
    out = tmp_path / "robust"
    result = runner.invoke(app, ["core-mtl", "--quick", "--experiment", "corruption",
                                 "--methods", "core_mtl", "--out", str(out)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "At severity 3" in result.output and "| CORE-MTL (soft) | 1/1 |" in result.output
    record = json.loads((out / "corruption.json").read_text())
    assert record["methods"] == ["core_mtl"] and record["settings"]["epochs"] == 1
    assert len(list((out / "runs").glob("*.json"))) == 1


@pytest.mark.parametrize("args, word", [
    (["--experiment", "bogus"], "--experiment"),
    (["--methods", "ew,bogus"], "methods"), (["--seeds", "x"], "--seeds"),
    (["--seeds", "0"], "--seeds"), (["--epochs", "0"], "epochs")])
def test_bad_options_exit_2_with_one_line(tmp_path: Path, args: list[str], word: str) -> None:
    result = runner.invoke(app, ["core-mtl", "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 2
    assert word in result.output and result.output.count("\n") <= 2


def test_output_path_that_is_a_file_fails_before_work(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    result = runner.invoke(app, ["core-mtl", "--out", str(f)])
    assert result.exit_code == 2 and "is a file" in result.output
