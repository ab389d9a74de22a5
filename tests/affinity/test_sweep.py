"""Resumable sweeps: result files, skip-on-rerun counted by an invocation log, failing and
dying workers, stable ids and seeds, the Ray backend (skipped without Ray)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tasklens.affinity.sweep import (
    ERROR_SUFFIX,
    derive_seed,
    job_id,
    read_result,
    run_jobs,
)


# ----------------------------------------------------------------- job functions (top level:
# the process pool pickles them by reference)
def square_job(job: dict, settings: dict) -> dict:
    """Log the call, fail (or kill the worker) on the job named in a flag file, else square."""
    log = Path(settings["log"])
    with open(log, "a") as handle:  # O_APPEND: one short line per call, safe across processes
        handle.write(f"{job['i']}\n")
    flag = log.with_suffix(".flag")
    if flag.is_file():
        mode, target = flag.read_text().split()
        if job["i"] == int(target):
            if mode == "die":
                os._exit(3)  # a killed worker: no Python cleanup, no error file of its own
            raise RuntimeError(f"job {job['i']} failed on purpose")
    return {"i": job["i"], "square": job["i"] ** 2, "seed": derive_seed(7, job["i"])}


def _calls(log: Path) -> list[int]:
    return [int(line) for line in log.read_text().split()] if log.is_file() else []


def _setup(tmp_path: Path, n: int = 5) -> tuple[list[dict], dict, Path]:
    log = tmp_path / "calls.log"
    return [{"i": i} for i in range(n)], {"log": str(log)}, log


# ----------------------------------------------------------------- resumability
@pytest.mark.parametrize("backend,workers", [("serial", 1), ("process", 2)])
def test_rerun_after_failure_runs_only_the_missing_jobs(tmp_path, backend, workers) -> None:
    jobs, settings, log = _setup(tmp_path)
    out = tmp_path / "out"
    log.with_suffix(".flag").write_text("raise 2")  # the 3rd job raises
    first = run_jobs(jobs, square_job, out, settings=settings, backend=backend,
                     workers=workers)
    failed_id = job_id({"i": 2}, settings)
    assert set(first.errors) == {failed_id} and "failed on purpose" in first.errors[failed_id]
    assert len(first.results) == 4 and not first.complete
    error = json.loads((out / f"{failed_id}{ERROR_SUFFIX}").read_text())
    assert error["job"] == {"i": 2} and "RuntimeError" in error["traceback"]
    assert sorted(_calls(log)) == [0, 1, 2, 3, 4]

    log.with_suffix(".flag").unlink()  # "fix the bug", rerun
    second = run_jobs(jobs, square_job, out, settings=settings, backend=backend,
                      workers=workers)
    assert _calls(log)[5:] == [2]  # only the failed job ran again
    assert second.ran == (failed_id,) and len(second.skipped) == 4 and second.complete
    assert not (out / f"{failed_id}{ERROR_SUFFIX}").exists()
    # results, in job order, are what the function returns (a brute-force recomputation)
    assert [r["square"] for r in second.results.values()] == [i * i for i in range(5)]

    third = run_jobs(jobs, square_job, out, settings=settings, backend=backend,
                     workers=workers)
    assert len(_calls(log)) == 6 and third.ran == () and len(third.skipped) == 5


def test_killed_worker_loses_no_finished_job(tmp_path) -> None:
    """A worker that dies (os._exit) breaks the pool: finished jobs keep their files, the
    rest are reported, and the rerun runs exactly the jobs without a result file."""
    jobs, settings, log = _setup(tmp_path, n=6)
    out = tmp_path / "out"
    log.with_suffix(".flag").write_text("die 3")
    # fork: this job function needs no torch, and forking keeps the test fast; the default
    # start method (spawn) is exercised by the test above
    first = run_jobs(jobs, square_job, out, settings=settings, backend="process", workers=1,
                     mp_context="fork")
    assert first.errors and job_id({"i": 3}, settings) in first.errors
    done_first = {p.name for p in out.glob("*.json") if not p.name.endswith(ERROR_SUFFIX)}
    assert len(done_first) == len(first.results) < 6
    assert all((out / f"{j}{ERROR_SUFFIX}").is_file() for j in first.errors)

    log.with_suffix(".flag").unlink()
    n_before = len(_calls(log))
    second = run_jobs(jobs, square_job, out, settings=settings, backend="process", workers=2,
                      mp_context="fork")
    assert second.complete
    rerun = sorted(_calls(log)[n_before:])
    expected = sorted(j["i"] for j in jobs if f"{job_id(j, settings)}.json" not in done_first)
    assert rerun == expected and len(second.ran) == len(expected)


def test_result_files_are_complete_records(tmp_path) -> None:
    jobs, settings, _ = _setup(tmp_path, n=2)
    res = run_jobs(jobs, square_job, tmp_path / "o", settings=settings, backend="serial")
    for jid, value in res.results.items():
        record = read_result(tmp_path / "o" / f"{jid}.json")
        assert record["id"] == jid and record["result"] == value
        assert record["settings"] == settings and "version" in record
    assert res.to_dict()["results"] == res.results


def test_unreadable_result_is_rerun(tmp_path) -> None:
    jobs, settings, log = _setup(tmp_path, n=2)
    out = tmp_path / "o"
    run_jobs(jobs, square_job, out, settings=settings, backend="serial")
    (out / f"{job_id(jobs[1], settings)}.json").write_text("{not json")
    again = run_jobs(jobs, square_job, out, settings=settings, backend="serial")
    assert _calls(log) == [0, 1, 1] and again.complete


# ----------------------------------------------------------------- ids and seeds
def test_job_id_is_stable_and_sensitive() -> None:
    a = job_id({"tasks": ["a", "b"], "seed": 0}, {"epochs": 2, "lr": 0.1})
    # key order does not matter; a fixed value guards against accidental format changes
    assert a == job_id({"seed": 0, "tasks": ["a", "b"]}, {"lr": 0.1, "epochs": 2})
    assert len(a) == 16 and int(a, 16) >= 0
    assert a != job_id({"tasks": ["a", "b"], "seed": 1}, {"epochs": 2, "lr": 0.1})
    assert a != job_id({"tasks": ["a", "b"], "seed": 0}, {"epochs": 3, "lr": 0.1})
    with pytest.raises(TypeError, match="JSON"):
        job_id(object())


def test_derive_seed_is_deterministic_and_spreads() -> None:
    seeds = [derive_seed(0, "pair", i) for i in range(200)]
    assert seeds == [derive_seed(0, "pair", i) for i in range(200)]
    assert len(set(seeds)) == 200 and all(0 <= s < 2**32 for s in seeds)
    assert derive_seed(1, "pair", 0) != seeds[0]


# ----------------------------------------------------------------- bad input
def test_errors(tmp_path, monkeypatch) -> None:
    jobs, settings, _ = _setup(tmp_path, n=2)
    with pytest.raises(ValueError, match="empty"):
        run_jobs([], square_job, tmp_path, settings=settings)
    with pytest.raises(ValueError, match="duplicate"):
        run_jobs([{"i": 1}, {"i": 1}], square_job, tmp_path, settings=settings)
    with pytest.raises(ValueError, match="backend"):
        run_jobs(jobs, square_job, tmp_path, backend="threads")
    with pytest.raises(ValueError, match="workers"):
        run_jobs(jobs, square_job, tmp_path, workers=0)
    with pytest.raises(TypeError, match="callable"):
        run_jobs(jobs, "square_job", tmp_path)
    monkeypatch.setitem(sys.modules, "ray", None)  # simulate Ray not installed
    with pytest.raises(ImportError, match=r"pip install 'tasklens\[ray\]'"):
        run_jobs(jobs, square_job, tmp_path, backend="ray")


# ----------------------------------------------------------------- Ray (optional)
def test_ray_backend_resumes(tmp_path) -> None:
    pytest.importorskip("ray")
    jobs, settings, log = _setup(tmp_path, n=4)
    out = tmp_path / "out"
    log.with_suffix(".flag").write_text("raise 1")
    first = run_jobs(jobs, square_job, out, settings=settings, backend="ray", workers=2)
    assert list(first.errors) == [job_id({"i": 1}, settings)] and len(first.results) == 3
    log.with_suffix(".flag").unlink()
    second = run_jobs(jobs, square_job, out, settings=settings, backend="ray", workers=2)
    assert second.complete and _calls(log)[4:] == [1]
    assert [r["square"] for r in second.results.values()] == [0, 1, 4, 9]
