"""The shortcut stress test of CORE-MTL (Wu, Zou, Wu and Wang 2026, "CORE-MTL: Rethinking
Gradient Balancing via Causal Orthogonal Representations", arXiv:2606.02221, App. I).

Every model is trained on the *source* domain of :func:`tasklens.data.colored_digits`
(each digit class wears a fixed colour) and evaluated on held-out source digits and on the
*same* held-out digits in the *target* domain (the class → colour map permuted). A model
that reads the colour instead of the shape loses its target accuracy; 001 claims CORE-MTL
(the dual-stream model with soft grounding, CKA and counterfactual terms) has the smallest
source → target gap among gradient-balancing methods.

Methods (``METHODS``): ``core_mtl`` (:func:`tasklens.nn.dual_stream_for`, soft grounding,
equal weighting of the task losses plus eq. 16's terms), ``ew``, ``pcgrad``, ``gradnorm``,
``stch``, ``rlw`` (hard parameter sharing, :func:`tasklens.nn.hps_for`, with the same
conv encoder) and ``mtan`` (:class:`tasklens.nn.MTAN`, equal weighting).

``dataset="colored_multi_digits"`` runs the same test on
:func:`tasklens.data.colored_multi_digits` (two class-coloured digits per image, tasks
``left`` and ``right``): per seed, ``n`` training images from the training part of the
digit pool and ``n // 3`` test images from its held-out part (digit instances never seen
in training), the target test set being the same images with the colour map permuted.

One result file per (method, seed) through :func:`tasklens.affinity.sweep.run_jobs`, so a
rerun in the same folder resumes (the run scaffolding is :mod:`._core_mtl_runs`).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._common.validation import check_scalar
from ._core_mtl_runs import (
    NAN_MS,
    check_names,
    check_seeds,
    evaluate_on,
    fit,
    markdown_table,
    mean_se,
    plain,
    run_and_collect,
    save_study,
)

#: methods compared (CORE-MTL first)
METHODS: tuple[str, ...] = ("core_mtl", "ew", "pcgrad", "gradnorm", "stch", "rlw", "mtan")
#: the balancing method each model trains with
BALANCER = {"core_mtl": "ew", "ew": "ew", "pcgrad": "pcgrad", "gradnorm": "gradnorm",
            "stch": "stch", "rlw": "rlw", "mtan": "ew"}
LABELS = {"core_mtl": "CORE-MTL (soft)", "ew": "EW", "pcgrad": "PCGrad",
          "gradnorm": "GradNorm", "stch": "STCH", "rlw": "RLW", "mtan": "MTAN (EW)"}
#: classification tasks of colored_digits whose accuracy is reported, and its metric name
TASKS: dict[str, str] = {"digit": "accuracy", "parity": "binary_accuracy"}
#: the reported tasks of each data set (the first one is the headline task)
DATASET_TASKS: dict[str, dict[str, str]] = {
    "colored_digits": TASKS,
    "colored_multi_digits": {"left": "accuracy", "right": "accuracy"},
}
#: training images of colored_multi_digits when ``n`` is not given (test: a third of it)
MULTI_N_TRAIN = 1500
#: the architecture shared by all models (small conv encoder for 3×8×8 images)
ARCH: dict[str, Any] = {"channels": (16, 32), "head_hidden": 32, "head_depth": 2}
DUAL: dict[str, Any] = {"feature_dim": 64, "semantic_dim": 32, "residual_dim": 8,
                        "grounding": "soft"}
HPS_CODE_DIM = 32
MTAN_WIDTHS = (16, 32)


def build_model(method: str, train: Any, seed: int) -> Any:
    """The model of ``method`` for the task set ``train``, initialised from ``seed``."""
    from ..nn import MTAN, dual_stream_for, hps_for

    if method == "core_mtl":
        return dual_stream_for(train, seed=seed, **DUAL, **ARCH)
    if method == "mtan":
        return MTAN(train.input_shape, train, widths=MTAN_WIDTHS,
                    head_hidden=ARCH["head_hidden"], head_depth=ARCH["head_depth"], seed=seed)
    return hps_for(train, code_dim=HPS_CODE_DIM, seed=seed, **ARCH)


def shortcut_data(n: int | None, seed: int, dataset: str = "colored_digits"
                  ) -> tuple[Any, Any, Any]:
    """(source train, source test, target test): one seeded 75/25 split of the digits,
    the target test set holding the same digits as the source test set.

    ``colored_multi_digits``: ``n`` (default :data:`MULTI_N_TRAIN`) training images from the
    pool's training part and ``n // 3`` test images from its held-out part, drawn with
    ``seed``; the target test set is the same images recoloured."""
    from ..data import colored_digits, colored_multi_digits

    if dataset == "colored_multi_digits":
        n_train = MULTI_N_TRAIN if n is None else int(n)
        train = colored_multi_digits(n_train, "source", seed=seed, pool_part="train")
        test_seed = 10_000 + seed  # test draws independent of the training draws
        src_test = colored_multi_digits(n_train // 3, "source", seed=test_seed,
                                        pool_part="test").encode_like(train)
        tgt_test = colored_multi_digits(n_train // 3, "target", seed=test_seed,
                                        pool_part="test").encode_like(train)
        return train, src_test, tgt_test

    src = colored_digits(n, domain="source", seed=0)
    tgt = colored_digits(n, domain="target", seed=0).encode_like(src)
    split = src.split(0.25, seed=seed)
    return split.train, split.test, tgt.subset(split.indices.test)


def _train(method: str, seed: int, settings: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(trained model, source test set, target test set) of one (method, seed): a
    deterministic function of its arguments (seeded model, split and trainer)."""
    dataset = settings.get("dataset", "colored_digits")
    train, src_test, tgt_test = shortcut_data(settings["n"], seed, dataset)
    model = build_model(method, train, seed)
    fit(model, train, BALANCER[method], settings, seed)
    return model, src_test, tgt_test


def _run_job(job: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Train one (method, seed) on the source; accuracies on source and target tests."""
    tasks = DATASET_TASKS[settings.get("dataset", "colored_digits")]
    model, src_test, tgt_test = _train(job["method"], job["seed"], settings)
    return evaluate_on(model, {"source": src_test, "target": tgt_test},
                       lambda metrics: {t: float(metrics[t][key]) for t, key in tasks.items()})


@dataclass(frozen=True)
class ShortcutResult:
    """Source / target accuracies per method, over seeds.

    Attributes
    ----------
    methods : tuple of str
    seeds : tuple of int
    per_seed : dict {method: {seed: {"source"|"target": {task: accuracy}}}}
    summary : dict {method: {task: {"source"|"target"|"gap": (mean, SE)}}}
        ``gap`` is source − target accuracy, per seed, then averaged.
    settings : dict
        epochs, n, batch_size, lr and dataset.
    failed : dict {method: {seed: message}}
        Runs that raised (left out of ``summary``; ``table()`` counts the finished runs).
    files : dict {name: path}
    """

    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    per_seed: dict[str, dict[int, dict[str, dict[str, float]]]]
    summary: dict[str, dict[str, dict[str, tuple[float, float]]]]
    settings: dict[str, Any]
    failed: dict[str, dict[int, str]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    @property
    def tasks(self) -> dict[str, str]:
        """The reported tasks and their accuracy metric (by the settings' data set)."""
        return DATASET_TASKS[self.settings.get("dataset", "colored_digits")]

    def smallest_gap(self, task: str | None = None) -> str:
        """The method with the smallest mean gap on ``task`` (default: the headline task,
        ``digit`` or ``left``) among those with a result."""
        task = next(iter(self.tasks)) if task is None else task
        done = [m for m in self.methods if self.per_seed[m]]
        return min(done, key=lambda m: self.summary[m][task]["gap"][0])

    def table(self) -> str:
        """Markdown table: mean ± SE of source, target and gap accuracy per task."""
        head = ["method", "runs"] + [f"{t} {c}" for t in self.tasks
                                     for c in ("source", "target", "gap")]
        # a method without a finished run prints "nan ± nan" here (as it always has)
        rows = ([LABELS.get(m, m), f"{len(self.per_seed[m])}/{len(self.seeds)}",
                 *(f"{mu:.3f} ± {se:.3f}" for t in self.tasks
                   for mu, se in (self.summary[m][t][c] for c in ("source", "target", "gap")))]
                for m in self.methods)
        return "\n".join(markdown_table(head, rows))

    def to_dict(self) -> dict[str, Any]:
        return plain({"methods": self.methods, "seeds": self.seeds,
                      "per_seed": self.per_seed, "summary": self.summary,
                      "settings": self.settings, "failed": self.failed, "files": self.files,
                      "smallest_gap": {t: self.smallest_gap(t) for t in self.tasks},
                      **({"smallest_digit_gap": self.smallest_gap("digit")}
                         if "digit" in self.tasks else {})})



def _check_args(methods: Sequence[str], seeds: Sequence[int], epochs: int,
                n: int | None, batch_size: int, lr: float, dataset: str = "colored_digits"
                ) -> tuple[tuple[str, ...], tuple[int, ...]]:
    if dataset not in DATASET_TASKS:
        raise ValueError(f"dataset must be one of {', '.join(DATASET_TASKS)}, got {dataset!r}")
    methods = check_names(methods, METHODS, "methods")
    seeds = check_seeds(seeds)
    check_scalar(epochs, "epochs", numbers.Integral, low=1)
    check_scalar(n, "n", numbers.Integral, low=40,
                 high=1797 if dataset == "colored_digits" else 50_000, allow_none=True)
    check_scalar(batch_size, "batch_size", numbers.Integral, low=1)
    check_scalar(lr, "lr", numbers.Real, low=0.0, include_low=False, finite=True)
    return methods, seeds


def shortcut_stress_test(
    out_dir: str | Path,
    methods: Sequence[str] = METHODS,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 10,
    n: int | None = None,
    *,
    batch_size: int = 64,
    lr: float = 3e-3,
    backend: str = "serial",
    progress: bool | None = None,
    dataset: str = "colored_digits",
) -> ShortcutResult:
    """Train every method on the source colours; accuracies on source and target.

    Parameters
    ----------
    out_dir : path
        One JSON file per (method, seed) under ``out_dir/runs`` (a rerun resumes).
    methods : sequence of str
        A subset of :data:`METHODS`.
    seeds : sequence of int
        Model seeds; seed ``s`` also draws the 75/25 train/test split of the digits.
    epochs : int
    n : int, optional
        Digits used (default: all 1,797; at least 40); for ``colored_multi_digits`` the
        training images (default :data:`MULTI_N_TRAIN`; the test sets hold ``n // 3``).
    batch_size, lr : training settings (Adam).
    backend : {"serial", "process", "ray"}
        Of :func:`~tasklens.affinity.sweep.run_jobs`.
    progress : bool, optional
        Progress bar over jobs.
    dataset : {"colored_digits", "colored_multi_digits"}

    Returns
    -------
    ShortcutResult
    """
    methods, seeds = _check_args(methods, seeds, epochs, n, batch_size, lr, dataset)
    settings = {"epochs": int(epochs), "n": None if n is None else int(n),
                "batch_size": int(batch_size), "lr": float(lr)}
    if dataset != "colored_digits":  # kept out of the original runs' hashed settings
        settings["dataset"] = dataset
    jobs = [{"method": m, "seed": s} for m in methods for s in seeds]
    # a failed run is reported, not hidden: the summary is over the seeds that finished,
    # and the table gives their count
    per_seed, failed = run_and_collect(
        jobs, _run_job, out_dir, settings, groups=methods, backend=backend,
        progress=progress, result_key=lambda job: (job["method"], int(job["seed"])))
    summary = {m: {t: _summarise(per_seed[m], t) for t in DATASET_TASKS[dataset]}
               for m in methods}
    failed = {m: failed[m] for m in methods if m in failed}
    return ShortcutResult(methods, seeds, per_seed, summary, settings, failed)


def _summarise(runs: dict[int, dict[str, dict[str, float]]], task: str
               ) -> dict[str, tuple[float, float]]:
    """(mean, SE) over the finished seeds; NaN where none finished."""
    if not runs:
        return {"source": NAN_MS, "target": NAN_MS, "gap": NAN_MS}
    src = [r["source"][task] for r in runs.values()]
    tgt = [r["target"][task] for r in runs.values()]
    return {"source": mean_se(src), "target": mean_se(tgt),
            "gap": mean_se([a - b for a, b in zip(src, tgt)])}


def save_core_mtl_figures(result: ShortcutResult, out_dir: str | Path, *,
                          n_images: int = 8) -> dict[str, str]:
    """Reconstructions and counterfactual swaps of the CORE-MTL model of the first seed.

    The model is trained again with the run's settings (the training is a deterministic
    function of method, seed and settings, so these are the weights its accuracies come
    from). Writes into ``out_dir``:

    - ``core_mtl_reconstructions.png`` — held-out source digits above ``D(z_s, z_r)``;
    - ``core_mtl_swaps.png`` — Wu et al. 2026 Fig. 2: rows keep ``z_s`` of a held-out
      source digit, columns give ``z_r`` of a held-out *target* digit (other colours), so
      the grid shows which stream carries the colour.

    Returns ``{"reconstructions": path, "swaps": path}``; ``{}`` when ``core_mtl`` was not
    run.
    """
    from ..report.figures import save_figure
    from ..report.image_figures import plot_counterfactual_grid, plot_reconstructions
    from .core_mtl_analysis import counterfactual_grid, reconstructions

    if "core_mtl" not in result.methods:
        return {}
    seed = result.seeds[0]
    model, src_test, tgt_test = _train("core_mtl", seed, dict(result.settings))
    out = Path(out_dir)
    files = {"reconstructions": str(out / "core_mtl_reconstructions.png"),
             "swaps": str(out / "core_mtl_swaps.png")}
    x = src_test.inputs[:n_images]
    fig = plot_reconstructions(x, reconstructions(model, x), n_images=n_images,
                               data_range=(0.0, 1.0),
                               title=f"CORE-MTL (seed {seed}): held-out source digits (top) "
                                     "and D(z_s, z_r) (bottom; title: squared error)")
    save_figure(fig, files["reconstructions"])
    fig.clf()
    k = min(6, len(tgt_test) // 2)
    content, style = src_test.inputs[:k], tgt_test.inputs[k:2 * k]
    fig = plot_counterfactual_grid(counterfactual_grid(model, content, style), content, style,
                                   data_range=(0.0, 1.0), cell_size=1.0,
                                   title="D(z_s of a source digit (row), z_r of a target "
                                         "digit (column))")
    save_figure(fig, files["swaps"])
    fig.clf()
    return files


def save_shortcut(result: ShortcutResult, out_dir: str | Path) -> ShortcutResult:
    """Write ``shortcut.json``, ``shortcut.md`` (the table) and ``shortcut.png`` (digit
    accuracy, :func:`tasklens.report.core_mtl_figures.plot_shortcut`) into ``out_dir``;
    return the result with their paths in ``files``."""
    from ..report.core_mtl_figures import plot_shortcut

    return save_study(result, out_dir, "shortcut", result.table(),
                      lambda r: plot_shortcut(r, next(iter(r.tasks)), labels=LABELS))
