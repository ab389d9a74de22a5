"""Training helpers of the analysis: one HPS model on some tasks, its test metrics, and its
weights saved to / loaded from the stage folder (``torch.load(weights_only=True)``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._common.io import atomic_write
from ..data.taskset import TaskSet, TaskSetSplit
from ..train.callbacks import Callback
from .settings import (
    CORE_MTL,
    AnalysisSettings,
    image_model_for,
    image_shape_of,
)


class StepLossRecorder(Callback):
    """Keeps every step's training loss per task (the trainer's history is per epoch)."""

    def __init__(self, task_names: Sequence[str]) -> None:
        self.task_names = list(task_names)
        self.steps: list[int] = []
        self.losses: dict[str, list[float]] = {t: [] for t in self.task_names}

    def on_step_end(self, trainer: Any, row: dict[str, Any]) -> None:
        self.steps.append(int(row["step"]))
        for t in self.task_names:
            self.losses[t].append(float(row[f"train/loss/{t}"]))


def builder(settings: AnalysisSettings, method: str, input_shape: tuple[int, ...],
            info: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """The model builder of a training and its keyword arguments (besides the task set
    and the seed): :func:`tasklens.nn.hps_for` for every balancing method,
    :func:`tasklens.nn.dual_stream_for` (soft grounding) for :data:`CORE_MTL`.

    On image data under ``image_model="conv"`` the keywords hold ``input_shape=(C, H, W)``
    and ``image_encoder``: the model is built for images (:func:`build_model` then puts a
    :class:`tasklens.nn.FlatImageEncoder` front on it when the loader flattened them).
    """
    common: dict[str, Any] = {"hidden": list(settings.hidden),
                              "head_hidden": settings.head_hidden,
                              "head_depth": settings.head_depth}
    shape = tuple(input_shape)
    if image_model_for(settings, shape, info) == "conv":
        shape = image_shape_of(shape, info)  # type: ignore[assignment]
        common.update(input_shape=shape, image_encoder=settings.image_encoder)
    if method != CORE_MTL:
        return "hps_for", {**common, "code_dim": settings.code_dim}
    # the same encoder and z size as HPS for the heads, plus a residual stream; flat inputs
    # get the MLP decoder mirroring ``hidden``, images a light conv decoder (8–32 channels)
    # when square with a power-of-two side, else the MLP decoder reshaped to the image
    out = {**common, "feature_dim": settings.code_dim, "semantic_dim": settings.code_dim,
           "residual_dim": max(4, settings.code_dim // 4), "grounding": "soft"}
    if len(shape) == 3:
        side = int(shape[-1])
        if shape[1] == side and side >= 4 and side & (side - 1) == 0:
            out["decoder_channels"] = [max(8, 32 >> i) for i in range(int(math.log2(side)))]
        else:  # ConvDecoder renders square power-of-two images only (e.g. not 36×36)
            out["soft_decoder"] = "mlp"
    return "dual_stream_for", out


def build_model(train: TaskSet, settings: AnalysisSettings, seed: int,
                method: str = "ew") -> Any:
    """The model of a training: HPS (same sizes everywhere) or, for :data:`CORE_MTL`,
    the dual-stream model of :func:`builder`.

    A model built for images that the loader flattened reads the flat rows through a
    :class:`tasklens.nn.FlatImageEncoder` front (a reshape, no parameters), and CORE-MTL's
    image decoder is followed by a flatten, so that its reconstruction matches the rows.
    The parameters, their initialisation and every computed value are those of the same
    model on the images themselves.
    """
    from torch import nn

    from .. import nn as tnn

    name, kwargs = builder(settings, method, train.input_shape, train.info)
    model = getattr(tnn, name)(train, seed=seed, **kwargs)
    shape = kwargs.get("input_shape")
    if shape is None or tuple(train.input_shape) == tuple(shape):
        return model
    if name == "hps_for":
        model.encoder = tnn.FlatImageEncoder(model.encoder, shape)
    else:
        model.backbone = tnn.FlatImageEncoder(model.backbone, shape)
        model.decoder = nn.Sequential(model.decoder, nn.Flatten(1))
    return model


#: key prefixes of the flat-input fronts of :func:`build_model` → those of the image model
_FRONT_PREFIXES: tuple[tuple[str, str], ...] = (("encoder.encoder.", "encoder."),
                                                 ("backbone.encoder.", "backbone."),
                                                 ("decoder.0.", "decoder."))


def image_state_dict(state: Mapping[str, Any]) -> dict[str, Any]:
    """The ``state_dict`` of a model of :func:`build_model` with its flat-input fronts
    removed: the weights of the same model built for images (``builder``'s keywords,
    ``input_shape=(C, H, W)``), which reads ``(N, C, H, W)`` tensors."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        for old, new in _FRONT_PREFIXES:
            if key.startswith(old):
                key = new + key[len(old):]
                break
        out[key] = value
    return out


def fit(split: TaskSetSplit, tasks: Sequence[str], seed: int, settings: AnalysisSettings, *,
        method: str = "ew", callbacks: Sequence[Callback] = (), monitor_every: int = 0,
        progress: bool | None = False) -> tuple[Any, dict[str, dict[str, float]], Any]:
    """Train one HPS model on ``tasks``; returns ``(model, test metrics, TrainResult)``.

    ``settings.epochs`` epochs, stopped after ``settings.max_steps`` optimizer steps (inside
    an epoch if need be): :meth:`AnalysisSettings.steps_for` steps in all.

    Test metrics are ``{task: {metric: value, ..., "loss": value}}``
    (:func:`tasklens.train.evaluate`).
    """
    from ..train import Trainer, evaluate

    names = list(tasks)
    train, test = split.train.select(names), split.test.select(names)
    model = build_model(train, settings, seed, method)
    # CORE-MTL trains its task losses under EW (plus eq. 16's terms, added by the model)
    balancer = "ew" if method == CORE_MTL else method
    result = Trainer(model, train, balancer, lr=settings.lr, batch_size=settings.batch_size,
                     seed=seed, callbacks=callbacks, monitor_every=monitor_every,
                     progress=progress).fit(settings.epochs, max_steps=settings.max_steps)
    return model, evaluate(model, test), result


def save_model(model: Any, path: Path) -> Path:
    """Write the model's ``state_dict`` atomically."""
    import torch

    with atomic_write(path, "wb") as handle:
        torch.save(model.state_dict(), handle)
    return path


def load_model(path: Path, split: TaskSetSplit, tasks: Sequence[str],
               settings: AnalysisSettings, seed: int, method: str = "ew") -> Any:
    """Rebuild the model of :func:`fit` and load its saved weights (no unpickling)."""
    import torch

    model = build_model(split.train.select(list(tasks)), settings, seed, method)
    model.load_state_dict(torch.load(path, weights_only=True))
    model.eval()
    return model


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error ``std(ddof=1)/sqrt(n)`` (NaN with fewer than two values)."""
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    se = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else math.nan
    return float(arr.mean()), se


def relative_gain(mtl: float, stl: float, higher_is_better: bool) -> float:
    """Signed relative change in percent, positive = multi-task better (Δm's term)."""
    if stl == 0 or not (math.isfinite(mtl) and math.isfinite(stl)):
        return math.nan
    sign = 1.0 if higher_is_better else -1.0
    return 100.0 * sign * (mtl - stl) / abs(stl)
