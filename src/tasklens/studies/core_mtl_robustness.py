"""CORE-MTL's corruption robustness, component ablation and λ sensitivity at small scale
(Wu, Zou, Wu and Wang 2026, "CORE-MTL: Rethinking Gradient Balancing via Causal
Orthogonal Representations", arXiv:2606.02221: Table 2 right / App. J, Table 5, App. G/H).

All three experiments reuse the shortcut stress test's protocol and run machinery
(:mod:`tasklens.studies.core_mtl_shortcut`): train on the *source* domain of
:func:`tasklens.data.colored_digits` (class → colour fixed), test on held-out source digits
(the clean, in-distribution accuracy), on the same digits with the colours permuted
(*target*), and on the clean test digits under each corruption of
:mod:`tasklens.data.corruptions` at severities 1–5. One result file per (model variant,
seed) under ``out_dir/runs``; the three experiments share the settings, so a variant that
two experiments need (full CORE-MTL, EW, λ_CFA = 0 = "DS + grounding + CKA") is trained
once when they write to the same ``out_dir``, and a rerun resumes.

- :func:`corruption_robustness` (App. J): CORE-MTL (soft) and EW, PCGrad, GradNorm, STCH,
  RLW, MTAN; digit accuracy per corruption (mean over severities 1–5, and at one severity)
  and averaged over the four.
- :func:`component_ablation` (Table 5): HPS (EW) → dual stream with every λ = 0 →
  + grounding (λ_rec = 1) → + CKA (λ_CKA = 1) → + CFA (λ_CFA = 1, full CORE-MTL).
- :func:`lambda_sensitivity` (App. G/H): λ_CKA ∈ {0, 0.1, 1, 10, 100} with λ_CFA = λ_rec = 1,
  and λ_CFA ∈ {0, 0.1, 0.5, 1, 5} with λ_CKA = λ_rec = 1.

Every mean ± SE is over seeds of a per-seed quantity (e.g. the per-seed average over the
corruptions); the SE is the sample standard deviation over √(seeds).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .._common.validation import check_scalar
from ..data.corruptions import CORRUPTIONS
from ._core_mtl_runs import MS, check_seeds, fit, markdown_table, plain, save_study
from ._core_mtl_runs import pm as _fmt
from ._core_mtl_runs import runs_mean_se as _ms
from .core_mtl_shortcut import (
    ARCH,
    BALANCER,
    DUAL,
    LABELS,
    METHODS,
    TASKS,
    _check_args,
    build_model,
    shortcut_data,
)

#: model variants: name → (method of the shortcut study, λ overrides of eq. 16 or None)
ABLATION: dict[str, tuple[str, dict[str, float] | None]] = {
    "hps": ("ew", None),
    "ds": ("core_mtl", {"cka": 0.0, "cfa": 0.0, "rec": 0.0}),
    "ds_grounding": ("core_mtl", {"cka": 0.0, "cfa": 0.0, "rec": 1.0}),
    "ds_grounding_cka": ("core_mtl", {"cka": 1.0, "cfa": 0.0, "rec": 1.0}),
    "full": ("core_mtl", None),
}
ABLATION_LABELS = {"hps": "HPS (vanilla MTL, EW)", "ds": "+ dual stream (λ all 0)",
                   "ds_grounding": "+ grounding (λ_rec = 1)",
                   "ds_grounding_cka": "+ CKA (λ_CKA = 1)",
                   "full": "+ CFA (λ_CFA = 1) = full CORE-MTL"}
#: λ grids of App. G (CKA) and App. H (CFA); the other weights stay at 1
SENSITIVITY_GRID: dict[str, tuple[float, ...]] = {"cka": (0.0, 0.1, 1.0, 10.0, 100.0),
                                                  "cfa": (0.0, 0.1, 0.5, 1.0, 5.0)}
SEVERITIES = (1, 2, 3, 4, 5)


# ---------------------------------------------------------------- one run
def _build(method: str, train: Any, seed: int, lambdas: Mapping[str, float] | None) -> Any:
    """The shortcut study's model of ``method``; for ``core_mtl`` with eq. 16's weights
    ``lambdas`` (``{"cka", "cfa", "rec": float}``, default 1 each) when given."""
    if not lambdas:
        return build_model(method, train, seed)
    if method != "core_mtl":
        raise ValueError(f"lambdas apply to core_mtl only, got them for {method!r}")
    from ..nn import dual_stream_for

    weights = {f"lambda_{k}": float(v) for k, v in lambdas.items()}
    return dual_stream_for(train, seed=seed, **DUAL, **ARCH, **weights)


def _accuracies(model: Any, ts: Any) -> dict[str, float]:
    from ..train import evaluate

    metrics = evaluate(model, ts)
    return {t: float(metrics[t][key]) for t, key in TASKS.items()}


def _corrupted(model: Any, ts: Any, spec: Mapping[str, Any], seed: int
               ) -> dict[str, dict[str, dict[str, float]]]:
    """``{corruption: {str(severity): {task: accuracy}}}`` on ``ts`` corrupted by
    :func:`tasklens.data.corrupt` (clipped to [0, 1], the range of colored_digits); the
    random corruptions draw from ``default_rng((seed, corruption index, severity))``."""
    import dataclasses

    from ..data.corruptions import corrupt

    x = np.asarray(ts.inputs)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for ci, name in enumerate(spec["names"]):
        out[name] = {}
        for sev in spec["severities"]:
            rng = np.random.default_rng((int(seed), ci, int(sev)))
            xc = corrupt(x, name, int(sev), rng).astype(np.float32)
            out[name][str(sev)] = _accuracies(model, dataclasses.replace(ts, inputs=xc))
    return out


def _run_job(job: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Train one (method[, lambdas], seed) as the shortcut study does
    (:func:`~tasklens.studies.core_mtl_shortcut.shortcut_data`, its models and balancers);
    accuracies on the source and target tests and on the corrupted source test."""
    train, src_test, tgt_test = shortcut_data(settings["n"], job["seed"])
    model = _build(job["method"], train, job["seed"], job.get("lambdas"))
    fit(model, train, BALANCER[job["method"]], settings, job["seed"])
    out: dict[str, Any] = {domain: _accuracies(model, ts)
                           for domain, ts in (("source", src_test), ("target", tgt_test))}
    out["corrupted"] = _corrupted(model, src_test, settings["corruptions"], job["seed"])
    return out


# ---------------------------------------------------------------- shared runs
@dataclass(frozen=True)
class _Spec:
    method: str
    lambdas: dict[str, float] | None

    def job(self, seed: int) -> dict[str, Any]:
        """The run's job; λ = defaults (all 1) is left out so equal models share a file."""
        job: dict[str, Any] = {"method": self.method, "seed": int(seed)}
        if self.lambdas and any(float(v) != 1.0 for v in self.lambdas.values()):
            job["lambdas"] = {k: float(self.lambdas[k]) for k in sorted(self.lambdas)}
        return job


def _settings(epochs: int, n: int | None, batch_size: int, lr: float) -> dict[str, Any]:
    _check_args(("ew",), (0,), epochs, n, batch_size, lr)  # the shortcut study's checks
    return {"epochs": int(epochs), "n": None if n is None else int(n),
            "batch_size": int(batch_size), "lr": float(lr),
            "corruptions": {"names": list(CORRUPTIONS), "severities": list(SEVERITIES)}}


def _train(out_dir: str | Path, specs: Mapping[str, _Spec], seeds: tuple[int, ...],
           settings: dict[str, Any], backend: str, progress: bool | None
           ) -> tuple[dict[str, dict[int, dict[str, Any]]], dict[str, dict[int, str]]]:
    """Run (or resume) every (variant, seed); ``(per_seed, failed)`` keyed by variant."""
    from ..affinity.sweep import run_jobs, to_jsonable

    jobs, owners = [], {}
    for name, spec in specs.items():
        for s in seeds:
            job = spec.job(s)
            key = repr(to_jsonable(job))
            if key not in owners:
                jobs.append(job)
                owners[key] = []
            owners[key].append((name, s))
    sweep = run_jobs(jobs, _run_job, Path(out_dir) / "runs", settings=settings,
                     backend=backend, progress=progress)
    per_seed: dict[str, dict[int, dict[str, Any]]] = {n: {} for n in specs}
    failed: dict[str, dict[int, str]] = {}
    for jid, job in sweep.jobs.items():
        for name, s in owners[repr(to_jsonable(job))]:
            if jid in sweep.results:
                per_seed[name][s] = sweep.results[jid]
            elif jid in sweep.errors:
                failed.setdefault(name, {})[s] = sweep.errors[jid]
    return per_seed, failed


def corrupted_mean(run: Mapping[str, Any], task: str = "digit",
                   names: Sequence[str] = CORRUPTIONS,
                   severities: Sequence[int] = SEVERITIES) -> float:
    """One run's accuracy on ``task`` averaged over corruptions ``names`` × ``severities``."""
    vals = [run["corrupted"][c][str(s)][task] for c in names for s in severities]
    return float(np.mean(vals))


def _domain_summary(runs: Mapping[int, Mapping[str, Any]], task: str) -> dict[str, MS]:
    return {"source": _ms(runs, lambda r: r["source"][task]),
            "target": _ms(runs, lambda r: r["target"][task]),
            "gap": _ms(runs, lambda r: r["source"][task] - r["target"][task]),
            "corrupted": _ms(runs, lambda r: corrupted_mean(r, task))}


# ---------------------------------------------------------------- corruption robustness
@dataclass(frozen=True)
class CorruptionResult:
    """Clean and corrupted test accuracy per method (Wu et al. 2026 Table 2 right, App. J).

    Attributes
    ----------
    methods, seeds : tuples
    task : str
        The task the summaries read (``digit``; ``per_seed`` holds both tasks).
    severity : int
        The single severity of :meth:`table` ``(at_severity=True)``.
    per_seed : dict {method: {seed: run record}}
        Run record: ``source``, ``target``, ``corrupted[name][str(severity)]``, each
        ``{task: accuracy}``.
    summary : dict {method: {"clean": MS, "mean": MS, "mean_at": MS,
        "per_corruption": {name: MS}, "at_severity": {name: MS}, "curve": {name: [MS]}}}
        ``MS`` = (mean, SE) over seeds. ``per_corruption`` averages severities 1–5,
        ``at_severity`` is at :attr:`severity`; ``mean``/``mean_at`` average the four;
        ``curve[name]`` lists severities 0 (clean) to 5.
    settings, failed, files : dicts
    """

    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    task: str
    severity: int
    per_seed: dict[str, dict[int, dict[str, Any]]]
    summary: dict[str, dict[str, Any]]
    settings: dict[str, Any]
    failed: dict[str, dict[int, str]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def best(self, key: str = "mean") -> str:
        """The method with the highest mean corrupted accuracy (``mean`` or ``mean_at``)."""
        done = [m for m in self.methods if self.per_seed[m]]
        return max(done, key=lambda m: self.summary[m][key][0])

    def table(self, at_severity: bool = False) -> str:
        """Markdown: clean accuracy, each corruption and their mean (mean ± SE)."""
        key, mean_key = ("at_severity", "mean_at") if at_severity else ("per_corruption",
                                                                      "mean")
        head = ["method", "runs", "clean", *CORRUPTIONS, "mean corrupted"]
        rows = ([LABELS.get(m, m), f"{len(self.per_seed[m])}/{len(self.seeds)}",
                 _fmt(s["clean"]), *(_fmt(s[key][c]) for c in CORRUPTIONS), _fmt(s[mean_key])]
                for m, s in ((m, self.summary[m]) for m in self.methods))
        return "\n".join(markdown_table(head, rows))

    def to_dict(self) -> dict[str, Any]:
        return plain({"methods": self.methods, "seeds": self.seeds, "task": self.task,
                       "severity": self.severity, "per_seed": self.per_seed,
                       "summary": self.summary, "settings": self.settings,
                       "failed": self.failed, "files": self.files, "best": self.best()})


def _corruption_summary(runs: Mapping[int, Mapping[str, Any]], task: str,
                        severity: int) -> dict[str, Any]:
    return {"clean": _ms(runs, lambda r: r["source"][task]),
            "mean": _ms(runs, lambda r: corrupted_mean(r, task)),
            "mean_at": _ms(runs, lambda r: corrupted_mean(r, task, severities=(severity,))),
            "per_corruption": {c: _ms(runs, lambda r, c=c: corrupted_mean(r, task, (c,)))
                               for c in CORRUPTIONS},
            "at_severity": {c: _ms(runs, lambda r, c=c: r["corrupted"][c][str(severity)][task])
                            for c in CORRUPTIONS},
            "curve": {c: [_ms(runs, lambda r: r["source"][task])]
                      + [_ms(runs, lambda r, c=c, k=k: r["corrupted"][c][str(k)][task])
                         for k in SEVERITIES] for c in CORRUPTIONS}}


def corruption_robustness(
    out_dir: str | Path,
    methods: Sequence[str] = METHODS,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 10,
    n: int | None = None,
    *,
    severity: int = 3,
    batch_size: int = 64,
    lr: float = 3e-3,
    backend: str = "serial",
    progress: bool | None = None,
) -> CorruptionResult:
    """Train each method on the source colours; digit accuracy under test-time corruptions.

    Parameters
    ----------
    out_dir : path
        One JSON file per (method, seed) under ``out_dir/runs`` (a rerun resumes; shared
        with :func:`component_ablation` and :func:`lambda_sensitivity`).
    methods : sequence of str
        A subset of :data:`tasklens.studies.core_mtl_shortcut.METHODS`.
    seeds : sequence of int
        Model seeds (seed ``s`` also draws the 75/25 split and the corruptions' noise).
    epochs, n, batch_size, lr : as in :func:`~tasklens.studies.shortcut_stress_test`.
    severity : int in 1..5
        The severity of the single-severity table (all of 1–5 are always evaluated).
    backend, progress : of :func:`~tasklens.affinity.sweep.run_jobs`.

    Returns
    -------
    CorruptionResult
    """
    methods, seeds = _check_args(methods, seeds, epochs, n, batch_size, lr)
    severity = int(check_scalar(severity, "severity", numbers.Integral, low=1, high=5))
    settings = _settings(epochs, n, batch_size, lr)
    specs = {m: _Spec(m, None) for m in methods}
    per_seed, failed = _train(out_dir, specs, seeds, settings, backend, progress)
    summary = {m: _corruption_summary(per_seed[m], "digit", severity) for m in methods}
    return CorruptionResult(methods, seeds, "digit", severity, per_seed, summary, settings,
                            failed)


# ---------------------------------------------------------------- ablation
@dataclass(frozen=True)
class AblationResult:
    """Component ablation (Wu et al. 2026 Table 5) on the shortcut stress test.

    Attributes
    ----------
    variants : tuple of str
        Keys of :data:`ABLATION`, in order.
    seeds : tuple of int
    per_seed : dict {variant: {seed: run record}}
    summary : dict {variant: {"source"|"target"|"gap"|"corrupted": (mean, SE)}}
        Digit accuracy: ``source`` is the clean in-distribution test accuracy, ``gap``
        source − target, ``corrupted`` the mean over 4 corruptions × severities 1–5.
    settings, failed, files : dicts
    """

    variants: tuple[str, ...]
    seeds: tuple[int, ...]
    per_seed: dict[str, dict[int, dict[str, Any]]]
    summary: dict[str, dict[str, MS]]
    settings: dict[str, Any]
    failed: dict[str, dict[int, str]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def table(self) -> str:
        """Markdown: components ✓, then digit source (clean) / target / gap / corrupted."""
        head = ["variant", "DS", "grounding", "CKA", "CFA", "runs", "source (clean)",
                "target", "gap ↓", "mean corrupted"]
        rows = []
        for v in self.variants:
            method, lam = ABLATION[v]
            dual = method == "core_mtl"
            lam = {"cka": 1.0, "cfa": 1.0, "rec": 1.0, **(lam or {})}
            marks = ["✓" if dual else "", *("✓" if dual and lam[k] > 0 else ""
                                            for k in ("rec", "cka", "cfa"))]
            s = self.summary[v]
            rows.append([ABLATION_LABELS[v], *marks,
                         f"{len(self.per_seed[v])}/{len(self.seeds)}",
                         *(_fmt(s[k]) for k in ("source", "target", "gap", "corrupted"))])
        return "\n".join(markdown_table(head, rows))

    def to_dict(self) -> dict[str, Any]:
        return plain({"variants": self.variants, "seeds": self.seeds,
                       "per_seed": self.per_seed, "summary": self.summary,
                       "settings": self.settings, "failed": self.failed,
                       "files": self.files})


def component_ablation(
    out_dir: str | Path,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 10,
    n: int | None = None,
    *,
    variants: Sequence[str] = tuple(ABLATION),
    batch_size: int = 64,
    lr: float = 3e-3,
    backend: str = "serial",
    progress: bool | None = None,
) -> AblationResult:
    """HPS → dual stream → + grounding → + CKA → + CFA on the shortcut stress test.

    Parameters as in :func:`corruption_robustness`; ``variants`` a subset of
    :data:`ABLATION` (default all, in the order of Table 5).

    Returns
    -------
    AblationResult
    """
    variants = tuple(variants)
    if not variants or any(v not in ABLATION for v in variants) or \
            len(set(variants)) != len(variants):
        raise ValueError(f"variants must be distinct names among {', '.join(ABLATION)}; "
                         f"got {list(variants)}")
    seeds = check_seeds(seeds)
    settings = _settings(epochs, n, batch_size, lr)
    specs = {v: _Spec(*ABLATION[v]) for v in variants}
    per_seed, failed = _train(out_dir, specs, seeds, settings, backend, progress)
    summary = {v: _domain_summary(per_seed[v], "digit") for v in variants}
    return AblationResult(variants, seeds, per_seed, summary, settings, failed)


# ---------------------------------------------------------------- sensitivity
@dataclass(frozen=True)
class SensitivityResult:
    """λ_CKA and λ_CFA sweeps of full CORE-MTL (Wu et al. 2026 App. G, H).

    Attributes
    ----------
    grid : dict {"cka"|"cfa": tuple of float}
        The values swept (the other two weights stay at 1).
    seeds : tuple of int
    per_seed : dict {"cka"|"cfa": {value: {seed: run record}}}
    summary : dict {"cka"|"cfa": {value: {"source"|"target"|"gap"|"corrupted": MS}}}
        Digit accuracy, (mean, SE) over seeds.
    settings, failed, files : dicts
    """

    grid: dict[str, tuple[float, ...]]
    seeds: tuple[int, ...]
    per_seed: dict[str, dict[float, dict[int, dict[str, Any]]]]
    summary: dict[str, dict[float, dict[str, MS]]]
    settings: dict[str, Any]
    failed: dict[str, dict[int, str]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def best(self, weight: str, key: str = "target") -> float:
        """The λ value with the highest mean ``key`` accuracy (lowest for ``gap``)."""
        vals = [v for v in self.grid[weight] if not math.isnan(self.summary[weight][v][key][0])]
        sign = -1.0 if key == "gap" else 1.0
        return max(vals, key=lambda v: sign * self.summary[weight][v][key][0])

    def table(self) -> str:
        """Markdown: one row per (weight, value)."""
        head = ["weight", "value", "runs", "source", "target", "gap ↓", "mean corrupted"]
        rows = ([f"λ_{w.upper()}", f"{v:g}", f"{len(self.per_seed[w][v])}/{len(self.seeds)}",
                 *(_fmt(self.summary[w][v][k]) for k in ("source", "target", "gap",
                                                         "corrupted"))]
                for w, values in self.grid.items() for v in values)
        return "\n".join(markdown_table(head, rows))

    def to_dict(self) -> dict[str, Any]:
        return plain({"grid": self.grid, "seeds": self.seeds, "per_seed": self.per_seed,
                       "summary": self.summary, "settings": self.settings,
                       "failed": self.failed, "files": self.files,
                       "best_target": {w: self.best(w) for w in self.grid}})


def _check_grid(grid: Mapping[str, Sequence[float]]) -> dict[str, tuple[float, ...]]:
    if not isinstance(grid, Mapping) or not grid or set(grid) - {"cka", "cfa"}:
        raise ValueError(f"grid must map 'cka' and/or 'cfa' to λ values, got {grid!r}")
    out = {}
    for w, values in grid.items():
        vals = tuple(float(check_scalar(v, f"grid[{w!r}]", numbers.Real, low=0.0, finite=True))
                     for v in values)
        if not vals or len(set(vals)) != len(vals):
            raise ValueError(f"grid[{w!r}] must hold distinct values, got {list(values)}")
        out[w] = vals
    return out


def lambda_sensitivity(
    out_dir: str | Path,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 10,
    n: int | None = None,
    *,
    grid: Mapping[str, Sequence[float]] = SENSITIVITY_GRID,
    batch_size: int = 64,
    lr: float = 3e-3,
    backend: str = "serial",
    progress: bool | None = None,
) -> SensitivityResult:
    """Full CORE-MTL with one weight of eq. 16 varied, the others at 1.

    Parameters as in :func:`corruption_robustness`; ``grid`` maps ``"cka"`` and/or
    ``"cfa"`` to the λ values (default :data:`SENSITIVITY_GRID`, App. G and H's).

    Returns
    -------
    SensitivityResult
    """
    grid = _check_grid(grid)
    seeds = check_seeds(seeds)
    settings = _settings(epochs, n, batch_size, lr)
    specs = {f"{w}={v!r}": _Spec("core_mtl", {"cka": 1.0, "cfa": 1.0, "rec": 1.0, w: v})
             for w, values in grid.items() for v in values}
    runs, failed = _train(out_dir, specs, seeds, settings, backend, progress)
    per_seed = {w: {v: runs[f"{w}={v!r}"] for v in values} for w, values in grid.items()}
    summary = {w: {v: _domain_summary(per_seed[w][v], "digit") for v in values}
               for w, values in grid.items()}
    return SensitivityResult(grid, seeds, per_seed, summary, settings, failed)


# ---------------------------------------------------------------- saving
def save_robustness(result: CorruptionResult | AblationResult | SensitivityResult,
                    out_dir: str | Path) -> Any:
    """Write ``<name>.json`` and ``<name>.md`` (the tables) into ``out_dir``, plus
    ``sensitivity.png`` (:func:`tasklens.report.core_mtl_figures.plot_sensitivity`, chance
    0.1 = ten digit classes) for a
    :class:`SensitivityResult` and ``corruption.png`` (``plot_corruption``) for a
    :class:`CorruptionResult`; ``name`` is ``corruption``, ``ablation`` or ``sensitivity``.
    Returns the result with the paths in ``files``."""
    names = {CorruptionResult: "corruption", AblationResult: "ablation",
             SensitivityResult: "sensitivity"}
    if type(result) not in names:
        raise TypeError(f"result must be a CorruptionResult, AblationResult or "
                        f"SensitivityResult, got {type(result).__name__}")
    from ..report.core_mtl_figures import plot_corruption, plot_sensitivity

    text, plot = result.table(), None
    if isinstance(result, CorruptionResult):
        text = (f"Mean over severities 1–5:\n\n{text}\n\nAt severity {result.severity}:\n\n"
                f"{result.table(at_severity=True)}")
        plot = partial(plot_corruption, labels=LABELS)
    elif isinstance(result, SensitivityResult):
        plot = partial(plot_sensitivity, chance=0.1)
    return save_study(result, out_dir, names[type(result)], text, plot)
