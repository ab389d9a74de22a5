"""Small shared pieces of the procedural 3-D stand-ins (:mod:`.shapes3d`, :mod:`.mpi3d`).

Colour conversion, factor-table validation, grid bookkeeping (flat index in the original
file order, last factor fastest) and 2-D signed-distance helpers for anti-aliased drawing.
Nothing here is a faithful model of the original renderers; see each data set's module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_TOL = 1e-9


# ---------------------------------------------------------------------------- colour
def hue_to_rgb(hue: np.ndarray) -> np.ndarray:
    """RGB of an HSV colour with full saturation and value.

    Parameters
    ----------
    hue : (...) array in [0, 1] (1 is the same colour as 0)

    Returns
    -------
    rgb : (..., 3) float64 array in [0, 1]
    """
    h6 = 6.0 * np.mod(np.asarray(hue, dtype=np.float64), 1.0)
    r = np.clip(np.abs(h6 - 3.0) - 1.0, 0.0, 1.0)
    g = np.clip(2.0 - np.abs(h6 - 2.0), 0.0, 1.0)
    b = np.clip(2.0 - np.abs(h6 - 4.0), 0.0, 1.0)
    return np.stack([r, g, b], axis=-1)


# ---------------------------------------------------------------------------- validation
def check_factor_table(values: Any, name: str, factor_names: Sequence[str]) -> np.ndarray:
    """An ``(N, F)`` float64 table of factor values (a single ``(F,)`` row is accepted)."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric (N, {len(factor_names)}) array; "
                        f"could not convert: {exc}") from exc
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != len(factor_names):
        raise ValueError(
            f"{name} must have shape (N, {len(factor_names)}) with columns "
            f"{', '.join(factor_names)}; got shape {np.shape(values)}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty; pass at least one row of factor values")
    bad = ~np.isfinite(arr)
    if bad.any():
        cols = sorted({factor_names[j] for j in np.nonzero(bad)[1]})
        raise ValueError(f"{name} contains NaN or infinite values in column(s) {cols}")
    return arr


def check_column_range(arr: np.ndarray, name: str, column: str, lo: float, hi: float) -> None:
    """Raise naming ``name[column]`` when a value lies outside ``[lo, hi]``."""
    bad = (arr < lo - _TOL) | (arr > hi + _TOL)
    if bad.any():
        raise ValueError(f"{name} column {column!r} must lie in [{lo:g}, {hi:g}]; "
                         f"got {np.unique(arr[bad])[:5].tolist()}")


def check_column_codes(arr: np.ndarray, name: str, column: str, n_levels: int) -> np.ndarray:
    """Integer level codes ``0 .. n_levels - 1`` of a categorical column, as int64."""
    bad = (arr != np.round(arr)) | (arr < 0) | (arr > n_levels - 1)
    if bad.any():
        raise ValueError(f"{name} column {column!r} must hold integer codes 0..{n_levels - 1}; "
                         f"got {np.unique(arr[bad])[:5].tolist()}")
    return arr.astype(np.int64)


# ---------------------------------------------------------------------------- 2-D drawing
def coverage(sdf: np.ndarray) -> np.ndarray:
    """Pixel coverage from a signed distance in pixels (negative inside): a 1-pixel ramp.

    Zero where the pixel centre is at least half a pixel outside, so a shape never touches
    pixels farther away — the region masks are exact supports.
    """
    return np.clip(0.5 - sdf, 0.0, 1.0)


def sdf_segment(x: np.ndarray, y: np.ndarray, ax: np.ndarray, ay: np.ndarray, bx: np.ndarray,
                by: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Signed distance to a thick segment (a stadium) from ``a`` to ``b``.

    ``x, y`` broadcast against ``(B, 1, 1)`` per-image endpoints and radius.
    """
    abx, aby = bx - ax, by - ay
    denom = np.maximum(abx * abx + aby * aby, 1e-12)
    t = np.clip(((x - ax) * abx + (y - ay) * aby) / denom, 0.0, 1.0)
    return np.hypot(x - ax - t * abx, y - ay - t * aby) - radius


def sdf_convex_polygon(x: np.ndarray, y: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Signed distance (exact inside and along edges, a lower bound near corners) to convex
    polygons given by their vertices in either winding order.

    Parameters
    ----------
    x, y : (B, H, W) arrays (or broadcastable to it)
    vertices : (B, K, 2) array, ``(x, y)`` per vertex

    Returns
    -------
    sdf : (B, H, W) array; a degenerate (zero-area) polygon is everywhere outside
    """
    k = vertices.shape[1]
    vx, vy = vertices[..., 0], vertices[..., 1]
    area2 = np.sum(vx * np.roll(vy, -1, axis=1) - np.roll(vx, -1, axis=1) * vy, axis=1)
    # outward normal of a counter-clockwise edge is (ey, -ex); flip for clockwise polygons
    orient = np.where(area2 >= 0, 1.0, -1.0)
    out = None
    for i in range(k):
        px, py = vx[:, i], vy[:, i]
        ex, ey = vx[:, (i + 1) % k] - px, vy[:, (i + 1) % k] - py
        length = np.hypot(ex, ey)
        ok = length > 1e-9
        scale = np.where(ok, orient / np.where(ok, length, 1.0), 0.0)
        nx, ny = (ey * scale)[:, None, None], (-ex * scale)[:, None, None]
        d = (x - px[:, None, None]) * nx + (y - py[:, None, None]) * ny
        d = np.where(ok[:, None, None], d, -np.inf)  # a repeated vertex adds no constraint
        out = d if out is None else np.maximum(out, d)
    assert out is not None
    degenerate = (np.abs(area2) < 1e-9)[:, None, None]
    return np.where(degenerate, np.inf, out)


def sdf_ellipse(x: np.ndarray, y: np.ndarray, cx: np.ndarray, cy: np.ndarray, rx: np.ndarray,
                ry: np.ndarray) -> np.ndarray:
    """Approximate signed distance (first-order, exact on circles) to an axis-aligned ellipse."""
    rx = np.maximum(rx, 1e-6)
    ry = np.maximum(ry, 1e-6)
    u, v = (x - cx) / rx, (y - cy) / ry
    k0 = np.hypot(u, v)
    k1 = np.hypot(u / rx, v / ry)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)
