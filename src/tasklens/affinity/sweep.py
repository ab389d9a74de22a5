"""Resumable sweeps of independent jobs: one result file per finished job, a rerun skips it.

:func:`run_jobs` runs ``fn(job, settings)`` for every job, serially, in a local process pool
(default) or on a Ray cluster (``backend="ray"``, needs ``pip install 'tasklens[ray]'``).
Each finished job is written atomically to ``<out_dir>/<job id>.json`` by the process that
ran it, so a sweep killed at any point keeps every job that finished; the rerun finds those
files and runs only the missing jobs. A job that raises is recorded in
``<out_dir>/<job id>.error.json`` (message and traceback) and does not stop the others; the
next run retries it and removes the error file once it succeeds.

The job id is a stable hash of the job and the settings (canonical JSON, SHA-256), so
changing a setting (epochs, learning rate, the data fingerprint) starts a new set of files
instead of silently reusing results computed under other settings. A result file is reused
only when the id, job and settings stored in it match the job's (a copied or stale file
is rerun, with a warning).

Process-pool workers stop with their driver: each polls ``os.getppid()`` and exits as soon
as the driver is gone (killed, crashed), so a killed sweep leaves no workers running jobs
and writing files. A driver script that calls :func:`run_jobs` at import time (no
``if __name__ == "__main__":``) would make every ``spawn`` worker start the sweep again
while it imports the script; this is detected and raised as :class:`MainGuardError`.

Ray jobs run as Ray tasks (one CPU each, no automatic retry). When the driver dies, Ray
ends the tasks it submitted (their workers belong to the driver's Ray job), on a cluster
given by ``ray_address`` as on the local instance that :func:`run_jobs` starts itself (that
instance's head processes share the driver's fate); a driver interrupted by an exception
cancels its queued and running tasks. Either way the finished jobs keep their files and a
rerun runs exactly the others.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._common.io import write_json
from .._common.progress import track
from .._common.validation import check_choice, check_positive_int

logger = logging.getLogger("tasklens")

BACKENDS: tuple[str, ...] = ("serial", "process", "ray")
RESULT_SUFFIX = ".json"
ERROR_SUFFIX = ".error.json"
#: how often (seconds) a pool worker checks that the driver process still lives
PARENT_POLL_S = 0.2
#: written into out_dir by a worker that found run_jobs called while importing the script
MAIN_GUARD_MARKER = ".sweep-main-guard-missing.json"
MAIN_GUARD_MESSAGE = (
    "run_jobs was called while a worker process was importing your script: the 'spawn' "
    "start method re-imports the main module in every worker, and this script starts the "
    "sweep at import time. Put the code that calls run_jobs under "
    "`if __name__ == \"__main__\":` (or use backend='serial').")


class MainGuardError(RuntimeError):
    """The driver script runs the sweep at import time (no ``if __name__ == "__main__":``)."""


# --------------------------------------------------------------------------- ids and seeds
def to_jsonable(value: Any) -> Any:
    """Plain JSON data for a job or settings: dataclasses (or objects with ``to_dict``),
    mappings, sequences, numpy scalars/arrays, primitives."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        to_dict = getattr(value, "to_dict", None)
        return to_jsonable(to_dict() if callable(to_dict) else dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot describe a {type(value).__name__} as JSON for the job id; use "
                    "dataclasses, mappings, sequences and primitives in jobs and settings")


def job_id(job: Any, settings: Any = None) -> str:
    """Stable 16-hex-digit id of ``(job, settings)``: SHA-256 of their canonical JSON."""
    text = json.dumps({"job": to_jsonable(job), "settings": to_jsonable(settings)},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def derive_seed(base: int, *keys: Any) -> int:
    """A deterministic 32-bit seed from ``base`` and any JSON-describable ``keys``.

    Independent of the order in which jobs run or which worker runs them.
    """
    check_positive_int(base, "base", minimum=0)
    digest = hashlib.sha256(json.dumps(to_jsonable(list(keys)), sort_keys=True).encode())
    entropy = [int(base), int.from_bytes(digest.digest()[:8], "little")]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class SweepResult:
    """What :func:`run_jobs` found and did.

    Attributes
    ----------
    results : dict {job id: result}
        The value ``fn`` returned for every job that is done (this run or an earlier one).
    jobs : dict {job id: job description (JSON)}
    errors : dict {job id: message}
        Jobs that raised in this run (their ``.error.json`` files hold the traceback).
    ran : tuple of str
        Ids of the jobs run (successfully) in this call.
    skipped : tuple of str
        Ids whose result file already existed.
    out_dir : str
    elapsed_s : float
    """

    results: dict[str, Any]
    jobs: dict[str, Any]
    errors: dict[str, str]
    ran: tuple[str, ...]
    skipped: tuple[str, ...]
    out_dir: str
    elapsed_s: float

    @property
    def complete(self) -> bool:
        """Whether every job has a result."""
        return not self.errors and len(self.results) == len(self.jobs)

    def to_dict(self) -> dict[str, Any]:
        return {"results": dict(self.results), "jobs": dict(self.jobs),
                "errors": dict(self.errors), "ran": list(self.ran),
                "skipped": list(self.skipped), "out_dir": self.out_dir,
                "elapsed_s": self.elapsed_s}


def read_result(path: str | Path) -> dict[str, Any]:
    """The record of one finished job: ``{"id", "job", "settings", "result", ...}``."""
    with open(path) as handle:
        record = json.load(handle)
    if not isinstance(record, dict) or "result" not in record or "id" not in record:
        raise ValueError(f"{path} is not a tasklens sweep result file (no 'id'/'result')")
    return record


# --------------------------------------------------------------------------- workers
#: the driver's pid in a pool worker (None in the driver itself)
_DRIVER_PID: int | None = None


def _driver_gone() -> bool:
    """In a pool worker: whether the driver died (the worker was re-parented)."""
    return _DRIVER_PID is not None and os.getppid() != _DRIVER_PID


def _watch_driver(interval: float) -> None:
    while not _driver_gone():
        time.sleep(interval)
    # the driver was killed: stop now, without running or writing anything more
    os._exit(1)


def _init_worker(driver_pid: int | None, interval: float) -> None:
    """Pool initializer: remember the parent and exit as soon as it is gone.

    ``driver_pid`` is the driver's pid when it is the worker's parent (fork, spawn); with
    ``forkserver`` the parent is the fork server, which exits with the driver.
    """
    global _DRIVER_PID
    _DRIVER_PID = os.getppid()
    if driver_pid is not None and _DRIVER_PID != driver_pid:  # died before we started
        os._exit(1)
    threading.Thread(target=_watch_driver, args=(interval,), daemon=True,
                     name="tasklens-sweep-driver-watch").start()


def _check_not_importing_main(out: Path) -> None:
    """Raise :class:`MainGuardError` when called while a spawned worker imports ``__main__``.

    multiprocessing marks a process that is still unpickling its parent's state (and
    re-running the main module, as ``__mp_main__``) with ``_inheriting``; it uses the same
    flag for its own "bootstrapping phase" error. The marker file tells the driver why its
    workers died.
    """
    import multiprocessing

    if not getattr(multiprocessing.current_process(), "_inheriting", False):
        return
    try:
        write_json(out / MAIN_GUARD_MARKER, {"error": MAIN_GUARD_MESSAGE, "pid": os.getpid()})
    finally:
        raise MainGuardError(MAIN_GUARD_MESSAGE)


# --------------------------------------------------------------------------- one job
def _set_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def _run_one(fn: Callable[[Any, Any], Any], job: Any, settings: Any, jid: str, out_dir: str,
             threads: int | None) -> tuple[str, bool, Any]:
    """Run one job and write its result (or error) file; never raises for a job failure."""
    _set_threads(threads)
    out = Path(out_dir)
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        value = to_jsonable(fn(job, settings))
    except Exception as exc:  # a failing job must not stop the sweep
        message = f"{type(exc).__name__}: {exc}"
        write_json(out / f"{jid}{ERROR_SUFFIX}", {
            "id": jid, "job": to_jsonable(job), "error": message,
            "traceback": traceback.format_exc(), "version": __version__})
        return jid, False, message
    if _driver_gone():  # killed while the job ran: write nothing
        os._exit(1)
    write_json(out / f"{jid}{RESULT_SUFFIX}", {
        "id": jid, "job": to_jsonable(job), "settings": to_jsonable(settings),
        "result": value, "elapsed_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu_started, "version": __version__})
    (out / f"{jid}{ERROR_SUFFIX}").unlink(missing_ok=True)
    return jid, True, value


# --------------------------------------------------------------------------- backends
def _run_serial(todo: list[tuple[str, Any]], fn: Callable, settings: Any, out_dir: str,
                progress: bool | None) -> Iterable[tuple[str, bool, Any]]:
    for jid, job in track(todo, "jobs", total=len(todo), enabled=progress):
        yield _run_one(fn, job, settings, jid, out_dir, None)


def _run_process(todo: list[tuple[str, Any]], fn: Callable, settings: Any, out_dir: str,
                 workers: int, threads: int | None, progress: bool | None,
                 mp_context: str) -> Iterable[tuple[str, bool, Any]]:
    import multiprocessing

    ctx = multiprocessing.get_context(mp_context)
    driver = None if ctx.get_start_method() == "forkserver" else os.getpid()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                               initargs=(driver, PARENT_POLL_S))
    finished = False
    try:
        futures = {pool.submit(_run_one, fn, job, settings, jid, out_dir, threads): jid
                   for jid, job in todo}
        for fut in track(as_completed(futures), "jobs", total=len(futures), enabled=progress):
            jid = futures[fut]
            try:
                yield fut.result()
            except BrokenProcessPool as exc:  # a worker died (killed, out of memory)
                _raise_if_main_unguarded(Path(out_dir))
                yield jid, False, f"worker process died: {exc}"
            except Exception as exc:  # e.g. fn or job could not be pickled
                yield jid, False, f"{type(exc).__name__}: {exc}"
        finished = True
    finally:
        # interrupted (Ctrl-C, an error in the caller): drop the queued jobs instead of
        # waiting for all of them; the finished ones already have their files
        pool.shutdown(wait=finished, cancel_futures=not finished)


def _raise_if_main_unguarded(out: Path) -> None:
    marker = out / MAIN_GUARD_MARKER
    if marker.is_file():
        marker.unlink(missing_ok=True)
        raise MainGuardError(MAIN_GUARD_MESSAGE)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ImportError("backend='ray' needs Ray: pip install 'tasklens[ray]' (or use "
                          "backend='process' for a local process pool)") from exc
    return ray


def _init_ray(ray: Any, workers: int, ray_address: str | None) -> bool:
    """Connect to (or start) Ray; True when this call did (and so must shut it down).

    ``ray.shutdown`` after connecting to a cluster only disconnects this driver.
    """
    if ray.is_initialized():
        if ray_address is not None:
            logger.warning("sweep: Ray is already initialised in this process; using it, "
                           "not ray_address=%r", ray_address)
        return False
    if ray_address is not None:
        ray.init(address=ray_address, log_to_driver=False)
        return True
    # a local instance sized to `workers`: its head processes share the driver's fate
    # (Ray starts them with the parent-death signal), so killing the driver ends it
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    return True


def _run_ray(todo: list[tuple[str, Any]], fn: Callable, settings: Any, out_dir: str,
             workers: int, threads: int | None, progress: bool | None,
             ray_address: str | None) -> Iterable[tuple[str, bool, Any]]:
    ray = _import_ray()
    connected_here = _init_ray(ray, workers, ray_address)
    remaining: list[Any] = []
    try:
        # max_retries=0: a job whose worker dies is reported (and retried by the next run),
        # as with the process pool, instead of being rerun behind the caller's back
        remote = ray.remote(num_cpus=1, max_retries=0)(_run_one)
        fn_ref, settings_ref = ray.put(fn), ray.put(settings)
        pending = {remote.remote(fn_ref, job, settings_ref, jid, out_dir, threads): jid
                   for jid, job in todo}
        remaining = list(pending)

        def finished() -> Iterable[Any]:
            nonlocal remaining
            while remaining:
                done, remaining = ray.wait(remaining, num_returns=1)
                yield done[0]

        for ref in track(finished(), "jobs", total=len(pending), enabled=progress):
            jid = pending[ref]
            try:
                yield ray.get(ref)
            except Exception as exc:  # worker crash or task error outside fn
                yield jid, False, f"{type(exc).__name__}: {exc}"
    finally:
        # interrupted (Ctrl-C, an error in the caller): on a shared cluster the queued and
        # running jobs would go on without a driver; stop them (finished ones have files,
        # a killed one writes nothing: files are written atomically)
        for ref in remaining:
            try:
                ray.cancel(ref, force=True)
            except Exception as exc:  # already finished, or the cluster is gone
                logger.debug("sweep: could not cancel a Ray task: %s", exc)
        if connected_here:
            ray.shutdown()


# --------------------------------------------------------------------------- resuming
def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _mismatch(record: dict[str, Any], jid: str, job: Any, settings: Any) -> str | None:
    """Why a stored record is not this job's result, or None when it is."""
    if record.get("id") != jid:
        return f"it holds job id {record.get('id')!r}, not {jid!r}"
    if "job" not in record or _canonical(record["job"]) != _canonical(to_jsonable(job)):
        return f"its job {record.get('job')!r} differs from {to_jsonable(job)!r}"
    if "settings" not in record or (_canonical(record["settings"])
                                    != _canonical(to_jsonable(settings))):
        return "its settings differ from this sweep's"
    return None


def _load_finished(ids: dict[str, Any], settings: Any,
                   out: Path) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """Results of the jobs whose files hold their result; the other jobs, to run.

    A file is reused only when the id, job and settings stored in it are the job's: a file
    copied from another job or sweep, or edited, is rerun (and overwritten) with a warning.
    """
    results: dict[str, Any] = {}
    todo: list[tuple[str, Any]] = []
    for jid, job in ids.items():
        path = out / f"{jid}{RESULT_SUFFIX}"
        if path.is_file():
            try:
                record = read_result(path)
            except (ValueError, json.JSONDecodeError) as exc:
                logger.warning("sweep: ignoring unreadable result %s (%s); rerunning", path,
                               exc)
            else:
                reason = _mismatch(record, jid, job, settings)
                if reason is None:
                    results[jid] = record["result"]
                    continue
                logger.warning("sweep: result file %s is not this job's result (%s); "
                               "rerunning the job", path, reason)
        todo.append((jid, job))
    return results, todo


# --------------------------------------------------------------------------- public entry
def run_jobs(
    jobs: Sequence[Any],
    fn: Callable[[Any, Any], Any],
    out_dir: str | Path,
    *,
    settings: Any = None,
    workers: int = 1,
    backend: str = "process",
    worker_threads: int | None = None,
    progress: bool | None = None,
    mp_context: str = "spawn",
    ray_address: str | None = None,
) -> SweepResult:
    """Run ``fn(job, settings)`` for every job not already done; collect all results.

    Parameters
    ----------
    jobs : sequence
        Picklable job descriptions (dataclasses, dicts, tuples of primitives); each must be
        describable as JSON (see :func:`to_jsonable`) and distinct.
    fn : callable ``fn(job, settings) -> result``
        A top-level (picklable) function; the result must be JSON-describable. It should
        derive all randomness from the job (e.g. a ``seed`` field or :func:`derive_seed`).
    out_dir : path
        One ``<id>.json`` per finished job, ``<id>.error.json`` per failed one.
    settings : JSON-describable, optional
        Passed to every call and hashed into every job id.
    workers : int
        Parallel workers (``process`` backend; ``ray``: the CPUs of the local instance it
        starts — on a cluster, the cluster's free CPUs set how many jobs run at once).
    backend : {"process", "serial", "ray"}
        ``process``: a local :class:`~concurrent.futures.ProcessPoolExecutor` (the default;
        with ``workers=1`` it still isolates the jobs in a child process); ``serial``: in
        this process; ``ray``: Ray tasks — on the cluster at ``ray_address``, or on a local
        instance with ``workers`` CPUs when Ray is not initialised.
    worker_threads : int, optional
        ``torch.set_num_threads`` in each worker process (avoids oversubscribing cores when
        several workers share a machine); not applied with ``backend="serial"``.
    progress : bool, optional
        Progress bar over jobs (default: only on a terminal).
    mp_context : str
        Multiprocessing start method of the process pool (``spawn`` is safe with torch).
    ray_address : str, optional
        Address of an existing Ray cluster (``"auto"``, ``"host:port"`` of its head, or
        ``"ray://host:10001"``); ignored, with a warning, when Ray is already initialised
        in this process. Default: a local instance with ``workers`` CPUs, started and shut
        down by this call.

    Returns
    -------
    SweepResult

    Raises
    ------
    ImportError
        ``backend="ray"`` without Ray installed (names ``pip install 'tasklens[ray]'``).
    ValueError
        No jobs, duplicate jobs, unknown backend.
    MainGuardError
        The calling script runs the sweep at import time, so every ``spawn`` worker would
        start it again: put the call under ``if __name__ == "__main__":``.
    """
    check_choice(backend, "backend", BACKENDS)
    workers = check_positive_int(workers, "workers")
    if worker_threads is not None:
        worker_threads = check_positive_int(worker_threads, "worker_threads")
    if not callable(fn):
        raise TypeError(f"fn must be a callable fn(job, settings), got {type(fn).__name__}")
    jobs = list(jobs)
    if not jobs:
        raise ValueError("jobs is empty; pass at least one job")
    if backend == "ray":
        _import_ray()  # fail before any work when Ray is missing
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_not_importing_main(out)
    (out / MAIN_GUARD_MARKER).unlink(missing_ok=True)  # stale, from an earlier failed run
    ids: dict[str, Any] = {}
    for job in jobs:
        jid = job_id(job, settings)
        if jid in ids:
            raise ValueError(f"duplicate job {to_jsonable(job)!r}; each job must be distinct")
        ids[jid] = job
    started = time.perf_counter()
    results, todo = _load_finished(ids, settings, out)
    skipped = list(results)
    logger.info("sweep: %d job(s) done, %d to run (%s, %d worker(s))", len(skipped),
                len(todo), backend, workers)
    errors: dict[str, str] = {}
    ran: list[str] = []
    if todo:
        if backend == "serial":
            stream = _run_serial(todo, fn, settings, str(out), progress)
        elif backend == "process":
            stream = _run_process(todo, fn, settings, str(out), workers, worker_threads,
                                  progress, mp_context)
        else:
            stream = _run_ray(todo, fn, settings, str(out), workers, worker_threads,
                              progress, ray_address)
        for jid, ok, value in stream:
            if ok:
                results[jid] = value
                ran.append(jid)
            else:
                errors[jid] = value
                error_file = out / f"{jid}{ERROR_SUFFIX}"
                if not error_file.is_file():  # the worker died before it could write one
                    write_json(error_file, {"id": jid, "job": to_jsonable(ids[jid]),
                                            "error": value, "traceback": None,
                                            "version": __version__})
                logger.error("sweep: job %s %s failed: %s", jid, to_jsonable(ids[jid]), value)
    results = {j: results[j] for j in ids if j in results}  # in job order
    return SweepResult(results=results, jobs={j: to_jsonable(v) for j, v in ids.items()},
                       errors=errors, ran=tuple(ran), skipped=tuple(skipped), out_dir=str(out),
                       elapsed_s=time.perf_counter() - started)
