"""Scaling with the number of tasks (Wu, Zou, Wu and Wang 2026, "CORE-MTL: Rethinking
Gradient Balancing via Causal Orthogonal Representations", arXiv:2606.02221, §4.5, Table 4).

Table 4 trains EW, PCGrad, STCH and CORE-MTL on K = 10 … 40 CelebA attributes and reports
seconds per epoch and the mean attribute accuracy: PCGrad's cost grows linearly with K (one
backward pass per task), EW's and STCH's stay flat, and CORE-MTL pays a fixed decoder
overhead that does not grow with K.

Here, at CPU scale: procedural dSprites (:func:`tasklens.data.sprites`, 64×64, average-pooled
to ``size``) with ``K`` random-MLP regression tasks (Maziarka et al. 2022 §3.1,
:func:`tasklens.data.random_mlp_tasks`); the first ``K`` of the same 40 tasks for every
``K`` (task ``i`` is the same function whatever the number of tasks drawn). Per (method, K,
seed): the median seconds per training epoch (the trainer's ``time_s``; no evaluation inside
the epoch), the mean held-out R² over the K tasks (the regression analogue of Table 4's
mean accuracy) and Δm (:func:`tasklens.train.delta_m`, on the per-task test MSE, positive =
better) **against EW with the same K and seed** — Table 4 has no single-task baselines and
40 single-task models per seed would dwarf the study.

One result file per (method, K, seed) through :func:`tasklens.affinity.sweep.run_jobs`
(a rerun in the same folder resumes). A run that raises (e.g. STCH refusing a loss that
underflowed to exactly 0) is counted in ``failed``, not hidden.
"""

from __future__ import annotations

import numbers
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._common.validation import check_scalar
from ._core_mtl_runs import (
    NAN_MS,
    check_image_size,
    check_names,
    check_seeds,
    fit,
    mean_se,
    plain,
    pm,
    run_and_collect,
    save_study,
)

#: methods of Table 4 (CORE-MTL first)
METHODS: tuple[str, ...] = ("core_mtl", "ew", "pcgrad", "stch")
LABELS = {"core_mtl": "CORE-MTL (soft)", "ew": "EW", "pcgrad": "PCGrad", "stch": "STCH"}
BALANCER = {"core_mtl": "ew", "ew": "ew", "pcgrad": "pcgrad", "stch": "stch"}
TASK_COUNTS: tuple[int, ...] = (10, 20, 30, 40)
#: conv encoder shared by every model; CORE-MTL adds a light decoder (log2(size) stages)
ARCH: dict[str, Any] = {"channels": (8, 16, 16, 32), "head_hidden": 32, "head_depth": 2}
CODE_DIM = 24
DUAL: dict[str, Any] = {"feature_dim": 32, "semantic_dim": CODE_DIM, "residual_dim": 8}
DATA_SEED = 0
#: N(0, 1/fan_in) task networks: smooth tasks that a few epochs can learn (the literal
#: N(0, 1) of Maziarka et al. 2022 gives held-out R² ≈ 0.01 after a few epochs here)
WEIGHT_STD = "fan_in"


def scaling_data(n_train: int, n_test: int, k_max: int, size: int, seed: int
                 ) -> tuple[Any, Any]:
    """(train, test) sprites with ``k_max`` random-MLP tasks, pooled to ``size`` pixels.

    The images and the task networks come from :data:`DATA_SEED`; ``seed`` draws the
    train/test split.
    """
    from ..data import TaskSet, sprites

    full = sprites(n_train + n_test, seed=DATA_SEED, tasks="random_mlp", n_tasks=k_max,
                   weight_std=WEIGHT_STD)
    x = np.asarray(full.inputs, dtype=np.float32)
    f = x.shape[-1] // size
    # block means: a 64×64 binary sprite becomes a grey ``size``×``size`` image
    pooled = x.reshape(len(x), 1, size, f, size, f).mean(axis=(3, 5))
    names = full.task_names
    ts = TaskSet.from_arrays(pooled, {t: np.asarray(full.targets[t]) for t in names},
                             dict.fromkeys(names, "regression"),
                             name=f"sprites_random_mlp_{size}px", info=dict(full.info))
    split = ts.split(n_test / (n_train + n_test), seed=seed)
    return split.train, split.test


def build_model(method: str, train: Any, seed: int) -> Any:
    """The model of ``method``: CORE-MTL's dual stream (soft grounding) or HPS."""
    from ..nn import dual_stream_for, hps_for

    if method == "core_mtl":
        size = train.input_shape[-1]
        light = tuple(max(8, 32 >> i) for i in range(int(np.log2(size))))
        return dual_stream_for(train, seed=seed, grounding="soft", decoder_channels=light,
                               **DUAL, **ARCH)
    return hps_for(train, code_dim=CODE_DIM, seed=seed, **ARCH)


def _run_job(job: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Train one (method, K, seed); epoch times and per-task test metrics."""
    from ..train import evaluate

    train, test = scaling_data(settings["n_train"], settings["n_test"], max(TASK_COUNTS),
                               settings["size"], job["seed"])
    names = [f"mlp_{i}" for i in range(job["k"])]
    train, test = train.select(names), test.select(names)
    model = build_model(job["method"], train, job["seed"])
    result = fit(model, train, BALANCER[job["method"]], settings, job["seed"])
    metrics = evaluate(model, test)
    return {"epoch_s": [float(r["time_s"]) for r in result.history],
            "metrics": {t: {"mse": float(metrics[t]["mse"]), "r2": float(metrics[t]["r2"])}
                        for t in names}}


@dataclass(frozen=True)
class ScalingResult:
    """Seconds per epoch, mean R² and Δm vs EW per (method, K), over seeds.

    Attributes
    ----------
    methods : tuple of str
    task_counts : tuple of int
    seeds : tuple of int
    per_run : dict {method: {K: {seed: run}}}
        ``run``: ``epoch_s`` (list, seconds per epoch) and ``metrics`` ({task: {mse, r2}}).
    summary : dict {method: {K: {"epoch_s"|"r2"|"delta_m": (mean, SE)}}}
        ``epoch_s``: the median over a run's epochs (the first, which pays one-off costs,
        is left out when there are two or more), then mean ± SE over seeds; ``r2``: mean
        over tasks of the held-out R²; ``delta_m``: Δm in percent on the per-task test MSE
        against EW with the same K and seed (EW is 0 by definition).
    settings : dict
    failed : dict {method: {"K/seed": message}}
    files : dict {name: path}
    """

    methods: tuple[str, ...]
    task_counts: tuple[int, ...]
    seeds: tuple[int, ...]
    per_run: dict[str, dict[int, dict[int, dict[str, Any]]]]
    summary: dict[str, dict[int, dict[str, tuple[float, float]]]]
    settings: dict[str, Any]
    failed: dict[str, dict[str, str]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    timing: dict[str, dict[int, float]] | None = None

    def table(self) -> str:
        """Markdown table: one row per (K, method); with ``timing``, its best-of column."""
        extra = self.timing is not None
        lines = ["| K | method | runs | s / epoch | "
                 + ("s / epoch, interleaved best | " if extra else "")
                 + "mean R² | Δm vs EW (%) |", "|---|---|---|---|---|---|" + "---|" * extra]
        for k in self.task_counts:
            for m in self.methods:
                s = self.summary[m][k]
                runs = len(self.per_run[m].get(k, {}))
                cells = [pm(s["epoch_s"], 2)]
                if self.timing is not None:
                    best = self.timing.get(m, {}).get(k)
                    cells.append("—" if best is None else f"{best:.2f}")
                cells += [pm(s["r2"], 3), pm(s["delta_m"], 1)]
                lines.append(f"| {k} | {LABELS.get(m, m)} | {runs}/{len(self.seeds)} | "
                             + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return plain({"methods": self.methods, "task_counts": self.task_counts,
                      "seeds": self.seeds, "per_run": self.per_run, "summary": self.summary,
                      "settings": self.settings, "failed": self.failed, "files": self.files,
                      "timing": self.timing})


def epoch_seconds(times: Sequence[float]) -> float:
    """Median seconds per epoch, without the first epoch when there are two or more."""
    kept = list(times[1:]) if len(times) > 1 else list(times)
    return float(statistics.median(kept))


def _check_args(methods: Sequence[str], task_counts: Sequence[int], seeds: Sequence[int],
                epochs: int, n_train: int, n_test: int, size: int
                ) -> tuple[tuple[str, ...], tuple[int, ...], tuple[int, ...]]:
    methods = check_names(methods, METHODS, "methods")
    if "ew" not in methods:
        raise ValueError("methods must include 'ew': Δm is measured against it")
    counts = tuple(check_scalar(k, "task_counts", numbers.Integral, low=1,
                                high=max(TASK_COUNTS)) for k in task_counts)
    if not counts or len(set(counts)) < len(counts):
        raise ValueError(f"task_counts must be distinct integers in 1..{max(TASK_COUNTS)}, "
                         f"got {list(task_counts)}")
    seeds = check_seeds(seeds)
    check_scalar(epochs, "epochs", numbers.Integral, low=1)
    check_scalar(n_train, "n_train", numbers.Integral, low=16)
    check_scalar(n_test, "n_test", numbers.Integral, low=16)
    check_image_size(size, "a divisor of the 64-pixel sprites that the decoders accept")
    return methods, counts, seeds


def scaling_study(
    out_dir: str | Path,
    methods: Sequence[str] = METHODS,
    task_counts: Sequence[int] = TASK_COUNTS,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 4,
    *,
    n_train: int = 256,
    n_test: int = 256,
    size: int = 32,
    batch_size: int = 64,
    lr: float = 3e-3,
    progress: bool | None = None,
) -> ScalingResult:
    """Time per epoch and Δm of each method for each number of tasks K.

    Parameters
    ----------
    out_dir : path
        One JSON file per (method, K, seed) under ``out_dir/runs`` (a rerun resumes).
    methods : sequence of str
        A subset of :data:`METHODS` that includes ``"ew"`` (the Δm reference).
    task_counts : sequence of int
        Numbers of tasks (1 … 40); the first K of the same 40 random-MLP tasks.
    seeds : sequence of int
        Model seeds; seed ``s`` also draws the train/test split.
    epochs : int
    n_train, n_test : int
        Training and held-out images.
    size : {8, 16, 32, 64}
        Image side after average pooling.
    batch_size, lr : training settings (Adam).
    progress : bool, optional

    Returns
    -------
    ScalingResult
    """
    methods, counts, seeds = _check_args(methods, task_counts, seeds, epochs, n_train,
                                         n_test, size)
    settings = {"epochs": int(epochs), "n_train": int(n_train), "n_test": int(n_test),
                "size": int(size), "batch_size": int(batch_size), "lr": float(lr),
                "data_seed": DATA_SEED}
    jobs = [{"method": m, "k": k, "seed": s} for k in counts for s in seeds for m in methods]
    # serial, in this process: the epoch times must not include a worker's start-up
    per_run, failed = run_and_collect(
        jobs, _run_job, out_dir, settings, groups=methods, backend="serial",
        progress=progress,
        result_key=lambda job: (job["method"], int(job["k"]), int(job["seed"])),
        error_key=lambda job: (job["method"], f"{job['k']}/{job['seed']}"))
    summary = {m: {k: _summarise(per_run, m, k) for k in counts} for m in methods}
    return ScalingResult(methods, counts, seeds, per_run, summary, settings, failed)


def _summarise(per_run: dict[str, dict[int, dict[int, dict[str, Any]]]], method: str,
               k: int) -> dict[str, tuple[float, float]]:
    from ..train import delta_m

    runs = per_run[method].get(k, {})
    ew = per_run["ew"].get(k, {})
    if not runs:
        return {"epoch_s": NAN_MS, "r2": NAN_MS, "delta_m": NAN_MS}
    times = [epoch_seconds(r["epoch_s"]) for r in runs.values()]
    r2 = [float(np.mean([v["r2"] for v in r["metrics"].values()])) for r in runs.values()]
    dms = [delta_m(r["metrics"], ew[s]["metrics"],
                   metrics={t: ["mse"] for t in r["metrics"]})
           for s, r in runs.items() if s in ew]
    return {"epoch_s": mean_se(times), "r2": mean_se(r2),
            "delta_m": mean_se(dms) if dms else NAN_MS}


def interleaved_epoch_times(
    methods: Sequence[str] = METHODS,
    task_counts: Sequence[int] = TASK_COUNTS,
    repeats: int = 3,
    *,
    n_train: int = 256,
    size: int = 32,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
) -> dict[str, dict[int, float]]:
    """Seconds per training epoch, best of ``repeats``, with the methods interleaved.

    On a shared machine the per-run epoch times of :func:`scaling_study` follow the load
    of the moment. Here, for each K, one model per method is built and each round trains
    every model for one more epoch in turn; the fastest of ``repeats`` rounds (after one
    warm-up epoch) is kept, so a load spike hits all methods alike and the minimum
    approaches the unloaded cost.

    Returns
    -------
    dict {method: {K: seconds}}
    """
    from ..train import Trainer

    methods, counts, _ = _check_args(methods, task_counts, (seed,), 1, n_train, 16, size)
    check_scalar(repeats, "repeats", numbers.Integral, low=1)
    train, _ = scaling_data(n_train, 16, max(TASK_COUNTS), size, seed)
    out: dict[str, dict[int, float]] = {m: {} for m in methods}
    for k in counts:
        ts = train.select([f"mlp_{i}" for i in range(k)])
        trainers = {m: Trainer(build_model(m, ts, seed), ts, BALANCER[m],
                               batch_size=batch_size, lr=lr, seed=seed, progress=False)
                    for m in methods}
        best = dict.fromkeys(methods, float("inf"))
        for epoch in range(1, repeats + 2):  # epoch 1 is the warm-up
            for m, trainer in trainers.items():
                seconds = float(trainer.fit(epoch).history[-1]["time_s"])
                if epoch > 1:
                    best[m] = min(best[m], seconds)
        for m in methods:
            out[m][k] = best[m]
    return out


def save_scaling(result: ScalingResult, out_dir: str | Path) -> ScalingResult:
    """Write ``scaling.json``, ``scaling.md`` and ``scaling.png`` (two panels: seconds per
    epoch and Δm vs K) into ``out_dir``; return the result with their paths."""
    from ..report.core_mtl_scale_figures import plot_scaling

    return save_study(result, out_dir, "scaling", result.table(),
                      lambda r: plot_scaling(r, labels=LABELS))
