"""Study: do the task-affinity scores of 002 predict the measured multi-task gains on our data?

For each data set the script measures the pairwise ground truth
(:func:`tasklens.affinity.ground_truth_sweep`: every task alone and every pair, ``--seeds``
seeds, gains in the primary test metric and in relative test loss, with standard errors over
seeds), computes every score with the same model and training budget
(:func:`tasklens.affinity.compute_affinities`: GS, GT, RSA, IAS, LI, the training-free
alignment overlap, and TD where a task taxonomy makes sense) and evaluates each score against
both gains (:func:`tasklens.affinity.evaluate_scores`: Spearman / Kendall over all ordered
pairs, sign agreement, top-1 partner). Azorin et al. 2023 concludes that the scores
correlate poorly with the actual gains; this is the same test on:

- ``digits``: Multi-digits (8×8 scikit-learn digits on a 12×12 canvas, 2,000 images) with
  five derived tasks — ``left`` and ``right`` digit (10 classes), ``left_odd``,
  ``right_ge5`` and ``sum_ge10`` (binary). TD uses the tree "tasks read from the same digit
  are siblings": ``((left,left_odd),(right,right_ge5),sum_ge10)``.
- ``sprites``: procedural dSprites (:func:`tasklens.data.sprites`, 2,000 images) with the
  five factor tasks (shape, scale, orientation, pos_x, pos_y — Taskonomy's shape of five
  tasks); the 64×64 images are average-pooled to 32×32 and flattened so that the same MLP
  encoder serves every data set (a conv net is beyond this machine's budget). No TD: the
  factors have no natural taxonomy.
- ``yeast``: river's bundled Yeast (2,417 genes × 103 features, 14 binary labels). No TD
  (the labels are anonymous ``Class1`` … ``Class14``).

The scores are computed with ``--score-seeds`` seeds (the first is evaluated; the others
measure how reproducible each score is: Spearman between seeds). How reproducible the gains
themselves are is measured the same way (Spearman between the per-seed gain matrices, and
between each seed and the mean of the others) — the ceiling for any score.

Everything is written under ``--out/<data set>/`` (resumable: a rerun skips finished
trainings and reuses saved scores), with ``evaluation_metric.json`` / ``evaluation_loss.json``,
``summary.json`` and one heatmap figure ``heatmaps.png`` (gains, their standard errors and
every score).

Run: ``.venv/bin/python benchmarks/affinity_study.py --epochs 20 --seeds 3 --score-seeds 3
--out /tmp/affinity-study``
(``--quick``: 600 samples, 5 Yeast tasks, 2 epochs, 1 seed; ``--data digits sprites``
to pick data sets).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tasklens.affinity import (
    GainSettings,
    compute_affinities,
    evaluate_scores,
    ground_truth_sweep,
)
from tasklens.data import TaskSet, multi_digits, sprites
from tasklens.data.yeast import yeast

DATA_SETS = ("digits", "sprites", "yeast")
SCORES = ("gs", "gt", "rsa", "ias", "li", "alignment")
DIGITS_TREE = "((left,left_odd),(right,right_ge5),sum_ge10);"


# --------------------------------------------------------------------------- data
def digits_taskset(n: int, seed: int) -> TaskSet:
    """Multi-digits with five tasks derived from the two digit labels."""
    base = multi_digits(n, seed=seed)
    left = base["left"].classes[base["left"].targets].astype(np.int64)
    right = base["right"].classes[base["right"].targets].astype(np.int64)
    targets = {"left": left, "right": right, "left_odd": (left % 2).astype(np.float32),
               "right_ge5": (right >= 5).astype(np.float32),
               "sum_ge10": (left + right >= 10).astype(np.float32)}
    kinds = {"left": "classification", "right": "classification", "left_odd": "binary",
             "right_ge5": "binary", "sum_ge10": "binary"}
    return TaskSet.from_arrays(base.inputs, targets, kinds, name="multi_digits_derived",
                               info={"source": "tasklens.data.multi_digits", "n": n,
                                     "seed": seed})


def sprites_taskset(n: int, seed: int) -> TaskSet:
    """Sprites with the five factor tasks, images pooled 64×64 → 32×32 and flattened."""
    base = sprites(n, seed=seed)
    x = np.asarray(base.inputs, dtype=np.float32)[:, 0]
    pooled = x.reshape(len(x), 32, 2, 32, 2).mean(axis=(2, 4)).reshape(len(x), -1)
    targets = {t: base[t].targets for t in base.task_names}
    kinds = {t: base[t].kind for t in base.task_names}
    return TaskSet.from_arrays(pooled, targets, kinds, name="sprites_32",
                               info={"source": "tasklens.data.sprites", "n": n, "seed": seed,
                                     "pooled": "2x2 mean, 64->32"})


def load(name: str, quick: bool, n: int) -> tuple[TaskSet, list[str], str | None]:
    """The task set, the tasks studied and the TD tree (or None)."""
    if name == "digits":
        ts = digits_taskset(n, seed=0)
        return ts, list(ts.task_names), DIGITS_TREE
    if name == "sprites":
        ts = sprites_taskset(n, seed=0)
        return ts, list(ts.task_names), None
    ts = yeast()
    if quick:
        ts = ts.subset(np.arange(n)) if hasattr(ts, "subset") else ts
    names = list(ts.task_names)[: 5 if quick else 14]
    return ts, names, None


# --------------------------------------------------------------------------- study
def _fmt(x: float) -> str:
    return "  nan" if not np.isfinite(x) else f"{x:+.2f}"


def _gain_summary(gain: np.ndarray, se: np.ndarray) -> dict[str, float]:
    off = ~np.eye(len(gain), dtype=bool)
    g, s = gain[off], se[off]
    finite = np.isfinite(s)
    return {"mean": float(np.nanmean(g)), "min": float(np.nanmin(g)),
            "max": float(np.nanmax(g)), "mean_abs": float(np.nanmean(np.abs(g))),
            "positive": float(np.mean(g > 0)), "zero": float(np.mean(g == 0)),
            "median_se": float(np.median(s[finite])) if finite.any() else float("nan"),
            "beyond_2se": float(np.mean(np.abs(g[finite]) > 2 * s[finite]))
            if finite.any() else float("nan")}


def heatmaps(truth: Any, scores: dict[str, Any], path: Path, title: str) -> None:
    """One figure: metric gain, loss gain (± SE in the titles' caption) and every score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tasklens.report.affinity_figures import plot_task_matrix

    panels = [("metric gain", truth.metric_gain, 0.0), ("loss gain", truth.loss_gain, 0.0),
              ("metric gain SE", truth.metric_gain_se, None)]
    panels += [(k, m, None) for k, m in scores.items()]
    k = len(truth.task_names)
    ncols = 3
    nrows = int(np.ceil(len(panels) / ncols))
    size = 1.2 + 0.45 * k
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size))
    for ax, (label, matrix, center) in zip(axes.ravel(), panels):
        plot_task_matrix(matrix, ax=ax, annotate=k <= 6, center=center, title=label)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def per_seed_gains(truth: Any, kind: str) -> dict[int, np.ndarray]:
    """The (K, K) gain matrix of each seed alone, from the ground truth's run records."""
    names = list(truth.task_names)
    alone = {(r["task"], r["seed"]): r for r in truth.records if r["size"] == 1}
    out: dict[int, np.ndarray] = {}
    for r in truth.records:
        if r["size"] != 2:
            continue
        base = alone.get((r["task"], r["seed"]))
        if base is None:
            continue
        partner = next(t for t in r["group"].split("+") if t != r["task"])
        mat = out.setdefault(r["seed"], np.zeros((len(names), len(names))))
        if kind == "metric":
            sign = 1.0 if base["higher_is_better"] else -1.0
            value = sign * (r["value"] - base["value"])
        else:
            value = (base["loss"] - r["loss"]) / base["loss"]
        mat[names.index(r["task"]), names.index(partner)] = value
    return out


def _offdiag_spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy import stats

    off = ~np.eye(len(x), dtype=bool)
    a, b = x[off], y[off]
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3 or np.ptp(a[keep]) == 0 or np.ptp(b[keep]) == 0:
        return float("nan")
    return float(stats.spearmanr(a[keep], b[keep])[0])


def seed_reliability(truth: Any, kind: str) -> dict[str, float]:
    """How reproducible the gains are: Spearman between two seeds' gain matrices (mean over
    seed pairs), and between each seed and the mean of the others (leave-one-out) — the
    ceiling a score evaluated against noisy gains can reach."""
    mats = per_seed_gains(truth, kind)
    seeds = sorted(mats)
    if len(seeds) < 2:
        return {"pairwise": float("nan"), "leave_one_out": float("nan")}
    pair = [_offdiag_spearman(mats[a], mats[b]) for i, a in enumerate(seeds)
            for b in seeds[i + 1:]]
    loo = [_offdiag_spearman(mats[s], np.mean([mats[t] for t in seeds if t != s], axis=0))
           for s in seeds]
    return {"pairwise": float(np.nanmean(pair)), "leave_one_out": float(np.nanmean(loo))}


def _load_scores(path: Path) -> dict[str, Any] | None:
    from tasklens.data.matrix import TaskMatrix

    if not (path / "affinities.json").exists():
        return None
    data = json.loads((path / "affinities.json").read_text())
    return {k: TaskMatrix(np.asarray(m["values"], dtype=float), tuple(m["task_names"]),
                          m["name"], m.get("higher_is_better", True))
            for k, m in data["scores"].items()}


def study(name: str, args: argparse.Namespace) -> dict[str, Any]:
    out = args.out / name
    out.mkdir(parents=True, exist_ok=True)
    ts, names, tree = load(name, args.quick, args.n)
    settings = GainSettings(epochs=args.epochs, batch_size=64, hidden=(64,), code_dim=32,
                            head_hidden=32, head_depth=1)
    seeds = list(range(args.seeds))
    print(f"## {name}: {len(ts)} samples, inputs {tuple(ts.inputs.shape[1:])}, tasks {names}, "
          f"{args.epochs} epochs, seeds {seeds}", flush=True)
    started = time.perf_counter()
    truth = ground_truth_sweep(ts, out / "ground_truth", tasks=names, seeds=seeds,
                               settings=settings, backend="serial", progress=False)
    t_truth = time.perf_counter() - started
    print(f"# ground truth: {t_truth:.0f} s", flush=True)
    keys = list(SCORES) + (["td"] if tree is not None else [])
    all_scores: list[dict[str, Any]] = []
    t_scores = 0.0
    for s in range(args.score_seeds):
        # seed 0 in "scores" (the primary set); a rerun reuses saved scores
        folder = out / ("scores" if s == 0 else f"scores_seed{s}")
        cached = _load_scores(folder)
        if cached is not None and sorted(cached) == sorted(keys):
            all_scores.append(cached)
            continue
        started = time.perf_counter()
        report = compute_affinities(ts, keys, tasks=names, epochs=args.epochs, seed=s,
                                    tree=tree, out_dir=folder, progress=False,
                                    batch_size=64, hidden=(64,), code_dim=32, head_hidden=32,
                                    head_depth=1, test_size=settings.test_size)
        t_scores += time.perf_counter() - started
        all_scores.append(report.scores)
        print(f"# scores seed {s}: {time.perf_counter() - started:.0f} s "
              f"({report.epochs_used} model-epochs)", flush=True)
    scores = all_scores[0]
    summary: dict[str, Any] = {"data": name, "n_samples": len(ts), "tasks": names,
                               "epochs": args.epochs, "seeds": seeds,
                               "score_seeds": args.score_seeds,
                               "metrics": truth.metrics, "seconds": {
                                   "ground_truth": t_truth, "scores": t_scores},
                               "td": tree is not None}
    if len(all_scores) > 1:
        summary["score_reliability"] = {
            k: float(np.nanmean([_offdiag_spearman(all_scores[0][k].values, o[k].values)
                                 for o in all_scores[1:]])) for k in keys if k != "td"}
        print("# score reproducibility (Spearman seed 0 vs other score seeds): " + ", ".join(
            f"{k} {v:+.2f}" for k, v in summary["score_reliability"].items()))
    for kind, gain, se in (("metric", truth.metric_gain, truth.metric_gain_se),
                           ("loss", truth.loss_gain, truth.loss_gain_se)):
        ev = evaluate_scores(scores, gain)
        ev_path = out / f"evaluation_{kind}.json"
        ev_path.write_text(json.dumps(ev.to_dict(), indent=1, default=float))
        others = [evaluate_scores(o, gain).overall for o in all_scores[1:]]
        gs = _gain_summary(gain.values, se.values)
        rel = seed_reliability(truth, kind)
        summary[f"{kind}_gain"] = {**gs, "seed_reliability": rel}
        summary[f"{kind}_evaluation"] = ev.overall
        summary[f"{kind}_evaluation_other_score_seeds"] = others
        print(f"# {kind} gain: mean {gs['mean']:+.4f}, range [{gs['min']:+.4f}, "
              f"{gs['max']:+.4f}], mean |gain| {gs['mean_abs']:.4f}, median SE "
              f"{gs['median_se']:.4f}, |gain| > 2 SE for {gs['beyond_2se']:.0%}, positive "
              f"{gs['positive']:.0%}, exactly 0 {gs['zero']:.0%}; seed-to-seed Spearman "
              f"{rel['pairwise']:+.2f}, seed vs mean of others {rel['leave_one_out']:+.2f}")
        print(f"| score | Spearman (p) | Kendall | sign agr. | top-1 | Spearman other score "
              f"seeds | ({kind} gain) |")
        for key, row in ev.overall.items():
            extra = " ".join(_fmt(o[key]["spearman"]) for o in others)
            print(f"| {key} | {_fmt(row['spearman'])} ({row['spearman_p']:.2f}) | "
                  f"{_fmt(row['kendall'])} | {row['sign_agreement']:.2f} | "
                  f"{row['top1_match']:.2f} | {extra} |")
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
    heatmaps(truth, scores, out / "heatmaps.png",
             f"{name}: gains ({len(seeds)} seeds, {args.epochs} epochs) and scores (seed 0)")
    print(f"# figure: {out / 'heatmaps.png'}", flush=True)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="600 samples, 5 Yeast tasks, 2 epochs, 1 seed")
    parser.add_argument("--data", nargs="+", choices=DATA_SETS, default=list(DATA_SETS))
    parser.add_argument("--epochs", type=int, default=None, help="default 10 (quick: 2)")
    parser.add_argument("--seeds", type=int, default=None, help="default 2 (quick: 1)")
    parser.add_argument("--n", type=int, default=None,
                        help="samples of digits/sprites (default 2000; quick: 600)")
    parser.add_argument("--score-seeds", type=int, default=1,
                        help="seeds of the score models (the first is evaluated; the others "
                        "measure how reproducible the scores are)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", type=Path, default=Path("affinity-study"))
    args = parser.parse_args()
    args.epochs = args.epochs or (2 if args.quick else 10)
    args.seeds = args.seeds or (1 if args.quick else 2)
    args.n = args.n or (600 if args.quick else 2000)
    torch.set_num_threads(args.threads)  # a script on a shared 2-core machine
    print(f"# torch {torch.__version__}, numpy {np.__version__}, python "
          f"{platform.python_version()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    for name in args.data:
        study(name, args)


if __name__ == "__main__":
    main()
