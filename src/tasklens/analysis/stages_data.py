"""Stages 1–2: the data summary and the training-free linear theory (tasklens.linear)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .context import StageContext

# Shown predicted curves stop once every task has lost 99 % of its excess loss.
_CURVE_POINTS = 120


def summary_stage(ctx: StageContext) -> dict[str, Any]:
    """Stage 1: tasks, kinds, sizes, class balance, missing values."""
    data, ts = ctx.data, ctx.data.taskset
    tasks = []
    for t in ts.tasks.values():
        row: dict[str, Any] = {
            "name": t.name, "kind": t.kind, "kind_inferred": bool(t.kind_inferred),
            "outputs": t.output_size, "loss": t.loss, "primary_metric": t.metrics[0],
            "higher_is_better": bool(t.higher_is_better()),
            "rows_dropped": int(data.rows_dropped.get(t.name, 0)),
            "classes": None, "class_counts": None, "mean": None, "std": None,
        }
        if t.kind in ("classification", "binary"):
            counts = np.bincount(t.targets.astype(np.int64), minlength=t.n_classes or 0)
            row["classes"] = [str(c) for c in t.classes.tolist()]
            row["class_counts"] = counts.tolist()
            row["smallest_class_fraction"] = float(counts.min() / counts.sum())
        else:
            row["mean"], row["std"] = float(t.targets.mean()), float(t.targets.std())
            counts, edges = np.histogram(np.ravel(t.targets).astype(np.float64), bins=30)
            row["histogram"] = {"counts": counts.tolist(), "edges": edges.tolist()}
        tasks.append(row)
    return {
        "name": ts.name, "source": data.source, "fingerprint": data.fingerprint(),
        "n_samples": ts.n_samples, "storage": ts.storage, "n_train": len(ctx.split.train),
        "n_test": len(ctx.split.test), "n_inputs": int(np.prod(ts.input_shape)),
        "steps_per_training": ctx.settings.steps_for(len(ctx.split.train)),
        "epochs_per_training": round(ctx.settings.epochs_for(len(ctx.split.train)), 4),
        "input_columns": list(data.input_columns), "tasks": tasks, "notes": list(data.notes),
        "rows_dropped": dict(data.rows_dropped), "missing_inputs": dict(data.missing_inputs),
    }


def summary_finding(res: dict[str, Any]) -> list[str]:
    kinds: dict[str, int] = {}
    for t in res["tasks"]:
        kinds[t["kind"]] = kinds.get(t["kind"], 0) + 1
    kind_text = ", ".join(f"{n} {k}" for k, n in kinds.items())
    dropped = sum(res["rows_dropped"].values())
    skewed = [t["name"] for t in res["tasks"] if t["class_counts"]
              and min(t["class_counts"]) < 0.1 * sum(t["class_counts"]) / len(t["class_counts"])]
    return [
        f"{len(res['tasks'])} tasks ({kind_text}) on {res['n_samples']:,} rows and "
        f"{res['n_inputs']} input features; {res['n_train']:,} train / {res['n_test']:,} test"
        + (f" (inputs on disk, {res['storage']}: read batch by batch)."
           if res.get("storage", "memory") != "memory" else "."),
        (f"{dropped} row(s) dropped for missing targets; " if dropped else "No missing targets; ")
        + (f"strongly imbalanced classes in {', '.join(skewed)}." if skewed
           else "no strongly imbalanced classes."),
    ]


def _curve_window(times: np.ndarray, norm: np.ndarray) -> int:
    """Index after which every task's normalised predicted loss is below 1 %."""
    below = np.all(norm < 0.01, axis=1)
    idx = int(np.argmax(below)) if below.any() else len(times) - 1
    return max(min(len(times) - 1, int(idx * 1.2) + 1), 2)


def theory_stage(ctx: StageContext) -> dict[str, Any]:
    """Stage 2: alignment, magnitudes, shared spectrum, predicted curves and order."""
    from ..linear.analysis import analyze_tasks

    ana = analyze_tasks(ctx.split.train, whiten="pca")
    names = list(ana.task_names)
    al = ana.alignment
    dyn = ana.dynamics
    losses = np.asarray(dyn.losses, dtype=float)
    start = np.where(losses[0] > 0, losses[0], 1.0)
    norm = losses / start
    end = _curve_window(dyn.times, norm)
    pick = np.unique(np.linspace(0, end, min(_CURVE_POINTS, end + 1)).astype(int))
    regimes = [[str(r) for r in row] for row in al.regimes.tolist()]
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    counts: dict[str, int] = {}
    for i, j in pairs:
        counts[regimes[i][j]] = counts.get(regimes[i][j], 0) + 1
    return {
        "task_names": names,
        "mean_overlap": al.mean_overlap.tolist(), "min_overlap": al.min_overlap.tolist(),
        "max_overlap": al.max_overlap.tolist(), "regimes": regimes, "regime_counts": counts,
        "frobenius_ratio": al.frobenius_ratio.tolist(),
        "overlaps": {k: v[:10].tolist() for k, v in al.overlaps.items()},
        "spectrum": ana.spectrum.nonzero()[:20].tolist(), "spectrum_rank": int(ana.spectrum.rank),
        "predicted_times": dyn.times[pick].tolist(),
        "predicted_losses": {t: norm[pick, k].tolist() for k, t in enumerate(names)},
        "half_times": {t: float(v) for t, v in zip(names, ana.order.task_times)},
        "order": list(ana.order.order),
        "learning_rank": {t: ana.order.order.index(t) + 1 for t in names},
        "settings": {k: v for k, v in ana.settings.items()},
        "time_unit": "epochs x learning rate of gradient flow on whitened inputs (tau = 1)",
    }


def theory_finding(res: dict[str, Any]) -> list[str]:
    names = res["task_names"]
    mo = np.asarray(res["mean_overlap"])
    pairs = [(mo[i, j], names[i], names[j]) for i in range(len(names))
             for j in range(i + 1, len(names))]
    best, worst = max(pairs), min(pairs)
    counts = ", ".join(f"{n} {r}" for r, n in sorted(res["regime_counts"].items()))
    return [
        f"From the data alone, of {len(pairs)} task pairs: {counts}; most aligned "
        f"{best[1]}–{best[2]} (mean overlap {best[0]:.2f}), least {worst[1]}–{worst[2]} "
        f"({worst[0]:.2f}).",
        f"A linear network would learn {' → '.join(res['order'])} (first to last).",
    ]
