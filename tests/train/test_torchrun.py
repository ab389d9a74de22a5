"""The Trainer under torchrun: two gloo processes on per-process batches of 8 must take the
steps one process takes on the global batch of 16 (the independent reference: the plain
single-process Trainer), for weight and direction methods at parameter and representation
level and FAMO's post-step update; a 2-process checkpoint resumes in one process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _torchrun_script as script

from tasklens.train import Trainer

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(),
                                reason="torch.distributed unavailable")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def torchrun(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("torchrun")
    src = str(Path(script.__file__).resolve().parents[2] / "src")
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           script.__file__, str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, torch.load(out / "results.pt", weights_only=True)


def _assert_same(got: dict, trainer: Trainer) -> None:
    want = script.snapshot(trainer)
    for name, value in want["params"].items():
        torch.testing.assert_close(got["params"][name], value, rtol=0, atol=1e-6, msg=name)
    assert len(got["history"]) == len(want["history"]) == script.EPOCHS
    for row, ref in zip(got["history"], want["history"]):
        assert row.keys() == ref.keys()
        for key, value in ref.items():  # losses, weights (epoch means), val metrics
            assert row[key] == pytest.approx(value, rel=1e-6, abs=1e-6), key


@pytest.mark.parametrize("case", [f"{m}/{lv}" for m, lv in script.CASES])
def test_two_processes_equal_one_on_the_global_batch(torchrun: tuple[Path, dict],
                                                     case: str) -> None:
    _, results = torchrun
    method, level = case.split("/")
    trainer = script.build(method, level, batch_size=16)
    trainer.fit(script.EPOCHS)
    assert trainer.step == script.EPOCHS * script.N // 16
    _assert_same(results[case], trainer)


def test_the_step_cap_counts_global_steps(torchrun: tuple[Path, dict]) -> None:
    """Both processes stop after MAX_STEPS global steps, inside the second epoch, where
    one process on the global batch stops."""
    got = torchrun[1]["capped"]
    assert got["steps"] == [script.MAX_STEPS] * 2
    trainer = script.build("famo", "parameter", batch_size=16)
    trainer.fit(script.EPOCHS, max_steps=script.MAX_STEPS)
    want = script.snapshot(trainer)
    assert [r.get("partial", False) for r in got["history"]] == [False, True]
    for name, value in want["params"].items():
        torch.testing.assert_close(got["params"][name], value, rtol=0, atol=1e-6, msg=name)
    for row, ref in zip(got["history"], want["history"], strict=True):
        assert row.keys() == ref.keys()
        for key, value in ref.items():
            assert row[key] == pytest.approx(value, rel=1e-6, abs=1e-6), key


def test_the_comparison_can_fail(torchrun: tuple[Path, dict]) -> None:
    """One process on a local batch of 8 (no reduction) takes other steps: the equality
    above is the reducer's doing, not a property of the data."""
    local = script.build("mgda", "parameter", batch_size=8)
    local.fit(script.EPOCHS)
    with pytest.raises(AssertionError):
        _assert_same(torchrun[1]["mgda/parameter"], local)


def test_jacobian_methods_are_refused_naming_the_alternative(
        torchrun: tuple[Path, dict]) -> None:
    message = torchrun[1]["refused"]
    assert "graddrop" in message and "level='parameter'" in message


def test_two_process_checkpoint_resumes_in_one_process(torchrun: tuple[Path, dict]) -> None:
    out, _ = torchrun
    assert (out / "logs" / "epochs.csv").is_file()  # written once, by rank 0
    assert len((out / "logs" / "epochs.csv").read_text().splitlines()) == 2
    resumed = script.build("upgrad", "parameter", 16, checkpoint_dir=out / "ckpt")
    resumed.fit(script.EPOCHS, resume=True)
    straight = script.build("upgrad", "parameter", 16)
    straight.fit(script.EPOCHS)
    assert resumed.step == straight.step
    _assert_same(script.snapshot(resumed), straight)


def test_distributed_true_without_a_process_group_is_an_error() -> None:
    with pytest.raises(ValueError, match="torchrun"):
        script.build("ew", "parameter", 8, distributed=True)


def test_resume_with_the_per_process_batch_size_names_the_global_one(
        torchrun: tuple[Path, dict]) -> None:
    from tasklens.train.checkpoint import CheckpointError

    trainer = script.build("upgrad", "parameter", 8, checkpoint_dir=torchrun[0] / "ckpt")
    with pytest.raises(CheckpointError, match=r"batch_size=16.*batch_size × processes"):
        trainer.fit(script.EPOCHS, resume=True)
