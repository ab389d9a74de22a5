"""The analyses of CORE-MTL's factorisation (Wu et al. 2026 Section 4.4) as library functions.

Wu, Zou, Wu and Wang (2026), "CORE-MTL: Rethinking Gradient Balancing via Causal
Orthogonal Representations", arXiv:2606.02221.

- :func:`stability_under_intervention` — Table 3 / Fig. 3: how far the semantic and the
  residual codes move under an intervention on the nuisance, ``ΔZ_s``, ``ΔZ_r`` and the
  robustness ratio ``ΔZ_r / ΔZ_s``; intra-domain (residual shuffling through the decoder)
  and cross-domain (paired source/target inputs);
- :func:`gradient_cosines` and :class:`GradientCosineRecorder` — Fig. 4-5: cosine of each
  task's gradient with the reconstruction gradient at the last shared layer, and the
  task × task cosine matrix, once or over training;
- :func:`counterfactual_grid` — Fig. 2: ``D(z_s(x_i), z_r(x'_j))`` for every pair;
- :func:`reconstructions` — ``D(z_s(x), z_r(x))``, the grounding decoder's reconstructions;
- :func:`stream_probe` — not in Wu et al. 2026: how well a linear probe reads a factor (a nuisance
  such as colour) from each stream, the direct test of where the shortcut lives.

The paper does not define ``ΔZ``; the decisions here: the shift of a stream is the mean
Euclidean distance of the codes, divided by the stream's spread (root mean squared
distance of its codes to their mean on the reference inputs), so the two streams — whose
scales are arbitrary — are comparable and a ratio above 1 means the residual moved more,
relative to its own spread, than the semantic stream.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .._common.validation import check_choice, check_positive_int, check_seed
from ..data.taskset import TaskSet
from ..nn.dual_stream import DualStreamModel
from ..nn.losses import task_losses
from ..train.callbacks import Callback

REFERENCES: tuple[str, ...] = ("reconstruction", "input")


def _check_model(model: Any) -> DualStreamModel:
    if not isinstance(model, DualStreamModel):
        raise TypeError(f"model must be a DualStreamModel (tasklens.nn.dual_stream_for), got "
                        f"{type(model).__name__}")
    return model


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode (no dropout draws, no BatchNorm updates), the previous mode restored."""
    was = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was)


def _as_tensor(x: Any, model: nn.Module) -> torch.Tensor:
    p = next(model.parameters())
    if isinstance(x, TaskSet):
        x = x.inputs
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x,
                           dtype=p.dtype, device=p.device)


def _relative_shift(before: torch.Tensor, after: torch.Tensor) -> float:
    spread = torch.sqrt(((before - before.mean(0)) ** 2).sum(1).mean())
    shift = (after - before).norm(dim=1).mean()
    return float(shift / spread.clamp_min(torch.finfo(before.dtype).tiny))


@dataclass(frozen=True)
class StabilityRow:
    """One setting of Table 3: relative shifts of the two streams and their ratio."""

    setting: str
    delta_semantic: float
    delta_residual: float
    ratio: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"setting": self.setting, "delta_semantic": self.delta_semantic,
                "delta_residual": self.delta_residual, "ratio": self.ratio, "n": self.n}


@dataclass(frozen=True)
class StabilityResult:
    """Table 3 of Wu et al. 2026: ``rows`` (intra-domain, and cross-domain when a target was
    given)."""

    rows: tuple[StabilityRow, ...]
    reference: str
    seed: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [r.to_dict() for r in self.rows], "reference": self.reference,
                "seed": self.seed}

    def row(self, setting: str) -> StabilityRow:
        for r in self.rows:
            if r.setting == setting:
                return r
        raise KeyError(f"no setting {setting!r}; have {[r.setting for r in self.rows]}")


@torch.no_grad()
def stability_under_intervention(model: DualStreamModel, source: Any, target: Any = None, *,
                                 reference: str = "reconstruction",
                                 seed: int | np.random.Generator | None = 0
                                 ) -> StabilityResult:
    """``ΔZ_s``, ``ΔZ_r`` and ``ΔZ_r / ΔZ_s`` under nuisance interventions (Wu et al. 2026 Table 3).

    - intra-domain: ``x̃ = D(z_s, z_r[π])`` for a random permutation ``π`` of the source
      inputs, re-encoded; the shifts compare the codes of ``x̃`` with those of the
      reference (below). An ideal factorisation keeps ``z_s`` and moves ``z_r``;
    - cross-domain (``target`` given): the codes of paired inputs — ``target[i]`` shows
      the content of ``source[i]`` under another nuisance (e.g. ``colored_digits`` or
      ``shaded_shapes`` built with the same seed in the two domains).

    Parameters
    ----------
    model : DualStreamModel
        Evaluated in eval mode (no dropout, BatchNorm on running statistics).
    source : TaskSet, array or tensor (N, ...)
    target : TaskSet, array or tensor (N, ...), optional
        Paired with ``source`` row by row.
    reference : {"reconstruction", "input"}
        Intra-domain reference codes: those of the re-encoded reconstruction
        ``D(z_s, z_r)`` (default: the decoder's own error cancels, only the swap counts)
        or those of the input itself.
    seed : int, numpy Generator or None
        For ``π``.
    """
    model = _check_model(model)
    check_choice(reference, "reference", REFERENCES)
    x = _as_tensor(source, model)
    if len(x) < 2:
        raise ValueError("source needs at least 2 inputs")
    rng = check_seed(seed)
    rows = []
    with _eval_mode(model):
        z_s, z_r = model.encode_streams(x)
        if reference == "reconstruction":
            ref_s, ref_r = model.encode_streams(model.reconstruct(z_s, z_r))
        else:
            ref_s, ref_r = z_s, z_r
        perm = torch.as_tensor(rng.permutation(len(x)), device=x.device)
        cf_s, cf_r = model.encode_streams(model.reconstruct(z_s, z_r[perm]))
        rows.append(_row("intra-domain", ref_s, ref_r, cf_s, cf_r))
        if target is not None:
            xt = _as_tensor(target, model)
            if xt.shape != x.shape:
                raise ValueError(f"target must pair with source row by row: shapes "
                                 f"{tuple(xt.shape)} and {tuple(x.shape)}")
            t_s, t_r = model.encode_streams(xt)
            rows.append(_row("cross-domain", z_s, z_r, t_s, t_r))
    return StabilityResult(tuple(rows), reference,
                           seed if isinstance(seed, (int, np.integer)) else None)


def _row(setting: str, s0: torch.Tensor, r0: torch.Tensor, s1: torch.Tensor,
         r1: torch.Tensor) -> StabilityRow:
    ds, dr = _relative_shift(s0, s1), _relative_shift(r0, r1)
    ratio = dr / ds if ds > 0 else float("inf")
    return StabilityRow(setting, ds, dr, ratio, len(s0))


# ---------------------------------------------------------------------------- gradients
def last_shared_layer(model: DualStreamModel) -> nn.Module:
    """The last module of the backbone that holds parameters (Wu et al. 2026 Fig. 4: "the last
    shared encoder layer", before the semantic/residual projectors)."""
    layers = [m for m in _check_model(model).backbone.modules()
              if any(True for _ in m.parameters(recurse=False))]
    if not layers:
        raise ValueError("the backbone has no parameters; pass layer=")
    return layers[-1]


@dataclass(frozen=True)
class GradientCosines:
    """Cosines of gradients at one layer (Wu et al. 2026 Fig. 4-5).

    Attributes
    ----------
    tasks : tuple of str
    task_vs_reconstruction : (K,) array
        ``cos(∇L_t, ∇L_rec)`` per task.
    task_task : (K, K) array
        ``cos(∇L_t, ∇L_u)``.
    step : int or None
    """

    tasks: tuple[str, ...]
    task_vs_reconstruction: np.ndarray
    task_task: np.ndarray
    step: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"tasks": list(self.tasks), "step": self.step,
                "task_vs_reconstruction": self.task_vs_reconstruction.tolist(),
                "task_task": self.task_task.tolist()}


def gradient_cosines(model: DualStreamModel, x: torch.Tensor, targets: dict[str, torch.Tensor],
                     tasks: Any, *, layer: nn.Module | None = None,
                     step: int | None = None) -> GradientCosines:
    """Gradient cosines at ``layer`` on one batch (Wu et al. 2026 Fig. 4-5).

    Gradients of each task loss and of the reconstruction loss ``L_rec`` (eq. 15, or 14
    with the physics decoder) with respect to the parameters of ``layer`` (default:
    :func:`last_shared_layer`), in eval mode (no dropout draw, no BatchNorm update, so a
    measurement during training does not change the run). A zero gradient gives cosine 0.
    """
    model = _check_model(model)
    layer = last_shared_layer(model) if layer is None else layer
    params = [p for p in layer.parameters() if p.requires_grad]
    if not params:
        raise ValueError("layer has no trainable parameters")
    with _eval_mode(model), torch.enable_grad():
        z_s, z_r = model.encode_streams(x)
        losses = task_losses(tasks, model.decode(z_s), targets)
        rec = model._reconstruction_loss(x, model.reconstruct(z_s, z_r))
        rows = []
        for loss in [*losses, rec]:
            grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            rows.append(torch.cat([(torch.zeros_like(p) if g is None else g).flatten()
                                   for g, p in zip(grads, params)]))
    g = torch.stack(rows).detach().to(torch.float64)
    norms = g.norm(dim=1)
    unit = g / torch.where(norms > 0, norms, torch.ones_like(norms))[:, None]
    cos = (unit @ unit.T).clamp(-1.0, 1.0).cpu().numpy()
    names = tuple(model.task_names)
    return GradientCosines(names, cos[:-1, -1].copy(), cos[:-1, :-1].copy(), step)


@dataclass
class GradientCosineRecorder(Callback):
    """A :class:`~tasklens.train.Trainer` callback recording :func:`gradient_cosines` on the
    step's batch every ``every`` steps (Wu et al. 2026 Fig. 4 over training).

    Measured in eval mode and without touching the optimiser, so the run is unchanged.
    ``history`` holds one :class:`GradientCosines` per measurement.
    """

    every: int = 10
    layer: nn.Module | None = None
    history: list[GradientCosines] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.every = check_positive_int(self.every, "every")

    def on_step_start(self, trainer: Any, x: Any, y: dict[str, Any]) -> None:
        if trainer.step % self.every == 0:
            self.history.append(gradient_cosines(trainer.model, x, y, trainer.taskset,
                                                 layer=self.layer, step=trainer.step))

    def steps(self) -> np.ndarray:
        return np.array([h.step for h in self.history])

    def task_vs_reconstruction(self) -> np.ndarray:
        """(M, K) cosines over the recorded steps."""
        return np.stack([h.task_vs_reconstruction for h in self.history])


# ---------------------------------------------------------------------------- swapping
@torch.no_grad()
def counterfactual_grid(model: DualStreamModel, content: Any, style: Any) -> np.ndarray:
    """``D(z_s(content_i), z_r(style_j))`` for every pair (Wu et al. 2026 Fig. 2), in eval mode.

    Parameters
    ----------
    content : (n1, ...) inputs (array, tensor or TaskSet)
        Supply the semantic stream (rows).
    style : (n2, ...) inputs
        Supply the residual stream (columns).

    Returns
    -------
    grid : (n1, n2, ...) array
        Decoded inputs, float64.
    """
    model = _check_model(model)
    xc, xs = _as_tensor(content, model), _as_tensor(style, model)
    if xc.shape[1:] != xs.shape[1:]:
        raise ValueError(f"content and style inputs differ in shape: {tuple(xc.shape[1:])} "
                         f"and {tuple(xs.shape[1:])}")
    with _eval_mode(model):
        z_s, _ = model.encode_streams(xc)
        _, z_r = model.encode_streams(xs)
        n1, n2 = len(z_s), len(z_r)
        out = model.reconstruct(z_s.repeat_interleave(n2, 0), z_r.repeat(n1, 1))
    return out.reshape(n1, n2, *out.shape[1:]).cpu().to(torch.float64).numpy()


@torch.no_grad()
def reconstructions(model: DualStreamModel, inputs: Any) -> np.ndarray:
    """``D(z_s(x), z_r(x))``: the grounding decoder's reconstruction of each input, in eval
    mode (the diagonal of :func:`counterfactual_grid` of ``inputs`` with itself).

    Parameters
    ----------
    inputs : (n, ...) inputs (array, tensor or TaskSet)

    Returns
    -------
    (n, ...) array, float64 — draw with
    :func:`tasklens.report.image_figures.plot_reconstructions`.
    """
    model = _check_model(model)
    x = _as_tensor(inputs, model)
    with _eval_mode(model):
        out = model.reconstruct(*model.encode_streams(x))
    return out.cpu().to(torch.float64).numpy()


def paired_batches(taskset: TaskSet, indices: Sequence[int]) -> tuple[torch.Tensor, dict]:
    """Inputs and targets of ``indices`` as tensors (a batch for :func:`gradient_cosines`)."""
    idx = np.asarray(indices, dtype=np.int64)
    x = torch.as_tensor(taskset.inputs[idx])
    y = {n: torch.as_tensor(t.targets[idx]) for n, t in taskset.tasks.items()}
    return x, y


# ---------------------------------------------------------------------------- probes
@dataclass(frozen=True)
class StreamProbe:
    """Held-out accuracy of a linear probe of one factor from each stream.

    Attributes
    ----------
    factor : str
    semantic, residual : float
        Accuracy from ``z_s`` and from ``z_r`` (second half of the samples, probe fitted
        on the first half).
    chance : float
        The accuracy of predicting the most frequent level of the training half.
    n : int
    """

    factor: str
    semantic: float
    residual: float
    chance: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"factor": self.factor, "semantic": self.semantic, "residual": self.residual,
                "chance": self.chance, "n": self.n}


@torch.no_grad()
def stream_probe(model: DualStreamModel, taskset: TaskSet, factor: str, *,
                 seed: int | np.random.Generator | None = 0,
                 max_iter: int = 2000) -> StreamProbe:
    """Linear-probe accuracy of ``factor`` (a ground-truth factor of ``taskset``) from each
    stream, in eval mode. Use a task set where the factor is independent of the tasks
    (e.g. ``shaded_shapes(shortcut=0)``) to see where a training shortcut ended up.

    The samples are shuffled (``seed``) and split in halves: multinomial logistic
    regression (scikit-learn, L2, C = 1) on standardised codes of the first half, accuracy
    on the second.
    """
    model = _check_model(model)
    if taskset.factors is None or factor not in taskset.factors.names:
        have = None if taskset.factors is None else list(taskset.factors.names)
        raise ValueError(f"factor {factor!r} is not a factor of the task set (factors: "
                         f"{have})")
    labels = taskset.factors.codes()[:, list(taskset.factors.names).index(factor)]
    if len(labels) < 4:
        raise ValueError("stream_probe needs at least 4 samples")
    from sklearn.linear_model import LogisticRegression

    with _eval_mode(model):
        z_s, z_r = model.encode_streams(_as_tensor(taskset, model))
    order = check_seed(seed).permutation(len(labels))
    train, test = order[: len(order) // 2], order[len(order) // 2:]
    scores = []
    for z in (z_s, z_r):
        z = z.detach().cpu().to(torch.float64).numpy()
        mu, sd = z[train].mean(0), z[train].std(0)
        z = (z - mu) / np.where(sd > 0, sd, 1.0)
        if len(np.unique(labels[train])) < 2:
            scores.append(float(np.mean(labels[test] == labels[train][0])))
            continue
        clf = LogisticRegression(max_iter=max_iter).fit(z[train], labels[train])
        scores.append(float(clf.score(z[test], labels[test])))
    values, counts = np.unique(labels[train], return_counts=True)
    chance = float(np.mean(labels[test] == values[np.argmax(counts)]))
    return StreamProbe(factor, scores[0], scores[1], chance, len(test))
