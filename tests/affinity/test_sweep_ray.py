"""The sweep's Ray backend on a real local Ray instance (skipped without Ray).

One instance (2 CPUs, no dashboard) is started per module and shared by its tests; the
kill test's driver is a subprocess that joins it by address. How each is tested:
tests/README.md ("Sweeps").
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tasklens.affinity.sweep import ERROR_SUFFIX, derive_seed, job_id, read_result, run_jobs

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_address():
    """A local Ray instance for this module: 2 CPUs, no dashboard, no usage report."""
    saved = os.environ.get("RAY_USAGE_STATS_ENABLED")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # never try to send usage statistics
    if ray.is_initialized():
        ray.shutdown()
    # the Ray workers import this test module (the job functions are pickled by reference)
    root = str(Path(__file__).resolve().parents[2])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             object_store_memory=100 * 1024**2, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(
                 [str(Path(root) / "src"), root, os.environ.get("PYTHONPATH", "")]),
                 "OMP_NUM_THREADS": "1"}})
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        if saved is None:
            os.environ.pop("RAY_USAGE_STATS_ENABLED", None)
        else:
            os.environ["RAY_USAGE_STATS_ENABLED"] = saved


# ----------------------------------------------------------------- job functions
def noisy_job(job: dict, settings: dict) -> dict:
    """Log the call; fail on the job named in a flag file; else a seeded computation."""
    log = Path(settings["log"])
    with open(log, "a") as handle:  # O_APPEND: one short line per call
        handle.write(f"{job['i']} {os.getpid()}\n")
    flag = log.with_suffix(".flag")
    if flag.is_file() and job["i"] == int(flag.read_text()):
        raise RuntimeError(f"job {job['i']} failed on purpose")
    sleep = log.with_suffix(".sleep")
    if sleep.is_file():
        time.sleep(float(sleep.read_text()))
    rng = np.random.default_rng(derive_seed(settings["seed"], job["i"]))
    draws = rng.normal(size=16)
    return {"i": job["i"], "draws": draws.tolist(), "max": float(draws.max())}


def _calls(log: Path) -> list[tuple[int, int]]:
    if not log.is_file():
        return []
    return [(int(i), int(pid)) for i, pid in
            (line.split() for line in log.read_text().splitlines() if line.strip())]


def _setup(tmp_path: Path, n: int) -> tuple[list[dict], dict, Path]:
    log = tmp_path / "calls.log"
    return [{"i": i} for i in range(n)], {"log": str(log), "seed": 11}, log


def _result_files(out: Path) -> set[str]:
    return {p.name[:-5] for p in out.glob("*.json")
            if not p.name.endswith(ERROR_SUFFIX) and not p.name.startswith(".")}


# ----------------------------------------------------------------- same results
def test_ray_gives_the_process_backends_results(tmp_path, ray_address) -> None:
    jobs, settings, log = _setup(tmp_path, n=6)
    by_process = run_jobs(jobs, noisy_job, tmp_path / "p", settings=settings,
                          backend="process", workers=2, mp_context="fork")
    by_ray = run_jobs(jobs, noisy_job, tmp_path / "r", settings=settings, backend="ray",
                      workers=2)
    assert by_ray.complete and by_process.complete
    # the same code on the same seeds: equal by construction, whoever ran the job
    assert by_ray.results == by_process.results
    assert _result_files(tmp_path / "r") == _result_files(tmp_path / "p") == set(by_ray.jobs)
    # an independent recomputation of one job, in this process
    first = by_ray.results[job_id(jobs[0], settings)]
    direct = np.random.default_rng(derive_seed(11, 0)).normal(size=16)
    np.testing.assert_array_equal(first["draws"], direct)
    # the Ray jobs really ran in Ray workers, not in this process
    ray_pids = {pid for _, pid in _calls(log)[6:]}
    assert len(_calls(log)) == 12 and os.getpid() not in ray_pids


def test_ray_backend_resumes_after_a_failed_job(tmp_path, ray_address) -> None:
    jobs, settings, log = _setup(tmp_path, n=4)
    out = tmp_path / "out"
    log.with_suffix(".flag").write_text("1")
    first = run_jobs(jobs, noisy_job, out, settings=settings, backend="ray", workers=2)
    failed = job_id({"i": 1}, settings)
    assert list(first.errors) == [failed] and "failed on purpose" in first.errors[failed]
    assert len(first.results) == 3 and (out / f"{failed}{ERROR_SUFFIX}").is_file()
    log.with_suffix(".flag").unlink()
    second = run_jobs(jobs, noisy_job, out, settings=settings, backend="ray", workers=2,
                      ray_address=ray_address)  # already initialised: used as it is
    assert second.complete and [i for i, _ in _calls(log)[4:]] == [1]
    assert second.ran == (failed,) and len(second.skipped) == 3
    assert not (out / f"{failed}{ERROR_SUFFIX}").exists()


# ----------------------------------------------------------------- a killed driver
DRIVER = """
import sys
sys.path.insert(0, {tests_root!r})
from tests.affinity.test_sweep_ray import noisy_job
from tasklens.affinity.sweep import run_jobs

if __name__ == "__main__":
    address = None if sys.argv[2] == "local" else sys.argv[2]  # local: its own instance
    run_jobs([{{"i": i}} for i in range({n})], noisy_job, sys.argv[1], backend="ray",
             workers=2, settings={settings!r}, ray_address=address)
"""


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _descendants(pid: int) -> dict[int, str]:
    """``{pid: command name}`` of every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            try:
                found[child] = Path(f"/proc/{child}/comm").read_text().strip()
            except OSError:
                continue
            todo.append(child)
    return found


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.slow  # ~25-90 s each on the shared 2-core machine: a second driver, its workers
@pytest.mark.parametrize("instance", ["cluster", "local"])
def test_killed_ray_sweep_resumes_without_losing_or_duplicating_jobs(tmp_path, ray_address,
                                                                       instance) -> None:
    """``cluster``: the driver joins the module's instance by address; ``local``: it starts
    its own (whose head processes must die with it)."""
    n = 8
    jobs, settings, log = _setup(tmp_path, n=n)
    # the uninterrupted reference run (process backend), before the sleeps are switched on
    reference = run_jobs(jobs, noisy_job, tmp_path / "ref", settings=settings,
                         backend="process", workers=2, mp_context="fork")
    assert reference.complete
    n_ref = len(_calls(log))

    log.with_suffix(".sleep").write_text("0.6")
    out = tmp_path / "out"
    script = tmp_path / "driver.py"
    root = str(Path(__file__).resolve().parents[2])
    script.write_text(DRIVER.format(tests_root=root, n=n, settings=settings))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0",
           "PYTHONPATH": os.pathsep.join([str(Path(root) / "src"), root,
                                          os.environ.get("PYTHONPATH", "")])}
    address = ray_address if instance == "cluster" else "local"
    driver = subprocess.Popen([sys.executable, str(script), str(out), address], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    started: dict[int, str] = {}
    try:
        # kill once some jobs are done and others are running
        assert _wait(lambda: out.is_dir() and len(_result_files(out)) >= 2, 180), \
            driver.stderr.read().decode() if driver.poll() is not None else "no job finished"
        started = _descendants(driver.pid)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        workers = {pid for _, pid in _calls(log)[n_ref:]}
        # Ray ends the dead driver's workers; a local instance's head dies with its driver
        heads = {p for p, name in started.items() if name in ("raylet", "gcs_server")}
        assert instance == "cluster" or heads, f"no Ray head processes among {started}"
        assert _wait(lambda: not any(_pid_alive(p) for p in workers | heads), 60), \
            "orphan Ray processes"
    finally:
        driver.kill()
        driver.stderr.close()
        for pid in started:  # the local instance's agents exit on their own within ~1 min
            if _pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
    done_after_kill = _result_files(out)
    assert 2 <= len(done_after_kill) < n, "the kill came too late to test anything"
    for jid in done_after_kill:  # every file is whole (written atomically)
        assert read_result(out / f"{jid}.json")["id"] == jid

    n_before = len(_calls(log))
    resumed = run_jobs(jobs, noisy_job, out, settings=settings, backend="ray", workers=2)
    rerun = {job_id({"i": i}, settings) for i, _ in _calls(log)[n_before:]}
    # no job lost: all done; none duplicated: exactly the jobs without a file were run again
    assert resumed.complete and set(resumed.skipped) == done_after_kill
    assert rerun == set(resumed.ran) == set(reference.jobs) - done_after_kill
    assert len(_calls(log)) - n_before == len(rerun)  # each of them once
    assert _result_files(out) == set(reference.jobs)
    assert resumed.results == reference.results
