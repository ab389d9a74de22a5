"""Bar figures that compare methods and tasks.

- :func:`plot_method_comparison` — Δm (%) ± SE per method, sorted best first, with an
  optional per-task panel.
- :func:`plot_task_gains` — per task, the gain of multi-task training ± SE, coloured by sign.
- :func:`plot_cka_per_task` — per task, a CKA similarity in [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .figures import _pyplot
from .style import NEGATIVE_COLOR, POSITIVE_COLOR, check_task_names, check_vector

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _sign_colors(values: np.ndarray, higher_is_better: bool = True) -> list[str]:
    good = values >= 0 if higher_is_better else values <= 0
    return [POSITIVE_COLOR if g else NEGATIVE_COLOR for g in good]


def _check_per_task(per_task: Any, n_methods: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    if not isinstance(per_task, Mapping) or not per_task:
        raise TypeError("per_task must be a non-empty mapping {task: (mean per method, "
                        "se per method)}")
    out = {}
    for task, pair in per_task.items():
        if not isinstance(pair, Sequence) or len(pair) != 2:
            raise TypeError(f"per_task[{task!r}] must be a pair (mean per method, se per method)")
        out[str(task)] = (check_vector(pair[0], f"per_task[{task!r}] mean", n_methods),
                          check_vector(pair[1], f"per_task[{task!r}] se", n_methods))
    return out


def _per_task_panel(ax: Axes, order: np.ndarray,
                    per_task: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    from .training_figures import _task_colors

    n_tasks = len(per_task)
    offsets = (np.arange(n_tasks) - (n_tasks - 1) / 2) * min(0.8 / n_tasks, 0.2)
    y = np.arange(len(order))
    for (task, (mean, se)), dy, color in zip(per_task.items(), offsets,
                                             _task_colors(n_tasks)):
        ax.errorbar(mean[order], y + dy, xerr=se[order], fmt="o", ms=3.5, lw=0.9,
                    color=color, label=task)
    ax.axvline(0.0, color="0.3", lw=0.8)
    for boundary in y[:-1] + 0.5:  # separate the methods' rows
        ax.axhline(boundary, color="0.85", lw=0.6)
    ax.set_yticks(y, [""] * len(order))
    ax.set_xlabel("per-task change (%)", fontsize=8)
    ax.set_title("per task", fontsize=8)
    ax.legend(fontsize=6.5, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.grid(axis="x", alpha=0.25)
    ax.tick_params(labelsize=7)


def plot_method_comparison(methods: Sequence[str], delta_m: Any, delta_m_se: Any, *,
                           per_task: Mapping[str, tuple[Any, Any]] | None = None,
                           higher_is_better: bool = True, title: str = "") -> Figure:
    """Horizontal bars of Δm (%) ± standard error per method, best at the top.

    Parameters
    ----------
    methods : sequence of M str
    delta_m : (M,) array
        Δm in percent (relative to the single-task baseline); NaN: not measured (listed
        last, marked "n/a").
    delta_m_se : (M,) array
        Standard errors (NaN: no error bar).
    per_task : mapping {task: ((M,) mean, (M,) se)}, optional
        Adds a right panel with each task's change per method, in the same row order.
    higher_is_better : bool
        Direction of Δm: sorts best first and colours bars on the good side of 0 blue,
        the bad side vermillion.
    title : str

    Returns
    -------
    Figure
    """
    names = check_task_names(methods, "methods")
    m = len(names)
    dm = check_vector(delta_m, "delta_m", m)
    se = check_vector(delta_m_se, "delta_m_se", m)
    tasks = _check_per_task(per_task, m) if per_task is not None else None
    # best on top (the last row); methods without a Δm (NaN) at the bottom, marked n/a
    key = np.where(np.isfinite(dm), -dm if higher_is_better else dm, np.inf)
    order = np.argsort(key, kind="stable")[::-1]
    plt = _pyplot()
    height = 1.2 + 0.34 * m
    if tasks is None:
        fig, ax = plt.subplots(figsize=(5.6, height))
    else:
        fig, (ax, ax_task) = plt.subplots(1, 2, figsize=(10.0, height), sharey=True,
                                          gridspec_kw={"width_ratios": [1, 1]})
        _per_task_panel(ax_task, order, tasks)
    y = np.arange(m)
    shown = np.nan_to_num(dm[order])
    ax.barh(y, shown, xerr=np.where(np.isfinite(se) & np.isfinite(dm), se, 0.0)[order],
            height=0.65, color=_sign_colors(shown, higher_is_better), capsize=2.5,
            error_kw={"lw": 0.9})
    ax.axvline(0.0, color="0.2", lw=0.8)
    ax.set_yticks(y, [names[i] if np.isfinite(dm[i]) else f"{names[i]} (n/a)" for i in order],
                  fontsize=7.5)
    better = "higher" if higher_is_better else "lower"
    ax.set_xlabel(f"Δm (%) ± SE  ({better} is better)", fontsize=8)
    ax.grid(axis="x", alpha=0.25)
    ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_task_gains(task_names: Sequence[str], gain: Any, gain_se: Any, *, title: str = "",
                    value_label: str = "gain of multi-task training (%)") -> Figure:
    """Per-task gain ± standard error, blue when positive, vermillion when negative.

    Parameters
    ----------
    task_names : sequence of K str
    gain, gain_se : (K,) arrays
    title, value_label : str

    Returns
    -------
    Figure
    """
    names = check_task_names(task_names)
    k = len(names)
    g = check_vector(gain, "gain", k)
    se = check_vector(gain_se, "gain_se", k)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.6 + 0.55 * k, 3.4))
    x = np.arange(k)
    ax.bar(x, np.nan_to_num(g), yerr=np.where(np.isfinite(se), se, 0.0), width=0.65,
           color=_sign_colors(np.nan_to_num(g)), capsize=3, error_kw={"lw": 0.9})
    ax.axhline(0.0, color="0.2", lw=0.8)
    for xi in x[~np.isfinite(g)]:
        ax.text(xi, 0.0, "n/a", ha="center", va="bottom", fontsize=7, color="0.4")
    return _finish_task_bars(fig, ax, names, value_label, title)


def plot_cka_per_task(task_names: Sequence[str], cka: Any, *, title: str = "") -> Figure:
    """Per-task CKA similarity as bars on a fixed [0, 1] axis, values written above.

    Parameters
    ----------
    task_names : sequence of K str
    cka : (K,) array in [0, 1] (NaN: not measured, left empty)
    title : str

    Returns
    -------
    Figure
    """
    names = check_task_names(task_names)
    k = len(names)
    values = check_vector(cka, "cka", k)
    finite = values[np.isfinite(values)]
    if np.any((finite < -1e-9) | (finite > 1 + 1e-9)):
        raise ValueError(f"cka values must lie in [0, 1], got range [{finite.min():.3g}, "
                         f"{finite.max():.3g}]")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.6 + 0.55 * k, 3.2))
    x = np.arange(k)
    ax.bar(x, np.nan_to_num(values), width=0.65, color=POSITIVE_COLOR)
    for xi, v in zip(x, values):
        ax.text(xi, (v if np.isfinite(v) else 0.0) + 0.02, f"{v:.2f}" if np.isfinite(v) else "n/a",
                ha="center", va="bottom", fontsize=6.5)
    ax.set_ylim(0.0, 1.08)
    return _finish_task_bars(fig, ax, names, "CKA (0 unrelated, 1 same)", title)


def _finish_task_bars(fig: Figure, ax: Any, names: Sequence[str], ylabel: str,
                      title: str) -> Figure:
    """Task-name ticks (slanted beyond 4 tasks), y label, grid and title of a per-task bar
    chart."""
    k = len(names)
    ax.set_xticks(np.arange(k), names, rotation=45 if k > 4 else 0,
                  ha="right" if k > 4 else "center", rotation_mode="anchor", fontsize=7.5)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.grid(axis="y", alpha=0.25)
    ax.tick_params(labelsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
