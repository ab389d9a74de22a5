"""Gradient orthogonality of CORE-MTL over training (Wu et al. 2026 §4.4.2, Fig. 4-5, Prop. 2.5).

Wu, Zou, Wu and Wang (2026), "CORE-MTL: Rethinking Gradient Balancing via Causal
Orthogonal Representations", arXiv:2606.02221. 001 reports that the cosine between each
task's gradient and the reconstruction gradient at the last shared encoder layer is near
zero (Fig. 4, a distribution on CelebA) and shows the task × task cosines (Fig. 5); Prop.
2.5 bounds ``E[cos²(g_task, g_res)]`` by ``c · CKA(Z_s, Z_r) + δ``.

:func:`gradient_orthogonality` trains the dual-stream model of the shortcut protocol
(:mod:`.core_mtl_shortcut`: ``colored_digits`` source domain, soft grounding, all λ = 1,
EW on the task losses) with a :class:`~.core_mtl_analysis.GradientCosineRecorder`, per
seed, and measures :func:`~.core_mtl_analysis.gradient_cosines` once more on a fixed
held-out batch at the end (the task × task matrix of Fig. 5); or, with
``dataset="shaded_shapes"``, the hard-grounding model of :mod:`.core_mtl_grounding`. The
variant ``no_cka`` (``λ_CKA = 0``, all else equal) is the control for Prop. 2.5: if orthogonality
is a by-product of the independence term, removing it should raise ``|cos|``.

Not resumable (three seeds of two variants take about a minute on colored digits, one
core).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._common.validation import check_scalar
from ._core_mtl_runs import check_names, check_seeds, markdown_table, mean_se, plain, pm

#: model variants: keyword overrides of the shortcut protocol's dual-stream model
VARIANTS: dict[str, dict[str, float]] = {"core_mtl": {}, "no_cka": {"lambda_cka": 0.0}}
LABELS = {"core_mtl": "CORE-MTL (all λ = 1)", "no_cka": "CORE-MTL, λ_CKA = 0"}


@dataclass(frozen=True)
class OrthogonalityResult:
    """Gradient cosines at the last shared layer over training, per variant and seed.

    Attributes
    ----------
    variants, seeds : tuples
    tasks : tuple of str (K names)
    steps : (M,) int array
        Optimiser steps at which the cosines were recorded (before that step's update).
    steps_per_epoch : int
    task_vs_rec : dict {variant: (S, M, K) array}
        ``cos(∇L_t, ∇L_rec)`` on each recorded training batch.
    final_task_vs_rec : dict {variant: (S, K) array}
        The same on the held-out batch after training.
    final_task_task : dict {variant: (S, K, K) array}
        ``cos(∇L_t, ∇L_u)`` on the held-out batch after training (Fig. 5).
    layer_size : int
        Parameters of the last shared layer (the dimension of the gradients).
    settings : dict
    files : dict {name: path}
    """

    variants: tuple[str, ...]
    seeds: tuple[int, ...]
    tasks: tuple[str, ...]
    steps: np.ndarray
    steps_per_epoch: int
    task_vs_rec: dict[str, np.ndarray]
    final_task_vs_rec: dict[str, np.ndarray]
    final_task_task: dict[str, np.ndarray]
    layer_size: int
    settings: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> dict[str, Any]:
        """Always empty: a failing run raises (the study is short and not resumable)."""
        return {}

    @property
    def random_reference(self) -> float:
        """``E|cos|`` of two independent isotropic directions in ``layer_size`` dimensions,
        ``≈ √(2 / (π d))``: the level "near zero" has to be judged against."""
        return math.sqrt(2.0 / (math.pi * self.layer_size))

    def _window(self, variant: str, epoch: str) -> np.ndarray:
        """(S, K) mean ``|cos|`` per seed and task over the first or last epoch's records."""
        cos = np.abs(self.task_vs_rec[variant])
        first = self.steps < self.steps_per_epoch
        last = self.steps >= self.steps[-1] - self.steps[-1] % self.steps_per_epoch
        return cos[:, first if epoch == "first" else last].mean(axis=1)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per variant, mean ± SE over seeds of: mean ``|cos|`` task vs reconstruction in the
        first and the last epoch (``early``, ``late``) and on the held-out batch after
        training (``final``), its signed mean (``final_signed``), and per task; the
        off-diagonal task × task cosines (``task_task``, per pair)."""
        out: dict[str, dict[str, Any]] = {}
        k = len(self.tasks)
        pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
        for v in self.variants:
            early, late = self._window(v, "first"), self._window(v, "last")
            fin = self.final_task_vs_rec[v]
            tt = self.final_task_task[v]
            out[v] = {"early": mean_se(early.mean(1)), "late": mean_se(late.mean(1)),
                      "final": mean_se(np.abs(fin).mean(1)),
                      "final_signed": mean_se(fin.mean(1)),
                      "per_task": {t: {"early": mean_se(early[:, i]),
                                       "late": mean_se(late[:, i]),
                                       "final": mean_se(fin[:, i])}
                                   for i, t in enumerate(self.tasks)},
                      "task_task": {f"{self.tasks[i]}–{self.tasks[j]}": mean_se(tt[:, i, j])
                                    for i, j in pairs}}
        return out

    def table(self) -> str:
        """Markdown: mean ``|cos|`` early / late / final per variant, the final signed cosine
        per task and the task × task cosines."""
        s = self.summary()
        pairs = list(s[self.variants[0]]["task_task"])
        head = ["variant", "mean abs cos, epoch 1", "mean abs cos, last epoch",
                "mean abs cos, held-out (end)",
                *(f"cos {t} vs rec (end)" for t in self.tasks),
                *(f"cos {p} (end)" for p in pairs)]
        rows = [[LABELS.get(v, v), pm(s[v]["early"]), pm(s[v]["late"]), pm(s[v]["final"]),
                 *(pm(s[v]["per_task"][t]["final"]) for t in self.tasks),
                 *(pm(s[v]["task_task"][p]) for p in pairs)] for v in self.variants]
        return "\n".join(markdown_table(head, rows))

    def to_dict(self) -> dict[str, Any]:
        return plain({"variants": self.variants, "seeds": self.seeds, "tasks": self.tasks,
                      "steps": self.steps.tolist(), "steps_per_epoch": self.steps_per_epoch,
                      "task_vs_rec": {v: a.tolist() for v, a in self.task_vs_rec.items()},
                      "final_task_vs_rec": {v: a.tolist()
                                            for v, a in self.final_task_vs_rec.items()},
                      "final_task_task": {v: a.tolist()
                                          for v, a in self.final_task_task.items()},
                      "layer_size": self.layer_size,
                      "random_reference": self.random_reference,
                      "summary": self.summary(), "settings": self.settings,
                      "files": self.files})


#: data sets: the shortcut protocol's colored digits (soft grounding) and the grounding
#: study's shaded shapes (16×16, hard grounding; ``n`` training images, default 1,024)
DATASETS: tuple[str, ...] = ("colored_digits", "shaded_shapes")
SHAPES_N, SHAPES_SIZE = 1024, 16


def _data_and_model(variant: str, seed: int, settings: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(train, held-out test, model) of one run, initialised from ``seed``."""
    from ..nn import dual_stream_for

    if settings["dataset"] == "shaded_shapes":
        from . import core_mtl_grounding as g

        n = SHAPES_N if settings["n"] is None else settings["n"]
        train, test, _ = g.grounding_data(n, max(settings["n_final"], 2), SHAPES_SIZE, seed)
        model = dual_stream_for(train, grounding="hard", seed=seed,
                                decoder_channels=g.decoder_channels(SHAPES_SIZE),
                                **{**g.DUAL, **VARIANTS[variant]}, **g.ARCH)
        return train, test, model
    from .core_mtl_shortcut import ARCH, DUAL, shortcut_data

    train, test, _ = shortcut_data(settings["n"], seed)
    return train, test, dual_stream_for(train, seed=seed, **{**DUAL, **VARIANTS[variant]},
                                        **ARCH)


def record_run(variant: str, seed: int, settings: dict[str, Any]) -> tuple[Any, Any, Any]:
    """Train one (variant, seed) with a recorder; ``(model, recorder, final)`` where
    ``final`` is :func:`~.core_mtl_analysis.gradient_cosines` on the first ``n_final``
    held-out inputs after training. Deterministic in its arguments."""
    from ..train import Trainer
    from .core_mtl_analysis import GradientCosineRecorder, gradient_cosines, paired_batches

    train, test, model = _data_and_model(variant, seed, settings)
    recorder = GradientCosineRecorder(every=settings["every"])
    Trainer(model, train, "ew", batch_size=settings["batch_size"], lr=settings["lr"],
            seed=seed, progress=False, callbacks=[recorder]).fit(settings["epochs"])
    x, y = paired_batches(test, range(min(settings["n_final"], len(test))))
    return model, recorder, gradient_cosines(model, x, y, test, step=None)


def gradient_orthogonality(seeds: Sequence[int] = (0, 1, 2), epochs: int = 10,
                           n: int | None = None, *,
                           variants: Sequence[str] = tuple(VARIANTS), every: int = 5,
                           batch_size: int = 64, lr: float = 3e-3,
                           n_final: int = 256,
                           dataset: str = "colored_digits") -> OrthogonalityResult:
    """Record task vs reconstruction gradient cosines over training (Wu et al. 2026 Fig. 4-5).

    Parameters
    ----------
    seeds : sequence of int
        Model seeds; seed ``s`` also draws the 75/25 split of the digits.
    epochs : int
    n : int, optional
        Digits used (default all 1,797; at least 40); for ``shaded_shapes`` the training
        images (default 1,024; the held-out batch is drawn separately).
    variants : sequence of str
        From :data:`VARIANTS`.
    every : int
        Record every ``every`` optimiser steps.
    batch_size, lr : Adam settings of the shortcut protocol.
    n_final : int
        Held-out inputs of the end-of-training measurement.
    dataset : {"colored_digits", "shaded_shapes"}
        The second trains hard grounding (the physics decoder of eq. 13-14).
    """
    from .._common.validation import check_choice
    from .core_mtl_analysis import last_shared_layer

    variants = check_names(variants, tuple(VARIANTS), "variants")
    seeds = check_seeds(seeds)
    for value, name, low in ((epochs, "epochs", 1), (every, "every", 1),
                             (batch_size, "batch_size", 1), (n_final, "n_final", 2)):
        check_scalar(value, name, numbers.Integral, low=low)
    check_choice(dataset, "dataset", DATASETS)
    check_scalar(n, "n", numbers.Integral, low=40,
                 high=1797 if dataset == "colored_digits" else 100_000, allow_none=True)
    check_scalar(lr, "lr", numbers.Real, low=0.0, include_low=False, finite=True)
    settings = {"epochs": int(epochs), "n": None if n is None else int(n),
                "every": int(every), "batch_size": int(batch_size), "lr": float(lr),
                "n_final": int(n_final), "dataset": dataset}
    curves: dict[str, list[np.ndarray]] = {v: [] for v in variants}
    finals: dict[str, list[np.ndarray]] = {v: [] for v in variants}
    matrices: dict[str, list[np.ndarray]] = {v: [] for v in variants}
    steps = None
    for v in variants:
        for s in seeds:
            model, rec, final = record_run(v, s, settings)
            if steps is None:
                steps, tasks = rec.steps(), final.tasks
                layer_size = sum(p.numel() for p in last_shared_layer(model).parameters())
            curves[v].append(rec.task_vs_reconstruction())
            finals[v].append(final.task_vs_reconstruction)
            matrices[v].append(final.task_task)
    n_train = len(_data_and_model(variants[0], seeds[0], settings)[0])  # seed-free size
    return OrthogonalityResult(
        variants, seeds, tuple(tasks), np.asarray(steps),
        math.ceil(n_train / settings["batch_size"]),
        {v: np.stack(c) for v, c in curves.items()},
        {v: np.stack(c) for v, c in finals.items()},
        {v: np.stack(c) for v, c in matrices.items()}, int(layer_size), settings)


def save_orthogonality(result: OrthogonalityResult, out_dir: str | Path) -> OrthogonalityResult:
    """Write ``orthogonality.json`` / ``.md``, ``orthogonality.png`` (the cosines over
    training, :func:`~tasklens.report.core_mtl_figures.plot_gradient_cosine_bands`) and
    ``task_gradients_<variant>.png`` (the seed-mean task × task matrix after training)."""
    import dataclasses

    from ..report.core_mtl_figures import plot_gradient_cosine_bands, plot_task_gradient_heatmap
    from ..report.figures import save_figure
    from ._core_mtl_runs import save_study

    result = save_study(result, out_dir, "orthogonality", result.table(),
                        lambda r: plot_gradient_cosine_bands(
                            r.steps, {LABELS[v]: r.task_vs_rec[v] for v in r.variants},
                            r.tasks, steps_per_epoch=r.steps_per_epoch,
                            reference=r.random_reference))
    files = dict(result.files)
    for v in result.variants:
        path = str(Path(out_dir) / f"task_gradients_{v}.png")
        fig = plot_task_gradient_heatmap(
            result.final_task_task[v].mean(0), result.tasks,
            title=f"{LABELS[v]}, {result.settings['dataset']}: task × task gradient "
                  f"cosine\n(held-out batch, end of training, mean of {len(result.seeds)} "
                  "seeds)")
        save_figure(fig, path)
        files[f"task_gradients_{v}"] = path
    result = dataclasses.replace(result, files=files)
    from .._common.io import write_json

    write_json(files["json"], result.to_dict())
    return result
