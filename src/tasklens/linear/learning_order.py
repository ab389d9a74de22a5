"""Learning-order metrics: when each task and each mode is learned, and the lags between them.

Anon. 2025 (ICLR'26 sub.), Section 4 argues that aligned tasks are learned simultaneously,
orthogonal tasks one after the other (a lag set by the strengths of their modes) and
conflicting tasks together at first, then apart. These functions measure those statements on
plain arrays, so the same code reads the closed form (e.g.
:func:`~tasklens.linear.tabula_rasa.tabula_rasa_solution`) and a trained network's logs:
``times (T,)``, ``losses (T, N_T)`` and optionally mode strengths ``(T, k)`` or per task
``(T, N_T, k)``.

A task "reaches fraction f" of its loss drop at the first time its loss falls to
``L(0) - f · (L(0) - L_final)``, with ``L_final`` the lowest loss on the curve unless given;
crossing times are interpolated linearly between samples. Rising curves (mode strengths) use
``x(0) + f · (x_final - x(0))`` with ``x_final`` the largest value unless given.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._common.validation import check_array, check_scalar


def _check_fraction(fraction: float) -> float:
    return check_scalar(fraction, "fraction", numbers.Real, low=0.0, high=1.0,
                        include_low=False)


def _check_times(times: Any, n: int) -> np.ndarray:
    t = check_array(times, "times", ndim=1)
    if len(t) != n:
        raise ValueError(f"times has {len(t)} entries but the curves have {n} rows (time steps)")
    if len(t) < 2:
        raise ValueError("times needs at least 2 time points to locate a crossing")
    if np.any(np.diff(t) <= 0):
        raise ValueError("times must be strictly increasing")
    return t


def _crossing_times(t: np.ndarray, curves: np.ndarray, fraction: float, final: Any,
                    decreasing: bool, name: str) -> np.ndarray:
    """First time each column of ``curves (T, m)`` covers ``fraction`` of its total change."""
    start = curves[0]
    if final is None:
        end = curves.min(axis=0) if decreasing else curves.max(axis=0)
    else:
        end = np.broadcast_to(check_array(final, f"final value for {name}", ndim=(0, 1)),
                              start.shape)
    change = (start - end) if decreasing else (end - start)
    level = start - fraction * change if decreasing else start + fraction * change
    out = np.full(curves.shape[1], np.nan)
    for j in range(curves.shape[1]):
        if not change[j] > 0:
            continue  # the curve never moves the expected way: no crossing time
        c = curves[:, j]
        hit = np.flatnonzero(c <= level[j] if decreasing else c >= level[j])
        if hit.size == 0:
            continue
        i = int(hit[0])
        if i == 0:
            out[j] = t[0]
            continue
        c0, c1 = c[i - 1], c[i]
        w = (level[j] - c0) / (c1 - c0) if c1 != c0 else 1.0
        out[j] = t[i - 1] + w * (t[i] - t[i - 1])
    return out


def _as_2d(values: Any, name: str) -> np.ndarray:
    arr = check_array(values, name, ndim=(1, 2))
    return arr[:, None] if arr.ndim == 1 else arr


def time_to_fraction(times: Any, losses: Any, fraction: float = 0.5, *,
                     final: Any = None) -> np.ndarray:
    """Time at which each task's loss has dropped by ``fraction`` of its total drop.

    Parameters
    ----------
    times : (T,) array-like, strictly increasing
    losses : (T,) or (T, N_T) array-like
    fraction : float in (0, 1]
    final : float or (N_T,) array-like, optional
        The loss each task drops to (e.g. its known optimum); default: the curve's minimum.

    Returns
    -------
    (N_T,) array
        NaN for a task whose loss never drops (or never reaches the level).
    """
    fraction = _check_fraction(fraction)
    curves = _as_2d(losses, "losses")
    t = _check_times(times, len(curves))
    return _crossing_times(t, curves, fraction, final, True, "losses")


def rise_time(times: Any, strengths: Any, fraction: float = 0.5, *,
              final: Any = None) -> np.ndarray:
    """Time at which each curve has risen by ``fraction`` of its total rise (mode learning).

    Parameters
    ----------
    times : (T,) array-like, strictly increasing
    strengths : (T,) or (T, k) array-like
        E.g. mode strengths ``u_α(t)`` or projections of a trained network onto modes.
    fraction : float in (0, 1]
    final : float or (k,) array-like, optional
        The strength each curve rises to (e.g. ``S_ξ``); default: the curve's maximum.

    Returns
    -------
    (k,) array
        NaN for a curve that never rises.
    """
    fraction = _check_fraction(fraction)
    curves = _as_2d(strengths, "strengths")
    t = _check_times(times, len(curves))
    return _crossing_times(t, curves, fraction, final, False, "strengths")


@dataclass(frozen=True)
class LearningOrder:
    """When each task (and each mode) is learned, and the lags between tasks.

    Attributes
    ----------
    task_names : tuple of str
    fraction : float
    task_times : (N_T,) array
        Time each task reaches ``fraction`` of its loss drop (NaN if never).
    lags : (N_T, N_T) array
        ``lags[i, j] = task_times[i] - task_times[j]``: positive when task ``i`` is later.
    order : tuple of str
        Tasks sorted by ``task_times`` (tasks that never reach it last).
    mode_times : (k,) or (N_T, k) array or None
        Rise time of each mode (per task when per-task strengths were given).
    mode_order : tuple of int or None
        Modes sorted by rise time (shared strengths only).
    task_modes : dict of str to list of int, or None
        Modes each task learns, earliest first.
    """

    task_names: tuple[str, ...]
    fraction: float
    task_times: np.ndarray
    lags: np.ndarray
    order: tuple[str, ...]
    mode_times: np.ndarray | None = None
    mode_order: tuple[int, ...] | None = None
    task_modes: dict[str, list[int]] | None = None

    def lag(self, task_a: str, task_b: str) -> float:
        """``t_a - t_b``: how much later ``task_a`` reaches the fraction than ``task_b``."""
        idx = {n: i for i, n in enumerate(self.task_names)}
        for n in (task_a, task_b):
            if n not in idx:
                raise KeyError(f"no task {n!r}; tasks are {list(self.task_names)}")
        return float(self.lags[idx[task_a], idx[task_b]])

    def to_dict(self) -> dict[str, Any]:
        def _list(a: np.ndarray | None) -> Any:
            return None if a is None else np.where(np.isnan(a), None, a).tolist()

        return {"task_names": list(self.task_names), "fraction": self.fraction,
                "task_times": _list(self.task_times), "lags": _list(self.lags),
                "order": list(self.order), "mode_times": _list(self.mode_times),
                "mode_order": None if self.mode_order is None else list(self.mode_order),
                "task_modes": self.task_modes}


def _order_by(values: np.ndarray) -> np.ndarray:
    # NaN (never reached) sorts last; stable so ties keep the given order
    return np.argsort(np.where(np.isnan(values), np.inf, values), kind="stable")


def learning_order(
    times: Any,
    losses: Any,
    *,
    task_names: Sequence[str] | None = None,
    fraction: float = 0.5,
    final_losses: Any = None,
    strengths: Any = None,
    final_strengths: Any = None,
    loadings: Any = None,
    threshold: float = 0.1,
) -> LearningOrder:
    """Learning order of tasks and modes from loss (and mode-strength) curves.

    Parameters
    ----------
    times : (T,) array-like, strictly increasing
    losses : (T, N_T) array-like
    task_names : sequence of N_T str, optional (default ``task0``, ...)
    fraction : float in (0, 1]
        Share of the loss drop (or strength rise) that counts as "learned".
    final_losses : float or (N_T,) array-like, optional
        See :func:`time_to_fraction`.
    strengths : (T, k) or (T, N_T, k) array-like, optional
        Shared mode strengths (e.g. ``u_α(t)``) or per-task ones (e.g. ``γ_α^(j) u_α(t)``).
    final_strengths : (k,) or (N_T, k) array-like, optional
        Values the strengths rise to; default: each curve's maximum.
    loadings : (N_T, k) array-like, optional
        With shared ``(T, k)`` strengths: task ``j`` learns mode ``α`` when
        ``loadings[j, α] > threshold`` (e.g. ``γ`` from
        :func:`~tasklens.linear.tabula_rasa.task_loadings`).
    threshold : float in [0, 1]
        With loadings: the loading cut-off. With per-task strengths: a task learns a mode
        when its final strength exceeds ``threshold`` times the task's strongest mode.
    """
    curves = _as_2d(losses, "losses")
    n_tasks = curves.shape[1]
    names = tuple(task_names) if task_names is not None else tuple(
        f"task{i}" for i in range(n_tasks))
    if len(names) != n_tasks:
        raise ValueError(f"task_names has {len(names)} names but losses has {n_tasks} columns")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    task_times = time_to_fraction(times, curves, fraction, final=final_losses)
    lags = task_times[:, None] - task_times[None, :]
    order = tuple(names[i] for i in _order_by(task_times))
    mode_times = mode_order = task_modes = None
    if strengths is not None:
        mode_times, mode_order, task_modes = _mode_order(
            times, strengths, final_strengths, loadings, threshold, fraction, names)
    elif loadings is not None:
        raise ValueError("loadings need strengths: pass the (T, k) mode strengths too")
    return LearningOrder(names, fraction, task_times, lags, order, mode_times, mode_order,
                         task_modes)


def _mode_order(times: Any, strengths: Any, final: Any, loadings: Any, threshold: float,
                fraction: float, names: tuple[str, ...]
                ) -> tuple[np.ndarray, tuple[int, ...] | None, dict[str, list[int]] | None]:
    st = check_array(strengths, "strengths", ndim=(2, 3))
    if st.ndim == 2:
        mode_times = rise_time(times, st, fraction, final=final)
        order = _order_by(mode_times)
        task_modes = None
        if loadings is not None:
            lo = check_array(loadings, "loadings", ndim=2)
            if lo.shape != (len(names), st.shape[1]):
                raise ValueError(f"loadings must have shape (N_T, k) = "
                                 f"({len(names)}, {st.shape[1]}), got {lo.shape}")
            task_modes = {n: [int(a) for a in order if lo[j, a] > threshold]
                          for j, n in enumerate(names)}
        return mode_times, tuple(int(a) for a in order), task_modes
    if st.shape[1] != len(names):
        raise ValueError(f"per-task strengths must have shape (T, N_T, k) with N_T = "
                         f"{len(names)}, got {st.shape}")
    if loadings is not None:
        raise ValueError("loadings apply to shared (T, k) strengths; per-task (T, N_T, k) "
                         "strengths already include them")
    finals = None if final is None else np.broadcast_to(
        check_array(final, "final_strengths", ndim=(1, 2)), st.shape[1:])
    mode_times = np.vstack([
        rise_time(times, st[:, j], fraction, final=None if finals is None else finals[j])
        for j in range(len(names))])
    task_modes = {}
    for j, n in enumerate(names):
        top = st[:, j].max(axis=0) if finals is None else finals[j]
        used = top > threshold * top.max()
        task_modes[n] = [int(a) for a in _order_by(mode_times[j]) if used[a]]
    return mode_times, None, task_modes
