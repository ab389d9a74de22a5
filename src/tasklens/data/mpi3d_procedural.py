"""Procedural MPI3D stand-in: 64×64 RGB images of an object held by a robot arm.

MPI3D (Gondal et al., 2019; real, realistic and toy variants, 1,036,800 images each) films
an object mounted on the tip of a two-joint robot arm over a coloured background, with seven
factors; Maziarka et al. 2022 (§3.1) turns it into a multi-task benchmark. The original
archive is not shipped here. This module draws an **approximation** with the original factor
grid for CPU-scale experiments: the pixels are *not* those of MPI3D (no real camera, no
texture, noise or motion of the rig, a schematic arm), only the structure is kept.

Factors (columns of ``factor_values``, values are the level indices as in the original,
last factor fastest):

- ``object_color``: 0 white, 1 green, 2 red, 3 blue, 4 brown, 5 olive;
- ``object_shape``: 0 cone, 1 cube, 2 cylinder, 3 hexagonal (prism), 4 pyramid, 5 sphere;
- ``object_size``: 0 small, 1 large (world half-sizes 0.3 and 0.45);
- ``camera_height``: 0 top, 1 center, 2 bottom (camera elevations 35°, 12° and -8°);
- ``background_color``: 0 purple, 1 sea green, 2 salmon;
- ``horizontal_axis``: 0 .. 39, the arm's first joint: azimuth ``-45° .. 45°``;
- ``vertical_axis``: 0 .. 39, the second joint: the arm's angle from the vertical,
  ``15° .. 75°`` (the object rises and moves away from the base).

Scene (world units, y up, the camera looks along +z): the arm hangs from a pivot at
``(0, 3, 0.5)`` with length 2.2 and carries the object at its tip (the object turns with
the first joint); a wall at ``z = 4`` and the floor ``y = 0`` take the background colour
(shades 0.9 and 0.6). The camera looks at ``(0, 1.75, 0.8)`` from distance 6 with a half
field of view of ``atan(0.4)``. Positions are projected in perspective; the object itself
is drawn in a 2.5-D way: an orthographic view of its faces at the elevation and yaw under
which the camera sees it, scaled by its perspective size, flat- or Lambert-shaded with a
light fixed to the camera. Layers (background, arm, object) are composited back to front
with anti-aliased edges from signed distances, so every factor changes the image
continuously (a change of one level of any factor changes pixel values).
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
OBJECT_COLORS: dict[str, tuple[float, float, float]] = {
    "white": (0.92, 0.92, 0.92), "green": (0.15, 0.62, 0.2), "red": (0.82, 0.12, 0.1),
    "blue": (0.12, 0.25, 0.82), "brown": (0.48, 0.28, 0.1), "olive": (0.5, 0.5, 0.12),
}
OBJECT_SHAPES: tuple[str, ...] = ("cone", "cube", "cylinder", "hexagonal", "pyramid", "sphere")
OBJECT_SIZES: tuple[str, ...] = ("small", "large")
CAMERA_HEIGHTS: tuple[str, ...] = ("top", "center", "bottom")
BACKGROUND_COLORS: dict[str, tuple[float, float, float]] = {
    "purple": (0.5, 0.3, 0.62), "sea green": (0.18, 0.55, 0.34), "salmon": (0.98, 0.5, 0.45),
}
N_AXIS = 40


def _render_grid(values: np.ndarray) -> np.ndarray:
    return render_mpi3d(values)


#: the full MPI3D grid (1,036,800 points) in the original order (vertical axis fastest);
#: ``GRID.images()`` renders it batch by batch
GRID = FactorGrid(
    ("object_color", "object_shape", "object_size", "camera_height", "background_color",
     "horizontal_axis", "vertical_axis"),
    tuple(np.arange(k, dtype=np.float64) for k in (6, 6, 2, 3, 3, N_AXIS, N_AXIS)),
    render=_render_grid,
)
#: image regions, in the order of :func:`mpi3d_coverage`'s second axis
REGIONS: tuple[str, ...] = ("background", "arm", "object")
TASK_FAMILIES = ("factors", "random_mlp")

# Scene (world units).
OBJECT_HALF_SIZES = (0.3, 0.45)
CAMERA_ELEVATIONS_DEG = (35.0, 12.0, -8.0)
CAMERA_DISTANCE = 6.0
CAMERA_TARGET = np.array([0.0, 1.75, 0.8])
HALF_FOV_TAN = 0.4
ARM_PIVOT = np.array([0.0, 3.0, 0.5])
ARM_LENGTH = 2.2
ARM_RADIUS = 0.09
AZIMUTH_RANGE_DEG = (-45.0, 45.0)
TILT_RANGE_DEG = (15.0, 75.0)
WALL_Z = 4.0
WALL_SHADE, FLOOR_SHADE, ARM_SHADE = 0.9, 0.6, 1.0
ARM_RGB = (0.32, 0.32, 0.35)
#: light direction in the view frame (x right, y up, z away from the camera)
LIGHT = np.array([-0.45, 0.65, -0.6]) / np.linalg.norm([-0.45, 0.65, -0.6])
SHADE = (0.3, 0.7)  # ambient, diffuse
HEX_APOTHEM = 0.9
_FOCAL = IMAGE_SIZE / 2 / HALF_FOV_TAN  # pixels per unit of (lateral / depth)
_IMAGES_PER_STEP = 64


# ---------------------------------------------------------------------------- rendering
def render_mpi3d(factor_values: Any) -> np.ndarray:
    """Render MPI3D stand-in images.

    Parameters
    ----------
    factor_values : (N, 7) or (7,) array-like
        Level indices in ``GRID.names`` order; the two arm axes may also take values
        between levels (any real number in [0, 39]).

    Returns
    -------
    images : (N, 64, 64, 3) float32 array in [0, 1]
        Channels last, as the original (a view of a channels-first array).
    """
    z = _check_values(factor_values)
    rgb = np.empty((len(z), 3, 3), dtype=np.float32)
    rgb[:, 0] = np.array(list(BACKGROUND_COLORS.values()))[z[:, 4].astype(np.int64)]
    rgb[:, 1] = ARM_RGB
    rgb[:, 2] = np.array(list(OBJECT_COLORS.values()))[z[:, 0].astype(np.int64)]
    # colour = sum over regions of (coverage · shade) · RGB, one small matmul per image
    out = np.empty((len(z), 3, IMAGE_SIZE * IMAGE_SIZE), dtype=np.float32)
    for lo in range(0, len(z), _IMAGES_PER_STEP):
        sl = slice(lo, lo + _IMAGES_PER_STEP)
        maps = _render_chunk(z[sl], shaded=True).reshape(-1, 3, IMAGE_SIZE * IMAGE_SIZE)
        np.matmul(rgb[sl].transpose(0, 2, 1), maps, out=out[sl])
    np.clip(out, 0.0, 1.0, out=out)
    return out.reshape(len(z), 3, IMAGE_SIZE, IMAGE_SIZE).transpose(0, 2, 3, 1)


def mpi3d_coverage(factor_values: Any) -> np.ndarray:
    """Fraction of each pixel covered by the background, the arm and the object.

    Parameters
    ----------
    factor_values : (N, 7) or (7,) array-like (see :func:`render_mpi3d`)

    Returns
    -------
    coverage : (N, 3, 64, 64) float32 array
        Axis 1 in the order ``REGIONS``; sums to 1 over it. A pixel's colour depends on the
        background (object) colour exactly where the background (object) coverage is positive.
    """
    z = _check_values(factor_values)
    out = np.empty((len(z), 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    for lo in range(0, len(z), _IMAGES_PER_STEP):
        out[lo:lo + _IMAGES_PER_STEP] = _render_chunk(z[lo:lo + _IMAGES_PER_STEP], shaded=False)
    return out


def _check_values(factor_values: Any) -> np.ndarray:
    name = "factor_values"
    z = r3.check_factor_table(factor_values, name, GRID.names)
    for j in range(5):
        r3.check_column_codes(z[:, j], name, GRID.names[j], GRID.shape[j])
    for j in (5, 6):
        r3.check_column_range(z[:, j], name, GRID.names[j], 0.0, N_AXIS - 1.0)
    return z


def _camera(height_code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera centres (B, 3) and bases (B, 3, 3): forward, right, up."""
    e = np.deg2rad(np.asarray(CAMERA_ELEVATIONS_DEG)[height_code])
    forward = np.stack([np.zeros_like(e), -np.sin(e), np.cos(e)], axis=1)
    centre = CAMERA_TARGET - CAMERA_DISTANCE * forward
    right = np.broadcast_to(np.array([1.0, 0.0, 0.0]), forward.shape)
    up = np.stack([np.zeros_like(e), np.cos(e), np.sin(e)], axis=1)
    return centre, np.stack([forward, right, up], axis=1)


def _project(points: np.ndarray, centre: np.ndarray,
             basis: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel column, row (of pixel centres) and depth of (B, 3) world points."""
    cam = np.einsum("bc,bjc->bj", points - centre, basis)
    col = IMAGE_SIZE / 2 + _FOCAL * cam[:, 1] / cam[:, 0] - 0.5
    row = IMAGE_SIZE / 2 - _FOCAL * cam[:, 2] / cam[:, 0] - 0.5
    return col, row, cam[:, 0]


def _arm_tip(horizontal_axis: np.ndarray, vertical_axis: np.ndarray) -> np.ndarray:
    """World position (N, 3) of the object held by the arm for the two axis values."""
    psi = np.deg2rad(np.interp(horizontal_axis, [0, N_AXIS - 1], AZIMUTH_RANGE_DEG))
    tilt = np.deg2rad(np.interp(vertical_axis, [0, N_AXIS - 1], TILT_RANGE_DEG))
    return ARM_PIVOT + ARM_LENGTH * np.stack(
        [np.sin(psi) * np.sin(tilt), -np.cos(tilt), np.cos(psi) * np.sin(tilt)], axis=1)


def _render_chunk(z: np.ndarray, shaded: bool) -> np.ndarray:
    """Region maps (B, 3, 64, 64): background, arm and object, each coverage × shade.

    Full-frame work is done in float32 on small chunks (it is memory-bound).
    """
    b = len(z)
    f32 = np.float32
    centre, basis = _camera(z[:, 3].astype(np.int64))
    rows = np.arange(IMAGE_SIZE, dtype=f32)[None, :, None]
    cols = np.arange(IMAGE_SIZE, dtype=f32)[None, None, :]
    # background: wall above the line where it meets the floor, floor below
    _, wall_row, _ = _project(np.tile([0.0, 0.0, WALL_Z], (b, 1)), centre, basis)
    floor = r3.coverage(_column(wall_row) - rows)  # (B, 64, 1): negative below the line
    bg_shade = (WALL_SHADE + (FLOOR_SHADE - WALL_SHADE) * floor) if shaded else f32(1.0)
    # the arm: a thick segment from the pivot to the object, tapering with depth
    tip = _arm_tip(z[:, 5], z[:, 6])
    pc, pr, pd = _project(np.tile(ARM_PIVOT, (b, 1)), centre, basis)
    tc, tr, td = _project(tip, centre, basis)
    radius = _FOCAL * ARM_RADIUS * 2.0 / (pd + td)
    arm_sdf = np.minimum(
        r3.sdf_segment(cols, rows, _column(pc), _column(pr), _column(tc), _column(tr),
                       _column(radius)),
        np.sqrt((cols - _column(pc)) ** 2 + (rows - _column(pr)) ** 2)
        - 2.0 * _column(radius),  # the joint
    )
    arm = r3.coverage(arm_sdf)
    # the object, in a window around its centre
    size = _FOCAL * np.asarray(OBJECT_HALF_SIZES)[z[:, 2].astype(np.int64)] / td  # px per unit
    obj_alpha, obj_weight = _object_layer(z, tip, centre, tc, tr, size)
    out = np.empty((b, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=f32)
    behind = 1.0 - obj_alpha
    out[:, 0] = (1.0 - arm) * behind * bg_shade
    out[:, 1] = arm * behind * (ARM_SHADE if shaded else 1.0)
    out[:, 2] = obj_weight if shaded else obj_alpha
    return out


def _column(a: np.ndarray) -> np.ndarray:
    """Per-image scalars (B,) as float32 (B, 1, 1), to broadcast against pixel grids."""
    return a.astype(np.float32)[:, None, None]


def _object_layer(z: np.ndarray, tip: np.ndarray, cam_centre: np.ndarray, tc: np.ndarray,
                  tr: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Object coverage and shade-weighted coverage, (B, 64, 64) each."""
    b = len(z)
    # the camera's view of the object: elevation from the object, and the object's yaw
    # (it turns with the arm's first joint) relative to the line of sight
    to_cam = cam_centre - tip
    elevation = np.arctan2(to_cam[:, 1], np.hypot(to_cam[:, 0], to_cam[:, 2]))
    psi = np.deg2rad(np.interp(z[:, 5], [0, N_AXIS - 1], AZIMUTH_RANGE_DEG))
    yaw = psi - np.arctan2(-to_cam[:, 0], -to_cam[:, 2])
    # a window of w × w pixels holds the object (its extent is < 1.8 units from the centre)
    w = int(min(np.ceil(2 * 1.8 * size.max()) + 4, IMAGE_SIZE))
    pad = w // 2 + 2
    r0 = np.clip(np.floor(tr - w / 2).astype(np.int64) + 1, -pad, IMAGE_SIZE + pad - w)
    c0 = np.clip(np.floor(tc - w / 2).astype(np.int64) + 1, -pad, IMAGE_SIZE + pad - w)
    win_rows = r0[:, None] + np.arange(w)
    win_cols = c0[:, None] + np.arange(w)
    u = (win_cols[:, None, :] - tc[:, None, None]) / size[:, None, None]
    v = (tr[:, None, None] - win_rows[:, :, None]) / size[:, None, None]  # up
    u, v = np.broadcast_arrays(u, v)
    alpha = np.zeros((b, w, w))
    weight = np.zeros((b, w, w))
    shape = z[:, 1].astype(np.int64)
    for code, draw in enumerate(_SHAPE_DRAWERS):
        sel = np.flatnonzero(shape == code)
        if sel.size:
            alpha[sel], weight[sel] = draw(u[sel], v[sel], elevation[sel], yaw[sel],
                                           size[sel, None, None])
    # paste the windows into padded full frames, then crop
    full_a = np.zeros((b, IMAGE_SIZE + 2 * pad, IMAGE_SIZE + 2 * pad), dtype=np.float32)
    full_w = np.zeros_like(full_a)
    idx = (np.arange(b)[:, None, None], win_rows[:, :, None] + pad, win_cols[:, None, :] + pad)
    full_a[idx], full_w[idx] = alpha, weight
    crop = np.s_[:, pad:pad + IMAGE_SIZE, pad:pad + IMAGE_SIZE]
    return full_a[crop], full_w[crop]


# ---------------------------------------------------------------------------- object shapes
def _shade(nx: Any, ny: Any, nz: Any) -> Any:
    """Lambert shade of view-frame normals (``nz`` < 0 faces the camera)."""
    amb, dif = SHADE
    return amb + dif * np.maximum(nx * LIGHT[0] + ny * LIGHT[1] + nz * LIGHT[2], 0.0)


def _to_view(x: Any, y: Any, zz: Any, elevation: np.ndarray,
             yaw: np.ndarray) -> tuple[Any, Any, Any]:
    """Object-frame vectors (y up, -z towards the camera at yaw 0) to the view frame."""
    cy, sy = np.cos(yaw), np.sin(yaw)
    ce, se = np.cos(elevation), np.sin(elevation)
    xr = x * cy + zz * sy
    zr = -x * sy + zz * cy
    return xr, y * ce + zr * se, zr * ce - y * se


def _bcast(a: np.ndarray, ndim: int) -> np.ndarray:
    return a.reshape(a.shape + (1,) * (ndim - a.ndim))


def _faces(u: np.ndarray, v: np.ndarray, elevation: np.ndarray, yaw: np.ndarray,
           size: np.ndarray, faces: list[tuple[np.ndarray, np.ndarray]]
           ) -> tuple[np.ndarray, np.ndarray]:
    """Draw the visible faces of a convex polyhedron; faces are (vertices (K, 3), normal (3,))
    in the object frame (or (B, K, 3) and (B, 3) when they depend on the image)."""
    alpha = np.zeros(u.shape)
    weight = np.zeros(u.shape)
    for verts, normal in faces:
        verts = np.broadcast_to(verts, (len(u),) + verts.shape[-2:])
        normal = np.broadcast_to(normal, (len(u), 3))
        e, y = elevation[:, None], yaw[:, None]
        px, py, _ = _to_view(verts[..., 0], verts[..., 1], verts[..., 2], e, y)
        nx, ny, nz = _to_view(normal[:, 0], normal[:, 1], normal[:, 2], elevation, yaw)
        visible = _bcast((nz < -1e-9).astype(np.float64), 3)
        cov = r3.coverage(size * r3.sdf_convex_polygon(u, v, np.stack([px, py], -1))) * visible
        alpha += cov
        weight += cov * _bcast(_shade(nx, ny, nz), 3)
    return _normalize(alpha, weight)


def _normalize(alpha: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Anti-aliased neighbouring faces can add up to slightly more than full coverage."""
    over = np.maximum(alpha, 1.0)
    return alpha / over, weight / over


def _prism(n: int, apothem: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Faces of a vertical prism with ``n`` sides and half-height 1; face 0 faces -z."""
    rho = apothem / np.cos(np.pi / n)
    beta = 2 * np.pi * np.arange(n) / n
    corner = beta - np.pi / n
    cx, cz = rho * np.sin(corner), -rho * np.cos(corner)
    faces = []
    for j in range(n):
        k = (j + 1) % n
        quad = np.array([[cx[j], 1, cz[j]], [cx[k], 1, cz[k]], [cx[k], -1, cz[k]],
                         [cx[j], -1, cz[j]]])
        faces.append((quad, np.array([np.sin(beta[j]), 0.0, -np.cos(beta[j])])))
    ring = np.stack([cx, np.ones(n), cz], axis=1)
    faces.append((ring, np.array([0.0, 1.0, 0.0])))
    faces.append((ring * [1, -1, 1], np.array([0.0, -1.0, 0.0])))
    return faces


def _pyramid() -> list[tuple[np.ndarray, np.ndarray]]:
    """Square pyramid: base half-size 1 at y = -1, apex at y = +1."""
    faces = []
    for j in range(4):
        beta = j * np.pi / 2
        a, b = beta - np.pi / 4, beta + np.pi / 4
        r = np.sqrt(2.0)
        tri = np.array([[r * np.sin(a), -1, -r * np.cos(a)], [r * np.sin(b), -1, -r * np.cos(b)],
                        [0.0, 1.0, 0.0]])
        normal = np.array([2 * np.sin(beta), 1.0, -2 * np.cos(beta)]) / np.sqrt(5.0)
        faces.append((tri, normal))
    base = np.array([[-1, -1, -1], [1, -1, -1], [1, -1, 1], [-1, -1, 1]], dtype=np.float64)
    faces.append((base, np.array([0.0, -1.0, 0.0])))
    return faces


_CUBE_FACES = _prism(4, 1.0)
_HEX_FACES = _prism(6, HEX_APOTHEM)
_PYRAMID_FACES = _pyramid()


def _draw_cube(u: np.ndarray, v: np.ndarray, elevation: np.ndarray, yaw: np.ndarray,
              size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _faces(u, v, elevation, yaw, size, _CUBE_FACES)


def _draw_hexagonal(u: np.ndarray, v: np.ndarray, elevation: np.ndarray, yaw: np.ndarray,
                   size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _faces(u, v, elevation, yaw, size, _HEX_FACES)


def _draw_pyramid(u: np.ndarray, v: np.ndarray, elevation: np.ndarray, yaw: np.ndarray,
                 size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _faces(u, v, elevation, yaw, size, _PYRAMID_FACES)


def _draw_sphere(u: np.ndarray, v: np.ndarray, elevation: np.ndarray, yaw: np.ndarray,
                 size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rho2 = u * u + v * v
    alpha = r3.coverage(size * (np.sqrt(rho2) - 1.0))
    nz = -np.sqrt(np.maximum(1.0 - rho2, 0.0))
    scale = 1.0 / np.sqrt(np.maximum(rho2 + nz * nz, 1e-12))
    return alpha, alpha * _shade(u * scale, v * scale, nz * scale)


def _draw_round(u: np.ndarray, v: np.ndarray, elevation: np.ndarray, size: np.ndarray,
                cone: bool) -> tuple[np.ndarray, np.ndarray]:
    """Cylinder (radius 1, half-height 1) or cone (base radius 1 at y = -1, apex at y = 1)."""
    e = _bcast(elevation, 3)
    c, s = np.cos(e), np.sin(e)
    ry = np.abs(s)
    bottom = r3.sdf_ellipse(u, v, 0.0, -c, 1.0, ry)
    if cone:
        b = len(u)
        tri = np.stack([np.stack([-np.ones(b), -c[:, 0, 0]], -1),
                        np.stack([np.ones(b), -c[:, 0, 0]], -1),
                        np.stack([np.zeros(b), c[:, 0, 0]], -1)], axis=1)
        body = np.minimum(r3.sdf_convex_polygon(u, v, tri), bottom)
        cap = np.where(s < 0, bottom, np.inf)  # the base is seen from below only
        cap_normal = (0.0, -c, s)
        # side normal of a cone whose radius shrinks by 1 per 2 of height
        uu = np.clip(u, -1.0, 1.0)
        side = _to_view_at_elevation(2 * uu, 1.0, -2 * np.sqrt(1 - uu * uu), e, 5.0)
    else:
        top = r3.sdf_ellipse(u, v, 0.0, c, 1.0, ry)
        box = np.maximum(np.abs(u) - 1.0, np.abs(v) - c)
        body = np.minimum(box, np.minimum(top, bottom))
        cap = np.where(s >= 0, top, bottom)
        cap_normal = (0.0, np.where(s >= 0, c, -c), np.where(s >= 0, -s, s))
        uu = np.clip(u, -1.0, 1.0)
        side = _to_view_at_elevation(uu, 0.0, -np.sqrt(1 - uu * uu), e, 1.0)
    alpha = r3.coverage(size * body)
    cap_a = np.minimum(r3.coverage(size * cap), alpha)
    weight = (alpha - cap_a) * _shade(*side) + cap_a * _shade(*cap_normal)
    return alpha, weight


def _to_view_at_elevation(x: Any, y: Any, zz: Any, e: np.ndarray,
                          norm2: float) -> tuple[Any, Any, Any]:
    n = 1.0 / np.sqrt(norm2)
    ce, se = np.cos(e), np.sin(e)
    return x * n, (y * ce + zz * se) * n, (zz * ce - y * se) * n


def _draw_cone(u: np.ndarray, v: np.ndarray, elevation: np.ndarray, yaw: np.ndarray,
              size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _draw_round(u, v, elevation, size, cone=True)


def _draw_cylinder(u: np.ndarray, v: np.ndarray, elevation: np.ndarray, yaw: np.ndarray,
                  size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _draw_round(u, v, elevation, size, cone=False)


#: drawers in ``OBJECT_SHAPES`` order
_SHAPE_DRAWERS = (_draw_cone, _draw_cube, _draw_cylinder, _draw_hexagonal, _draw_pyramid,
                  _draw_sphere)


# ---------------------------------------------------------------------------- task sets
def mpi3d(
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
    """An MPI3D stand-in task set: ``n`` distinct random images from the full grid.

    Parameters
    ----------
    n : int
        Number of images, 2 .. 1,036,800, drawn without replacement.
    seed : int, Generator or None
        Draws the images and, for ``random_mlp``, the task networks.
    tasks : {"factors", "random_mlp"}
        ``factors``: seven tasks, one per factor —

        - ``object_color`` (6), ``object_shape`` (6), ``camera_height`` (3),
          ``background_color`` (3): classification, classes named as in MPI3D;
        - ``object_size``: binary (small / large);
        - ``horizontal_axis``, ``vertical_axis``: regression on ``level / 39`` in [0, 1]
          (40 ordered arm positions).

        ``random_mlp``: ``n_tasks`` regression tasks ``mlp_0 ...``, random tanh networks of
        the seven factors (Maziarka et al. 2022, §3.1), see
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
        raise ValueError(f"n must be at most {GRID.size} (the size of the MPI3D grid), got {n}")
    check_choice(tasks, "tasks", TASK_FAMILIES)
    rng = check_seed(seed)
    sample_rng, task_rng = rng.spawn(2)
    index = np.sort(sample_rng.choice(GRID.size, size=n, replace=False))
    values = GRID.values(index)
    images = np.ascontiguousarray(render_mpi3d(values).transpose(0, 3, 1, 2))
    info: dict[str, Any] = {
        "generator": "tasklens.data.mpi3d_procedural", "approximation": True,
        "note": "procedural stand-in with the MPI3D factor grid, not the original pixels",
        "n": n, "seed": seed_info(seed), "tasks": tasks,
        "grid_index": index,
    }
    classes: dict[str, Any] = {}
    if tasks == "factors":
        codes = values.astype(np.int64)
        names = {
            "object_color": np.array(list(OBJECT_COLORS)),
            "object_shape": np.array(OBJECT_SHAPES),
            "object_size": np.array(OBJECT_SIZES),
            "camera_height": np.array(CAMERA_HEIGHTS),
            "background_color": np.array(list(BACKGROUND_COLORS)),
        }
        targets: dict[str, Any] = {
            factor: labels[codes[:, j]] for j, (factor, labels) in enumerate(names.items())
        }
        targets["horizontal_axis"] = values[:, 5] / (N_AXIS - 1)
        targets["vertical_axis"] = values[:, 6] / (N_AXIS - 1)
        kinds = {name: "classification" for name in names}
        kinds.update(object_size="binary", horizontal_axis="regression",
                     vertical_axis="regression")
        classes = dict(names)
    else:
        targets, kinds, mlp_info = random_mlp_targets(
            values, GRID.names, GRID.levels, n_tasks, task_rng, hidden=hidden,
            depth=depth, activation=activation, factor_subsets=factor_subsets,
            weight_std=weight_std,
        )
        info.update(mlp_info)
    return TaskSet.from_arrays(
        images, targets, kinds, factors=values, factor_names=GRID.names,
        factor_levels=GRID.levels, name=f"mpi3d_{tasks}", info=info, classes=classes,
    )
