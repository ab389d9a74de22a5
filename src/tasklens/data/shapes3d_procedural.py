"""Procedural Shapes3D stand-in: 64×64 RGB scenes on the full 3dshapes factor grid.

3dshapes (Burgess & Kim, 2018; DeepMind) renders an object in a room with MuJoCo — 480,000
images, one per combination of six factors — and Maziarka et al. 2022 (§3.1) turns it
into a multi-task benchmark. The original archive is not shipped here. This module draws an
**approximation** with the original factor grid for CPU-scale experiments: the pixels are
*not* those of 3dshapes (different camera, room size, lighting, no shadows cast by the light,
no texture), only the structure is kept — a floor, walls, one object in the middle, each
factor changing the image in its own way.

Factors (columns of ``factor_values``, in the original order, last one fastest):

- ``floor_hue``, ``wall_hue``, ``object_hue``: 10 values ``0, 0.1, ..., 0.9``; the colour is
  HSV ``(hue, 1, 1)`` times a grey-level shade, so a hue changes its region's pixels only;
- ``scale``: 8 values ``linspace(0.75, 1.25, 8)``, the object's size;
- ``shape``: 0 cube, 1 cylinder, 2 sphere, 3 capsule (upright);
- ``orientation``: 15 values ``linspace(-30, 30, 15)`` degrees, modelled as the camera's
  azimuth around the object (the room and the object turn together on screen; the wall
  corner and the floor line move).

Renderer: a vectorized ray caster (numpy, no external renderer). The room is a box
``|x|, |z| <= 6``, ``0 <= y <= 8``; the camera orbits the object at distance 4.5, height 1.7,
looking at ``(0, 0.6, 0)`` with a horizontal half field of view of ``atan(0.36)``; the object
stands on the floor at the origin with half-size ``0.5·scale``. Shading is Lambert from one
directional light, plus a soft contact shadow on the floor (it depends on ``scale`` only).
Each pixel averages a 2×2 grid of rays (anti-aliasing). The geometry depends only on
(scale, shape, orientation) — 480 combinations on the grid — so each batch ray-casts its
distinct combinations once and colours every image from them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._common.validation import check_choice, check_positive_int, check_seed, seed_info
from . import _render3d as r3
from .factor_grid import FactorGrid
from .random_mlp import random_mlp_targets
from .taskset import TaskSet

IMAGE_SIZE = 64
HUES = np.linspace(0.0, 1.0, 10, endpoint=False)
SCALES = np.linspace(0.75, 1.25, 8)
SHAPES: dict[int, str] = {0: "cube", 1: "cylinder", 2: "sphere", 3: "capsule"}
ORIENTATIONS = np.linspace(-30.0, 30.0, 15)  # degrees, as in the original labels


def _render_grid(values: np.ndarray) -> np.ndarray:
    return render_shapes3d(values)


#: the full Shapes3D grid (480,000 points) in the original order (orientation fastest);
#: ``GRID.images()`` renders it batch by batch
GRID = FactorGrid(
    ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"),
    (HUES, HUES, HUES, SCALES, np.array(sorted(SHAPES), dtype=np.float64), ORIENTATIONS),
    render=_render_grid,
)
#: image regions, in the order of :func:`shapes3d_coverage`'s second axis
REGIONS: tuple[str, ...] = ("floor", "wall", "object")
TASK_FAMILIES = ("factors", "random_mlp")

# Scene (world units; y up, the camera looks along +z at orientation 0).
ROOM_HALF_WIDTH = 6.0
ROOM_HEIGHT = 8.0
CAMERA_DISTANCE = 4.5
CAMERA_HEIGHT = 1.7
TARGET_HEIGHT = 0.6
HALF_FOV_TAN = 0.36
OBJECT_HALF_SIZE = 0.5  # at scale 1: cube side 1, sphere radius 0.5
CAPSULE_RADIUS = 0.8  # × half-size; the capsule is 2.6 half-sizes tall
CAPSULE_HEIGHT = 2.6
LIGHT = np.array([-0.45, 1.0, -0.6]) / np.linalg.norm([-0.45, 1.0, -0.6])
ROOM_SHADE = (0.35, 0.65)  # ambient, diffuse
OBJECT_SHADE = (0.25, 0.75)
SHADOW_DEPTH = 0.45
SUPERSAMPLE = 2
_IMAGES_PER_STEP = 1024  # images coloured per step
_GEOMETRIES_PER_STEP = 12  # bounds temporary memory (~12 · 16384 rays · 8 B per array)


# ---------------------------------------------------------------------------- rendering
def render_shapes3d(factor_values: Any) -> np.ndarray:
    """Render Shapes3D stand-in images.

    Parameters
    ----------
    factor_values : (N, 6) or (6,) array-like
        Columns ``GRID.names``: hues in [0, 1], scale in [0.75, 1.25], shape code 0..3,
        orientation in degrees in [-30, 30] (values between grid levels are allowed, except
        for the shape).

    Returns
    -------
    images : (N, 64, 64, 3) float32 array in [0, 1]
        Channels last, as the original (a view of a channels-first array:
        ``images.transpose(0, 3, 1, 2)`` is contiguous).
    """
    z = _check_values(factor_values)
    weights, inverse = _geometry_maps(z, shaded=True)
    rgb = r3.hue_to_rgb(z[:, :3]).astype(np.float32)  # (N, 3 regions, 3 channels)
    # colour = sum over regions of weight · RGB: one (3 × 3) @ (3 × 4096) product per image,
    # channels first (contiguous); returned as a channels-last view
    maps = weights.reshape(len(weights), 3, IMAGE_SIZE * IMAGE_SIZE)
    out = np.empty((len(z), 3, IMAGE_SIZE * IMAGE_SIZE), dtype=np.float32)
    for lo in range(0, len(z), _IMAGES_PER_STEP):  # bounds the gathered maps' memory
        sl = slice(lo, lo + _IMAGES_PER_STEP)
        np.matmul(rgb[sl].transpose(0, 2, 1), maps[inverse[sl]], out=out[sl])
    np.clip(out, 0.0, 1.0, out=out)
    return out.reshape(len(z), 3, IMAGE_SIZE, IMAGE_SIZE).transpose(0, 2, 3, 1)


def shapes3d_coverage(factor_values: Any) -> np.ndarray:
    """Fraction of each pixel's rays that hit the floor, the walls and the object.

    Parameters
    ----------
    factor_values : (N, 6) or (6,) array-like (see :func:`render_shapes3d`)

    Returns
    -------
    coverage : (N, 3, 64, 64) float32 array
        Axis 1 in the order ``REGIONS``; sums to 1 over it. A pixel's colour depends on a
        region's hue exactly where that region's coverage is positive.
    """
    z = _check_values(factor_values)
    cov, inverse = _geometry_maps(z, shaded=False)
    return cov[inverse]


def _check_values(factor_values: Any) -> np.ndarray:
    name = "factor_values"
    z = r3.check_factor_table(factor_values, name, GRID.names)
    for j in range(3):
        r3.check_column_range(z[:, j], name, GRID.names[j], 0.0, 1.0)
    r3.check_column_range(z[:, 3], name, "scale", SCALES[0], SCALES[-1])
    r3.check_column_codes(z[:, 4], name, "shape", len(SHAPES))
    r3.check_column_range(z[:, 5], name, "orientation", ORIENTATIONS[0], ORIENTATIONS[-1])
    return z


class _Room:
    """The empty room seen from each distinct orientation, at ray (sub-pixel) resolution."""

    def __init__(self, orientation_deg: np.ndarray) -> None:
        phi = np.deg2rad(orientation_deg)
        centre = np.stack([-CAMERA_DISTANCE * np.sin(phi), np.full_like(phi, CAMERA_HEIGHT),
                           -CAMERA_DISTANCE * np.cos(phi)], axis=1)
        forward = np.array([0.0, TARGET_HEIGHT, 0.0]) - centre
        forward /= np.linalg.norm(forward, axis=1, keepdims=True)
        right = np.cross(np.array([0.0, 1.0, 0.0]), forward)
        right /= np.linalg.norm(right, axis=1, keepdims=True)
        self.centre = centre
        self.basis = np.stack([forward, right, np.cross(forward, right)], axis=1)  # (K, 3, 3)
        n = IMAGE_SIZE * SUPERSAMPLE
        idx = np.broadcast_to(np.arange(n), (len(phi), n))
        d = _ray_directions(self.basis, idx, idx)
        o = centre[:, None, None, :]
        # the ray leaves the box through the nearest of its exit planes
        t = [(np.where(d[..., k] > 0, hi, lo) - o[..., k]) / _nonzero(d[..., k])
             for k, (lo, hi) in enumerate([(-ROOM_HALF_WIDTH, ROOM_HALF_WIDTH),
                                           (0.0, ROOM_HEIGHT),
                                           (-ROOM_HALF_WIDTH, ROOM_HALF_WIDTH)])]
        exit_axis = np.argmin(np.stack(t, axis=-1), axis=-1)
        t_exit = np.min(np.stack(t, axis=-1), axis=-1)
        normal = np.zeros(d.shape)
        np.put_along_axis(normal, exit_axis[..., None],
                          -np.sign(np.take_along_axis(d, exit_axis[..., None], axis=-1)), -1)
        self.floor = (exit_axis == 1) & (d[..., 1] < 0)
        amb, dif = ROOM_SHADE
        self.shade = amb + dif * np.maximum(normal @ LIGHT, 0.0)
        self.hit_x = o[..., 0] + t_exit * d[..., 0]
        self.hit_z = o[..., 2] + t_exit * d[..., 2]


def _ray_directions(basis: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Unit directions (G, R, C, 3) of the rays through sample ``(rows[g, i], cols[g, j])``.

    ``basis`` is (G, 3, 3): forward, right and up of each camera; samples are numbered
    0 .. 64·s - 1 from the top left, ``s = SUPERSAMPLE`` per pixel and axis.
    """
    n = IMAGE_SIZE * SUPERSAMPLE
    sx = HALF_FOV_TAN * ((cols + 0.5) / n * 2.0 - 1.0)[:, None, :, None]
    sy = -HALF_FOV_TAN * ((rows + 0.5) / n * 2.0 - 1.0)[:, :, None, None]
    d = basis[:, None, None, 0] + sx * basis[:, None, None, 1] + sy * basis[:, None, None, 2]
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def _nonzero(x: np.ndarray) -> np.ndarray:
    return np.where(np.abs(x) > 1e-12, x, 1e-12)


def _geometry_maps(z: np.ndarray, shaded: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per distinct (scale, shape, orientation): pixel means of shade · [ray hits region].

    With ``shaded=False`` the shade is 1 (the coverage). Returns the (G, 3, 64, 64) maps and
    the (N,) index of each row's geometry. The empty room (with the object's shadow) depends
    on (scale, orientation) only, so it is drawn once per such pair; rays are then cast at
    the object only in a window around its projection.
    """
    uniq, inverse = np.unique(z[:, 3:6], axis=0, return_inverse=True)
    orientations, view = np.unique(uniq[:, 2], return_inverse=True)
    pairs, pair = np.unique(uniq[:, [0, 2]], axis=0, return_inverse=True)
    view, pair = view.reshape(-1), pair.reshape(-1)
    room = _Room(orientations)
    pair_view = np.searchsorted(orientations, pairs[:, 1])
    label = np.where(room.floor[pair_view], 0, 1).astype(np.int8)  # (P, 64·s, 64·s)
    shade = _shadowed(room, pair_view, OBJECT_HALF_SIZE * pairs[:, 0], label)
    value = shade if shaded else np.ones_like(shade)
    out = np.stack([_pool(np.where(label == r, value, 0.0)) for r in range(3)], axis=1)
    out = out.astype(np.float32)[pair]
    for lo in range(0, len(uniq), _GEOMETRIES_PER_STEP):
        sl = slice(lo, lo + _GEOMETRIES_PER_STEP)
        a = OBJECT_HALF_SIZE * uniq[sl, 0]
        g = np.arange(len(a))[:, None, None]
        rows, cols = _object_window(room.centre[view[sl]], room.basis[view[sl]], a,
                                    uniq[sl, 1])
        window = (pair[sl][:, None, None], rows[:, :, None], cols[:, None, :])
        w_label, w_shade = label[window], shade[window]
        hit, obj_shade = _cast_object(room, view[sl], a, uniq[sl, 1].astype(np.int64), rows,
                                      cols)
        w_label = np.where(hit, 2, w_label)
        w_value = np.where(hit, obj_shade, w_shade) if shaded else np.ones_like(w_shade)
        px_rows = rows[:, ::SUPERSAMPLE] // SUPERSAMPLE
        px_cols = cols[:, ::SUPERSAMPLE] // SUPERSAMPLE
        for r in range(3):
            out[lo + g, r, px_rows[:, :, None], px_cols[:, None, :]] = _pool(
                np.where(w_label == r, w_value, 0.0))
    return out, inverse.reshape(-1)


def _shadowed(room: _Room, view: np.ndarray, a: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Room shade (P, 64·s, 64·s) with a soft contact shadow, pushed away from the light.

    The shadow kernel ``(1 - d²/R²)²`` has compact support (``R = 3·half-size``), so the
    object's size changes the floor only near the object.
    """
    a3 = a[:, None, None]
    off = 0.6 * a3 / LIGHT[1]
    d2 = ((room.hit_x[view] + LIGHT[0] * off) ** 2 + (room.hit_z[view] + LIGHT[2] * off) ** 2)
    kernel = np.clip(1.0 - d2 / (3.0 * a3) ** 2, 0.0, 1.0) ** 2
    shade = room.shade[view]
    return np.where(label == 0, shade * (1.0 - SHADOW_DEPTH * kernel), shade)


def _cast_object(room: _Room, view: np.ndarray, a: np.ndarray, shape: np.ndarray,
                 rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which window rays hit the object, and the object's shade there, both (G, R, C)."""
    d = _ray_directions(room.basis[view], rows, cols)
    o = room.centre[view][:, None, None, :]
    a3 = a[:, None, None]
    t_obj = np.full(d.shape[:-1], np.inf)
    n_obj = np.zeros(d.shape)
    for code in SHAPES:
        sel = np.flatnonzero(shape == code)
        if sel.size:
            t_obj[sel], n_obj[sel] = _HIT[code](o[sel], d[sel], a3[sel])
    # the object stands inside the (convex) room, so any hit is in front of the room
    amb, dif = OBJECT_SHADE
    return np.isfinite(t_obj), amb + dif * np.maximum(n_obj @ LIGHT, 0.0)


def _object_window(centre: np.ndarray, basis: np.ndarray, a: np.ndarray,
                   shape: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample rows (G, R) and columns (G, C) of a window holding each object's projection."""
    height = np.where(shape == 3, CAPSULE_HEIGHT, 2.0) * a
    corners = np.stack(np.meshgrid([-1.0, 1.0], [0.0, 1.0], [-1.0, 1.0], indexing="ij"),
                       axis=-1).reshape(-1, 3)
    pts = corners[None] * np.stack([a, height, a], axis=1)[:, None, :]  # (G, 8, 3)
    v = pts - centre[:, None, :]
    cam = np.einsum("gkc,gjc->gkj", v, basis)  # forward, right, up coordinates
    col = (cam[..., 1] / (cam[..., 0] * HALF_FOV_TAN) + 1.0) / 2.0 * IMAGE_SIZE
    row = (1.0 - cam[..., 2] / (cam[..., 0] * HALF_FOV_TAN)) / 2.0 * IMAGE_SIZE
    spans = []
    for coord in (row, col):
        lo = np.clip(np.floor(coord.min(axis=1)) - 1, 0, IMAGE_SIZE).astype(np.int64)
        hi = np.clip(np.ceil(coord.max(axis=1)) + 1, 0, IMAGE_SIZE).astype(np.int64)
        size = int(max((hi - lo).max(), 1))
        lo = np.minimum(lo, IMAGE_SIZE - size)
        spans.append(lo[:, None] * SUPERSAMPLE + np.arange(size * SUPERSAMPLE)[None, :])
    return spans[0], spans[1]


def _pool(a: np.ndarray) -> np.ndarray:
    """(G, 64·s, 64·s) ray values → (G, 64, 64) pixel means."""
    s = SUPERSAMPLE
    total = sum(a[:, i::s, j::s] for i in range(s) for j in range(s))
    return total / (s * s)


def _sphere_t(o: np.ndarray, d: np.ndarray, cy: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Nearest positive hit of unit rays with spheres centred at ``(0, cy, 0)``; inf if none."""
    ocx, ocy, ocz = o[..., 0], o[..., 1] - cy, o[..., 2]
    b = ocx * d[..., 0] + ocy * d[..., 1] + ocz * d[..., 2]
    c = ocx**2 + ocy**2 + ocz**2 - r**2
    disc = b * b - c
    t = -b - np.sqrt(np.maximum(disc, 0.0))
    return np.where((disc >= 0) & (t > 0), t, np.inf)


def _tube_t(o: np.ndarray, d: np.ndarray, r: np.ndarray, y0: np.ndarray,
            y1: np.ndarray) -> np.ndarray:
    """Nearest positive hit with the side of a vertical cylinder ``x² + z² = r², y0 <= y <= y1``."""
    aa = d[..., 0] ** 2 + d[..., 2] ** 2
    b = o[..., 0] * d[..., 0] + o[..., 2] * d[..., 2]
    c = o[..., 0] ** 2 + o[..., 2] ** 2 - r**2
    disc = b * b - aa * c
    t = (-b - np.sqrt(np.maximum(disc, 0.0))) / np.maximum(aa, 1e-12)
    y = o[..., 1] + t * d[..., 1]
    return np.where((disc >= 0) & (t > 0) & (y >= y0) & (y <= y1), t, np.inf)


def _hit_point(o: np.ndarray, d: np.ndarray, t: np.ndarray) -> np.ndarray:
    return o + np.where(np.isfinite(t), t, 0.0)[..., None] * d


def _hit_cube(o: np.ndarray, d: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo = np.stack([-a, np.zeros_like(a), -a], axis=-1)
    hi = np.stack([a, 2 * a, a], axis=-1)
    inv = 1.0 / np.where(np.abs(d) > 1e-12, d, 1e-12)
    t1, t2 = (lo - o) * inv, (hi - o) * inv
    near = np.minimum(t1, t2)
    t_near = near.max(axis=-1)
    t_far = np.maximum(t1, t2).min(axis=-1)
    t = np.where((t_near <= t_far) & (t_near > 0), t_near, np.inf)
    axis = near.argmax(axis=-1)
    normal = np.zeros(d.shape)
    np.put_along_axis(normal, axis[..., None],
                      -np.sign(np.take_along_axis(d, axis[..., None], axis=-1)), axis=-1)
    return t, normal


def _hit_cylinder(o: np.ndarray, d: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t_side = _tube_t(o, d, a, 0.0, 2 * a)
    t_cap = (2 * a - o[..., 1]) / np.minimum(d[..., 1], -1e-12)
    p = _hit_point(o, d, t_cap)
    t_cap = np.where((d[..., 1] < 0) & (p[..., 0] ** 2 + p[..., 2] ** 2 <= a**2), t_cap, np.inf)
    t = np.minimum(t_side, t_cap)
    p = _hit_point(o, d, t)
    side = np.stack([p[..., 0], np.zeros_like(t), p[..., 2]], axis=-1) / a[..., None]
    top = np.broadcast_to(np.array([0.0, 1.0, 0.0]), side.shape)
    return t, np.where((t_cap <= t_side)[..., None], top, side)


def _hit_sphere(o: np.ndarray, d: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = _sphere_t(o, d, a, a)
    p = _hit_point(o, d, t)
    return t, (p - np.stack([np.zeros_like(a), a, np.zeros_like(a)], -1)) / a[..., None]


def _hit_capsule(o: np.ndarray, d: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = CAPSULE_RADIUS * a
    y0, y1 = r, CAPSULE_HEIGHT * a - r
    t_side = _tube_t(o, d, r, y0, y1)
    t_low, t_high = _sphere_t(o, d, y0, r), _sphere_t(o, d, y1, r)
    t = np.minimum(t_side, np.minimum(t_low, t_high))
    p = _hit_point(o, d, t)
    # the normal points away from the nearest point of the capsule's axis segment
    axis_y = np.clip(p[..., 1], y0, y1)
    n = p - np.stack([np.zeros_like(t), axis_y, np.zeros_like(t)], axis=-1)
    return t, n / r[..., None]


_HIT = {0: _hit_cube, 1: _hit_cylinder, 2: _hit_sphere, 3: _hit_capsule}


# ---------------------------------------------------------------------------- task sets
def shapes3d(
    n: int = 2000,
    seed: int | np.random.Generator | None = 0,
    tasks: str = "factors",
    n_tasks: int = 10,
    *,
    factor_subsets: Any = None,
    hidden: int = 300,
    depth: int = 4,
    activation: str = "tanh",
    weight_std: float | str = 1.0,
) -> TaskSet:
    """A Shapes3D stand-in task set: ``n`` distinct random images from the full grid.

    Parameters
    ----------
    n : int
        Number of images, 2 .. 480,000, drawn without replacement.
    seed : int, Generator or None
        Draws the images and, for ``random_mlp``, the task networks.
    tasks : {"factors", "random_mlp"}
        ``factors``: six tasks, one per factor —

        - ``floor_hue``, ``wall_hue``, ``object_hue``: classification over the 10 hue levels
          (classes are the hue values). Hue is circular (0.9 is as close to 0.0 as to 0.8),
          so a regression on the raw value would punish the nearest neighbour most;
        - ``scale``: regression on the scale value (8 ordered levels, 0.75 .. 1.25);
        - ``shape``: classification (cube / cylinder / sphere / capsule);
        - ``orientation``: regression on the angle in **radians** (-π/6 .. π/6), so its
          loss is on the scale of the others; the factor itself stays in degrees.

        ``random_mlp``: ``n_tasks`` regression tasks ``mlp_0 ...``, random tanh networks of
        the six factors (Maziarka et al. 2022, §3.1), see
        :func:`~tasklens.data.random_mlp.random_mlp_tasks`; factors are scaled to [-1, 1]
        by their grid ranges.
    n_tasks : int
        Number of random-MLP tasks (ignored for ``factors``).
    factor_subsets, hidden, depth, activation, weight_std
        Passed to :func:`random_mlp_tasks`.

    Returns
    -------
    TaskSet
        Inputs ``(n, 3, 64, 64)`` float32 in [0, 1]; factors ``GRID.names`` with levels the
        grids; ``info`` records the generator settings, the grid indices drawn and that the
        images are a procedural approximation.
    """
    n = check_positive_int(n, "n", minimum=2)
    if n > GRID.size:
        raise ValueError(f"n must be at most {GRID.size} (the size of the Shapes3D grid), "
                         f"got {n}")
    check_choice(tasks, "tasks", TASK_FAMILIES)
    rng = check_seed(seed)
    sample_rng, task_rng = rng.spawn(2)
    index = np.sort(sample_rng.choice(GRID.size, size=n, replace=False))
    values = GRID.values(index)
    images = np.ascontiguousarray(render_shapes3d(values).transpose(0, 3, 1, 2))
    info: dict[str, Any] = {
        "generator": "tasklens.data.shapes3d_procedural", "approximation": True,
        "note": "procedural stand-in with the 3dshapes factor grid, not the original pixels",
        "n": n, "seed": seed_info(seed), "tasks": tasks,
        "grid_index": index,
    }
    classes: dict[str, Any] = {}
    if tasks == "factors":
        shape_codes = values[:, 4].astype(np.int64)
        targets: dict[str, Any] = {
            "floor_hue": values[:, 0], "wall_hue": values[:, 1], "object_hue": values[:, 2],
            "scale": values[:, 3],
            "shape": np.array([SHAPES[c] for c in shape_codes]),
            "orientation": np.deg2rad(values[:, 5]),
        }
        kinds = {name: "classification" for name in targets}
        kinds.update(scale="regression", orientation="regression")
        classes = {"floor_hue": HUES, "wall_hue": HUES, "object_hue": HUES,
                   "shape": np.array([SHAPES[c] for c in sorted(SHAPES)])}
    else:
        targets, kinds, mlp_info = random_mlp_targets(
            values, GRID.names, GRID.levels, n_tasks, task_rng, hidden=hidden,
            depth=depth, activation=activation, factor_subsets=factor_subsets,
            weight_std=weight_std,
        )
        info.update(mlp_info)
    return TaskSet.from_arrays(
        images, targets, kinds, factors=values, factor_names=GRID.names,
        factor_levels=GRID.levels, name=f"shapes3d_{tasks}", info=info, classes=classes,
    )
