"""Run the stages of ``tasklens analyze``, cache each finished one, assemble results.json.

Caching and resume: after a stage finishes, its result is written atomically to
``DIR/stages/<stage>.json`` together with its cache key — a hash of the settings it reads
(``Stage.reads``), the data fingerprint, the library version and the keys of the stages it
depends on. With
``resume=True`` a stage whose file holds the same key is reused instead of recomputed;
anything else (other settings, other data, a changed upstream stage) recomputes it. Model
weights the later stages read are kept in ``DIR/stages/models``. After every stage the
caller's ``on_stage_end`` is called with the current results (the CLI writes results.json
and report.html there), so a kill leaves the finished stages and a report naming the
missing ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from .._common.io import atomic_write, write_json
from .context import StageContext, StageSkipped
from .data import LoadedData
from .executor import ExecutorSession, ExecutorSettings, executor_session
from .settings import (
    SPLIT_FIELDS,
    TRAIN_FIELDS,
    AnalysisSettings,
    image_model_for,
    image_shape_of,
    model_description,
)
from .stages_data import summary_finding, summary_stage, theory_finding, theory_stage
from .stages_select import (
    balancing_finding,
    balancing_stage,
    grouping_finding,
    grouping_stage,
    representation_finding,
    representation_stage,
)
from .stages_train import baselines_finding, baselines_stage, multitask_finding, multitask_stage
from .training import builder, image_state_dict

logger = logging.getLogger("tasklens")

RESULTS_SCHEMA = "tasklens.analyze.results"
# 1.1: settings.core_mtl, the core_mtl row of balancing; 1.2: summary.steps_per_training,
# summary.epochs_per_training a fraction when max_steps stops a training inside an epoch;
# 1.3: settings.image_model (conv models on image data by default), data.models,
# data.image_shape
RESULTS_SCHEMA_VERSION = "1.3"
#: how a stage reading ``max_steps`` applies it, in its cache key: caches of versions that
#: rounded the cap up to whole epochs are not reused
STEP_CAP = "exact-steps"


@dataclass(frozen=True)
class Stage:
    """One stage: name, title, function, the stages it reads, and its finding's writer."""

    name: str
    title: str
    run: Callable[[StageContext], dict[str, Any]]
    finding: Callable[[dict[str, Any]], list[str]]
    depends: tuple[str, ...] = ()
    soft: tuple[str, ...] = ()  # read when available, not required
    reads: tuple[str, ...] = ()  # the settings fields its result depends on


# Settings fields each stage reads (hashed into its cache key, with the upstream keys): a
# new --max-networks redoes the grouping only, new --methods the balancing only.
_SPLIT = SPLIT_FIELDS
_TRAIN = TRAIN_FIELDS


STAGES: tuple[Stage, ...] = (
    Stage("summary", "Data summary", summary_stage, summary_finding,
          reads=(*_SPLIT, "epochs", "max_steps", "batch_size")),
    Stage("theory", "Theory from the data alone", theory_stage, theory_finding, reads=_SPLIT),
    Stage("multitask", "Multi-task training with monitors", multitask_stage, multitask_finding,
          soft=("theory",), reads=(*_TRAIN, "probe_size", "monitor_points")),
    Stage("baselines", "Single-task baselines", baselines_stage, baselines_finding,
          ("multitask",), reads=(*_TRAIN, "n_seeds", "pairs")),
    Stage("grouping", "Which tasks share a network", grouping_stage, grouping_finding,
          ("multitask", "baselines"), reads=("max_networks",)),
    Stage("balancing", "Balancing methods", balancing_stage, balancing_finding,
          ("multitask", "baselines"), reads=(*_TRAIN, "n_seeds", "methods", "core_mtl")),
    Stage("representation", "Shared representation vs single-task models",
          representation_stage, representation_finding, ("multitask", "baselines"),
          reads=(*_TRAIN, "probe_size")),
)
STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)
_BY_NAME = {s.name: s for s in STAGES}


def clean(value: Any) -> Any:
    """JSON-ready copy: NaN/inf → None, tuples → lists, NumPy scalars → Python."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return clean(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def resolve_stages(requested: Iterable[str] | None) -> list[str]:
    """The requested stages plus the ones they read (hard or soft), in run order."""
    if requested is None:
        return list(STAGE_NAMES)
    wanted = set()
    for name in requested:
        if name not in _BY_NAME:
            raise ValueError(f"unknown stage {name!r}; stages are {', '.join(STAGE_NAMES)}")
        todo = [name]
        while todo:
            cur = todo.pop()
            if cur not in wanted:
                wanted.add(cur)
                # soft dependencies too: the theory is cheap and stage 3 compares with it
                todo.extend((*_BY_NAME[cur].depends, *_BY_NAME[cur].soft))
    wanted.add("summary")
    return [s for s in STAGE_NAMES if s in wanted]


def _key(stage: Stage, settings: AnalysisSettings, fingerprint: str,
         upstream: dict[str, str]) -> str:
    values = settings.to_dict()
    extra = {"step_cap": STEP_CAP} if "max_steps" in stage.reads else {}
    payload = json.dumps({"stage": stage.name,
                          "settings": {k: values[k] for k in stage.reads},
                          "data": fingerprint, "version": __version__,
                          "upstream": upstream, **extra}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _load_cached(path: Path, key: str) -> dict[str, Any] | None:
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return cached if cached.get("key") == key else None


def run_analysis(
    data: LoadedData,
    settings: AnalysisSettings,
    out_dir: str | Path,
    *,
    stages: Iterable[str] | None = None,
    resume: bool = False,
    progress: bool | None = None,
    on_stage_start: Callable[[str, str], None] | None = None,
    on_stage_end: Callable[[dict[str, Any]], None] | None = None,
    executor: ExecutorSettings | None = None,
) -> dict[str, Any]:
    """Run the analysis stages on ``data``; returns the results.json content.

    Parameters
    ----------
    data : LoadedData
        From :func:`tasklens.analysis.load_data` (already checked).
    settings : AnalysisSettings
    out_dir : path
        ``DIR``: ``stages/`` holds the caches and weights, ``model.pt`` the recommended
        model; results.json and report.html are written by the caller (``on_stage_end``).
    stages : iterable of str, optional
        Stages to run (their dependencies are added); default all.
    resume : bool
        Reuse finished stages whose cache key matches (see the module docstring).
    on_stage_start : callable(name, title), optional
    on_stage_end : callable(results), optional
        Called after each stage with the current results.
    executor : ExecutorSettings, optional
        Where the independent trainings of the baselines and balancing stages run (default
        serial, in this process); the results do not depend on it.
    """
    executor = ExecutorSettings() if executor is None else executor
    with executor_session(executor) as session:
        return _run_planned(data, settings, Path(out_dir), resolve_stages(stages), resume,
                            progress, on_stage_start, on_stage_end, session)


def _run_planned(data: LoadedData, settings: AnalysisSettings, out: Path, planned: list[str],
                 resume: bool, progress: bool | None,
                 on_stage_start: Callable[[str, str], None] | None,
                 on_stage_end: Callable[[dict[str, Any]], None] | None,
                 session: ExecutorSession) -> dict[str, Any]:
    work = out / "stages"
    (work / "models").mkdir(parents=True, exist_ok=True)
    split = data.split(settings.test_size, settings.seed)
    ctx = StageContext(data, split, settings, work, progress=progress, resume=resume,
                       session=session)
    fingerprint = data.fingerprint()
    results = _empty_results(data, settings, fingerprint, planned)
    results["run"]["executor"] = session.settings.to_dict()
    keys: dict[str, str] = {}
    started_all = time.perf_counter()
    for name in planned:
        stage = _BY_NAME[name]
        upstream = {d: keys.get(d, "absent") for d in (*stage.depends, *stage.soft)}
        key = _key(stage, settings, fingerprint, upstream)
        path = work / f"{name}.json"
        cached = _load_cached(path, key) if resume else None
        entry = results["stages"][name]
        if on_stage_start is not None:
            on_stage_start(name, stage.title)
        if cached is not None:
            entry.update(cached["entry"])
            results["run"]["reused"].append(name)
        else:
            ctx.results = {d: results["stages"][d]["result"] for d in (*stage.depends,
                           *stage.soft) if results["stages"][d]["status"] == "done"}
            entry.update(_run_stage(stage, ctx))
            write_json(path, {"key": key, "entry": entry})
        if entry["status"] == "done":
            keys[name] = key
        results["run"]["timings"][name] = entry.get("seconds")
        results["run"]["total_seconds"] = time.perf_counter() - started_all
        _write_checkpoint(out, results, ctx)
        if on_stage_end is not None:
            on_stage_end(results)
    return results


def _run_stage(stage: Stage, ctx: StageContext) -> dict[str, Any]:
    started = time.perf_counter()
    missing = [d for d in stage.depends if d not in ctx.results]
    if missing:
        return {"status": "skipped", "reason": f"needs the {', '.join(missing)} stage(s), "
                "which did not finish", "seconds": 0.0}
    try:
        result = clean(stage.run(ctx))
    except StageSkipped as exc:
        return {"status": "skipped", "reason": str(exc),
                "seconds": time.perf_counter() - started}
    except Exception as exc:  # one stage's failure is reported; the others still run
        logger.warning("stage %s failed: %s", stage.name, exc, exc_info=logger.isEnabledFor(
            logging.DEBUG))
        return {"status": "failed", "reason": f"{type(exc).__name__}: {exc}",
                "seconds": time.perf_counter() - started}
    return {"status": "done", "reason": None, "result": result,
            "finding": stage.finding(result), "seconds": time.perf_counter() - started}


def _empty_results(data: LoadedData, settings: AnalysisSettings, fingerprint: str,
                   planned: list[str]) -> dict[str, Any]:
    ts = data.taskset
    stages = {}
    for s in STAGES:
        reason = ("not run yet (interrupted, or still running)" if s.name in planned
                  else "not requested (stage subcommand)")
        stages[s.name] = {"title": s.title, "status": "missing", "reason": reason,
                          "result": None, "finding": None, "seconds": None}
    return {
        "schema": RESULTS_SCHEMA, "schema_version": RESULTS_SCHEMA_VERSION,
        "tasklens_version": __version__,
        "data": {"source": data.source, "name": ts.name, "fingerprint": fingerprint,
                 "n_samples": ts.n_samples, "tasks": ts.task_names,
                 # what the models read (settings.image_model applies to images only)
                 "image_shape": image_shape_of(ts.input_shape, ts.info),
                 "image_model": image_model_for(settings, ts.input_shape, ts.info),
                 "models": model_description(settings, ts.input_shape, ts.info)},
        "settings": settings.to_dict(),
        "stages": stages,
        "checkpoint": None,
        "run": {"timings": {}, "total_seconds": None, "reused": [],
                "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")},
    }


def _write_checkpoint(out: Path, results: dict[str, Any], ctx: StageContext) -> None:
    """Copy the recommended method's seed-0 weights to ``DIR/model.pt`` (+ model.json)."""
    bal = results["stages"]["balancing"]
    if bal["status"] != "done" or results["checkpoint"] is not None:
        return
    rec = bal["result"]["recommendation"]
    src = ctx.work_dir / "models" / rec["checkpoint_source"]
    if not src.is_file():
        return
    st = ctx.settings
    train = ctx.split.train
    name, kwargs = builder(st, rec["method"], train.input_shape, train.info)
    shape = kwargs.get("input_shape")
    if shape is not None and tuple(shape) != tuple(train.input_shape):
        # conv models on flattened images: model.pt holds the image model's weights (no
        # reshape front), rebuilt by the builder on (C, H, W) images
        import torch

        state = image_state_dict(torch.load(src, weights_only=True))
        with atomic_write(out / "model.pt", "wb") as handle:
            torch.save(state, handle)
    else:
        shutil.copyfile(src, out / ".model.pt.tmp")
        (out / ".model.pt.tmp").replace(out / "model.pt")
    meta = {"file": "model.pt", "method": rec["method"], "seed": st.seed,
            "tasks": ctx.task_names, "builder": f"tasklens.nn.{name}",
            "builder_kwargs": {**kwargs, "seed": st.seed},
            "load": "model.load_state_dict(torch.load('model.pt', weights_only=True))"}
    write_json(out / "model.json", meta)
    results["checkpoint"] = meta


def write_results(results: dict[str, Any], out_dir: str | Path) -> Path:
    """Write ``results.json`` (atomically)."""
    return write_json(Path(out_dir) / "results.json", clean(results))
