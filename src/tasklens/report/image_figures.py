"""Figures for image models: layer CKA, prediction galleries, reconstructions, swaps.

- :func:`plot_layer_cka` — a :class:`~tasklens.represent.LayerCKA` as an annotated heatmap
  (layers in forward order on both axes; Kornblith et al. 2019, Figure 2 style).
- :func:`plot_prediction_gallery` — a grid of input images, one title line per task with
  the true and predicted label; an image any task gets wrong is framed in red and its wrong
  lines are marked with ✗.
- :func:`plot_reconstructions` — originals above their reconstructions (an auto-encoder's
  ``reconstruct``, a dual-stream model's grounding decoder ``D(z_s, z_r)``), the squared
  error of each image in its title.
- :func:`plot_counterfactual_grid` — Fig. 2 of Wu, Zou, Wu and Wang 2026 ("CORE-MTL",
  arXiv:2606.02221): ``D(z_s of x1_i, z_r of x2_j)``, rows ``x1``, columns ``x2``.

Images are ``(N, C, H, W)`` with C in {1, 3}, ``(N, H, W)``, ``(N, H, W, 3)`` or flat
square ``(N, H·W)``. Decoded images are clipped to the data range (by default [0, 1] when
the inputs shown lie in it, else their range) and drawn on one fixed scale, so that a
decoder's overshoot shows as saturation, never as a rescaled picture or a matplotlib
clipping warning.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._common.validation import check_positive_int, check_scalar, check_seed
from .figures import _pyplot, image_view
from .style import display_layout

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


# ---------------------------------------------------------------------------- decoded images
def _as_display(images: Any, name: str) -> np.ndarray:
    """Images in any accepted layout → ``(N, H, W)`` or ``(N, H, W, 3)`` float64."""
    a = np.asarray(images.detach().cpu().numpy() if hasattr(images, "detach") else images,
                   dtype=np.float64)
    shown = display_layout(a)
    if shown is None and a.ndim == 2:
        raise ValueError(f"{name} is flat {a.shape} and not square images; pass "
                         "(N, C, H, W) images")
    if shown is None:
        raise ValueError(f"{name} must be images (N, C, H, W) with C in {{1, 3}}, (N, H, W), "
                         f"(N, H, W, 3) or flat square (N, H*W), got shape {a.shape}")
    a = shown
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return a


def _data_range(data_range: Any, reference: np.ndarray) -> tuple[float, float]:
    """``(lo, hi)`` given; else [0, 1] when the inputs shown (``reference``) lie in it (pixel
    intensities: a faint image stays faint), otherwise their range."""
    if data_range is None:
        lo, hi = float(reference.min()), float(reference.max())
        if lo >= 0.0 and hi <= 1.0:
            return 0.0, 1.0
        return (lo, hi) if hi > lo else (lo, lo + 1.0)
    if not isinstance(data_range, Sequence) or len(data_range) != 2:
        raise ValueError(f"data_range must be (low, high), got {data_range!r}")
    lo = check_scalar(data_range[0], "data_range[0]", numbers.Real, finite=True)
    hi = check_scalar(data_range[1], "data_range[1]", numbers.Real, finite=True)
    if not hi > lo:
        raise ValueError(f"data_range must have low < high, got {data_range!r}")
    return float(lo), float(hi)


def to_unit_range(images: np.ndarray, data_range: tuple[float, float]) -> np.ndarray:
    """Clip to ``data_range`` and map it linearly onto [0, 1] (what ``imshow`` draws with
    ``vmin=0, vmax=1``; RGB needs [0, 1] exactly or matplotlib clips and warns)."""
    lo, hi = data_range
    return (np.clip(images, lo, hi) - lo) / (hi - lo)


def _show(ax: Axes, image: np.ndarray) -> None:
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0.0, vmax=1.0,
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def plot_reconstructions(
    originals: Any,
    reconstructions: Any,
    *,
    n_images: int = 8,
    per_row: int = 8,
    data_range: tuple[float, float] | None = None,
    title: str | None = None,
    cell_size: float = 1.0,
) -> Figure:
    """Originals above their reconstructions, in pairs of rows.

    Parameters
    ----------
    originals : (N, C, H, W), (N, H, W), (N, H, W, 3) or (N, H·W) array or tensor
    reconstructions : same shape as ``originals``
        In data space, e.g. ``AutoEncoder.reconstruct(x)``, or
        :func:`tasklens.studies.core_mtl_analysis.reconstructions` for a dual-stream model.
    n_images : int
        The first ``n_images`` pairs are shown.
    per_row : int
        Images per row; more images start a new pair of rows.
    data_range : (low, high), optional
        Values are clipped to it and drawn on its fixed scale; default: [0, 1] when the
        originals shown lie in it, else their range.
    title : str, optional
    cell_size : float
        Inches per image.

    Returns
    -------
    Figure
        Each reconstruction's title is its mean squared error against the original
        (before clipping).
    """
    orig = _as_display(originals, "originals")
    rec = _as_display(reconstructions, "reconstructions")
    if rec.shape != orig.shape:
        raise ValueError(f"reconstructions must have the originals' shape {orig.shape}, got "
                         f"{rec.shape}")
    n = min(check_positive_int(n_images, "n_images"), len(orig))
    per_row = min(check_positive_int(per_row, "per_row"), n)
    cell_size = check_scalar(cell_size, "cell_size", numbers.Real, low=0.1, finite=True)
    orig, rec = orig[:n], rec[:n]
    rng = _data_range(data_range, orig)
    mse = ((rec - orig) ** 2).reshape(n, -1).mean(axis=1)
    blocks = -(-n // per_row)
    plt = _pyplot()
    fig, axes = plt.subplots(2 * blocks, per_row, squeeze=False,
                             figsize=(cell_size * per_row + 0.9,
                                      (cell_size + 0.2) * 2 * blocks + 0.5))
    for ax in axes.ravel():
        ax.set_axis_off()
    for i in range(n):
        b, c = divmod(i, per_row)
        top, bottom = axes[2 * b, c], axes[2 * b + 1, c]
        for ax, img in ((top, orig[i]), (bottom, rec[i])):
            ax.set_axis_on()
            _show(ax, to_unit_range(img, rng))
        bottom.set_title(f"{mse[i]:.3g}", fontsize=6)
        if c == 0:
            top.set_ylabel("input", fontsize=7)
            bottom.set_ylabel("recon.", fontsize=7)
    fig.suptitle(title or f"reconstructions (title: squared error per pixel; mean "
                 f"{mse.mean():.3g}; range [{rng[0]:.3g}, {rng[1]:.3g}])", fontsize=8)
    fig.tight_layout()
    return fig


def plot_counterfactual_grid(grid: Any, content: Any, style: Any, *,
                             data_range: tuple[float, float] | None = None,
                             cell_size: float = 0.9, title: str | None = None) -> Figure:
    """Counterfactual swaps (Wu et al. 2026 Fig. 2): row ``i`` decodes ``z_s`` of
    ``content[i]`` with ``z_r`` of ``style[j]`` in column ``j``; the first column shows the
    content inputs, the first row the style inputs.

    Parameters
    ----------
    grid : (n1, n2, ...) array
        :func:`tasklens.studies.core_mtl_analysis.counterfactual_grid`; each ``grid[i, j]``
        an image in one of the accepted layouts.
    content : (n1, ...) array
        The inputs giving ``z_s`` (rows).
    style : (n2, ...) array
        The inputs giving ``z_r`` (columns).
    data_range : (low, high), optional
        Values are clipped to it; default: [0, 1] when the content and style inputs lie in
        it, else their range.
    cell_size : float
        Inches per image.
    title : str, optional
    """
    c = _as_display(content, "content")
    s = _as_display(style, "style")
    g = np.asarray(grid.detach().cpu().numpy() if hasattr(grid, "detach") else grid)
    if g.ndim < 3 or g.shape[:2] != (len(c), len(s)):
        raise ValueError(f"grid must be (len(content), len(style), ...) = ({len(c)}, "
                         f"{len(s)}, ...), got {g.shape}")
    n1, n2 = g.shape[:2]
    cells = _as_display(g.reshape(n1 * n2, *g.shape[2:]), "grid")
    if cells.shape[1:] != c.shape[1:] or s.shape[1:] != c.shape[1:]:
        raise ValueError(f"grid, content and style images differ in shape: {g.shape[2:]}, "
                         f"{np.shape(content)[1:]}, {np.shape(style)[1:]}")
    cell_size = check_scalar(cell_size, "cell_size", numbers.Real, low=0.1, finite=True)
    rng = _data_range(data_range, np.concatenate([c.ravel(), s.ravel()]))
    plt = _pyplot()
    fig, axes = plt.subplots(n1 + 1, n2 + 1, squeeze=False,
                             figsize=(cell_size * (n2 + 1) + 0.3, cell_size * (n1 + 1) + 0.5))
    for ax in axes.ravel():
        ax.set_axis_off()
    for j in range(n2):
        axes[0, j + 1].set_axis_on()
        _show(axes[0, j + 1], to_unit_range(s[j], rng))
    for i in range(n1):
        axes[i + 1, 0].set_axis_on()
        _show(axes[i + 1, 0], to_unit_range(c[i], rng))
        for j in range(n2):
            axes[i + 1, j + 1].set_axis_on()
            _show(axes[i + 1, j + 1], to_unit_range(cells[i * n2 + j], rng))
    axes[0, 0].text(0.5, 0.5, "z_s ↓\nz_r →", ha="center", va="center", fontsize=7,
                    transform=axes[0, 0].transAxes)
    fig.suptitle(title or "counterfactual swaps: D(z_s of row input, z_r of column input)",
                 fontsize=8)
    fig.tight_layout()
    return fig
