"""Where the independent trainings of the analysis run: in this process, a process pool or
Ray (``--executor serial|process|ray``), through :func:`tasklens.affinity.sweep.run_jobs`.

The trainings of the ``baselines`` stage (single-task models per task × seed, the other
seeds' all-task models, the pairs) and of the ``balancing`` stage (methods × seeds) are
independent jobs. Each job is a :class:`TrainJob` (tasks, seed, method, weights file); the
job function (:class:`TrainRunner`) carries the run's train/test split, trains with
:func:`tasklens.analysis.training.fit` — seeded by the job alone, so the result does not
depend on which worker runs it or in which order — and returns the test metrics (JSON).
Weights the later stages read are written by the job into ``DIR/stages/models``.

Each finished job is one file in ``DIR/stages/jobs/<stage>/`` (run_jobs' format, checked
against the job and against the training settings and data fingerprint), so a stage killed
half-way resumes with ``--resume`` from its finished jobs; without ``--resume`` the folder
is cleared and every job reruns.

Workers use one torch thread each (``worker_threads=1``); the serial executor keeps the
calling process's thread count. Results are bit-identical across executors when the serial
run also uses one thread (torch's CPU kernels may sum in another order with more threads).
"""

from __future__ import annotations

import logging
import numbers
import os
import shutil
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from .._common.validation import check_scalar
from ..data.taskset import TaskSetSplit
from .settings import TRAIN_FIELDS, AnalysisSettings
from .training import fit, save_model

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .context import StageContext

logger = logging.getLogger("tasklens")

EXECUTORS: tuple[str, ...] = ("serial", "process", "ray")
#: modules the fork server imports once: this one (torch, the trainer) and what the first
#: optimizer step imports lazily (torch._dynamo: ~3 s of a worker's first job otherwise)
PRELOAD: tuple[str, ...] = (__name__, "torch._dynamo")


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows
        return max(1, os.cpu_count() or 1)


#: fewest available CPUs for which ``--executor`` defaults to ``process``
PROCESS_MIN_CPUS = 4


def default_executor() -> str:
    """``"process"`` with at least :data:`PROCESS_MIN_CPUS` CPUs, else ``"serial"``: on 2
    (shared) cores the pool made ``--budget fast`` slower (docs/analyze.md, "Executors")."""
    return "process" if available_cpus() >= PROCESS_MIN_CPUS else "serial"


@dataclass(frozen=True)
class ExecutorSettings:
    """How the independent trainings run (not part of any cache key: results do not depend
    on it).

    Attributes
    ----------
    executor : {"serial", "process", "ray"}
    workers : int
        Parallel workers (``process``; ``ray``: CPUs of the local instance started when no
        ``ray_address`` is given). Capped by the number of jobs of a stage.
    ray_address : str or None
        An existing Ray cluster (``"auto"``, ``"host:port"``, ``"ray://host:10001"``); only
        with ``executor="ray"``. With a cluster, ``--out`` must be on a file system every
        node sees (the jobs write their result and weight files there).
    """

    executor: str = "serial"
    workers: int = 1
    ray_address: str | None = None

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ValueError(f"--executor must be one of {', '.join(EXECUTORS)}, got "
                             f"{self.executor!r}")
        check_scalar(self.workers, "--workers", numbers.Integral, low=1, high=4096)
        if self.ray_address is not None:
            if self.executor != "ray":
                raise ValueError(f"--ray-address needs --executor ray (got --executor "
                                 f"{self.executor}); add --executor ray or drop the address")
            if not str(self.ray_address).strip():
                raise ValueError("--ray-address is empty; give 'auto', HOST:PORT or "
                                 "ray://HOST:10001")

    @classmethod
    def resolve(cls, executor: str | None = None, workers: int | None = None,
                ray_address: str | None = None) -> ExecutorSettings:
        """The settings for the CLI options (``None``: the defaults); for ``ray``, checks
        that Ray is installed (ImportError naming the extra) before any work."""
        chosen = default_executor() if executor is None else str(executor).strip().lower()
        if workers is None:
            workers = available_cpus() if chosen != "serial" else 1
        out = cls(chosen, workers, ray_address)
        if out.executor == "ray":
            try:
                import ray  # noqa: F401
            except ImportError as exc:
                raise ImportError("--executor ray needs Ray: pip install 'tasklens[ray]' "
                                  "(or use --executor process)") from exc
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"executor": self.executor, "workers": self.workers,
                "ray_address": self.ray_address}


@dataclass(frozen=True)
class TrainJob:
    """One training of a stage (JSON-describable; hashed into its job id).

    Attributes
    ----------
    tasks : tuple of str
        The tasks of the network.
    seed : int
        Model initialisation and data order.
    method : str
        Balancing method (``"ew"``: the sum of losses).
    save : str or None
        File name (in ``DIR/stages/models``) for the trained weights, when a later stage
        reads them.
    """

    tasks: tuple[str, ...]
    seed: int
    method: str = "ew"
    save: str | None = None

    @property
    def key(self) -> str:
        """``"a+b@seed"``: the run's name in the stage's tables."""
        return f"{'+'.join(self.tasks)}@{self.seed}"

    def to_dict(self) -> dict[str, Any]:
        return {"tasks": list(self.tasks), "seed": self.seed, "method": self.method,
                "save": self.save}


class TrainRunner:
    """The job function: trains one :class:`TrainJob` on the run's split (picklable).

    Parameters
    ----------
    split : TaskSetSplit
        The analysis' train/test split (the same for every job).
    settings : AnalysisSettings
    model_dir : str
        Where jobs with ``save`` write their weights.
    """

    def __init__(self, split: TaskSetSplit, settings: AnalysisSettings, model_dir: str
                 ) -> None:
        self.split, self.settings, self.model_dir = split, settings, model_dir

    def __call__(self, job: TrainJob, sweep_settings: Any = None) -> dict[str, Any]:
        model, metrics, _ = fit(self.split, job.tasks, job.seed, self.settings,
                                method=job.method)
        if job.save is not None:
            save_model(model, Path(self.model_dir) / job.save)
        return metrics


@dataclass
class ExecutorSession:
    """State shared by the stages of one analysis run (a Ray instance started once)."""

    settings: ExecutorSettings = field(default_factory=ExecutorSettings)
    ray_started: bool = False

    def connect(self) -> None:
        """Ray: connect (or start a local instance) once per analysis, not once per stage;
        run_jobs then uses the initialised Ray."""
        if self.settings.executor != "ray":
            return None
        import ray

        if not ray.is_initialized():
            if self.settings.ray_address is not None:
                ray.init(address=self.settings.ray_address, log_to_driver=False)
            else:
                ray.init(num_cpus=self.settings.workers, include_dashboard=False,
                         log_to_driver=False)
            self.ray_started = True


    def mp_context(self) -> str:
        """Start method of the process pools: ``forkserver`` with this module preloaded, so
        that torch is imported once per analysis (in the fork server, started early and in
        parallel with the first stages) instead of once per worker and stage as with
        ``spawn`` (about 2 CPU-seconds each); ``spawn`` where forkserver does not exist.
        Workers are forked from the server, which never ran torch code (fork-safe)."""
        import multiprocessing

        if "forkserver" not in multiprocessing.get_all_start_methods():
            return "spawn"
        return "forkserver"

    def warm_up(self) -> None:
        """Start the fork server now (process executor), so its imports overlap the
        in-process stages."""
        if self.settings.executor != "process" or self.mp_context() != "forkserver":
            return
        import multiprocessing
        from multiprocessing import forkserver

        multiprocessing.set_forkserver_preload(list(PRELOAD))
        forkserver.ensure_running()


@contextmanager
def executor_session(settings: ExecutorSettings | None) -> Iterator[ExecutorSession]:
    """An :class:`ExecutorSession`; shuts down (or disconnects from) Ray at the end when the
    session started it."""
    session = ExecutorSession(settings or ExecutorSettings())
    session.warm_up()
    try:
        yield session
    finally:
        if session.ray_started:
            import ray

            ray.shutdown()


def job_settings(ctx: StageContext) -> dict[str, Any]:
    """What every job's result depends on besides the job: hashed into the job ids."""
    values = ctx.settings.to_dict()
    return {"training": {k: values[k] for k in TRAIN_FIELDS},
            "data": ctx.data.fingerprint(), "version": __version__}


def run_trainings(ctx: StageContext, stage: str, jobs: Sequence[TrainJob]
                  ) -> dict[str, dict[str, Any]]:
    """Run ``jobs`` with the context's executor; returns ``{job: test metrics}`` in job
    order.

    Raises
    ------
    RuntimeError
        When some jobs failed (their ``.error.json`` files say why; the stage is reported as
        failed and ``--resume`` retries only those).
    """
    from ..affinity.sweep import job_id, run_jobs

    session = ctx.session
    ex = session.settings
    job_dir = ctx.work_dir / "jobs" / stage
    if not ctx.resume and job_dir.exists():
        shutil.rmtree(job_dir)  # a fresh run recomputes every job
    settings = job_settings(ctx)
    for job in jobs:  # a finished job whose weights went missing must run again
        if job.save is not None and not (ctx.model_dir / job.save).is_file():
            (job_dir / f"{job_id(job, settings)}.json").unlink(missing_ok=True)
    session.connect()
    runner = TrainRunner(ctx.split, ctx.settings, str(ctx.model_dir))
    sweep = run_jobs(list(jobs), runner, job_dir, settings=settings,
                     workers=min(ex.workers, len(jobs)), backend=ex.executor,
                     worker_threads=None if ex.executor == "serial" else 1,
                     progress=ctx.progress, mp_context=session.mp_context(),
                     ray_address=None)
    if sweep.errors:
        first = next(iter(sweep.errors.values()))
        raise RuntimeError(f"{len(sweep.errors)} of {len(jobs)} training(s) failed (first: "
                           f"{first}); details in {job_dir}/*.error.json, rerun with --resume "
                           "to retry them")
    return {job: sweep.results[job_id(job, settings)] for job in jobs}
