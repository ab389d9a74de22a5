"""Figures for image models: the layer × layer CKA heatmap and per-task prediction galleries.

- :func:`plot_layer_cka` — a :class:`~tasklens.represent.LayerCKA` as an annotated heatmap
  (layers in forward order on both axes; Kornblith et al. 2019, Figure 2 style).
- :func:`plot_prediction_gallery` — a grid of input images, one title line per task with
  the true and predicted label; an image any task gets wrong is framed in red and its wrong
  lines are marked with ✗.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._common.validation import check_positive_int, check_seed
from .figures import _pyplot, image_view

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..data import TaskSet
    from ..represent import LayerCKA

#: task kinds whose predictions the gallery can judge right or wrong
GALLERY_KINDS = ("classification", "binary")


def plot_layer_cka(result: LayerCKA, *, ax: Axes | None = None, annotate: bool = True,
                   title: str | None = None) -> Figure:
    """Heatmap of a layer × layer linear-CKA matrix (values in [0, 1], fixed colour scale).

    Parameters
    ----------
    result : LayerCKA
        From :func:`tasklens.represent.layer_cka_matrix`.
    ax : matplotlib Axes, optional
        Draw into it (default: a new figure sized to the number of layers).
    annotate : bool
        Print each value (two decimals) in its cell.
    title : str, optional
    """
    from ..represent import LayerCKA

    if not isinstance(result, LayerCKA):
        raise TypeError("result must be a LayerCKA (tasklens.represent.layer_cka_matrix), got "
                        f"{type(result).__name__}")
    plt = _pyplot()
    n = len(result.layers)
    if ax is None:
        side = min(2.5 + 0.55 * n, 14.0)
        fig, ax = plt.subplots(figsize=(side + 1.0, side))
    else:
        fig = ax.figure
    image = ax.imshow(result.matrix, vmin=0.0, vmax=1.0, cmap="magma")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="linear CKA")
    ax.set_xticks(range(n), result.layers, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(n), result.layers, fontsize=7)
    if annotate:
        for i in range(n):
            for j in range(n):
                v = result.matrix[i, j]
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6,
                        color="black" if v > 0.6 else "white")
    ax.set_title(title or f"layer CKA ({result.n_samples} samples)")
    return fig


def _predicted_labels(task: Any, output: Any) -> np.ndarray:
    """Class indices from logits ``(N, C)`` (or indices ``(N,)``), binary from logits > 0."""
    out = np.asarray(output.detach().cpu().numpy() if hasattr(output, "detach") else output)
    if task.kind == "classification":
        return out.argmax(axis=1) if out.ndim == 2 else out.astype(np.int64)
    return (out.reshape(len(out)) > 0).astype(np.int64)


def _label_text(task: Any, index: int) -> str:
    if task.kind == "classification" and task.classes is not None:
        return str(task.classes[int(index)])
    return str(int(index))


def plot_prediction_gallery(
    taskset: TaskSet,
    outputs: Mapping[str, Any],
    *,
    tasks: Sequence[str] | None = None,
    n_images: int = 16,
    errors_first: bool = True,
    seed: int = 0,
) -> Figure:
    """Input images with true and predicted labels per task; mistakes highlighted.

    Parameters
    ----------
    taskset : TaskSet
        Image inputs (``(N, C, H, W)`` with C in {1, 3}, or flat square images).
    outputs : mapping {task: (N, C) logits, (N,) class indices, or (N,) binary logits}
        Model outputs for every row of ``taskset`` (e.g. ``model.eval()(x)``).
    tasks : sequence of str, optional
        Classification or binary tasks to show (default: all such tasks with outputs).
    n_images : int
        Images in the grid.
    errors_first : bool
        Fill the grid with misclassified images first (then correct ones), each group in
        a seeded random order; False: a seeded random sample.
    seed : int
    """
    images = image_view(taskset)
    if images is None:
        raise ValueError(f"{taskset.name!r} has no image inputs to show")
    names = [t for t in taskset.task_names
             if taskset[t].kind in GALLERY_KINDS and t in outputs] if tasks is None else list(tasks)
    if not names:
        raise ValueError("no classification or binary task with outputs to show; pass tasks=")
    for t in names:
        if t not in taskset.tasks or taskset[t].kind not in GALLERY_KINDS:
            raise ValueError(f"task {t!r} is not a classification/binary task of the task set")
        if t not in outputs or len(outputs[t]) != len(taskset):
            raise ValueError(f"outputs[{t!r}] must hold one prediction per row "
                             f"({len(taskset)})")
    n_images = min(check_positive_int(n_images, "n_images"), len(taskset))
    pred = {t: _predicted_labels(taskset[t], outputs[t]) for t in names}
    true = {t: np.asarray(taskset[t].targets).astype(np.int64) for t in names}
    wrong = np.zeros(len(taskset), dtype=bool)
    for t in names:
        wrong |= pred[t] != true[t]
    order = check_seed(seed).permutation(len(taskset))
    if errors_first:
        order = np.concatenate([order[wrong[order]], order[~wrong[order]]])
    chosen = order[:n_images]
    return _draw_gallery(images, chosen, names, taskset, pred, true, wrong)


def _draw_gallery(images: np.ndarray, chosen: np.ndarray, names: list[str], taskset: TaskSet,
                  pred: dict[str, np.ndarray], true: dict[str, np.ndarray],
                  wrong: np.ndarray) -> Figure:
    plt = _pyplot()
    ncols = min(8, len(chosen))
    nrows = -(-len(chosen) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.7 * ncols, (1.9 + 0.35 * len(names))
                                                    * nrows), squeeze=False)
    lo, hi = float(images.min()), float(images.max())
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, i in zip(axes.ravel(), chosen):
        img = np.clip((images[i] - lo) / (hi - lo) if hi > lo else images[i] * 0.0, 0.0, 1.0)
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0.0, vmax=1.0)
        lines = []
        for t in names:
            ok = pred[t][i] == true[t][i]
            lines.append(f"{'' if ok else '✗ '}{t}: {_label_text(taskset[t], true[t][i])}"
                         f"→{_label_text(taskset[t], pred[t][i])}")
        ax.set_title("\n".join(lines), fontsize=7, color="tab:red" if wrong[i] else "black")
        if wrong[i]:
            ax.set_axis_on()
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor("tab:red")
                spine.set_linewidth(2.5)
    n_wrong = int(wrong.sum())
    fig.suptitle(f"{taskset.name}: {n_wrong} of {len(wrong)} images with an error "
                 "(true→predicted)", fontsize=9)
    fig.tight_layout(rect=(0.0, 0.0, 1.0, 0.96))
    return fig
