"""The disentanglement study of Maziarka et al. 2022 at CPU scale.

:func:`run_study` runs, for every seed:

- §4.1: codes of a random (untrained) encoder, single-task encoders (one per task, or the
  first ``n_single_task`` tasks), the multi-task multi-head HPS model and the multi-task
  one-head model (multivariate regression), scored by every disentanglement metric;
- §4.2: a decoder trained on each frozen encoder (random, first single-task, multi-head,
  one-head), its test reconstruction error, latent traversals and 2-D code embeddings;
- App. G: multi-head models trained on the first ``n`` tasks for ``n`` in ``task_sweep``;
- §4.3 / Table 1: AE, β-VAE and FactorVAE codes and the ground-truth factors as a "code",
  scored by the same metrics and by the test RMSE of multi-task heads trained on them.

Each finished (model, seed) unit is one JSON file in ``out_dir/units/`` (written
atomically); a rerun loads what is there and only runs the rest. The table of mean ± std
over seeds per model × metric is written as ``results.csv`` and ``results.md``; figures go
to ``out_dir/figures/``.

Metric definitions are those of :mod:`tasklens.represent` (``disentanglement_lib``
conventions, see each function's docstring); ``codes_train`` are codes of training images,
``codes_test`` of held-out images. The source-based scores (FactorVAE, BetaVAE) render fresh
images of chosen factor combinations.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._common.io import atomic_write, write_json
from .._common.validation import check_choice, check_positive_int
from ..represent.information import irs, mig, modularity_explicitness
from ..represent.intervention import beta_vae_score, factor_vae_score
from ..represent.predictive import dci, sap
from ..represent.similarity import retrieved_components
from .disentanglement_models import (
    AUTOENCODER_KINDS,
    STUDY_DATASETS,
    StudyData,
    decode_images,
    encode_inputs,
    fit_frozen_decoder,
    fit_heads_on_codes,
    reconstruction_errors,
    standardized_factors,
    study_data,
    train_encoder,
)

#: parts of the study :class:`StudyConfig` can switch on
STUDY_PARTS: tuple[str, ...] = (
    "encoders", "decoders", "sweep", "autoencoders", "ground_truth", "figures")
#: metric columns of the results table, in order
METRIC_COLUMNS: tuple[str, ...] = (
    "mig", "sap", "dci_disentanglement", "dci_completeness", "dci_informativeness",
    "modularity", "explicitness", "irs", "factor_vae", "beta_vae", "retrieved", "task_mse",
    "recon_mse", "recon_bce", "heads_rmse",
)
#: row order of the results table
MODEL_ORDER: tuple[str, ...] = (
    "random", "single_task", "single_task_best", "multi_head", "one_head", "ae", "beta_vae",
    "factor_vae", "ground_truth",
)


@dataclass(frozen=True)
class StudyConfig:
    """Settings of :func:`run_study`; every default is a CPU-scale choice (003 in brackets).

    Attributes
    ----------
    data : {"sprites", "shapes3d", "mpi3d"}
    n_tasks : int
        Random-MLP tasks (10).
    n_train, n_test : int
        Images drawn from the full grid (Maziarka et al. 2022: the whole data set).
    image_size : {32, 64}
        32 pools the 64×64 images 2×2 (64).
    code_dim : int
        Latent dimension d (not stated for §4.1; 8 in App. C.3).
    epochs : int
        Epochs of every encoder and auto-encoder (200 for §4.1, 100 for §4.3).
    lr, batch_size : float, int
        Adam for the supervised encoders (1e-3, 256).
    ae_lr : float
        Adam for the auto-encoders (1e-4 over 100 epochs; larger here for few epochs).
    decoder_epochs, decoder_lr : int, float
        Decoder on frozen codes (500 epochs, 2e-4 halved every 100).
    heads_epochs, heads_lr : int, float
        Heads on frozen codes for Table 1 (30 epochs, 1e-4).
    seeds : tuple of int
        Model seeds (three); the data and tasks are drawn once with ``data_seed``.
    n_single_task : int or None
        Single-task models trained per seed on the first tasks (None: all, as in Maziarka et al.
        2022).
    task_sweep : tuple of int
        App. G task counts ([5, 10, 20, 30, 40, 50]); counts above ``n_tasks`` are dropped.
    n_metric : int
        Train and test images whose codes feed the array metrics (at most n_train, n_test).
    num_bins : int
        Histogram bins of MIG, modularity, IRS (20, the reference).
    dci_estimators : int
        Boosting stages per factor of DCI (100, the reference).
    dci_backend : {"gbt", "hist"}
    intervention_batch, intervention_train, intervention_eval : int
        FactorVAE and BetaVAE scores: samples per vote and votes (64, 10,000, 5,000).
    parts : tuple of str
        Subset of ``STUDY_PARTS``.
    """

    data: str = "sprites"
    n_tasks: int = 10
    n_train: int = 2000
    n_test: int = 1000
    image_size: int = 32
    code_dim: int = 10
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 64
    ae_lr: float = 1e-3
    decoder_epochs: int = 10
    decoder_lr: float = 1e-3
    heads_epochs: int = 30
    heads_lr: float = 1e-3
    seeds: tuple[int, ...] = (0, 1, 2)
    data_seed: int = 0
    n_single_task: int | None = 3
    task_sweep: tuple[int, ...] = (2, 5, 10)
    n_metric: int = 1000
    num_bins: int = 20
    dci_estimators: int = 20
    dci_backend: str = "hist"
    intervention_batch: int = 32
    intervention_train: int = 200
    intervention_eval: int = 100
    parts: tuple[str, ...] = STUDY_PARTS

    def __post_init__(self) -> None:
        check_choice(self.data, "data", STUDY_DATASETS)
        check_choice(self.image_size, "image_size", (32, 64))
        check_choice(self.dci_backend, "dci_backend", ("gbt", "hist"))
        for name in ("n_tasks", "code_dim", "epochs", "batch_size", "decoder_epochs",
                     "heads_epochs", "n_metric", "dci_estimators", "intervention_train",
                     "intervention_eval"):
            check_positive_int(getattr(self, name), name)
        check_positive_int(self.n_train, "n_train", minimum=10)
        check_positive_int(self.n_test, "n_test", minimum=10)
        check_positive_int(self.num_bins, "num_bins", minimum=2)
        check_positive_int(self.intervention_batch, "intervention_batch", minimum=2)
        if self.code_dim < 2:
            raise ValueError("code_dim must be >= 2 (MIG needs a runner-up code)")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct non-negative ints, got {self.seeds}")
        for s in self.seeds:
            check_positive_int(s, "seeds", minimum=0)
        if self.n_single_task is not None:
            check_positive_int(self.n_single_task, "n_single_task")
        unknown = sorted(set(self.parts) - set(STUDY_PARTS))
        if unknown:
            raise ValueError(f"unknown parts {unknown}; choose from {list(STUDY_PARTS)}")
        for n in self.task_sweep:
            check_positive_int(n, "task_sweep")
        # tuples, so that a config read back from JSON compares equal
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "task_sweep", tuple(int(n) for n in self.task_sweep))
        object.__setattr__(self, "parts", tuple(self.parts))

    @classmethod
    def quick(cls, **overrides: Any) -> StudyConfig:
        """A toy configuration that runs end to end in well under a minute."""
        base = dict(n_tasks=2, n_train=160, n_test=160, epochs=1, code_dim=4, seeds=(0,),
                    n_single_task=1, task_sweep=(1,), n_metric=160, decoder_epochs=1,
                    heads_epochs=1, dci_estimators=5, intervention_batch=8,
                    intervention_train=20, intervention_eval=10)
        base.update(overrides)
        return cls(**base)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def single_tasks(self) -> int:
        """Number of single-task models per seed."""
        return self.n_tasks if self.n_single_task is None else min(self.n_single_task,
                                                                    self.n_tasks)

    @property
    def sweep_counts(self) -> tuple[int, ...]:
        """App. G task counts that run as their own units (not ``n_tasks``: multi_head is it)."""
        return tuple(n for n in self.task_sweep if n < self.n_tasks)


@dataclass(frozen=True)
class StudyResult:
    """What :func:`run_study` produced.

    Attributes
    ----------
    config : StudyConfig
    units : tuple of dict
        One record per (model, seed) unit (the JSON files' contents).
    table : tuple of dict
        One row per model: ``model``, ``n_runs``, ``<metric>_mean``, ``<metric>_std``.
    out_dir : Path
    ran, skipped : tuple of str
        Units computed in this call and units loaded from earlier runs.
    """

    config: StudyConfig
    units: tuple[dict[str, Any], ...]
    table: tuple[dict[str, Any], ...]
    out_dir: Path
    ran: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    files: dict[str, str] = field(default_factory=dict)

    def row(self, model: str) -> dict[str, Any]:
        """The table row of ``model`` (e.g. ``"multi_head"``)."""
        for r in self.table:
            if r["model"] == model:
                return r
        raise KeyError(f"no row {model!r}; rows are {[r['model'] for r in self.table]}")

    def to_dict(self) -> dict[str, Any]:
        from .. import __version__

        return {"config": self.config.to_dict(), "units": list(self.units),
                "table": list(self.table), "out_dir": str(self.out_dir), "ran": list(self.ran),
                "skipped": list(self.skipped), "files": dict(self.files),
                "tasklens_version": __version__}


# ---------------------------------------------------------------------------- metrics
def code_metrics(codes_train: np.ndarray, factors_train: np.ndarray, codes_test: np.ndarray,
                 factors_test: np.ndarray, representation_fn: Callable[[np.ndarray], Any],
                 source: Any, config: StudyConfig, seed: int) -> dict[str, float]:
    """Every disentanglement metric of one code (Maziarka et al. 2022 §3.3, App. B, App. I).

    Parameters
    ----------
    codes_train, codes_test : (N_train, D), (N_test, D) arrays
    factors_train, factors_test : (N_train, F), (N_test, F) int arrays
    representation_fn, source
        For the FactorVAE and BetaVAE scores.
    config : StudyConfig
        Sample sizes and estimator settings.
    seed : int

    Returns
    -------
    dict of float, keys ``METRIC_COLUMNS[:11]``.
    """
    with warnings.catch_warnings():
        # constant codes (dead ReLU units of a random encoder) are expected; the metrics
        # handle them and warn
        warnings.simplefilter("ignore", RuntimeWarning)
        d = dci(codes_train, factors_train, codes_test, factors_test, seed,
                backend=config.dci_backend, n_estimators=config.dci_estimators)
        me = modularity_explicitness(codes_train, factors_train, codes_test, factors_test,
                                     config.num_bins, seed=seed)
        fvae = factor_vae_score(representation_fn, source, seed,
                                batch_size=config.intervention_batch,
                                num_train=config.intervention_train,
                                num_eval=config.intervention_eval,
                                num_variance_estimate=max(config.n_metric, 2))
        bvae = beta_vae_score(representation_fn, source, seed,
                              batch_size=config.intervention_batch,
                              num_train=config.intervention_train,
                              num_eval=config.intervention_eval)
        rc = retrieved_components(codes_test, factors_test)
        return {
            "mig": mig(codes_test, factors_test, config.num_bins),
            "sap": sap(codes_train, factors_train, codes_test, factors_test),
            "dci_disentanglement": d.disentanglement,
            "dci_completeness": d.completeness,
            "dci_informativeness": d.informativeness_test,
            "modularity": me.modularity_score,
            "explicitness": me.explicitness_score_test,
            "irs": float(irs(codes_test, factors_test, num_bins=config.num_bins).irs),
            "factor_vae": fvae.eval_accuracy,
            "beta_vae": bvae.eval_accuracy,
            "retrieved": float(rc.num_retrieved),
        }


# ---------------------------------------------------------------------------- units
@dataclass(frozen=True)
class _Unit:
    name: str
    model: str
    seed: int
    task: str | None = None
    n_tasks: int | None = None
    decoder: bool = False  # §4.2: train a decoder on the frozen codes
    figures: bool = False  # first seed: embeddings (+ traversals when decoded)


def plan_units(config: StudyConfig, task_names: Sequence[str]) -> list[_Unit]:
    """The (model, seed) units of a study, in run order."""
    parts = set(config.parts)
    first = config.seeds[0]
    units: list[_Unit] = []
    for s in config.seeds:
        fig = "figures" in parts and s == first
        dec = "decoders" in parts
        if "encoders" in parts:
            units += [_Unit(f"random_seed{s}", "random", s, decoder=dec, figures=fig),
                      _Unit(f"multi_head_seed{s}", "multi_head", s, decoder=dec, figures=fig),
                      _Unit(f"one_head_seed{s}", "one_head", s, decoder=dec, figures=fig)]
            units += [_Unit(f"single_task_t{i}_seed{s}", "single_task", s, task=t,
                            decoder=dec and i == 0, figures=fig and i == 0)
                      for i, t in enumerate(task_names[:config.single_tasks])]
        if "sweep" in parts:
            units += [_Unit(f"sweep_n{n}_seed{s}", f"multi_head_n{n}", s, n_tasks=n)
                      for n in config.sweep_counts]
        if "autoencoders" in parts:
            units += [_Unit(f"{k}_seed{s}", k, s, decoder=True, figures=fig)
                      for k in AUTOENCODER_KINDS]
        if "ground_truth" in parts:
            units.append(_Unit(f"ground_truth_seed{s}", "ground_truth", s))
    return units


def _run_unit(unit: _Unit, data: StudyData, config: StudyConfig, fig_dir: Path
              ) -> dict[str, Any]:
    """Train, encode and score one unit; returns its JSON record (figures written on the way)."""
    started = time.perf_counter()
    n_tr, n_te = min(config.n_metric, len(data.train)), min(config.n_metric, len(data.test))
    assert data.train.factors is not None and data.test.factors is not None
    f_train = data.train.factors.codes()[:n_tr]
    f_test = data.test.factors.codes()[:n_te]
    record: dict[str, Any] = {"unit": unit.name, "model": unit.model, "seed": unit.seed,
                              "task": unit.task, "n_tasks": unit.n_tasks}
    levels = data.source.factor_levels
    if unit.model == "ground_truth":
        codes_train = standardized_factors(data.train.factors.codes(), levels)
        codes_test = standardized_factors(data.test.factors.codes(), levels)
        metrics = code_metrics(codes_train[:n_tr], f_train, codes_test[:n_te], f_test,
                               _identity, data.factor_source, config, unit.seed)
        metrics.update(fit_heads_on_codes(codes_train, data.train, codes_test, data.test,
                                          epochs=config.heads_epochs, lr=config.heads_lr,
                                          batch_size=config.batch_size, seed=unit.seed))
        record.update(metrics=_metric_dict(metrics), rmse_per_task=metrics["rmse_per_task"])
        record["time_s"] = time.perf_counter() - started
        return record
    kind = "multi_head" if unit.model.startswith("multi_head") else unit.model
    trained = train_encoder(kind, data, code_dim=config.code_dim, epochs=config.epochs,
                            lr=config.lr, batch_size=config.batch_size, seed=unit.seed,
                            task=unit.task, n_tasks=unit.n_tasks, ae_lr=config.ae_lr)
    model = trained.model
    codes_train = encode_inputs(model, data.train.inputs)
    codes_test = encode_inputs(model, data.test.inputs)
    metrics = code_metrics(codes_train[:n_tr], f_train, codes_test[:n_te], f_test,
                           lambda x: encode_inputs(model, x), data.source, config, unit.seed)
    if math.isfinite(trained.test_task_mse):
        metrics["task_mse"] = trained.test_task_mse
    decoder = trained.decoder
    if decoder is not None:
        metrics["recon_mse"], metrics["recon_bce"] = reconstruction_errors(
            decoder, codes_test, data.test.inputs)
    elif unit.decoder:
        fit = fit_frozen_decoder(codes_train, data.train.inputs, codes_test, data.test.inputs,
                                 epochs=config.decoder_epochs, lr=config.decoder_lr,
                                 batch_size=config.batch_size, seed=unit.seed)
        decoder, metrics["recon_mse"], metrics["recon_bce"] = fit.decoder, fit.mse, fit.bce
    if unit.model in AUTOENCODER_KINDS:
        heads = fit_heads_on_codes(codes_train, data.train, codes_test, data.test,
                                   epochs=config.heads_epochs, lr=config.heads_lr,
                                   batch_size=config.batch_size, seed=unit.seed)
        metrics["heads_rmse"] = heads["rmse"]
        record["rmse_per_task"] = heads["rmse_per_task"]
    record["train_loss"] = trained.train_loss
    record["metrics"] = _metric_dict(metrics)
    if unit.figures:
        record["figures"] = _unit_figures(unit, codes_test, data, decoder, fig_dir)
    record["time_s"] = time.perf_counter() - started
    return record


def _identity(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _metric_dict(metrics: dict[str, Any]) -> dict[str, float]:
    """The table's metrics of a unit (``rmse`` → ``heads_rmse``), as plain floats."""
    out = {k: float(v) for k, v in metrics.items() if k in METRIC_COLUMNS}
    if "rmse" in metrics:
        out["heads_rmse"] = float(metrics["rmse"])
    return out


def _unit_figures(unit: _Unit, codes_test: np.ndarray, data: StudyData, decoder: Any,
                  fig_dir: Path) -> list[str]:
    """2-D embeddings of the codes coloured by each factor (Maziarka et al. 2022 §4.2.1) and, with
    a decoder, latent traversals (Maziarka et al. 2022 §4.2.2) and a reconstruction grid
    (the first 8 test inputs above the decoding of their codes). Imported lazily: figures
    are optional output."""
    import matplotlib.pyplot as plt

    from ..report import plot_code_embedding, plot_latent_traversals, save_figure
    from ..report.image_figures import plot_reconstructions

    assert data.test.factors is not None
    names = data.test.factors.names
    values = data.test.factors.values
    n = min(len(codes_test), 1000)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4))
    for ax, j in zip(np.atleast_1d(axes), range(len(names))):
        plot_code_embedding(codes_test[:n], values[:n, j], seed=unit.seed, label=names[j], ax=ax)
        ax.set_title(f"{unit.model}: {names[j]}", fontsize=8)
    fig.tight_layout()
    paths = [str(save_figure(fig, fig_dir / f"embedding_{unit.name}.png"))]
    if decoder is not None:
        # Traverse each dimension in units of its own test standard deviation: our codes are
        # not normalised, so Maziarka et al. 2022's fixed range [-1, 1] would be tiny for some
        # dimensions and
        # far out of distribution for others.
        mean, std = codes_test.mean(axis=0), codes_test.std(axis=0) + 1e-8
        decode = decode_images(decoder)
        fig = plot_latent_traversals(lambda z: decode(mean + std * z),
                                     (codes_test[0] - mean) / std, codes_test.shape[1],
                                     np.linspace(-2.0, 2.0, 9))
        paths.append(str(save_figure(fig, fig_dir / f"traversal_{unit.name}.png")))
        fig = plot_reconstructions(data.test.inputs[:8], decode(codes_test[:8]),
                                   data_range=(0.0, 1.0),
                                   title=f"{unit.model}: test inputs (top) and decoded codes "
                                         "(bottom; title: squared error)")
        paths.append(str(save_figure(fig, fig_dir / f"reconstruction_{unit.name}.png")))
    return paths


# ---------------------------------------------------------------------------- table
def aggregate(units: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean ± std (over seeds; population std, ddof 0) per model × metric.

    ``single_task`` pools every (task, seed) unit, as Maziarka et al. 2022 Fig. 3 reports the mean
    over the
    task-specific models; ``single_task_best`` is the best task's mean over seeds, per
    metric (Maziarka et al. 2022 Fig. 3's "maximal value over all tasks"; for the error columns,
    the lowest).
    """
    groups: dict[str, list[dict[str, float]]] = {}
    for u in units:
        groups.setdefault(u["model"], []).append(u["metrics"])
    rows = [_row(model, ms) for model, ms in groups.items()]
    singles = [u for u in units if u["model"] == "single_task"]
    if singles:
        per_task: dict[str, list[dict[str, float]]] = {}
        for u in singles:
            per_task.setdefault(u["task"], []).append(u["metrics"])
        task_rows = [_row(t, ms) for t, ms in per_task.items()]
        best: dict[str, Any] = {"model": "single_task_best", "n_runs": len(singles)}
        for m in METRIC_COLUMNS:
            vals = [(r[f"{m}_mean"], r[f"{m}_std"]) for r in task_rows
                    if not math.isnan(r[f"{m}_mean"])]
            lower_better = m in ("task_mse", "recon_mse", "recon_bce", "heads_rmse")
            pick = (min if lower_better else max)(vals, default=(math.nan, math.nan))
            best[f"{m}_mean"], best[f"{m}_std"] = pick
        rows.append(best)
    order = {m: i for i, m in enumerate(MODEL_ORDER)}
    return sorted(rows, key=lambda r: (order.get(r["model"], len(order)), r["model"]))


def _row(model: str, metrics: list[dict[str, float]]) -> dict[str, Any]:
    row: dict[str, Any] = {"model": model, "n_runs": len(metrics)}
    for m in METRIC_COLUMNS:
        vals = np.array([x[m] for x in metrics if m in x and not math.isnan(x[m])])
        row[f"{m}_mean"] = float(vals.mean()) if vals.size else math.nan
        row[f"{m}_std"] = float(vals.std()) if vals.size else math.nan
    return row


def table_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The results table as CSV text (one row per model; ``<metric>_mean``/``_std``)."""
    buf = io.StringIO()
    cols = ["model", "n_runs"] + [f"{m}_{s}" for m in METRIC_COLUMNS for s in ("mean", "std")]
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({c: r.get(c, math.nan) for c in cols})
    return buf.getvalue()


def table_markdown(rows: Sequence[dict[str, Any]], digits: int = 3) -> str:
    """The results table as Markdown, cells ``mean ± std``; metrics no row has are left out."""
    cols = [m for m in METRIC_COLUMNS
            if any(not math.isnan(r.get(f"{m}_mean", math.nan)) for r in rows)]
    lines = ["| model | runs | " + " | ".join(cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for m in cols:
            mean, std = r.get(f"{m}_mean", math.nan), r.get(f"{m}_std", math.nan)
            cells.append("–" if math.isnan(mean) else f"{mean:.{digits}f} ± {std:.{digits}f}")
        lines.append(f"| {r['model']} | {r['n_runs']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- driver
def run_study(config: StudyConfig, out_dir: str | Path,
              progress: Callable[[str], None] | None = None) -> StudyResult:
    """Run (or resume) the study of Maziarka et al. 2022 §4.1-4.3 and App. G; write table and
    figures.

    Parameters
    ----------
    config : StudyConfig
    out_dir : path
        Created if missing. Holds ``config.json``, ``units/<unit>.json`` (one per finished
        unit), ``results.csv``, ``results.md``, ``study.json`` and ``figures/``.
    progress : callable(str), optional
        Called with one line per unit (e.g. ``print``).

    Returns
    -------
    StudyResult

    Raises
    ------
    ValueError
        ``out_dir`` holds units of a different configuration (start a new folder or delete
        it to rerun).
    """
    if not isinstance(config, StudyConfig):
        raise TypeError(f"config must be a StudyConfig, got {type(config).__name__}")
    out = Path(out_dir)
    unit_dir, fig_dir = out / "units", out / "figures"
    unit_dir.mkdir(parents=True, exist_ok=True)
    _check_same_config(out / "config.json", config)
    write_json(out / "config.json", config.to_dict())
    say = progress or (lambda _msg: None)
    data = study_data(config.data, config.n_train, config.n_test, config.n_tasks,
                      config.image_size, config.data_seed)
    units = plan_units(config, data.train.task_names)
    records, ran, skipped = [], [], []
    for i, unit in enumerate(units, 1):
        path = unit_dir / f"{unit.name}.json"
        if path.exists():
            records.append(json.loads(path.read_text()))
            skipped.append(unit.name)
            say(f"[{i}/{len(units)}] {unit.name}: done earlier, skipped")
            continue
        say(f"[{i}/{len(units)}] {unit.name}: running")
        record = _run_unit(unit, data, config, fig_dir)
        write_json(path, record)
        records.append(record)
        ran.append(unit.name)
        say(f"[{i}/{len(units)}] {unit.name}: {record['time_s']:.1f} s")
    rows = aggregate(records)
    files = {"csv": str(out / "results.csv"), "markdown": str(out / "results.md"),
             "json": str(out / "study.json")}
    with atomic_write(files["csv"]) as fh:
        fh.write(table_csv(rows))
    with atomic_write(files["markdown"]) as fh:
        fh.write(table_markdown(rows))
    result = StudyResult(config, tuple(records), tuple(rows), out, tuple(ran), tuple(skipped),
                         files)
    write_json(files["json"], result.to_dict())
    return result


def _check_same_config(path: Path, config: StudyConfig) -> None:
    if not path.exists():
        return
    old = json.loads(path.read_text())
    new = json.loads(json.dumps(config.to_dict()))
    # parts, seeds and the sweep may grow on a resume; everything else defines the units
    keys = set(new) - {"parts", "seeds", "task_sweep", "n_single_task"}
    changed = sorted(k for k in keys if old.get(k) != new.get(k))
    if changed:
        raise ValueError(f"{path.parent} holds a study with different settings {changed}; "
                         "use another --out folder (or delete it) to run this configuration")
