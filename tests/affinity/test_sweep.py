"""Resumable sweeps: result files, skip-on-rerun counted by an invocation log, failing and
dying workers, result files checked against their job, workers that stop with a killed
driver, the missing-main-guard error, stable ids and seeds (the Ray backend:
test_sweep_ray.py). How each is tested: tests/README.md ("Sweeps")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
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


# ----------------------------------------------------------------- resumed files are checked
def test_result_file_of_another_job_or_settings_is_rerun(tmp_path, caplog) -> None:
    jobs, settings, log = _setup(tmp_path, n=3)
    out = tmp_path / "o"
    run_jobs(jobs, square_job, out, settings=settings, backend="serial")
    id0, id1, id2 = (job_id(j, settings) for j in jobs)
    # a file copied onto another job's name (its stored id and job are job 0's)
    (out / f"{id1}.json").write_text((out / f"{id0}.json").read_text())
    # a file whose stored settings were changed (e.g. computed under other settings)
    record = json.loads((out / f"{id2}.json").read_text())
    record["settings"] = {**settings, "epochs": 99}
    (out / f"{id2}.json").write_text(json.dumps(record))
    with caplog.at_level("WARNING", logger="tasklens"):
        again = run_jobs(jobs, square_job, out, settings=settings, backend="serial")
    assert sorted(_calls(log)[3:]) == [1, 2]  # exactly the two bad files were rerun
    assert again.ran == (id1, id2) and again.skipped == (id0,)
    assert [r["square"] for r in again.results.values()] == [0, 1, 4]
    assert read_result(out / f"{id1}.json")["job"] == {"i": 1}  # overwritten, now right
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "job id" in messages and "settings differ" in messages


def test_result_file_without_settings_is_rerun(tmp_path) -> None:
    jobs, settings, log = _setup(tmp_path, n=1)
    out = tmp_path / "o"
    jid = job_id(jobs[0], settings)
    out.mkdir()
    (out / f"{jid}.json").write_text(json.dumps({"id": jid, "job": {"i": 0}, "result": 5}))
    res = run_jobs(jobs, square_job, out, settings=settings, backend="serial")
    assert _calls(log) == [0] and res.results[jid]["square"] == 0


# ----------------------------------------------------------------- driver death, main guard
def test_worker_exits_when_its_parent_dies(tmp_path) -> None:
    """A worker's watchdog (as installed by the pool initializer) ends it, before it writes
    anything, once its parent is gone. Process tree: this test → A (exits) → worker B."""
    if not hasattr(os, "fork"):
        pytest.skip("needs os.fork")
    from tasklens.affinity import sweep

    pid_file, late_file = tmp_path / "b.pid", tmp_path / "late.txt"
    a = os.fork()
    if a == 0:  # process A
        try:
            b = os.fork()
            if b == 0:  # process B: the worker
                sweep._init_worker(os.getppid(), 0.02)
                pid_file.write_text(str(os.getpid()))
                time.sleep(3.0)  # "a job" that outlives its driver
                late_file.write_text("written after the driver died")
            else:
                deadline = time.monotonic() + 10
                while not pid_file.exists() and time.monotonic() < deadline:
                    time.sleep(0.01)
        finally:
            os._exit(0)  # the driver dies (B is re-parented)
    os.waitpid(a, 0)
    b_pid = int(pid_file.read_text())
    assert _wait_gone(b_pid, timeout=10)
    time.sleep(0.2)
    assert not late_file.exists()


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie nobody has reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.02)
    return _gone(pid)


def test_run_jobs_in_a_bootstrapping_worker_raises_main_guard_error(tmp_path,
                                                                    monkeypatch) -> None:
    """What a spawned worker sees when it re-imports an unguarded script: run_jobs raises,
    leaves a marker, and the driver turns its dead pool into the same clear error."""
    import multiprocessing

    from tasklens.affinity import sweep

    jobs, settings, log = _setup(tmp_path, n=2)
    out = tmp_path / "o"
    monkeypatch.setattr(multiprocessing.current_process(), "_inheriting", True, raising=False)
    with pytest.raises(sweep.MainGuardError, match=r'if __name__ == "__main__":'):
        run_jobs(jobs, square_job, out, settings=settings, backend="serial")
    assert _calls(log) == []  # nothing ran in the "worker"
    assert (out / sweep.MAIN_GUARD_MARKER).is_file()
    monkeypatch.delattr(multiprocessing.current_process(), "_inheriting")
    with pytest.raises(sweep.MainGuardError):
        sweep._raise_if_main_unguarded(out)  # the driver side, on BrokenProcessPool
    assert not (out / sweep.MAIN_GUARD_MARKER).exists()
    assert run_jobs(jobs, square_job, out, settings=settings, backend="serial").complete


# ----------------------------------------------------------------- end to end (subprocesses)
DRIVER = """
import os, sys, time
from pathlib import Path
from tasklens.affinity.sweep import run_jobs

def job(job, settings):
    with open(settings["log"], "a") as handle:
        handle.write(f"start {{job['i']}} {{os.getpid()}}\\n")
    time.sleep(settings["sleep"])
    return job["i"]

{body}
"""
RUN = ('run_jobs([{{"i": i}} for i in range(6)], job, sys.argv[1], workers=2, '
       'settings={{"log": sys.argv[2], "sleep": {sleep}}}, mp_context="{ctx}")')


def _driver(tmp_path: Path, guarded: bool, sleep: float, ctx: str) -> Path:
    call = RUN.format(sleep=sleep, ctx=ctx)
    body = f'if __name__ == "__main__":\n    {call}' if guarded else call
    script = tmp_path / "driver.py"
    script.write_text(DRIVER.format(body=body))
    return script


def _env() -> dict[str, str]:
    src = os.environ.get("SWEEP_SRC", str(Path(__file__).resolve().parents[2] / "src"))
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_killing_the_driver_stops_its_workers(tmp_path) -> None:
    out, log = tmp_path / "out", tmp_path / "calls.log"
    script = _driver(tmp_path, guarded=True, sleep=4.0, ctx="fork")
    driver = subprocess.Popen([sys.executable, str(script), str(out), str(log)], env=_env())
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(_starts(log)) < 2:
            time.sleep(0.05)
        workers = {pid for _, pid in _starts(log)}
        assert len(workers) == 2, "the two workers never started their first jobs"
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        assert all(_wait_gone(pid, timeout=10) for pid in workers)
        time.sleep(5.0)  # longer than a job: a surviving worker would have written by now
        assert not list(out.glob("*.json")) and len(_starts(log)) == 2
    finally:
        driver.kill()
        for pid in workers:  # never leave orphans behind when the test fails
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)


def _starts(log: Path) -> list[tuple[int, int]]:
    if not log.is_file():
        return []
    return [(int(i), int(pid)) for _, i, pid in
            (line.split() for line in log.read_text().splitlines() if line.strip())]


@pytest.mark.slow
def test_unguarded_spawn_driver_gets_a_clear_error(tmp_path) -> None:
    out, log = tmp_path / "out", tmp_path / "calls.log"
    script = _driver(tmp_path, guarded=False, sleep=0.0, ctx="spawn")
    done = subprocess.run([sys.executable, str(script), str(out), str(log)], env=_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "MainGuardError" in done.stderr and 'if __name__ == "__main__":' in done.stderr
    assert not log.exists()  # no job ran
    guarded = _driver(tmp_path, guarded=True, sleep=0.0, ctx="spawn")
    ok = subprocess.run([sys.executable, str(guarded), str(out), str(log)], env=_env(),
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert len(list(out.glob("*.json"))) == 6
