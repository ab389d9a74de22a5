"""Hard vs soft grounding under a photometric shift (Wu, Zou, Wu and Wang 2026, "CORE-MTL:
Rethinking Gradient Balancing via Causal Orthogonal Representations", arXiv:2606.02221,
§3.2 eqs. 13–15, §4.6.2 Table 6, Table 3).

001 claims hard grounding (the Lambertian decoder of eq. 13: normals from ``z_s``, albedo
and light from ``z_r``) anchors geometry in the semantic stream more firmly than soft
grounding (a generic decoder, eq. 15), and (Table 6) scores slightly better on geometry
tasks. Tested here on :func:`tasklens.data.shaded_shapes`, whose images are exactly
Lambertian and whose tasks read geometry only (``shape``, ``orientation``, ``scale``):

- training and in-distribution (ID) test sets draw the nuisance factors (hue, background,
  light azimuth and elevation) from their "in" levels; the OOD test set shows the *same*
  shapes (same draw seed) under the held-out "out" levels (``nuisance_levels``);
- models: CORE-MTL with hard grounding, with soft grounding, and hard parameter sharing
  (EW HPS) with the same encoder as the reference; every one trained with equal weighting;
- per model: shape accuracy and orientation / scale R² on ID and OOD, and for the two
  CORE-MTL models the stability of the streams
  (:func:`~tasklens.studies.core_mtl_analysis.stability_under_intervention`): ``ΔZ_s``
  and ``ΔZ_r`` under the decoder's residual swap (intra-domain) and between each ID image
  and its OOD twin (cross-domain).

One result file per (model, seed) through :func:`tasklens.affinity.sweep.run_jobs`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._common.validation import check_scalar
from ._core_mtl_runs import (
    check_image_size,
    check_names,
    check_seeds,
    evaluate_on,
    fit,
    markdown_table,
    mean_se,
    plain,
    pm,
    run_and_collect,
    save_study,
)

MODELS: tuple[str, ...] = ("core_hard", "core_soft", "ew_hps")
LABELS = {"core_hard": "CORE-MTL hard", "core_soft": "CORE-MTL soft", "ew_hps": "EW HPS"}
#: (metric key in a run, task, metric name of evaluate)
METRICS: tuple[tuple[str, str, str], ...] = (("shape_acc", "shape", "accuracy"),
                                             ("orientation_r2", "orientation", "r2"),
                                             ("scale_r2", "scale", "r2"))
ARCH: dict[str, Any] = {"channels": (8, 16, 16, 32), "head_hidden": 32, "head_depth": 2}
DUAL: dict[str, Any] = {"feature_dim": 32, "semantic_dim": 12, "residual_dim": 8}


def decoder_channels(size: int) -> tuple[int, ...]:
    """Light decoder widths, one per doubling (``(32, 16, 8, 8)`` for 16×16 images)."""
    return tuple(max(8, 32 >> i) for i in range(int(np.log2(size))))


def grounding_data(n_train: int, n_test: int, size: int, seed: int
                   ) -> tuple[Any, Any, Any]:
    """(train, ID test, OOD test); the OOD test holds the ID test's shapes under held-out
    nuisance levels."""
    from ..data import shaded_shapes

    train = shaded_shapes(n_train, size=size, seed=seed, nuisance_levels="in")
    test_seed = 10_000 + seed
    id_test = shaded_shapes(n_test, size=size, seed=test_seed,
                            nuisance_levels="in").encode_like(train)
    ood_test = shaded_shapes(n_test, size=size, seed=test_seed,
                             nuisance_levels="out").encode_like(train)
    return train, id_test, ood_test


def build_model(name: str, train: Any, seed: int) -> Any:
    from ..nn import dual_stream_for, hps_for

    if name == "ew_hps":
        return hps_for(train, code_dim=DUAL["semantic_dim"], seed=seed, **ARCH)
    grounding = "hard" if name == "core_hard" else "soft"
    return dual_stream_for(train, grounding=grounding, seed=seed,
                           decoder_channels=decoder_channels(train.input_shape[-1]),
                           **DUAL, **ARCH)


def _run_job(job: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Train one (model, seed); ID / OOD metrics and, for CORE-MTL, stream stability."""
    from ..nn import DualStreamModel
    from .core_mtl_analysis import stability_under_intervention

    train, id_test, ood_test = grounding_data(settings["n_train"], settings["n_test"],
                                              settings["size"], job["seed"])
    model = build_model(job["model"], train, job["seed"])
    fit(model, train, "ew", settings, job["seed"])
    out: dict[str, Any] = evaluate_on(
        model, {"id": id_test, "ood": ood_test},
        lambda metrics: {key: float(metrics[task][name]) for key, task, name in METRICS})
    if isinstance(model, DualStreamModel):
        stab = stability_under_intervention(model, id_test.inputs, ood_test.inputs,
                                            seed=job["seed"])
        out["stability"] = {r.setting: {"delta_semantic": r.delta_semantic,
                                        "delta_residual": r.delta_residual,
                                        "ratio": r.ratio} for r in stab.rows}
    return out


@dataclass(frozen=True)
class GroundingResult:
    """ID / OOD metrics and stream stability per model, over seeds.

    Attributes
    ----------
    models, seeds : tuple of str, tuple of int
    per_seed : dict {model: {seed: run}}
        ``run``: ``id`` and ``ood`` ({metric: value}) and, for CORE-MTL, ``stability``
        ({"intra-domain"|"cross-domain": {delta_semantic, delta_residual, ratio}}).
    summary : dict {model: {name: (mean, SE)}}
        ``<split>/<metric>`` for split in id, ood and ``drop/<metric>`` (ID − OOD, per
        seed); for CORE-MTL ``<setting>/<delta_semantic|delta_residual|ratio>``.
    settings : dict
    failed : dict {model: {seed: message}}
    files : dict {name: path}
    """

    models: tuple[str, ...]
    seeds: tuple[int, ...]
    per_seed: dict[str, dict[int, dict[str, Any]]]
    summary: dict[str, dict[str, tuple[float, float]]]
    settings: dict[str, Any]
    failed: dict[str, dict[int, str]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def table(self) -> str:
        """Two markdown tables: accuracy / R² (ID, OOD) and stream stability."""
        keys = [f"{s}/{k}" for k, _, _ in METRICS for s in ("id", "ood")]
        lines = markdown_table(
            ["model", "runs", *keys],
            ([LABELS.get(m, m), f"{len(self.per_seed[m])}/{len(self.seeds)}",
              *(pm(self.summary[m].get(k)) for k in keys)] for m in self.models))
        stab = [m for m in self.models if any(k.endswith("/ratio") for k in self.summary[m])]
        if stab:
            cols = [f"{s}/{q}" for s in ("intra-domain", "cross-domain")
                    for q in ("delta_semantic", "delta_residual", "ratio")]
            head = ["model", *(c.replace("delta_semantic", "ΔZ_s").replace("delta_residual",
                                                                          "ΔZ_r")
                               for c in cols)]
            lines += ["", *markdown_table(head, ([LABELS.get(m, m),
                                                  *(pm(self.summary[m].get(c)) for c in cols)]
                                                 for m in stab))]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return plain({"models": self.models, "seeds": self.seeds, "per_seed": self.per_seed,
                      "summary": self.summary, "settings": self.settings,
                      "failed": self.failed, "files": self.files})


def _summarise(runs: dict[int, dict[str, Any]]) -> dict[str, tuple[float, float]]:
    if not runs:
        return {}
    out: dict[str, tuple[float, float]] = {}
    for key, _, _ in METRICS:
        for split in ("id", "ood"):
            out[f"{split}/{key}"] = mean_se([r[split][key] for r in runs.values()])
        out[f"drop/{key}"] = mean_se([r["id"][key] - r["ood"][key] for r in runs.values()])
    stab = [r["stability"] for r in runs.values() if "stability" in r]
    for setting in (stab[0] if stab else {}):
        for q in ("delta_semantic", "delta_residual", "ratio"):
            out[f"{setting}/{q}"] = mean_se([s[setting][q] for s in stab])
    return out


def grounding_study(
    out_dir: str | Path,
    models: Sequence[str] = MODELS,
    seeds: Sequence[int] = (0, 1, 2),
    epochs: int = 10,
    *,
    n_train: int = 1024,
    n_test: int = 512,
    size: int = 16,
    batch_size: int = 64,
    lr: float = 3e-3,
    progress: bool | None = None,
) -> GroundingResult:
    """Train every model on the "in" nuisance levels; ID and OOD metrics and stability.

    Parameters
    ----------
    out_dir : path
        One JSON file per (model, seed) under ``out_dir/runs``; a rerun in the same
        folder with the same settings resumes.
    models : sequence of str
        A subset of :data:`MODELS` (default: hard and soft CORE-MTL and EW HPS).
    seeds : sequence of int
        Model and data seeds.
    epochs : int
    n_train, n_test : int
    size : {8, 16, 32, 64}
        Image side.
    batch_size, lr : training settings (Adam).
    progress : bool, optional

    Returns
    -------
    GroundingResult
    """
    models = check_names(models, MODELS, "models")
    seeds = check_seeds(seeds)
    check_scalar(epochs, "epochs", numbers.Integral, low=1)
    check_scalar(n_train, "n_train", numbers.Integral, low=16)
    check_scalar(n_test, "n_test", numbers.Integral, low=16)
    check_image_size(size, "the decoders need a power of two")
    settings = {"epochs": int(epochs), "n_train": int(n_train), "n_test": int(n_test),
                "size": int(size), "batch_size": int(batch_size), "lr": float(lr)}
    jobs = [{"model": m, "seed": s} for s in seeds for m in models]
    per_seed, failed = run_and_collect(
        jobs, _run_job, out_dir, settings, groups=models, backend="serial", progress=progress,
        result_key=lambda job: (job["model"], int(job["seed"])))
    summary = {m: _summarise(per_seed[m]) for m in models}
    return GroundingResult(models, seeds, per_seed, summary, settings, failed)


def save_grounding(result: GroundingResult, out_dir: str | Path) -> GroundingResult:
    """Write ``grounding.json``, ``grounding.md`` and ``grounding.png`` into ``out_dir``."""
    from ..report.core_mtl_scale_figures import plot_grounding

    return save_study(result, out_dir, "grounding", result.table(),
                      lambda r: plot_grounding(r, labels=LABELS))
