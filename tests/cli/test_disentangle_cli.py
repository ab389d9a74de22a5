"""``tasklens disentangle study``: writes the results table and figures; clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tasklens.cli.disentangle import disentangle_app

runner = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    # the lead mounts disentangle_app in tasklens.cli.main; mount it the same way here
    root = typer.Typer()
    root.add_typer(disentangle_app, name="disentangle")
    return root


def test_study_quick_writes_csv_markdown_and_pngs(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "study"
    result = runner.invoke(app, ["disentangle", "study", "--quick", "--parts",
                                 "autoencoders,figures", "--out", str(out)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    with open(out / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["model"] for r in rows] == ["ae", "beta_vae", "factor_vae"]
    assert (out / "results.md").read_text().startswith("| model | runs |")
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert pngs == sorted(f"{kind}_{m}_seed0.png" for m in ("ae", "beta_vae", "factor_vae")
                          for kind in ("embedding", "traversal", "reconstruction"))
    for name in pngs:
        assert (out / "figures" / name).read_bytes()[:8] == PNG_MAGIC
    assert "results.csv" in result.output


def test_unknown_part_is_a_clear_error(app: typer.Typer, tmp_path: Path) -> None:
    result = runner.invoke(app, ["disentangle", "study", "--quick", "--parts", "everything",
                                 "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown parts" in result.stderr and result.stderr.count("\n") == 1


def test_bad_sweep_is_a_clear_error(app: typer.Typer, tmp_path: Path) -> None:
    result = runner.invoke(app, ["disentangle", "study", "--sweep", "2,x", "--out",
                                 str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --sweep") and result.stderr.count("\n") == 1
