"""Figures of task sets: a labelled grid of sample images, or target distributions."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._common.io import write_atomic_with
from .style import display_layout

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..data import TaskSet


def _pyplot() -> Any:
    import matplotlib

    if os.environ.get("MPLBACKEND") is None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 120) -> Path:
    """Save ``fig`` atomically (temp file + rename) and close it."""
    plt = _pyplot()
    try:
        return write_atomic_with(path, lambda tmp: fig.savefig(tmp, dpi=dpi, bbox_inches="tight"))
    finally:
        plt.close(fig)


def image_view(taskset: TaskSet) -> np.ndarray | None:
    """Inputs as displayable images ``(N, H, W)`` or ``(N, H, W, 3)``, or None if not images.

    Uses ``info["image_shape"]`` when a generator recorded it; otherwise (C, H, W) inputs
    with C in {1, 3}, or flat inputs whose length is a perfect square.
    """
    x = taskset.inputs
    shape = taskset.info.get("image_shape")
    if shape is not None:
        x = x.reshape((len(x), *tuple(shape)))
    elif x.ndim == 2 and math.isqrt(x.shape[1]) < 4:  # too small to be worth showing
        return None
    return display_layout(x)


def _label(taskset: TaskSet, i: int, max_tasks: int = 3) -> str:
    parts = []
    for t in list(taskset.tasks.values())[:max_tasks]:
        y = t.targets[i]
        if t.classes is not None:
            label = t.classes[int(y)]
            parts.append(f"{t.name}={_class_text(label)}")
        elif np.ndim(y) == 0:
            parts.append(f"{t.name}={float(y):.2g}")
        else:
            parts.append(f"{t.name}=[{len(y)}]")
    return "\n".join(parts)


def _class_text(label: object) -> str:
    """``1.0`` → ``"1"``; other floats to 3 digits; anything else ``str``."""
    if isinstance(label, float | np.floating):
        return str(int(label)) if float(label).is_integer() else f"{label:.3g}"
    return str(label)


def _class_counts(task: Any) -> tuple[list[object], np.ndarray]:
    """Classes of a classification / binary task and how many samples have each."""
    targets = np.asarray(task.targets).reshape(-1)
    if task.classes is not None:
        return list(task.classes), np.bincount(targets.astype(np.int64),
                                               minlength=len(task.classes))
    values, counts = np.unique(targets, return_counts=True)
    return list(values), counts


def plot_taskset_overview(taskset: TaskSet, n_samples: int = 16, seed: int = 0) -> Figure:
    """A figure that shows what a task set holds.

    Image inputs: a grid of ``n_samples`` random samples titled with their task labels.
    Other inputs: one panel per task (up to 16) with its target distribution.
    """
    plt = _pyplot()
    images = image_view(taskset)
    if images is not None:
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(images), size=min(n_samples, len(images)), replace=False)
        cols = min(8, len(idx))
        rows = math.ceil(len(idx) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 2.0 * rows), squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for ax, i in zip(axes.flat, idx):
            img = images[i]
            lo, hi = float(img.min()), float(img.max())
            ax.imshow((img - lo) / (hi - lo) if hi > lo else img, cmap="gray")
            ax.set_title(_label(taskset, int(i)), fontsize=7)
        fig.suptitle(f"{taskset.name}: {taskset.n_samples} samples", fontsize=10)
        return fig
    tasks = list(taskset.tasks.values())[:16]
    cols = min(4, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, t in zip(axes.flat, tasks):
        ax.axis("on")
        if t.classes is not None or t.kind in ("binary", "classification"):
            # categorical bars (never a histogram or colour scale), even without classes
            classes, counts = _class_counts(t)
            ax.bar([_class_text(c) for c in classes], counts, color="tab:blue")
        elif t.kind == "multilabel":
            ax.bar(np.arange(t.output_size), t.targets.mean(axis=0), color="tab:green")
        else:
            ax.hist(t.targets.reshape(len(t.targets), -1)[:, 0], bins=30, color="tab:orange")
        ax.set_title(f"{t.name} ({t.kind})", fontsize=8)
        ax.tick_params(labelsize=6)
    fig.suptitle(f"{taskset.name}: target distributions", fontsize=10)
    fig.tight_layout()
    return fig
