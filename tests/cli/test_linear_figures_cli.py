"""``tasklens linear figures`` (quick mode): every PNG and the JSON are written, the printed
numbers equal the paper's (App. D.2, E) and the Multi-MNIST part satisfies known facts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from tasklens.cli.linear_figures import figures

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNGS = ("paper000_fig3_dynamics.png", "paper000_fig4_gamma_mtl.png",
        "paper000_fig5_rsms.png", "paper000_fig6_multi_mnist.png")


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[Path]]]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("paper000")
    yield out, figures(out, quick=True, mnist_n=300)
    torch.set_num_threads(before)


def test_quick_mode_writes_every_png_and_the_json(written):
    out, paths = written
    assert sorted(p.name for p in paths) == sorted([*PNGS, "paper000_figures.json"])
    for name in PNGS:
        with open(out / name, "rb") as fh:
            assert fh.read(8) == PNG_MAGIC, name
        assert (out / name).stat().st_size > 10_000


def test_json_numbers_equal_the_paper(written):
    out, _ = written
    data = json.loads((out / "paper000_figures.json").read_text())
    nums = data["figure3"]["numbers"]
    assert np.round(nums["fig3_aligned_s_xi"], 3).tolist() == [4.472, 3.354]
    assert np.round(nums["fig3_conflicting_overlap"], 3).tolist() == [0.923, 0.277]
    plot_b = next(c for c in data["appendix_d2"] if "plotB" in c["name"])
    assert np.round(plot_b["computed"], 3).tolist() == [4.0, 1.5, 1.0, 0.5]
    assert data["settings"]["quick"] is True
    fig6 = data["figure6"]
    assert fig6["settings"]["n"] == 300
    for run in fig6["runs"]:
        # alpha_1 = 1 exactly: the input-mean mode of one-hot targets (paper: both variants)
        assert abs(run["overlaps"][0] - 1.0) < 1e-6
        assert len(run["paper_overlaps"]) == 10
        assert run["method"] == "closed_form"
        assert run["max_abs_error_gd_vs_closed_form"] < 0.05
    for run in data["figure4"]["runs"]:
        assert run["method"] == "closed_form"
        np.testing.assert_allclose(run["initial_losses"][0], 1.0, rtol=1e-3)


def test_registered_command_parses_options_and_rejects_bad_input(tmp_path: Path):
    app = typer.Typer()
    app.command("figures")(figures)
    app.command("noop")(lambda: None)  # two commands, so "figures" is a subcommand
    runner = CliRunner()
    result = runner.invoke(app, ["figures", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--out", "--quick", "--seed", "--mnist-n"):
        assert option in result.output
    bad = runner.invoke(app, ["figures", "--out", str(tmp_path), "--mnist-n", "5"])
    assert bad.exit_code != 0
    assert "--mnist-n" in bad.output
    assert not any(tmp_path.iterdir())
