"""Task × task heatmaps and task groupings.

- :func:`plot_matrix` — a labelled K×K heatmap: symmetric matrices (similarities, gradient
  cosines) have both axes labelled "task"; asymmetric ones (affinity of source b onto
  target a) "target (row)" / "source (column)". Annotations are black or white by cell
  luminance; the diagonal can be left out of the colour scale (shown grey and hatched).
- :func:`plot_grouping` — which tasks share which network, as a task × network grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._common.validation import check_array
from .figures import _pyplot
from .style import NEUTRAL_COLOR, POSITIVE_COLOR, check_task_names, text_color_for

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _matrix_values(matrix: Any, k: int) -> np.ndarray:
    values = getattr(matrix, "values", matrix)  # a TaskMatrix or an array
    arr = check_array(values, "matrix", ndim=2, finite=False)
    if arr.shape != (k, k):
        raise ValueError(f"matrix must be ({k}, {k}) to match the {k} task_names, got "
                         f"shape {arr.shape}")
    return arr


def _limits(values: np.ndarray, scale_mask: np.ndarray,
            center: float | None) -> tuple[float, float]:
    finite = values[scale_mask & np.isfinite(values)]
    if finite.size == 0:
        return (-1.0, 1.0) if center is None else (center - 1.0, center + 1.0)
    if center is not None:
        half = float(np.max(np.abs(finite - center))) or 1.0
        return center - half, center + half
    lo, hi = float(finite.min()), float(finite.max())
    return (lo - 0.5, hi + 0.5) if lo == hi else (lo, hi)


def _new_axes(k: int, ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    side = 1.6 + 0.62 * k
    return _pyplot().subplots(figsize=(side + 1.4, side))


def _annotate(ax: Axes, values: np.ndarray, image: Any, fmt: str, fontsize: float,
              diagonal_outside: bool, labels: Any = None) -> None:
    k = values.shape[0]
    for i in range(k):
        for j in range(k):
            v = values[i, j]
            if labels is None and not math.isfinite(v):
                continue  # NaN: blank
            text = format(v, fmt) if labels is None else str(labels[i][j])
            box = None
            if (diagonal_outside and i == j) or not math.isfinite(v):
                color = "#303030"  # on grey: the hatched diagonal or a NaN cell
                # a light box keeps the text clear of the hatching
                box = {"boxstyle": "round,pad=0.15", "fc": NEUTRAL_COLOR, "ec": "none"}
            else:
                color = text_color_for(image.cmap(image.norm(v)))
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize,
                    color=color, bbox=box)


def plot_matrix(matrix: Any, task_names: Sequence[str], *, title: str = "",
                symmetric: bool = True, center: float | None = None, cmap: str | None = None,
                annotate: bool = True, exclude_diagonal_from_scale: bool = False,
                value_label: str = "", fmt: str = ".2f", ax: Axes | None = None,
                labels: Any = None, vmin: float | None = None,
                vmax: float | None = None) -> Figure:
    """Labelled heatmap of a K×K task matrix.

    Parameters
    ----------
    matrix : (K, K) array or TaskMatrix
        NaN cells are drawn light grey and left blank.
    task_names : sequence of K str
        Row and column labels, in the matrix's order.
    title : str
    symmetric : bool
        True: both axes labelled "task". False: rows are the target task (the one
        affected), columns the source task.
    center : float, optional
        Centre a diverging colour map (default ``"RdBu_r"``) at this value with symmetric
        limits; otherwise a sequential map (default ``"viridis"``).
    cmap : str, optional
    annotate : bool
        Write each value in its cell, in black or white by the cell's luminance.
    exclude_diagonal_from_scale : bool
        Set the colour limits from the off-diagonal entries only; the diagonal is drawn
        grey and hatched (its values still written) so a large diagonal (a task with
        itself) does not wash out the rest.
    value_label : str
        Colour-bar label.
    fmt : str
        Format spec of the annotations.
    ax : matplotlib Axes, optional
    labels : (K, K) array of str, optional
        Cell texts to write instead of the formatted values ("" leaves a cell blank).
    vmin, vmax : float, optional
        Fixed colour limits (e.g. 0 and 1 for alignments), overriding the data's.

    Returns
    -------
    Figure
    """
    names = check_task_names(task_names)
    k = len(names)
    values = _matrix_values(matrix, k)
    _check_format(fmt, labels, k)
    fig, ax = _new_axes(k, ax)
    diagonal_outside = exclude_diagonal_from_scale and k > 1
    image = _draw_matrix(ax, values, center=center, cmap=cmap, vmin=vmin, vmax=vmax,
                         diagonal_outside=diagonal_outside)
    fixed = vmin is not None and vmax is not None
    _matrix_colorbar(fig, ax, image, value_label, diagonal_outside, fixed)
    _label_task_axes(ax, names, symmetric)
    if title:
        ax.set_title(title, fontsize=9)
    if annotate:
        size = 9 if k <= 4 else (8 if k <= 8 else (6.5 if k <= 12 else 5))
        _annotate(ax, values, image, fmt, fontsize=size, diagonal_outside=diagonal_outside,
                  labels=labels)
    return fig


def _check_format(fmt: str, labels: Any, k: int) -> None:
    try:
        format(1.0, fmt)
    except ValueError as exc:
        raise ValueError(f"fmt must be a float format spec such as '.2f', got {fmt!r}") from exc
    if labels is not None and np.shape(labels) != (k, k):
        raise ValueError(f"labels must have shape {(k, k)}, got {np.shape(labels)}")


def _draw_matrix(ax: Axes, values: np.ndarray, *, center: float | None, cmap: str | None,
                 vmin: float | None, vmax: float | None, diagonal_outside: bool) -> Any:
    """The heatmap image; with ``diagonal_outside`` the diagonal is masked and hatched."""
    from matplotlib.colors import Normalize
    from matplotlib.patches import Rectangle

    plt = _pyplot()
    k = len(values)
    off = ~np.eye(k, dtype=bool)
    scale_mask = off if diagonal_outside else np.ones((k, k), dtype=bool)
    lo, hi = _limits(values, scale_mask, center)
    vmin, vmax = lo if vmin is None else float(vmin), hi if vmax is None else float(vmax)
    colormap = plt.get_cmap(cmap or ("RdBu_r" if center is not None else "viridis"))
    colormap = colormap.with_extremes(bad=NEUTRAL_COLOR)
    shown = np.ma.masked_invalid(values)
    if diagonal_outside:
        shown = np.ma.masked_where(~off, shown)
    image = ax.imshow(shown, cmap=colormap, norm=Normalize(vmin=vmin, vmax=vmax))
    if diagonal_outside:
        for i in range(k):
            ax.add_patch(Rectangle((i - 0.5, i - 0.5), 1, 1, facecolor=NEUTRAL_COLOR,
                                   edgecolor="#a6a6a6", hatch="///", lw=0.0))
    return image


def _matrix_colorbar(fig: Figure, ax: Axes, image: Any, value_label: str,
                     diagonal_outside: bool, fixed: bool) -> None:
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    note = ("" if not diagonal_outside else "hatched: a task with itself" if fixed
            else "hatched diagonal: not on this scale")
    label = "\n".join(t for t in (value_label, note) if t)
    if label:
        bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)


def _label_task_axes(ax: Axes, names: Sequence[str], symmetric: bool) -> None:
    k = len(names)
    fontsize = 8 if k <= 5 else (7 if k <= 12 else 6)
    ax.set_xticks(range(k), names, rotation=45 if k > 3 else 0,
                  ha="right" if k > 3 else "center", rotation_mode="anchor", fontsize=fontsize)
    ax.set_yticks(range(k), names, fontsize=fontsize)
    ax.set_xlabel("task" if symmetric else "source (column)", fontsize=8)
    ax.set_ylabel("task" if symmetric else "target (row)", fontsize=8)
    ax.tick_params(length=0)


def _n_tasks(n: int) -> str:
    return "1 task" if n == 1 else f"{n} tasks"


def plot_grouping(groups: Sequence[Sequence[str]], task_names: Sequence[str], *,
                  title: str = "") -> Figure:
    """Task × network membership grid: which tasks are trained together in which network.

    Parameters
    ----------
    groups : sequence of sequences of str
        One entry per network, listing the tasks it serves (a task may be in several).
    task_names : sequence of str
        All tasks, in row order; tasks in no group are shown with an empty row, marked
        "(in no network)".
    title : str

    Returns
    -------
    Figure
    """
    names = check_task_names(task_names)
    if isinstance(groups, str) or not isinstance(groups, Sequence) or not groups:
        raise TypeError("groups must be a non-empty sequence of task-name sequences, e.g. "
                        "[['a', 'b'], ['c']]")
    member = np.zeros((len(names), len(groups)), dtype=bool)
    for g, group in enumerate(groups):
        members = check_task_names(group, f"groups[{g}]")
        unknown = [t for t in members if t not in names]
        if unknown:
            raise ValueError(f"groups[{g}] names unknown task(s) {unknown}; known: {names}")
        for t in members:
            member[names.index(t), g] = True
    plt = _pyplot()
    from matplotlib.colors import ListedColormap

    n_groups = len(groups)
    fig, ax = plt.subplots(figsize=(2.4 + 0.7 * n_groups, 1.0 + 0.42 * len(names)))
    ax.imshow(member.astype(float), cmap=ListedColormap(["#f4f4f4", POSITIVE_COLOR]),
              vmin=0, vmax=1, aspect="auto")
    for i, j in zip(*np.nonzero(member)):
        ax.text(j, i, "●", ha="center", va="center", color="white", fontsize=9)
    ax.set_xticks(range(n_groups), [f"net {g + 1}\n({_n_tasks(member[:, g].sum())})"
                                    for g in range(n_groups)], fontsize=7)
    orphan = ~member.any(axis=1)
    ax.set_yticks(range(len(names)), [f"{t} (in no network)" if o else t
                                      for t, o in zip(names, orphan)], fontsize=7)
    ax.set_xticks(np.arange(-0.5, n_groups), minor=True)
    ax.set_yticks(np.arange(-0.5, len(names)), minor=True)
    ax.grid(which="minor", color="white", lw=2)
    ax.tick_params(which="both", length=0)
    ax.xaxis.tick_top()
    ax.set_xlabel("network", fontsize=8)
    ax.xaxis.set_label_position("top")
    ax.set_ylabel("task", fontsize=8)
    if title:
        ax.set_title(title, fontsize=9, pad=28)
    fig.tight_layout()
    return fig
