"""Stages 3–4: a short multi-task training with monitors, and single-task baselines."""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import numpy as np

from ..train.delta_m import delta_m
from .context import StageContext
from .executor import TrainJob, run_trainings
from .training import StepLossRecorder, fit, mean_se, relative_gain, save_model

_MAX_POINTS = 200


def _downsample(n: int, points: int = _MAX_POINTS) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(points, n)).astype(int))


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1:
        return values
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, values[0]), values])
    return np.convolve(padded, kernel, mode="valid")


def _half_step(steps: np.ndarray, norm: np.ndarray) -> float:
    """First step where the normalised loss is at most 1/2 (NaN when never)."""
    hit = np.flatnonzero(norm <= 0.5)
    return float(steps[hit[0]]) if hit.size else math.nan


def _theory_comparison(theory: dict[str, Any] | None, half: dict[str, float]
                       ) -> dict[str, Any] | None:
    """Rescale the theory's time to steps (one factor: median half-times match) and compare
    the learning orders (Kendall's tau of the half-times)."""
    if theory is None:
        return None
    names = [t for t in theory["task_names"] if math.isfinite(half.get(t, math.nan))]
    if len(names) < 2:
        return None
    pred = np.array([theory["half_times"][t] for t in names])
    obs = np.array([half[t] for t in names])
    scale = float(np.median(obs) / np.median(pred)) if np.median(pred) > 0 else math.nan
    from scipy.stats import kendalltau

    tau = float(kendalltau(pred, obs).statistic) if len(names) >= 3 else math.nan
    return {
        "scale_steps_per_time": scale,
        "predicted_steps": [t * scale for t in theory["predicted_times"]],
        "predicted": {t: theory["predicted_losses"][t] for t in names},
        "predicted_order": [t for t in theory["order"] if t in names],
        "observed_order": sorted(names, key=lambda t: half[t]),
        "kendall_tau": tau if math.isfinite(tau) else None,
    }


def multitask_stage(ctx: StageContext) -> dict[str, Any]:
    """Stage 3: EW on all tasks; loss curves, gradient cosines, GS and GT affinities."""
    from ..affinity import (
        AffinityMonitorCallback,
        GradientSimilarityMonitor,
        GradientTransferenceMonitor,
    )

    st, names, split = ctx.settings, ctx.task_names, ctx.split
    total = st.steps_for(len(split.train))
    every = max(1, total // st.monitor_points)
    probe = next(iter(split.train.dataloader(min(st.probe_size, len(split.train)),
                                             shuffle=False)))
    gs, gt = GradientSimilarityMonitor(split.train), GradientTransferenceMonitor(split.train)
    recorder = StepLossRecorder(names)
    callbacks = [recorder, AffinityMonitorCallback(gs, probe, every_steps=every),
                 AffinityMonitorCallback(gt, probe, every_steps=every)]
    # the one long in-process training: its epoch bar is the stage's progress bar
    model, metrics, result = fit(split, names, st.seed, st, callbacks=callbacks,
                                 monitor_every=every, progress=ctx.progress)
    save_model(model, ctx.model_dir / f"all_ew_seed{st.seed}.pt")
    steps = np.asarray(recorder.steps)
    window = max(1, len(steps) // 20)
    losses, norm, half = {}, {}, {}
    pick = _downsample(len(steps))
    for t in names:
        raw = np.asarray(recorder.losses[t])
        sm = _smooth(raw, window)
        lo, hi = float(sm.min()), float(sm[0])
        n = (sm - lo) / (hi - lo) if hi > lo else np.zeros_like(sm)
        losses[t], norm[t] = sm[pick].tolist(), n[pick].tolist()
        half[t] = _half_step(steps, n)
    rows = result.monitor_history
    pair_keys = [f"{a}|{b}" for a, b in combinations(names, 2)]
    cosines = {k: [float(r.get("cos/" + k.replace("|", "/"), math.nan)) for r in rows]
               for k in pair_keys}
    all_cos = np.array([v for vals in cosines.values() for v in vals], dtype=float)
    all_cos = all_cos[np.isfinite(all_cos)]
    return {
        "method": "ew", "seed": st.seed, "monitor_every": every, "smoothing_window": window,
        "steps": steps[pick].tolist(), "losses": losses, "normalized_losses": norm,
        "observed_half_steps": half,
        "theory": _theory_comparison(ctx.results.get("theory"), half),
        "cosine_steps": [int(r["step"]) for r in rows], "cosines": cosines,
        "mean_cosine": {k: (float(np.nanmean(v)) if np.isfinite(v).any() else None)
                        for k, v in ((k, np.asarray(v)) for k, v in cosines.items())},
        "conflict_fraction": float((all_cos < 0).mean()) if all_cos.size else None,
        "gs": gs.result().values.tolist(), "gt": gt.result().values.tolist(),
        # GS/GT are taken on one fixed probe batch (bounded), not on every training row
        "probe_rows": len(probe[0]), "train_rows": len(split.train),
        "computed_on": f"GS/GT computed on {len(probe[0])} of {len(split.train)} training "
                       "rows (the probe batch)",
        "test_metrics": metrics, "task_names": names,
    }


def multitask_finding(res: dict[str, Any]) -> list[str]:
    conflict = res["conflict_fraction"]
    mean_cos = [v for v in res["mean_cosine"].values() if v is not None]
    first = (f"Task gradients conflicted (negative cosine) in {conflict:.0%} of recorded "
             f"pair-steps; mean cosine {np.mean(mean_cos):+.2f}." if conflict is not None
             else "No gradient cosine was recorded.")
    th = res["theory"]
    if th is None:
        second = "No comparison with the theory (the theory stage did not finish)."
    else:
        tau = th["kendall_tau"]
        agree = ("agrees with" if tau is not None and tau > 0.5 else
                 "partly agrees with" if tau is not None and tau > 0 else "differs from")
        second = (f"Observed learning order {' → '.join(th['observed_order'])} {agree} the "
                  f"theory's" + (f" (Kendall τ = {tau:+.2f})." if tau is not None else "."))
    return [first, second]


def _per_seed_jobs(ctx: StageContext) -> list[TrainJob]:
    """Single-task models, the other seeds' all-task models and (when asked) every pair;
    the first seed's single-task weights are kept for the representation stage."""
    names, st = ctx.task_names, ctx.settings
    jobs: list[TrainJob] = []
    for seed in st.seeds:
        jobs += [TrainJob((t,), seed, save=f"stl_{t}_seed{seed}.pt" if seed == st.seed
                          else None) for t in names]
        if seed != st.seed:  # seed 0's all-task run is stage 3's model
            jobs.append(TrainJob(tuple(names), seed))
        if st.pairs:
            jobs += [TrainJob(p, seed) for p in combinations(names, 2)]
    return jobs


def baselines_stage(ctx: StageContext) -> dict[str, Any]:
    """Stage 4: single-task models per seed; per-task gain and Δm of the all-task model."""
    st, names, split = ctx.settings, ctx.task_names, ctx.split
    mtl = ctx.need("multitask")
    trained = run_trainings(ctx, "baselines", _per_seed_jobs(ctx))
    runs: dict[str, dict[str, Any]] = {job.key: metrics for job, metrics in trained.items()}
    runs[f"{'+'.join(names)}@{st.seed}"] = mtl["test_metrics"]
    ts = split.train
    primary = {t: ts[t].metrics[0] for t in names}
    hib = {t: bool(ts[t].higher_is_better()) for t in names}
    stl = {str(s): {t: runs[f"{t}@{s}"][t] for t in names} for s in st.seeds}
    all_runs = {str(s): runs[f"{'+'.join(names)}@{s}"] for s in st.seeds}
    gains = {t: mean_se([relative_gain(all_runs[s][t][primary[t]], stl[s][t][primary[t]],
                                       hib[t]) for s in stl]) for t in names}
    dm = [_delta_m(all_runs[s], stl[s], primary) for s in stl]
    out: dict[str, Any] = {
        "seeds": list(st.seeds), "primary_metric": primary, "higher_is_better": hib,
        "stl_metrics": stl, "all_metrics": all_runs,
        "per_task_gain": {t: {"mean": m, "se": se,
                              "stl_mean": mean_se([stl[s][t][primary[t]] for s in stl])[0],
                              "all_mean": mean_se([all_runs[s][t][primary[t]]
                                                   for s in stl])[0]}
                          for t, (m, se) in gains.items()},
        "delta_m": {"mean": mean_se(dm)[0], "se": mean_se(dm)[1], "per_seed": dm},
        "pairs": None,
    }
    if st.pairs:
        out["pairs"] = _pair_gains(runs, names, primary, hib, st.seeds)
    return out


def _delta_m(mtl: dict[str, Any], stl: dict[str, Any], primary: dict[str, str]) -> float:
    try:
        return delta_m(mtl, stl, metrics={t: [m] for t, m in primary.items()})
    except ValueError:
        return math.nan  # e.g. a zero baseline; shown as missing, not as a number


def _pair_gains(runs: dict[str, Any], names: list[str], primary: dict[str, str],
                hib: dict[str, bool], seeds: tuple[int, ...]) -> dict[str, Any]:
    """Relative gain of a's primary metric when trained with b (row a, column b), and the
    mean test loss of every trained pair (for the grouping)."""
    k = len(names)
    gain, se = np.zeros((k, k)), np.full((k, k), math.nan)
    losses: dict[str, dict[str, float]] = {}
    for i, j in combinations(range(k), 2):
        a, b = names[i], names[j]
        key = f"{a}+{b}"
        losses[key] = {t: mean_se([runs[f"{key}@{s}"][t]["loss"] for s in seeds])[0]
                       for t in (a, b)}
        for x, (r, c) in ((a, (i, j)), (b, (j, i))):
            vals = [relative_gain(runs[f"{key}@{s}"][x][primary[x]], runs[f"{x}@{s}"][x][
                primary[x]], hib[x]) for s in seeds]
            gain[r, c], se[r, c] = mean_se(vals)
    return {"gain": gain.tolist(), "gain_se": se.tolist(), "losses": losses}


def baselines_finding(res: dict[str, Any]) -> list[str]:
    dm = res["delta_m"]
    g = {t: v["mean"] for t, v in res["per_task_gain"].items() if v["mean"] is not None
         and math.isfinite(v["mean"])}
    helped = [t for t, v in g.items() if v > 0]
    hurt = [t for t, v in g.items() if v < 0]
    se = f" ± {dm['se']:.1f}" if dm["se"] is not None and math.isfinite(dm["se"]) else ""
    # Δm is missing (None after cleaning) when a single-task baseline scored exactly 0
    mean = dm["mean"]
    shown = (f"{mean:+.1f}%{se}" if mean is not None and math.isfinite(mean)
             else "undefined (a single-task baseline of 0)")
    return [
        f"Training all tasks in one network changes the primary metrics by Δm = "
        f"{shown} on average over {len(res['seeds'])} seed(s) (positive = "
        "better than single-task).",
        f"Helped: {', '.join(helped) or 'none'}; hurt: {', '.join(hurt) or 'none'}.",
    ]
