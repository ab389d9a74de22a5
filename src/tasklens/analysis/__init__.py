"""The main job, ``tasklens analyze``: stages from data to a recommendation, with caching.

>>> from tasklens.analysis import AnalysisSettings, load_data, run_analysis
>>> data = load_data("multi_digits_mixed")                              # doctest: +SKIP
>>> results = run_analysis(data, AnalysisSettings.for_budget("fast"), "out")  # doctest: +SKIP

Stages (see :data:`STAGES`): ``summary``, ``theory`` (tasklens.linear), ``multitask`` (EW
training with loss curves, gradient cosines, GS/GT affinities), ``baselines`` (single-task
models, Δm), ``grouping`` (select_networks or TAG), ``balancing`` (methods' Δm ± SE and a
recommendation), ``representation`` (CKA/RSA). The result is the content of results.json
(schema :data:`RESULTS_SCHEMA` version :data:`RESULTS_SCHEMA_VERSION`, documented in
docs/analyze.md). Plotting and HTML live in :mod:`tasklens.report.html`.
"""

from .context import StageContext, StageSkipped
from .data import (
    DEFAULT_DATA,
    DataError,
    LoadedData,
    builtin_names,
    load_data,
    multi_digits_mixed,
    parse_task_specs,
    taskset_fingerprint,
)
from .executor import EXECUTORS, ExecutorSettings, TrainJob
from .run import (
    RESULTS_SCHEMA,
    RESULTS_SCHEMA_VERSION,
    STAGE_NAMES,
    STAGES,
    Stage,
    clean,
    resolve_stages,
    run_analysis,
    write_results,
)
from .settings import BUDGETS, DEFAULT_METHODS, AnalysisSettings

__all__ = [
    "BUDGETS",
    "DEFAULT_DATA",
    "DEFAULT_METHODS",
    "EXECUTORS",
    "RESULTS_SCHEMA",
    "RESULTS_SCHEMA_VERSION",
    "STAGES",
    "STAGE_NAMES",
    "AnalysisSettings",
    "DataError",
    "ExecutorSettings",
    "LoadedData",
    "Stage",
    "StageContext",
    "StageSkipped",
    "TrainJob",
    "builtin_names",
    "clean",
    "load_data",
    "multi_digits_mixed",
    "parse_task_specs",
    "resolve_stages",
    "run_analysis",
    "taskset_fingerprint",
    "write_results",
]
