"""Shared helpers of the figures: readable text colours, input checks, informative x ranges.

- :func:`text_color_for` — black or white text for a cell colour, from its WCAG relative
  luminance (so annotations stay readable on dark and light cells alike).
- :func:`display_layout` — image arrays in any accepted layout as ``imshow`` takes them.
- :func:`settled_index` / :func:`informative_xmax` — where curves have done (almost) all
  of their change, to crop a time axis that would otherwise be dominated by a flat tail.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._common.validation import check_array, check_scalar

#: WCAG 2 relative luminance at which black and white text have the same contrast ratio
#: ((L + 0.05) / 0.05 == 1.05 / (L + 0.05)  ⇔  L ≈ 0.179)
LUMINANCE_THRESHOLD = 0.179
#: colours of "better" / "worse" bars (colour-blind safe blue / vermillion of Okabe & Ito)
POSITIVE_COLOR = "#0072B2"
NEGATIVE_COLOR = "#D55E00"
#: colour of cells that are shown but not part of the colour scale
NEUTRAL_COLOR = "#d9d9d9"


def relative_luminance(rgba: Any) -> float:
    """WCAG 2 relative luminance of an sRGB colour (components in [0, 1]).

    Parameters
    ----------
    rgba : sequence of 3 or 4 floats
    """
    rgb = np.asarray(rgba, dtype=np.float64)[:3]
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return float(linear @ np.array([0.2126, 0.7152, 0.0722]))


def text_color_for(rgba: Any) -> str:
    """``"white"`` on dark colours, ``"black"`` on light ones (the higher-contrast choice)."""
    return "white" if relative_luminance(rgba) < LUMINANCE_THRESHOLD else "black"


def display_layout(a: np.ndarray) -> np.ndarray | None:
    """Images as ``imshow`` takes them, or None when ``a`` is no image layout.

    Parameters
    ----------
    a : (N, C, H, W) with C in {1, 3}, (N, H, W), (N, H, W, 3) or flat square (N, H*W) array

    Returns
    -------
    (N, H, W) or (N, H, W, 3) array (a view where possible), or None
    """
    if a.ndim == 2:
        side = math.isqrt(a.shape[1])
        if side * side != a.shape[1]:
            return None
        a = a.reshape(len(a), side, side)
    if a.ndim == 4 and a.shape[1] in (1, 3):
        a = a[:, 0] if a.shape[1] == 1 else np.moveaxis(a, 1, -1)
    if a.ndim == 3 or (a.ndim == 4 and a.shape[-1] == 3):
        return a
    return None


def check_task_names(task_names: Any, name: str = "task_names") -> list[str]:
    """A non-empty list of distinct strings."""
    if isinstance(task_names, str) or not isinstance(task_names, Sequence | np.ndarray):
        raise TypeError(f"{name} must be a sequence of task names (str), got "
                        f"{type(task_names).__name__}")
    names = [str(t) for t in task_names]
    if not names:
        raise ValueError(f"{name} must name at least one task")
    if len(set(names)) != len(names):
        raise ValueError(f"{name} has duplicates: {names}")
    return names


def check_vector(value: Any, name: str, size: int, *, finite: bool = False) -> np.ndarray:
    """A 1-D float array of length ``size`` (NaN allowed unless ``finite``)."""
    arr = check_array(value, name, ndim=1, finite=finite)
    if arr.shape[0] != size:
        raise ValueError(f"{name} must have length {size} (one value per entry), "
                         f"got {arr.shape[0]}")
    return arr


def check_curves(steps: Any, curves: Any, name: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``steps`` (T,) and a mapping {key: (T,) array} of curves on those steps."""
    x = check_array(steps, f"{name} steps", ndim=1)
    if x.size == 0:
        raise ValueError(f"the steps of {name} must not be empty")
    if not isinstance(curves, Mapping) or not curves:
        raise TypeError(f"{name} must be a non-empty mapping {{name: (T,) array}}, got "
                        f"{type(curves).__name__}")
    out = {}
    for key, y in curves.items():
        arr = check_array(y, f"{name}[{key!r}]", ndim=1, finite=False)
        if arr.shape != x.shape:
            raise ValueError(f"{name}[{key!r}] has {arr.shape[0]} values but there are "
                             f"{x.shape[0]} steps; pass one value per step")
        out[str(key)] = arr
    return x, out


def _smooth(y: np.ndarray) -> np.ndarray:
    """Running median over ~2 % of the points (at least 1): robust to training noise."""
    w = max(1, len(y) // 50)
    if w == 1:
        return y
    pad = np.pad(y, (w, w), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(pad, 2 * w + 1)
    return np.median(windows, axis=1)


def settled_index(y: Any, fraction: float = 0.99) -> int:
    """First index after which a curve stays within ``1 - fraction`` of its total change.

    The curve is median-smoothed first; the tolerance is ``(1 - fraction) * |y_0 - y_end|``,
    widened to the noise left in the last quarter so noisy curves still settle. Non-finite
    values are ignored.

    Parameters
    ----------
    y : (T,) array
    fraction : float in (0, 1]

    Returns
    -------
    int
        In ``[0, T - 1]``; ``T - 1`` when the curve never settles.
    """
    fraction = check_scalar(fraction, "fraction", numbers.Real, low=0.0, high=1.0,
                            include_low=False)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(y)
    if ok.sum() < 2:
        return max(len(y) - 1, 0)
    idx = np.flatnonzero(ok)
    s = _smooth(y[ok])
    change = abs(s[0] - s[-1])
    tail = y[ok][-max(2, len(s) // 4):] - s[-max(2, len(s) // 4):]
    tol = max((1.0 - fraction) * change, 3.0 * float(np.std(tail)))
    outside = np.flatnonzero(np.abs(s - s[-1]) > tol)
    last = 0 if outside.size == 0 else min(int(outside[-1]) + 1, len(s) - 1)
    return int(idx[last])


def informative_xmax(x: Any, curves: Sequence[Any], fraction: float = 0.99,
                     margin: float = 0.25) -> float:
    """Right x-limit that shows where every curve changes, not the long flat tail after.

    The latest :func:`settled_index` over the curves, plus ``margin`` of the shown range
    (so the settled level is visible), capped at ``x[-1]``.
    """
    x = np.asarray(x, dtype=np.float64)
    if not curves:
        return float(x[-1])
    last = max(settled_index(c, fraction) for c in curves)
    span = x[last] - x[0]
    return float(min(x[-1], x[last] + margin * span)) if span > 0 else float(x[-1])
