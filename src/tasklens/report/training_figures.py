"""Figures of multi-task training runs: loss curves and gradient cosines over steps.

- :func:`plot_loss_curves` — one colour per task, the trained loss solid and the theory's
  prediction dashed in the same colour; the x axis is cropped to where the curves settle
  (:func:`~tasklens.report.style.informative_xmax`), not to a long flat tail.
- :func:`plot_gradient_cosine` — the cosine between task gradients over training, one line
  per pair, or (more than 10 pairs) the mean with its min–max band and the three most
  conflicting pairs labelled.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .._common.validation import check_scalar
from .figures import _pyplot
from .style import check_curves, informative_xmax

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: above this many pairs, gradient cosines are summarised (mean, band, worst pairs)
MAX_PAIR_LINES = 10
N_WORST_PAIRS = 3


def _task_colors(n: int) -> list[Any]:
    plt = _pyplot()
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def _draw_loss_lines(ax: Any, x: np.ndarray, trained: dict[str, np.ndarray],
                     px: np.ndarray | None, pred: dict[str, np.ndarray]) -> None:
    """One colour per task: the trained loss solid, its prediction dashed."""
    tasks = list(trained) + [t for t in pred if t not in trained]
    for task, color in zip(tasks, _task_colors(len(tasks))):
        if task in trained:
            ax.plot(x, trained[task], color=color, lw=1.4, label=task)
        if task in pred:
            ax.plot(px, pred[task], color=color, lw=1.4, ls="--",
                    label=None if task in trained else f"{task} (predicted)")


def _crop_to_change(ax: Any, x: np.ndarray, trained: dict[str, np.ndarray],
                    px: np.ndarray | None, pred: dict[str, np.ndarray], fraction: float
                    ) -> None:
    """Crop the x axis to where trained and predicted curves made ``fraction`` of their
    change."""
    xmax = informative_xmax(x, list(trained.values()), fraction)
    if pred:
        xmax = max(xmax, informative_xmax(px, list(pred.values()), fraction))
    xmin = min(x[0], px[0]) if px is not None else x[0]
    if xmax > xmin:  # one logged point: leave matplotlib's automatic margins
        ax.set_xlim(xmin, xmax)


def _loss_legend(ax: Any, with_predictions: bool) -> None:
    """Task legend, plus the solid = trained / dashed = predicted key when predicting."""
    handles, labels = ax.get_legend_handles_labels()
    if with_predictions:
        from matplotlib.lines import Line2D

        handles += [Line2D([], [], color="k", lw=1.4), Line2D([], [], color="k", ls="--")]
        labels += ["trained", "predicted"]
    ax.legend(handles, labels, fontsize=7, ncol=2 if len(labels) > 8 else 1,
              loc="upper right", framealpha=0.85)


def plot_loss_curves(steps: Any, losses: Mapping[str, Any], *, predicted_steps: Any = None,
                     predicted: Mapping[str, Any] | None = None, log_y: bool = True,
                     title: str = "", crop: bool = True, fraction: float = 0.99,
                     ylabel: str = "loss", xlabel: str = "step") -> Figure:
    """Per-task training losses (solid) and predicted losses (dashed, same colour).

    Parameters
    ----------
    steps : (T,) array
    losses : mapping {task: (T,) array}
    predicted_steps : (T',) array, optional
        Steps of the predictions (default: ``steps``).
    predicted : mapping {task: (T',) array}, optional
        Theory predictions; tasks not in ``losses`` are drawn too.
    log_y : bool
        Logarithmic loss axis (falls back to linear when a value is <= 0).
    title : str
    crop : bool
        Crop the x axis to where the curves have made ``fraction`` of their change.
    fraction : float in (0, 1]
    ylabel, xlabel : str

    Returns
    -------
    Figure
    """
    x, trained = check_curves(steps, losses, "losses")
    px, pred = (None, {})
    if predicted is not None:
        px, pred = check_curves(x if predicted_steps is None else predicted_steps, predicted,
                                "predicted")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    _draw_loss_lines(ax, x, trained, px, pred)
    values = [v[np.isfinite(v)] for v in (*trained.values(), *pred.values())]
    if log_y and all(v.size == 0 or v.min() > 0 for v in values):
        ax.set_yscale("log")
    if crop:
        _crop_to_change(ax, x, trained, px, pred, fraction)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    _loss_legend(ax, bool(pred))
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.25)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def _nan_stats(stack: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NaN-ignoring min, max and mean; all-NaN slices give NaN silently (steps with no
    measurement, pairs never measured)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmin(stack, axis), np.nanmax(stack, axis), np.nanmean(stack, axis)


def _summarise_pairs(ax: Any, x: np.ndarray, curves: dict[str, np.ndarray]) -> None:
    lo, hi, mean = _nan_stats(np.vstack(list(curves.values())), 0)
    ax.fill_between(x, lo, hi, color="0.8", label=f"range over {len(curves)} pairs")
    ax.plot(x, mean, color="k", lw=1.6, label="mean over pairs")
    pair_mean = dict(zip(curves, _nan_stats(np.vstack(list(curves.values())), 1)[2]))
    measured = [key for key in curves if np.isfinite(pair_mean[key])]
    order = sorted(measured, key=lambda key: float(pair_mean[key]))
    for key, color in zip(order[:N_WORST_PAIRS], ["#D55E00", "#CC79A7", "#E69F00"]):
        ax.plot(x, curves[key], color=color, lw=1.0,
                label=f"{key} (mean {pair_mean[key]:+.2f})")


def moving_average(y: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over ``window`` points, NaN-aware, same length as ``y``."""
    if window <= 1:
        return y
    ok = np.isfinite(y)
    kernel = np.ones(window)
    total = np.convolve(np.where(ok, y, 0.0), kernel, mode="same")
    count = np.convolve(ok.astype(np.float64), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1.0), np.nan)


def plot_gradient_cosine(steps: Any, cosines: Mapping[str, Any], *, title: str = "",
                         smooth: int | None = None) -> Figure:
    """Cosine similarity of task gradients during training.

    Parameters
    ----------
    steps : (T,) array
    cosines : mapping {pair: (T,) array}
        Keys name the pair, e.g. ``"a ↔ b"``; values in [-1, 1].
    title : str
    smooth : int, optional
        Width (in points) of a centred moving average drawn instead of the raw, noisy
        per-step cosines. Default: ``T // 50`` when there are more than 200 steps, else none
        (the y label says when curves are smoothed). ``1`` draws the raw values.

    Returns
    -------
    Figure
        Up to 10 pairs: one line each. More: the mean over pairs, the min–max band and
        the 3 pairs with the most negative mean cosine (the most conflicting), labelled.
    """
    x, curves = check_curves(steps, cosines, "cosines")
    if smooth is None:
        smooth = len(x) // 50 if len(x) > 200 else 1
    smooth = check_scalar(smooth, "smooth", numbers.Integral, low=1)
    curves = {key: moving_average(y, smooth) for key, y in curves.items()}
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.axhline(0.0, color="0.3", lw=0.8, ls=":")
    if len(curves) > MAX_PAIR_LINES:
        _summarise_pairs(ax, x, curves)
    else:
        for (key, y), color in zip(curves.items(), _task_colors(len(curves))):
            ax.plot(x, y, color=color, lw=1.2, label=key)
    ax.set_ylim(-1.05, 1.05)
    if x[-1] > x[0]:  # one logged step: leave matplotlib's automatic margins
        ax.set_xlim(x[0], x[-1])
    ax.set_xlabel("step", fontsize=8)
    ylabel = "cosine of task gradients"
    ax.set_ylabel(ylabel if smooth == 1 else f"{ylabel}\n(moving average over {smooth} points)",
                  fontsize=8)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.25)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
