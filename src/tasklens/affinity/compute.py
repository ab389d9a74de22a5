"""One call that computes any subset of the affinity scores of Azorin et al. 2023 on
a task set, training each model it needs once and sharing it between scores.

=============  ===========================================  ===============================
key            score (Azorin et al. 2023 Table 7)                          models it reads
=============  ===========================================  ===============================
``td``         taxonomical distance (row 1)                 none (needs ``tree=``)
``alignment``  training-free alignment (Anon. 2025 App. A.4)       none
``ias``        input attribution similarity (eq. 1)         the K single-task (STL) models
``rsa``        representation similarity analysis (eq. 2)   the K STL models
``li``         label injection (eq. 3)                      the K STL models + K(K−1) STL_a←b
``gs``         gradient similarity (eq. 4)                  one MTL model, during training
``gt``         gradient transference (eq. 5)                the same MTL model
=============  ===========================================  ===============================

GS and GT are recorded by :class:`AffinityMonitorCallback` (an adapter that lets the
:class:`~tasklens.affinity.GradientSimilarityMonitor` and
:class:`~tasklens.affinity.GradientTransferenceMonitor` run as
:class:`tasklens.train.Callback`) at the end of every epoch on a fixed probe batch of
training data, and averaged over epochs as in eqs. 4–5 (``N`` = number of epochs). IAS and
RSA use a probe batch of the test split (Azorin et al. 2023: 2,048 test images); LI uses test
losses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from .._common.io import atomic_write, write_json
from .._common.progress import track
from .._common.validation import check_choice, check_positive_int
from ..data.matrix import TaskMatrix
from ..data.taskset import TaskSet, TaskSetSplit
from ..train.callbacks import Callback
from ._models import split_and_tasks
from .alignment import ALIGNMENT_SCORES, alignment_affinity
from .attribution import input_attribution_similarity
from .gradients import GradientSimilarityMonitor, GradientTransferenceMonitor
from .label_injection import (
    evaluate_task_loss,
    label_injected_taskset,
    label_injection,
)
from .representation import representation_similarity
from .taxonomy import Tree, taxonomical_distance, tree_distances

AFFINITY_SCORES: tuple[str, ...] = ("gs", "gt", "rsa", "ias", "li", "td", "alignment")
_STL_SCORES = ("rsa", "ias", "li")


class AffinityMonitorCallback(Callback):
    """Run a GS or GT monitor as a :class:`tasklens.train.Callback`.

    The trainer's hooks do not expose the training batch before the optimizer step, so the
    monitor reads a fixed ``batch`` (a probe of the training data): at the end of each
    epoch (default; 002 averages one value per epoch) or after every ``every_steps``-th
    optimisation step. GT's lookahead uses the trainer's optimizer (its current learning
    rate; with ``rule="optimizer"`` also its momentum state).

    Parameters
    ----------
    monitor : GradientSimilarityMonitor or GradientTransferenceMonitor
    batch : (x, {task: y})
    every_steps : int, optional
    """

    def __init__(self, monitor: Any, batch: Any, *, every_steps: int | None = None) -> None:
        if not isinstance(monitor, (GradientSimilarityMonitor, GradientTransferenceMonitor)):
            raise TypeError("monitor must be a GradientSimilarityMonitor or a "
                            f"GradientTransferenceMonitor, got {type(monitor).__name__}")
        self.monitor = monitor
        self.batch = batch
        self.every_steps = None if every_steps is None else check_positive_int(
            every_steps, "every_steps")

    def _record(self, trainer: Any) -> None:
        if isinstance(self.monitor, GradientTransferenceMonitor):
            self.monitor.update(trainer.model, self.batch, optimizer=trainer.optimizer)
        else:
            self.monitor.update(trainer.model, self.batch)

    def on_fit_start(self, trainer: Any) -> None:
        if not trainer.history and trainer.step == 0:
            self.monitor.reset()

    def on_step_end(self, trainer: Any, row: dict[str, Any]) -> None:
        if self.every_steps is not None and (trainer.step + 1) % self.every_steps == 0:
            self._record(trainer)

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        if self.every_steps is None:
            self._record(trainer)


@dataclass(frozen=True)
class AffinityReport:
    """Scores computed by :func:`compute_affinities`.

    Attributes
    ----------
    scores : dict {key: TaskMatrix}
    settings : dict
        Everything that produced them (tasks, epochs, seed, model sizes, optimiser, …).
    timings : dict {step: seconds}
    epochs_used : int
        Total training epochs spent (epochs × models trained).
    stl_models : dict {task: model}
        The trained single-task models (not saved), for reuse in a later call.
    version : str
    """

    scores: dict[str, TaskMatrix]
    settings: dict[str, Any]
    timings: dict[str, float]
    epochs_used: int
    stl_models: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    version: str = __version__

    def __getitem__(self, key: str) -> TaskMatrix:
        return self.scores[key]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict; every matrix in :meth:`TaskMatrix.to_dict` layout."""
        return {"scores": {k: m.to_dict() for k, m in self.scores.items()},
                "settings": dict(self.settings), "timings": dict(self.timings),
                "epochs_used": self.epochs_used, "version": self.version}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AffinityReport:
        """Inverse of :meth:`to_dict` (the trained ``stl_models`` are not stored)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("scores"), Mapping):
            raise ValueError("an AffinityReport dict needs a 'scores' mapping {key: matrix}; "
                             "pass the content of affinities.json written by save()")
        try:
            scores = {key: TaskMatrix(np.asarray(m["values"], dtype=np.float64),
                                      tuple(m["task_names"]), m.get("name", ""),
                                      bool(m.get("higher_is_better", True)))
                      for key, m in data["scores"].items()}
        except (KeyError, TypeError) as exc:
            raise ValueError(f"a score matrix lacks 'values' or 'task_names' ({exc}); "
                             "expected the TaskMatrix.to_dict() layout") from None
        return cls(scores=scores, settings=dict(data.get("settings", {})),
                   timings={k: float(v) for k, v in data.get("timings", {}).items()},
                   epochs_used=int(data.get("epochs_used", 0)),
                   version=str(data.get("version", "")))

    @classmethod
    def load(cls, path: str | Path) -> AffinityReport:
        """Read what :meth:`save` wrote: ``path`` is its folder or its ``affinities.json``.

        Raises
        ------
        FileNotFoundError
            When there is no ``affinities.json`` at ``path``.
        ValueError
            When the file is not in the :meth:`to_dict` layout.
        """
        p = Path(path)
        if p.is_dir():
            p = p / "affinities.json"
        if not p.is_file():
            raise FileNotFoundError(f"no affinities.json at {path}; pass the folder given to "
                                    "AffinityReport.save() or compute_affinities(out_dir=)")
        with open(p, encoding="utf-8") as handle:
            return cls.from_dict(json.load(handle))

    def save(self, out_dir: str | Path) -> Path:
        """``affinities.json`` (everything) plus ``<key>.json`` and ``<key>.csv`` per score,
        each JSON with the settings; written atomically."""
        out = Path(out_dir)
        write_json(out / "affinities.json", self.to_dict())
        for key, matrix in self.scores.items():
            write_json(out / f"{key}.json", {"score": key, "matrix": matrix.to_dict(),
                                             "settings": dict(self.settings),
                                             "version": self.version})
            with atomic_write(out / f"{key}.csv") as handle:
                matrix.to_frame().to_csv(handle)
        return out


def _check_scores(scores: Any) -> list[str]:
    if isinstance(scores, str):
        scores = (scores,)
    keys = [check_choice(s, "score", AFFINITY_SCORES) for s in scores]
    if not keys:
        raise ValueError(f"scores is empty; choose some of {AFFINITY_SCORES}")
    if len(set(keys)) != len(keys):
        raise ValueError(f"scores contains duplicates: {keys}")
    return keys


def _probe(ts: TaskSet, size: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The first ``size`` samples as one batch (deterministic)."""
    return next(iter(ts.dataloader(min(size, len(ts)), shuffle=False)))


def compute_affinities(
    taskset: TaskSet | TaskSetSplit,
    scores: Sequence[str] = AFFINITY_SCORES,
    *,
    tasks: Sequence[str] | None = None,
    epochs: int = 2,
    seed: int = 0,
    tree: Tree | None = None,
    out_dir: str | Path | None = None,
    progress: bool | None = None,
    lr: float = 1e-3,
    batch_size: int = 64,
    optimizer: str = "adam",
    hidden: Sequence[int] = (64,),
    code_dim: int = 32,
    head_hidden: int = 32,
    head_depth: int = 1,
    test_size: float = 0.2,
    probe_size: int = 512,
    alignment_score: str = "overlap",
    gt_rule: str = "sgd",
    gradient_every_steps: int | None = None,
    stl_models: Mapping[str, Any] | None = None,
) -> AffinityReport:
    """Compute the requested affinity scores, training the models they need once.

    Parameters
    ----------
    taskset : TaskSet or TaskSetSplit
        A TaskSet is split (``test_size``, ``seed``) into train and test.
    scores : sequence of {"gs", "gt", "rsa", "ias", "li", "td", "alignment"}
    tasks : sequence of str, optional
        K >= 2 tasks (default: all).
    epochs : int
        Training budget of each model (K STL, K(K−1) label-injected, one MTL).
    seed : int
        Split, initialisation and data order of every model.
    tree : Newick string or nested mapping, optional
        The task taxonomy for ``td``; it must contain every task.
    out_dir : path, optional
        Save the report there (:meth:`AffinityReport.save`).
    progress : bool, optional
        A progress bar over the steps (default: only on a terminal).
    lr, batch_size, optimizer : training settings
    hidden, code_dim, head_hidden, head_depth : model sizes (:func:`tasklens.nn.hps_for`)
    test_size : float
    probe_size : int
        Samples of the probe batches (GS/GT on training data; IAS/RSA on test data).
    alignment_score : str
        Which training-free score ``alignment`` is (see :func:`alignment_affinity`).
    gt_rule : {"sgd", "optimizer"}
        GT lookahead rule (see :func:`tasklens.affinity.gradient_transference`).
    gradient_every_steps : int, optional
        Record GS/GT every that many steps instead of once per epoch.
    stl_models : mapping {task: model}, optional
        Trained single-task models to reuse (e.g. ``report.stl_models`` of an earlier
        call with the same split and seed); missing tasks are trained.

    Returns
    -------
    AffinityReport
    """
    from ..nn import hps_for
    from ..train import Trainer

    keys = _check_scores(scores)
    epochs = check_positive_int(epochs, "epochs")
    seed = check_positive_int(seed, "seed", minimum=0)
    probe_size = check_positive_int(probe_size, "probe_size", minimum=3)
    check_choice(alignment_score, "alignment_score", ALIGNMENT_SCORES)
    split, names = split_and_tasks(taskset, tasks, test_size, seed)
    _check_tasks_and_tree(names, keys, tree)
    train, test = split.train.select(names), split.test.select(names)
    model_kw = {"hidden": tuple(hidden), "code_dim": code_dim, "head_hidden": head_hidden,
                "head_depth": head_depth}
    train_kw = {"optimizer": optimizer, "lr": lr, "batch_size": batch_size, "seed": seed,
                "progress": False}
    settings = {"scores": keys, "tasks": names, "epochs": epochs, "seed": seed,
                "taskset": split.train.name, "n_train": len(train), "n_test": len(test),
                "probe_size": probe_size, "alignment_score": alignment_score,
                "gt_rule": gt_rule, "gradient_every_steps": gradient_every_steps,
                "method": "ew", **model_kw, "hidden": list(hidden),
                **{k: v for k, v in train_kw.items() if k != "progress"},
                "tree": tree if isinstance(tree, str) else None}
    trained = {"models": 0}

    def fit(ts: TaskSet, callbacks: Sequence[Any] = ()) -> Any:
        model = hps_for(ts, seed=seed, **model_kw)
        Trainer(model, ts, "ew", callbacks=callbacks, **train_kw).fit(epochs)
        trained["models"] += 1
        return model

    stl: dict[str, Any] = dict(stl_models or {})
    out_scores: dict[str, TaskMatrix] = {}
    plan = _training_free_steps(keys, names, train, tree, alignment_score, out_scores)
    if any(k in keys for k in _STL_SCORES):
        for t in names:
            if t not in stl:
                plan.append((f"STL {t}", lambda t=t: stl.__setitem__(t, fit(train.select([t])))))
    test_probe = _probe(test, probe_size)
    if "ias" in keys:
        plan.append(("ias", lambda: out_scores.__setitem__(
            "ias", input_attribution_similarity(stl, test, test_probe))))
    if "rsa" in keys:
        plan.append(("rsa", lambda: out_scores.__setitem__(
            "rsa", representation_similarity(stl, test_probe[0]))))
    if "li" in keys:
        plan += _label_injection_steps(names, train, test, stl, fit, out_scores)
    if "gs" in keys or "gt" in keys:
        plan.append(("MTL (gs/gt)", _gradient_step(keys, train, _probe(train, probe_size),
                                                   gt_rule, gradient_every_steps, fit,
                                                   out_scores)))
    timings: dict[str, float] = {}
    for label, step in track(plan, "affinities", total=len(plan), enabled=progress):
        started = time.perf_counter()
        step()
        timings[label] = time.perf_counter() - started
    report = AffinityReport(
        scores={k: out_scores[k] for k in keys}, settings=settings, timings=timings,
        epochs_used=trained["models"] * epochs, stl_models=stl)
    if out_dir is not None:
        report.save(out_dir)
    return report


def _check_tasks_and_tree(names: list[str], keys: list[str], tree: Tree | None) -> None:
    """K >= 2 distinct tasks, and a tree holding every task when ``td`` is asked for (checked
    before any training)."""
    if len(set(names)) != len(names):
        raise ValueError(f"tasks contains duplicates: {names}")
    if len(names) < 2:
        raise ValueError(f"an affinity needs at least 2 tasks, got {names}")
    if "td" in keys:
        if tree is None:
            raise ValueError("the 'td' score needs tree= (a Newick string or nested mapping "
                             "whose leaves are the tasks)")
        leaves = tree_distances(tree).task_names
        missing = [t for t in names if t not in leaves]
        if missing:
            raise ValueError(f"the tree lacks task(s) {missing}; its leaves are "
                             f"{list(leaves)}. Add them to the tree or drop 'td'")


Step = tuple[str, Callable[[], None]]


def _training_free_steps(keys: list[str], names: list[str], train: TaskSet, tree: Tree | None,
                         alignment_score: str, out: dict[str, TaskMatrix]) -> list[Step]:
    steps: list[Step] = []
    if "td" in keys:
        steps.append(("td", lambda: out.__setitem__(
            "td", taxonomical_distance(tree, names))))  # type: ignore[arg-type]
    if "alignment" in keys:
        steps.append(("alignment", lambda: out.__setitem__(
            "alignment", alignment_affinity(train, score=alignment_score))))
    return steps


def _label_injection_steps(names: list[str], train: TaskSet, test: TaskSet,
                           stl: dict[str, Any], fit: Callable[..., Any],
                           out: dict[str, TaskMatrix]) -> list[Step]:
    """K(K−1) label-injected models, then the LI score from them and the STL models."""
    injected: dict[tuple[str, str], float] = {}

    def li_pair(a: str, b: str) -> None:
        model = fit(label_injected_taskset(train, a, b))
        injected[(a, b)] = evaluate_task_loss(model, label_injected_taskset(test, a, b), a)

    steps: list[Step] = [(f"LI {a}<-{b}", lambda a=a, b=b: li_pair(a, b))
                         for a in names for b in names if a != b]

    def li_score() -> None:
        base = {t: evaluate_task_loss(stl[t], test.select([t]), t) for t in names}
        out["li"] = label_injection(base, injected, names)

    steps.append(("li", li_score))
    return steps


def _gradient_step(keys: list[str], train: TaskSet, train_probe: Any, gt_rule: str,
                   every_steps: int | None, fit: Callable[..., Any],
                   out: dict[str, TaskMatrix]) -> Callable[[], None]:
    """One MTL model trained with the GS / GT monitors attached."""

    def mtl() -> None:
        monitors = {}
        if "gs" in keys:
            monitors["gs"] = GradientSimilarityMonitor(train)
        if "gt" in keys:
            monitors["gt"] = GradientTransferenceMonitor(train, rule=gt_rule)
        fit(train, [AffinityMonitorCallback(m, train_probe, every_steps=every_steps)
                    for m in monitors.values()])
        for key, monitor in monitors.items():
            out[key] = monitor.result()

    return mtl
