"""Run, summary and save scaffolding shared by the CORE-MTL study modules.

The studies of :mod:`~tasklens.studies.core_mtl_shortcut`,
:mod:`~tasklens.studies.core_mtl_robustness`, :mod:`~tasklens.studies.core_mtl_scaling`
and :mod:`~tasklens.studies.core_mtl_grounding` all train one model per job with one
result file per run (a rerun in the same folder resumes), summarise each quantity as
mean ± SE over seeds, print Markdown tables and save ``<name>.json`` / ``<name>.md`` /
``<name>.png``. Only this lower-level part lives here; the studies keep their protocols.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._common.validation import check_scalar

MS = tuple[float, float]
NAN_MS: MS = (math.nan, math.nan)


# ---------------------------------------------------------------- arguments
def check_names(values: str | Sequence[str], allowed: Sequence[str], name: str) -> tuple[str, ...]:
    """``values`` as a tuple of distinct names from ``allowed`` (a lone string is one name).

    Raises
    ------
    ValueError
        Empty, unknown or repeated names (the message names ``name`` and ``allowed``).
    """
    values = (values,) if isinstance(values, str) else tuple(values)
    if not values or any(v not in allowed for v in values) or len(set(values)) < len(values):
        raise ValueError(f"{name} must be distinct names from {', '.join(allowed)}; "
                         f"got {list(values)}")
    return values


def check_seeds(seeds: Sequence[int]) -> tuple[int, ...]:
    """``seeds`` as a tuple of distinct non-negative ints (ValueError otherwise)."""
    seeds = tuple(check_scalar(s, "seeds", numbers.Integral, low=0) for s in seeds)
    if not seeds or len(set(seeds)) < len(seeds):
        raise ValueError(f"seeds must be distinct non-negative integers, got {list(seeds)}")
    return seeds


def check_image_size(size: int, why: str) -> None:
    """``size`` must be 8, 16, 32 or 64; ``why`` explains the constraint in the message."""
    if size not in (8, 16, 32, 64):
        raise ValueError(f"size must be 8, 16, 32 or 64 ({why}), got {size!r}")


# ---------------------------------------------------------------- runs
def _nest(tree: dict[Any, Any], path: Sequence[Hashable], value: Any) -> None:
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


def run_and_collect(
    jobs: Sequence[dict[str, Any]],
    run_job: Callable[[dict[str, Any], dict[str, Any]], Any],
    out_dir: str | Path,
    settings: dict[str, Any],
    *,
    result_key: Callable[[dict[str, Any]], Sequence[Hashable]],
    error_key: Callable[[dict[str, Any]], Sequence[Hashable]] | None = None,
    groups: Iterable[Hashable] = (),
    backend: str = "serial",
    progress: bool | None = None,
) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """Run (or resume) ``jobs`` with one result file each under ``out_dir/runs``.

    Parameters
    ----------
    jobs, run_job, settings :
        Of :func:`tasklens.affinity.sweep.run_jobs` (``settings`` is hashed into the
        file names, so equal settings resume the same runs).
    result_key, error_key : callable ``job -> path of keys``
        Where a finished run's result (a failed run's message; default ``result_key``)
        goes in the nested dicts returned, e.g. ``(method, seed)``.
    groups : iterable
        First-level keys present in the results even when none of their runs finished.
    backend, progress :
        Of :func:`~tasklens.affinity.sweep.run_jobs`.

    Returns
    -------
    (results, failed) : nested dicts
        A failed run (e.g. STCH refusing a loss that underflowed to 0) is reported in
        ``failed``, not hidden; ``failed`` only holds keys that have failures.
    """
    from ..affinity.sweep import run_jobs

    sweep = run_jobs(jobs, run_job, Path(out_dir) / "runs", settings=settings,
                     backend=backend, progress=progress)
    results: dict[Any, Any] = {g: {} for g in groups}
    failed: dict[Any, Any] = {}
    for jid, res in sweep.results.items():
        _nest(results, result_key(sweep.jobs[jid]), res)
    for jid, message in sweep.errors.items():
        _nest(failed, (error_key or result_key)(sweep.jobs[jid]), message)
    return results, failed


# ---------------------------------------------------------------- one run
def fit(model: Any, train: Any, balancer: str, settings: Mapping[str, Any], seed: int) -> Any:
    """Train ``model`` on ``train`` with ``balancer`` and the study's ``settings``
    (``epochs``, ``batch_size``, ``lr``; Adam), seeded by ``seed``; the
    :class:`~tasklens.train.TrainResult`."""
    from ..train import Trainer

    return Trainer(model, train, balancer, batch_size=settings["batch_size"],
                   lr=settings["lr"], seed=seed, progress=False).fit(settings["epochs"])


def evaluate_on(model: Any, tests: Mapping[str, Any],
                read: Callable[[dict[str, dict[str, float]]], Any]) -> dict[str, Any]:
    """``{name: read(evaluate(model, test set))}`` for each named test set."""
    from ..train import evaluate

    return {name: read(evaluate(model, ts)) for name, ts in tests.items()}


# ---------------------------------------------------------------- summaries
def mean_se(values: Sequence[float]) -> MS:
    """(mean, standard error) of ``values``: sample SD (ddof 1) over √n; SE 0 for one."""
    a = np.asarray(values, dtype=np.float64)
    se = float(a.std(ddof=1) / math.sqrt(a.size)) if a.size > 1 else 0.0
    return float(a.mean()), se


def runs_mean_se(runs: Mapping[Any, Any], fn: Callable[[Any], float]) -> MS:
    """(mean, SE) over runs of ``fn(run)``; NaN when no run finished."""
    if not runs:
        return NAN_MS
    return mean_se([fn(r) for r in runs.values()])


# ---------------------------------------------------------------- tables and files
def pm(value: MS | None, digits: int = 3) -> str:
    """``"mean ± SE"`` with ``digits`` decimals; ``"—"`` for a missing or NaN mean."""
    if value is None or not np.isfinite(value[0]):
        return "—"
    return f"{value[0]:.{digits}f} ± {value[1]:.{digits}f}"


def markdown_table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Lines of a Markdown table with header ``head`` and the cells of ``rows``."""
    return (["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            + ["| " + " | ".join(cells) + " |" for cells in rows])


def plain(d: Any) -> Any:
    """JSON-ready copy: mapping keys → str (int seeds, float λ), tuples → lists."""
    if isinstance(d, Mapping):
        return {str(k): plain(v) for k, v in d.items()}
    if isinstance(d, (tuple, list)):
        return [plain(v) for v in d]
    return d


def save_study(result: Any, out_dir: str | Path, name: str, text: str,
               plot: Callable[[Any], Any] | None = None) -> Any:
    """Write ``<name>.md`` (``text``), ``<name>.png`` (``plot(result)``, when given) and
    ``<name>.json`` (``result.to_dict()``, with the paths) into ``out_dir``, atomically
    through :mod:`tasklens._common.io`; return ``result`` with the paths in ``files``."""
    from .._common.io import atomic_write, write_json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"json": str(out / f"{name}.json"), "markdown": str(out / f"{name}.md")}
    with atomic_write(files["markdown"]) as handle:
        handle.write(text + "\n")
    if plot is not None:
        from ..report.figures import save_figure

        files["figure"] = str(out / f"{name}.png")
        fig = plot(result)
        save_figure(fig, files["figure"])
        fig.clf()
    result = dataclasses.replace(result, files=files)
    write_json(files["json"], result.to_dict())
    return result
