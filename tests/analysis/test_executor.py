"""``--executor``: the trainings as run_jobs jobs give the same results on every executor;
finished jobs of an unfinished stage are reused with --resume; options are checked."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tasklens.analysis import AnalysisSettings, load_data, run_analysis
from tasklens.analysis.executor import (
    PROCESS_MIN_CPUS,
    ExecutorSettings,
    TrainJob,
    available_cpus,
)
from tasklens.analysis.training import fit

from .conftest import TINY, invoke


@pytest.fixture
def one_thread():
    """Serial trainings run in the test process: one torch thread, as in the workers
    (bit-identical sums; restored afterwards)."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def _strip_run(results: dict[str, Any]) -> dict[str, Any]:
    """results.json without what legitimately differs between runs (timings, executor)."""
    out = {k: v for k, v in results.items() if k != "run"}
    out["stages"] = {n: {k: v for k, v in e.items() if k != "seconds"}
                     for n, e in results["stages"].items()}
    return out


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"executor": "threads"}, "--executor"),
    ({"executor": "process", "workers": 0}, "--workers"),
    ({"executor": "process", "ray_address": "auto"}, "--ray-address needs --executor ray"),
    ({"executor": "serial", "ray_address": "auto"}, "--ray-address needs --executor ray"),
])
def test_bad_executor_options_name_the_option(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        ExecutorSettings.resolve(**kwargs)


def test_defaults_follow_the_cpus() -> None:
    ex = ExecutorSettings.resolve()
    assert ex.executor == ("process" if available_cpus() >= PROCESS_MIN_CPUS else "serial")
    assert ExecutorSettings.resolve("process").workers == available_cpus()
    assert ExecutorSettings.resolve("SERIAL").to_dict() == {
        "executor": "serial", "workers": 1, "ray_address": None}


def test_serial_equals_process_executor(default_run: Path, tmp_path: Path, one_thread
                                        ) -> None:
    """default_run used the process pool (2 workers); the same run with every training in
    this process gives the same results.json (but timings) and the same model weights."""
    out = tmp_path / "serial"
    invoke(["analyze", "--out", str(out), *TINY, "--executor", "serial"])
    serial = json.loads((out / "results.json").read_text())
    pooled = json.loads((default_run / "results.json").read_text())
    assert pooled["run"]["executor"] == {"executor": "process", "workers": 2,
                                         "ray_address": None}
    assert serial["run"]["executor"]["executor"] == "serial"
    assert _strip_run(serial) == _strip_run(pooled)
    for name in ("model.pt", "stages/models/stl_left_seed0.pt", "stages/models/all_uw_seed0.pt"):
        assert (out / name).read_bytes() == (default_run / name).read_bytes(), name


def test_a_job_equals_a_direct_training(tmp_path: Path, one_thread) -> None:
    """The job function returns what fit() measures for the same tasks and seed."""
    from tasklens.analysis.executor import TrainRunner

    data = load_data(None, None, None, max_rows=240, seed=0)
    st = AnalysisSettings.for_budget("fast", epochs=1, max_rows=240)
    split = data.taskset.split(test_size=st.test_size, seed=st.seed)
    names = split.train.task_names[:2]
    job = TrainJob(tuple(names), 1, "uw", "w.pt")
    got = TrainRunner(split, st, str(tmp_path))(job)
    _, want, _ = fit(split, names, 1, st, method="uw")
    assert got == want
    assert (tmp_path / "w.pt").is_file()


def _mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.json")}


def test_resume_reuses_the_finished_jobs_of_an_unfinished_stage(tmp_path: Path, one_thread
                                                                ) -> None:
    data = load_data(None, None, None, max_rows=240, seed=0)
    st = AnalysisSettings.for_budget("fast", epochs=1, max_rows=240)
    first = run_analysis(data, st, tmp_path, stages=["baselines"])
    jobs = tmp_path / "stages" / "jobs" / "baselines"
    before = _mtimes(jobs)
    # 5 single-task models × 2 seeds + the second seed's all-task model
    assert len(before) == 11
    # as if killed during the stage: its cache and one job (and one weight file) missing
    (tmp_path / "stages" / "baselines.json").unlink()
    lost_job = sorted(before)[0]
    (jobs / lost_job).unlink()
    weights = tmp_path / "stages" / "models" / "stl_left_seed0.pt"
    weights.unlink()
    resumed = run_analysis(data, st, tmp_path, stages=["baselines"], resume=True)
    after = _mtimes(jobs)
    rerun = {n for n in after if after[n] != before.get(n)}
    weight_job = [n for n in after if json.loads((jobs / n).read_text())["job"]["save"]
                  == "stl_left_seed0.pt"]
    assert rerun == {lost_job, *weight_job}  # only those ran again
    assert weights.is_file()
    assert resumed["run"]["reused"] == ["summary", "theory", "multitask"]
    assert _strip_run(resumed) == _strip_run(first)
    # without --resume every job runs again
    run_analysis(data, st, tmp_path, stages=["baselines"])
    again = _mtimes(jobs)
    assert set(again) == set(before) and all(again[n] != after[n] for n in again)


@pytest.mark.slow
def test_ray_executor_equals_serial(default_run: Path, tmp_path: Path, one_thread) -> None:
    """On a local Ray instance (2 CPUs) the results equal the process pool's."""
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        ray.shutdown()
    root = Path(__file__).resolve().parents[2]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=100 * 1024**2, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(
                 [str(root / "src"), str(root), os.environ.get("PYTHONPATH", "")]),
                 "OMP_NUM_THREADS": "1"}})
    try:
        out = tmp_path / "ray"
        invoke(["analyze", "--out", str(out), *TINY, "--executor", "ray", "--workers", "2"])
        assert ray.is_initialized()  # an instance the caller started is left running
    finally:
        ray.shutdown()
    got = json.loads((out / "results.json").read_text())
    assert got["run"]["executor"]["executor"] == "ray"
    assert _strip_run(got) == _strip_run(json.loads((default_run / "results.json")
                                                    .read_text()))
    assert (out / "model.pt").read_bytes() == (default_run / "model.pt").read_bytes()
