"""Figures of task affinities: heatmaps of score and gain matrices, score-vs-gain scatter.

- :func:`plot_task_matrix` — one (K, K) :class:`~tasklens.data.TaskMatrix` as an annotated
  heatmap (asymmetric: rows the target task ``a``, columns the source ``b``, entry = effect
  of b onto a; symmetric: both axes "task").
- :func:`plot_score_matrices` — a grid of heatmaps, one per score (as Azorin et al. 2023 Tables
1–6).
- :func:`plot_gain_matrix` — the measured multi-task gain, diverging colours centred at 0,
  annotated ``mean ± standard error`` when the errors are given.
- :func:`plot_score_vs_gain` — per score, the off-diagonal ``(score[a, b], gain[a, b])``
  points, titled with Spearman ρ and Kendall τ, plus a table panel of the evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .._common.validation import check_positive_int
from ..data.matrix import TaskMatrix
from .figures import _pyplot

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _check_matrix(matrix: Any, name: str) -> TaskMatrix:
    if not isinstance(matrix, TaskMatrix):
        raise TypeError(f"{name} must be a TaskMatrix, got {type(matrix).__name__}")
    return matrix


def _fmt(value: float, digits: int) -> str:
    return "" if not math.isfinite(value) else f"{value:.{digits}g}"


def is_symmetric(values: np.ndarray) -> bool:
    """Whether a square matrix equals its transpose (NaN matching NaN, float tolerance)."""
    values = np.asarray(values, dtype=np.float64)
    return values.shape[0] == values.shape[1] and bool(
        np.allclose(values, values.T, rtol=1e-9, atol=1e-12, equal_nan=True))


def plot_task_matrix(matrix: TaskMatrix, *, ax: Axes | None = None, annotate: bool = True,
                     digits: int = 2, cmap: str | None = None, center: float | None = None,
                     labels: np.ndarray | None = None, title: str | None = None,
                     symmetric: bool | None = None,
                     exclude_diagonal_from_scale: bool = False) -> Figure:
    """Heatmap of one task matrix (drawn by :func:`~tasklens.report.plot_matrix`).

    Parameters
    ----------
    matrix : TaskMatrix, (K, K)
    ax : matplotlib Axes, optional
        Draw there (default: a new figure).
    annotate : bool
        Write each value in its cell (NaN cells stay blank), in black or white by the
        cell's luminance.
    digits : int
        Significant digits of the annotations.
    cmap : str, optional
        Default ``"RdBu_r"`` when ``center`` is given, else ``"viridis"``.
    center : float, optional
        Centre a diverging colour scale at this value (symmetric limits).
    labels : (K, K) array of str, optional
        Cell texts to write instead of the values.
    title : str, optional
        Default: the matrix's name.
    symmetric : bool, optional
        Axis labels "task" (symmetric) or "target (row)" / "source (column)"; default:
        whether the values equal their transpose.
    exclude_diagonal_from_scale : bool
        Colour limits from the off-diagonal entries only (diagonal hatched).

    Returns
    -------
    Figure
    """
    matrix = _check_matrix(matrix, "matrix")
    digits = check_positive_int(digits, "digits")
    if symmetric is None:
        symmetric = is_symmetric(matrix.values)
    from .matrix_figures import plot_matrix

    return plot_matrix(matrix.values, list(matrix.task_names),
                       title=matrix.name if title is None else title, symmetric=symmetric,
                       center=center, cmap=cmap, annotate=annotate, fmt=f".{digits}g",
                       exclude_diagonal_from_scale=exclude_diagonal_from_scale, ax=ax,
                       labels=labels)


def plot_score_matrices(scores: Mapping[str, TaskMatrix], *, ncols: int = 3,
                        annotate: bool = True, digits: int = 2,
                        exclude_diagonal_from_scale: bool = True) -> Figure:
    """One heatmap per score, in a grid (titles: the keys and the matrices' names).

    Parameters
    ----------
    scores : mapping {key: TaskMatrix}
    ncols : int
    annotate : bool
    digits : int
    exclude_diagonal_from_scale : bool
        Each panel's colours come from its off-diagonal entries (the ones compared across
        scores); the diagonal (a task with itself, e.g. the ground truth's single-task
        level) is drawn hatched, its value still written.
    """
    if not isinstance(scores, Mapping) or not scores:
        raise ValueError("scores must be a non-empty mapping {name: TaskMatrix}")
    ncols = min(check_positive_int(ncols, "ncols"), len(scores))
    nrows = math.ceil(len(scores) / ncols)
    k = max(_check_matrix(m, f"scores[{key!r}]").n_tasks for key, m in scores.items())
    side = 1.5 + 0.5 * k
    plt = _pyplot()
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * (side + 1.0), nrows * side),
                             squeeze=False)
    for ax in axes.flat[len(scores):]:
        ax.axis("off")
    for ax, (key, matrix) in zip(axes.flat, scores.items()):
        plot_task_matrix(matrix, ax=ax, annotate=annotate, digits=digits,
                         title=f"{key}: {matrix.name}" if matrix.name else key,
                         exclude_diagonal_from_scale=exclude_diagonal_from_scale)
    fig.tight_layout()
    return fig


def plot_gain_matrix(gains: Any, se: TaskMatrix | None = None, *, kind: str = "metric",
                     digits: int = 2, ax: Axes | None = None) -> Figure:
    """Heatmap of the measured gains, centred at 0 (red: b helps a, blue: b hurts a).

    Parameters
    ----------
    gains : TaskMatrix or GroundTruth
        A GroundTruth gives its ``metric_gain`` (``kind="metric"``) or ``loss_gain``
        (``kind="loss"``) and the matching standard errors.
    se : TaskMatrix, optional
        Standard errors, written as ``mean±se`` in each cell when finite.
    """
    if kind not in ("metric", "loss"):
        raise ValueError(f"unknown kind {kind!r}; choose 'metric' or 'loss'")
    if not isinstance(gains, TaskMatrix):
        matrix = getattr(gains, f"{kind}_gain", None)
        if not isinstance(matrix, TaskMatrix):
            raise TypeError(f"gains must be a TaskMatrix or a GroundTruth, got "
                            f"{type(gains).__name__}")
        se = getattr(gains, f"{kind}_gain_se", None) if se is None else se
        gains = matrix
    labels = None
    if se is not None:
        se = _check_matrix(se, "se")
        if se.task_names != gains.task_names:
            raise ValueError("se must have the same tasks, in the same order, as gains")
        labels = np.empty(gains.values.shape, dtype=object)
        for i in range(gains.n_tasks):
            for j in range(gains.n_tasks):
                mean, err = gains.values[i, j], se.values[i, j]
                labels[i, j] = ("" if i == j else _fmt(mean, digits)
                                + (f"\n±{_fmt(err, 1)}" if math.isfinite(err) else ""))
    # the diagonal (a task with itself) carries no gain and is left blank: keep it off the scale
    return plot_task_matrix(gains, ax=ax, center=0.0, labels=labels, digits=digits,
                            exclude_diagonal_from_scale=labels is not None)


def score_gain_points(score: TaskMatrix, gains: TaskMatrix) -> tuple[np.ndarray, np.ndarray]:
    """The finite off-diagonal ``(score[a, b], gain[a, b])`` pairs, in the gains' task order.

    Returns
    -------
    x, y : (P,) arrays
    """
    score, gains = _check_matrix(score, "score"), _check_matrix(gains, "gains")
    missing = [t for t in gains.task_names if t not in score.task_names]
    if missing:
        raise ValueError(f"the score lacks task(s) {missing}")
    idx = [score.index(t) for t in gains.task_names]
    s = score.values[np.ix_(idx, idx)]
    off = ~np.eye(gains.n_tasks, dtype=bool)
    used = off & np.isfinite(s) & np.isfinite(gains.values)
    return s[used], gains.values[used]


def plot_score_vs_gain(scores: Mapping[str, TaskMatrix], gains: Any, *,
                       evaluation: Any = None, ncols: int = 3, table: bool = True) -> Figure:
    """Scatter of each score against the gain (one panel per score) and a summary table.

    Parameters
    ----------
    scores : mapping {key: TaskMatrix}
    gains : TaskMatrix or GroundTruth (its ``metric_gain``)
    evaluation : ScoreEvaluation, optional
        Default: :func:`tasklens.affinity.evaluation.evaluate_scores` of the inputs (when the
        gains cover >= 3 tasks); its Spearman / Kendall values title the panels and fill
        the table.
    ncols : int
    table : bool
        Add a panel with the evaluation table.
    """
    if not isinstance(scores, Mapping) or not scores:
        raise ValueError("scores must be a non-empty mapping {name: TaskMatrix}")
    gain_matrix = getattr(gains, "metric_gain", gains)
    gain_matrix = _check_matrix(gain_matrix, "gains")
    if evaluation is None and gain_matrix.n_tasks >= 3:
        from ..affinity.evaluation import evaluate_scores

        evaluation = evaluate_scores(scores, gain_matrix)
    panels = len(scores) + (1 if table and evaluation is not None else 0)
    ncols = min(check_positive_int(ncols, "ncols"), panels)
    nrows = math.ceil(panels / ncols)
    plt = _pyplot()
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 3.0 * nrows), squeeze=False)
    for ax in axes.flat[panels:]:
        ax.axis("off")
    for ax, (key, matrix) in zip(axes.flat, scores.items()):
        x, y = score_gain_points(matrix, gain_matrix)
        ax.scatter(x, y, s=12, alpha=0.8)
        ax.axhline(0.0, color="grey", lw=0.6)
        title = key
        if evaluation is not None and key in evaluation.overall:
            row = evaluation.overall[key]
            title += f"  ρ={row['spearman']:.2f}  τ={row['kendall']:.2f}"
        ax.set_title(title, fontsize=8)
        ax.set_xlabel(f"{key}[a, b]", fontsize=7)
        ax.set_ylabel("gain[a, b]", fontsize=7)
        ax.tick_params(labelsize=6)
    if table and evaluation is not None:
        ax = axes.flat[len(scores)]
        ax.axis("off")
        cols = ["spearman", "kendall", "sign_agreement", "top1_match"]
        cells = [[_fmt(float(evaluation.overall[k][c]), 2) for c in cols]
                 for k in evaluation.overall]
        tab = ax.table(cellText=cells, rowLabels=list(evaluation.overall),
                       colLabels=["ρ", "τ", "sign", "top-1"], loc="center")
        tab.auto_set_font_size(False)
        tab.set_fontsize(7)
    fig.tight_layout()
    return fig
