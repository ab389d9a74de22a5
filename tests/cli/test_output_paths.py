"""Every command checks its output path first: a file or unwritable --out is one line,
exit 2, before any work (issue 14, item 16)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tasklens.cli._common import OutputPathError, check_output_dir
from tasklens.cli.main import app

runner = CliRunner()

COMMANDS = [
    ["data", "show", "multi_digits"],
    ["linear", "analyze"],
    ["linear", "figures", "--quick"],
    ["quickstart"],
    ["disentangle", "study", "--quick"],
    ["analyze"],
    ["train"],
    ["affinity"],
    ["group"],
    ["compare-methods"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("under_file", [False, True])
def test_file_as_out_is_one_line_exit_2(tmp_path: Path, command: list[str],
                                        under_file: bool) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("keep")
    out = blocker / "sub" if under_file else blocker
    result = runner.invoke(app, [*command, "--out", str(out)])
    assert result.exit_code == 2, (result.output, result.exception)
    err = result.stderr.strip()
    assert err.startswith("error: --out") and "\n" not in err, err
    assert "Traceback" not in result.output
    assert blocker.read_text() == "keep" and [p.name for p in tmp_path.iterdir()] == ["taken"]


def test_check_output_dir_accepts_new_nested_folders_and_creates_nothing(tmp_path: Path):
    target = tmp_path / "a" / "b"
    assert check_output_dir(target) == target
    assert not (tmp_path / "a").exists()
    with pytest.raises(OutputPathError, match="--x"):
        check_output_dir(Path("/proc/no-such-dir"), "--x")


def test_verbose_shows_the_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("keep")
    result = runner.invoke(app, ["-v", "analyze", "--out", str(blocker)])
    assert result.exit_code == 2 and "Traceback" in result.stderr
