"""Procedural dSprites: 64×64 binary sprites on the full factor grid, and task sets built on them.

dSprites (Matthey et al., 2017) renders three shapes (square, ellipse, heart) at 6 scales,
40 orientations and 32 × 32 positions — 737,280 images whose generative factors are known,
the data set Maziarka et al. 2022 (§3.1) turns into a multi-task benchmark. The original
archive is not shipped here; this module re-renders it procedurally (no anti-aliasing, pixel
centres sampled) with a geometry measured on real dSprites images.

Geometry (pixel units, pixel ``(row, col)`` has its centre at ``(row, col)``):

- centre: ``x = 15.5 + 32·pos_x`` (right), ``y = 15.5 + 32·pos_y`` (down);
- orientation θ turns the shape counter-clockwise *on screen* (y up); sampled points are
  rotated back by θ and divided by the scale, then tested against the canonical shape;
- square: side ``19.2·scale``;
- ellipse: semi-axes ``12.9·scale`` (horizontal at θ = 0) × ``7.2·scale``;
- heart: a square of side ``11.6·scale`` turned 45° (one corner pointing down) plus two
  discs of radius ``0.47 · 11.6·scale`` centred on the midpoints of its two upper edges, the
  square's centre ``0.25·scale`` below the sprite centre — lobes up at θ = 0, ``≈ 19.1·scale``
  across.

Checked against the twelve real dSprites images of the shared fixture
(``dsprites_sample.npz``): intersection over union ≥ 0.99 on the square and ellipse rows and
≥ 0.96 on the heart rows, centroids within 0.13 px, areas within 4 %. The heart curve of the
original is not published; its constants are the most robust minimum of the total pixel
mismatch (3-step box-smoothed) over a grid of side, lobe radius and vertical shift on the four
heart rows — a diamond-plus-two-discs heart with these constants reproduces the real 90° point
and the notch between the lobes. The rotation sense is fixed by the same check: clockwise
rotation drops the ellipse rows to IoU 0.50-0.66 (0.88 for a nearly horizontal one).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._common.validation import check_choice, check_positive_int, check_seed, seed_info
from .factor_grid import FactorGrid
from .random_mlp import random_mlp_targets
from .taskset import TaskSet

IMAGE_SIZE = 64
#: dSprites shape codes (as in ``latents_values[:, 1]``) and their names
SHAPES: dict[int, str] = {1: "square", 2: "ellipse", 3: "heart"}
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2.0 * np.pi, 40)  # as the original: 0 and 2π both occur
POSITIONS = np.linspace(0.0, 1.0, 32)
# Geometry, in pixels at scale 1 (measured on real dSprites; see the module docstring).
CENTRE_OFFSET = 15.5
POSITION_SPAN = 32.0
SQUARE_SIDE = 19.2
ELLIPSE_SEMI_AXES = (12.9, 7.2)
HEART_SQUARE_SIDE = 11.6
HEART_LOBE_RADIUS = 0.47 * HEART_SQUARE_SIDE
HEART_SHIFT = -0.25  # the turned square's centre sits this far "up" of the sprite centre
#: rotational symmetry order of each shape: the image at θ equals the image at θ + 2π/k
SYMMETRY_ORDER: dict[int, int] = {1: 4, 2: 2, 3: 1}

ORIENTATION_ENCODINGS = ("symmetry", "circular", "angle")
TASK_FAMILIES = ("factors", "random_mlp")
_CHUNK = 512  # sprites rendered per vectorized step; bounds temporary memory (~50 MB)
_TOL = 1e-9


# ---------------------------------------------------------------------------- rendering
def render_sprite(shape: int, scale: float, orientation: float, pos_x: float,
                  pos_y: float) -> np.ndarray:
    """Render one sprite.

    Parameters
    ----------
    shape : int
        dSprites shape code: 1 square, 2 ellipse, 3 heart.
    scale : float
        In [0.5, 1] (the grid is ``SCALES``; values between levels are allowed).
    orientation : float
        Radians, counter-clockwise on screen; any finite value.
    pos_x, pos_y : float
        In [0, 1]; x to the right, y downwards.

    Returns
    -------
    image : (64, 64) uint8 array in {0, 1}
    """
    return render_sprites([shape], [scale], [orientation], [pos_x], [pos_y])[0]


def render_sprites(shape: Any, scale: Any, orientation: Any, pos_x: Any,
                   pos_y: Any) -> np.ndarray:
    """Render a batch of sprites (vectorized; arguments broadcast to one length ``N``).

    Parameters
    ----------
    shape : (N,) array-like of int in {1, 2, 3}
    scale : (N,) array-like of float in [0.5, 1]
    orientation : (N,) array-like of float (radians)
    pos_x, pos_y : (N,) array-like of float in [0, 1]

    Returns
    -------
    images : (N, 64, 64) uint8 array in {0, 1}
    """
    shape_a, scale_a, theta, px, py = _check_factor_arrays(shape, scale, orientation, pos_x, pos_y)
    n = len(shape_a)
    out = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for code in SHAPES:
        idx = np.flatnonzero(shape_a == code)
        for start in range(0, len(idx), _CHUNK):
            sel = idx[start:start + _CHUNK]
            u, v = _canonical_coordinates(scale_a[sel], theta[sel], px[sel], py[sel])
            out[sel] = _INSIDE[code](u, v)
    return out


def _canonical_coordinates(scale: np.ndarray, theta: np.ndarray, pos_x: np.ndarray,
                           pos_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres in each sprite's own frame: centred, rotated back by θ, divided by scale.

    Returns ``u`` (along the shape's θ = 0 horizontal) and ``v`` (its "up"), each (B, 64, 64).
    """
    grid = np.arange(IMAGE_SIZE, dtype=np.float64)
    cx = CENTRE_OFFSET + POSITION_SPAN * pos_x
    cy = CENTRE_OFFSET + POSITION_SPAN * pos_y
    inv = 1.0 / scale
    dx = (grid[None, None, :] - cx[:, None, None]) * inv[:, None, None]  # (B, 1, 64) columns
    dy = (cy[:, None, None] - grid[None, :, None]) * inv[:, None, None]  # (B, 64, 1) rows, up
    c = np.cos(theta)[:, None, None]
    s = np.sin(theta)[:, None, None]
    return dx * c + dy * s, dy * c - dx * s


def _inside_square(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    half = SQUARE_SIDE / 2.0
    return (np.abs(u) <= half) & (np.abs(v) <= half)


def _inside_ellipse(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    a, b = ELLIPSE_SEMI_AXES
    return (u / a) ** 2 + (v / b) ** 2 <= 1.0


def _inside_heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    half_diag = HEART_SQUARE_SIDE / np.sqrt(2.0)
    au = np.abs(u)  # the heart is mirror-symmetric about its vertical axis
    v = v - HEART_SHIFT
    diamond = au + np.abs(v) <= half_diag
    lobes = (au - half_diag / 2.0) ** 2 + (v - half_diag / 2.0) ** 2 <= HEART_LOBE_RADIUS**2
    return diamond | lobes


_INSIDE = {1: _inside_square, 2: _inside_ellipse, 3: _inside_heart}


def _check_factor_arrays(shape: Any, scale: Any, orientation: Any, pos_x: Any,
                         pos_y: Any) -> tuple[np.ndarray, ...]:
    named = {"shape": shape, "scale": scale, "orientation": orientation, "pos_x": pos_x,
             "pos_y": pos_y}
    arrays = {}
    for name, value in named.items():
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be numeric, could not convert: {exc}") from exc
        if arr.ndim > 1:
            raise ValueError(f"{name} must be a scalar or 1-D array, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or infinite values")
        arrays[name] = np.atleast_1d(arr)
    try:
        out = np.broadcast_arrays(*arrays.values())
    except ValueError:
        lengths = {k: len(v) for k, v in arrays.items()}
        raise ValueError(f"factor arrays must have one common length, got {lengths}") from None
    shape_a, scale_a, theta, px, py = (np.ascontiguousarray(a) for a in out)
    if shape_a.size == 0:
        raise ValueError("no sprites to render: the factor arrays are empty")
    bad = ~np.isin(shape_a, list(SHAPES))
    if bad.any():
        raise ValueError(
            f"shape must be a dSprites shape code {SHAPES}; got {shape_a[bad][:5].tolist()}"
        )
    _check_range(scale_a, "scale", SCALES[0], SCALES[-1])
    _check_range(px, "pos_x", 0.0, 1.0)
    _check_range(py, "pos_y", 0.0, 1.0)
    return shape_a.astype(np.int64), scale_a, theta, px, py


def _check_range(arr: np.ndarray, name: str, lo: float, hi: float) -> None:
    bad = (arr < lo - _TOL) | (arr > hi + _TOL)
    if bad.any():
        raise ValueError(f"{name} must lie in [{lo:g}, {hi:g}]; got {arr[bad][:5].tolist()}")


# ---------------------------------------------------------------------------- the grid
def _render_values(values: np.ndarray) -> np.ndarray:
    return render_sprites(*np.asarray(values).T)


#: the full dSprites grid (737,280 points) in the original order (posY varies fastest):
#: factors ``shape`` (codes 1, 2, 3), ``scale``, ``orientation``, ``pos_x``, ``pos_y``;
#: ``GRID.images()`` renders it batch by batch
GRID = FactorGrid(
    ("shape", "scale", "orientation", "pos_x", "pos_y"),
    (np.array(sorted(SHAPES), dtype=np.float64), SCALES, ORIENTATIONS, POSITIONS, POSITIONS),
    render=_render_values,
)


# ---------------------------------------------------------------------------- task sets
def orientation_target(shape: np.ndarray, orientation: np.ndarray,
                       encoding: str = "symmetry") -> np.ndarray:
    """Regression target for the orientation factor.

    Parameters
    ----------
    shape : (N,) int array of dSprites shape codes
    orientation : (N,) array (radians)
    encoding : {"symmetry", "circular", "angle"}
        ``symmetry`` (default): ``(cos kθ, sin kθ)`` with ``k`` the shape's rotational
        symmetry order (4 square, 2 ellipse, 1 heart) — the only orientation information the
        image carries, continuous across 0 ≡ 2π. ``circular``: ``(cos θ, sin θ)``, which is
        not identifiable from the image for squares and ellipses. ``angle``: θ itself.

    Returns
    -------
    target : (N, 2) float array, or (N,) for ``angle``
    """
    check_choice(encoding, "orientation_encoding", ORIENTATION_ENCODINGS)
    codes = np.asarray(shape)
    theta = np.asarray(orientation, dtype=np.float64)
    if codes.shape != theta.shape or codes.ndim != 1:
        raise ValueError(f"shape and orientation must be 1-D of one length, got {codes.shape} "
                         f"and {theta.shape}")
    if not np.isin(codes, list(SHAPES)).all():
        raise ValueError(f"shape must hold dSprites shape codes {SHAPES}")
    if encoding == "angle":
        return theta
    order = np.array([0] + [SYMMETRY_ORDER[c] for c in sorted(SHAPES)], dtype=np.float64)
    k = np.ones(len(theta)) if encoding == "circular" else order[codes.astype(np.int64)]
    return np.stack([np.cos(k * theta), np.sin(k * theta)], axis=1)


def sprites(
    n: int = 2000,
    seed: int | np.random.Generator | None = 0,
    tasks: str = "factors",
    n_tasks: int = 10,
    *,
    orientation_encoding: str = "symmetry",
    factor_subsets: Any = None,
    hidden: int = 300,
    depth: int = 4,
    activation: str = "tanh",
    weight_std: float | str = 1.0,
) -> TaskSet:
    """A procedural dSprites task set: ``n`` distinct random images from the full grid.

    Parameters
    ----------
    n : int
        Number of images, 2 .. 737,280, drawn without replacement (a very small ``n`` can
        draw a single shape, and a constant task is rejected by :class:`TaskSet`).
    seed : int, Generator or None
        Draws the images and, for ``random_mlp``, the task networks.
    tasks : {"factors", "random_mlp"}
        ``factors``: five tasks, one per factor —

        - ``shape``: classification (square / ellipse / heart);
        - ``scale``: regression on the scale value (6 evenly spaced, ordered levels);
        - ``orientation``: regression, see :func:`orientation_target` (default
          ``(cos kθ, sin kθ)`` with the shape's symmetry order ``k``: the angle is circular
          and a square at θ looks exactly like one at θ + π/2, so θ itself is not a
          function of the image);
        - ``pos_x``, ``pos_y``: regression on the position in [0, 1] (32 ordered levels).

        ``random_mlp``: ``n_tasks`` regression tasks ``mlp_0 ...`` given by random tanh
        networks of the five factors (Maziarka et al. 2022, §3.1), see
        :func:`~tasklens.data.random_mlp.random_mlp_tasks`; factors are scaled to [-1, 1]
        by their grid ranges, so a task is the same function of the factors for every
        ``n``. As in the paper, the raw orientation is used, so for squares and ellipses
        part of each target is not predictable from the image.
    n_tasks : int
        Number of random-MLP tasks (ignored for ``factors``).
    orientation_encoding : {"symmetry", "circular", "angle"}
    factor_subsets, hidden, depth, activation, weight_std
        Passed to :func:`random_mlp_tasks` (Maziarka et al. 2022 App. H subsets: a list of index
        lists, an
        int ``k`` for random subsets of size ``k``, or ``"halves"``).

    Returns
    -------
    TaskSet
        Inputs ``(n, 1, 64, 64)`` float32 in {0, 1}; factors ``GRID.names`` with levels
        ``GRID.levels``; ``info`` holds the generator settings (and the factor subsets used).
    """
    n = check_positive_int(n, "n", minimum=2)
    if n > GRID.size:
        raise ValueError(f"n must be at most {GRID.size} (the size of the dSprites grid), got {n}")
    check_choice(tasks, "tasks", TASK_FAMILIES)
    check_choice(orientation_encoding, "orientation_encoding", ORIENTATION_ENCODINGS)
    rng = check_seed(seed)
    sample_rng, task_rng = rng.spawn(2)
    index = np.sort(sample_rng.choice(GRID.size, size=n, replace=False))
    values = GRID.values(index)
    images = render_sprites(*values.T)[:, None].astype(np.float32)
    shape_codes = values[:, 0].astype(np.int64)
    info: dict[str, Any] = {
        "generator": "tasklens.data.dsprites", "n": n, "seed": seed_info(seed),
        "tasks": tasks, "grid_index": index,
    }
    kinds: dict[str, str]
    classes: dict[str, Any] = {}
    if tasks == "factors":
        targets: dict[str, Any] = {
            "shape": np.array([SHAPES[c] for c in shape_codes]),
            "scale": values[:, 1],
            "orientation": orientation_target(shape_codes, values[:, 2], orientation_encoding),
            "pos_x": values[:, 3],
            "pos_y": values[:, 4],
        }
        kinds = {name: "regression" for name in targets}
        kinds["shape"] = "classification"
        classes["shape"] = np.array([SHAPES[c] for c in sorted(SHAPES)])
        info["orientation_encoding"] = orientation_encoding
    else:
        targets, kinds, mlp_info = random_mlp_targets(
            values, GRID.names, GRID.levels, n_tasks, task_rng, hidden=hidden,
            depth=depth, activation=activation, factor_subsets=factor_subsets,
            weight_std=weight_std,
        )
        info.update(mlp_info)
    return TaskSet.from_arrays(
        images, targets, kinds, factors=values, factor_names=GRID.names,
        factor_levels=GRID.levels, name=f"sprites_{tasks}", info=info, classes=classes,
    )

