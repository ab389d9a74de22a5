"""Procedural Shapes3D stand-in: grid, renderer properties and task sets.

References, all independent of the renderer's code:
- the 3dshapes README: factor sizes, level values and file order (orientation fastest),
  from which the flat-index bases ``[48000, 4800, 480, 60, 15, 1]`` follow by hand;
- ``colorsys.hsv_to_rgb`` for the hue colours;
- a scalar, pixel-by-pixel ray caster (below) written from the documented scene constants
  with a different intersection method (floor-plane test for the room, per-face tests for
  the cube, the quadratic for the sphere);
- mathematical properties: the room and objects are mirror-symmetric, so the image at
  orientation -φ is the mirror of the one at +φ; a hue colours its region only.
"""

from __future__ import annotations

import colorsys
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasklens.data import TaskSet
from tasklens.data import shapes3d_procedural as s3
from tasklens.data._render3d import hue_to_rgb
from tasklens.data.shapes3d_procedural import (
    render_shapes3d,
    shapes3d,
    shapes3d_coverage,
)

BASES = np.array([48000, 4800, 480, 60, 15, 1])  # 10·10·8·4·15, 10·8·4·15, ..., 1
BASE_TUPLE = [0.2, 0.6, 0.0, 1.0, 0.0, 0.0]


def _sample_values(n: int, seed: int) -> np.ndarray:
    index = np.random.default_rng(seed).choice(s3.GRID.size, n, replace=False)
    return s3.GRID.codes_to_values(s3.GRID.codes(index))


# ---------------------------------------------------------------------------- the grid
def test_factor_levels_are_the_3dshapes_grid() -> None:
    assert s3.GRID.shape == (10, 10, 10, 8, 4, 15) and s3.GRID.size == 480_000
    assert s3.GRID.names == ("floor_hue", "wall_hue", "object_hue", "scale", "shape",
                               "orientation")
    for j in range(3):
        np.testing.assert_allclose(s3.GRID.levels[j], [k / 10 for k in range(10)])
    np.testing.assert_allclose(s3.SCALES, [0.75 + k * 0.5 / 7 for k in range(8)])
    np.testing.assert_array_equal(s3.GRID.levels[4], [0, 1, 2, 3])
    assert s3.SHAPES == {0: "cube", 1: "cylinder", 2: "sphere", 3: "capsule"}
    np.testing.assert_allclose(s3.ORIENTATIONS, [-30 + k * 60 / 14 for k in range(15)])


@settings(max_examples=200, deadline=None)
@given(st.tuples(st.integers(0, 9), st.integers(0, 9), st.integers(0, 9), st.integers(0, 7),
                 st.integers(0, 3), st.integers(0, 14)))
def test_index_round_trips_and_matches_hand_bases(codes: tuple[int, ...]) -> None:
    index = s3.GRID.index(np.array(codes))
    assert index == int(np.dot(codes, BASES))
    np.testing.assert_array_equal(s3.GRID.codes(np.array([index]))[0], codes)
    values = s3.GRID.codes_to_values(np.array(codes))[0]
    assert values[0] == pytest.approx(codes[0] / 10) and values[5] == pytest.approx(
        -30 + codes[5] * 60 / 14)


def test_grid_iterator_follows_the_file_order() -> None:
    batches = list(s3.GRID.images(batch_size=40, start=100, stop=180))
    assert [len(v) for _, v in batches] == [40, 40]
    values = np.concatenate([v for _, v in batches])
    expected = [list(c) for c in itertools.islice(
        itertools.product(*(range(k) for k in s3.GRID.shape)), 100, 180)]
    np.testing.assert_array_equal(
        np.stack([np.searchsorted(lv + 1e-9, values[:, j]) for j, lv in
                  enumerate(s3.GRID.levels)], 1), expected)
    images, vals = batches[1]
    assert images.shape == (40, 64, 64, 3)
    np.testing.assert_array_equal(images, render_shapes3d(vals))


# ---------------------------------------------------------------------------- images
def test_images_are_deterministic_in_range_and_batch_independent() -> None:
    z = _sample_values(60, seed=3)
    images = render_shapes3d(z)
    assert images.shape == (60, 64, 64, 3) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_array_equal(images, render_shapes3d(z))
    for k in (0, 17, 59):
        np.testing.assert_array_equal(render_shapes3d(z[k])[0], images[k])
    cov = shapes3d_coverage(z)
    np.testing.assert_allclose(cov.sum(axis=1), 1.0, atol=1e-6)


def test_hue_colours_match_colorsys() -> None:
    hues = np.linspace(0, 1, 37)
    expected = np.array([colorsys.hsv_to_rgb(h, 1.0, 1.0) for h in hues])
    np.testing.assert_allclose(hue_to_rgb(hues), expected, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_every_factor_level_gives_a_distinct_image(seed: int) -> None:
    base = _sample_values(1, seed)[0]
    for j, levels in enumerate(s3.GRID.levels):
        z = np.repeat(base[None], len(levels), axis=0)
        z[:, j] = levels
        flat = render_shapes3d(z).reshape(len(levels), -1)
        gaps = np.abs(flat[:, None] - flat[None]).max(axis=2)
        np.fill_diagonal(gaps, np.inf)
        assert gaps.min() > 1e-3, (s3.GRID.names[j], gaps.min())


@pytest.mark.parametrize("region", [0, 1, 2])
def test_a_hue_recolours_exactly_its_region(region: int) -> None:
    for base in _sample_values(3, seed=region):
        other = base.copy()
        other[region] = (base[region] + 0.3) % 1.0
        images = render_shapes3d(np.stack([base, other]))
        changed = np.abs(images[0] - images[1]).max(axis=-1) > 0
        support = shapes3d_coverage(base)[0, region] > 0
        np.testing.assert_array_equal(changed, support)
        assert support.sum() > 50


def test_floor_below_wall_and_object_in_the_middle() -> None:
    z = np.array([[0, 0, 0, s, shape, o] for s in (0.75, 1.25) for shape in range(4)
                  for o in s3.ORIENTATIONS])
    cov = shapes3d_coverage(z)
    assert np.all(cov[:, 0, -1] == 1.0) and np.all(cov[:, 1, 0] == 1.0)
    # in every column, no wall pixel lies below a floor pixel
    floor_rows = np.where(cov[:, 0] > 0, np.arange(64)[:, None], 64).min(axis=1)
    wall_rows = np.where(cov[:, 1] > 0, np.arange(64)[:, None], -1).max(axis=1)
    assert np.all(wall_rows <= floor_rows)
    obj = cov[:, 2]
    cols = (obj * np.arange(64)).sum(axis=(1, 2)) / obj.sum(axis=(1, 2))
    symmetric = z[:, 4] != 0  # round objects: centred on the camera's axis
    np.testing.assert_allclose(cols[symmetric], 31.5, atol=0.05)


def test_orientation_mirrors_the_coverage() -> None:
    for shape in range(4):
        cov = shapes3d_coverage(np.array([[0, 0, 0, 1.1, shape, o] for o in s3.ORIENTATIONS]))
        np.testing.assert_allclose(cov, cov[::-1, :, :, ::-1], atol=1e-6)
        assert not np.allclose(cov[0], cov[-1])


def test_object_grows_with_scale() -> None:
    for shape, o in itertools.product(range(4), (-30.0, 0.0, 17.0)):
        z = np.array([[0, 0, 0, s, shape, o] for s in s3.SCALES])
        area = shapes3d_coverage(z)[:, 2].sum(axis=(1, 2))
        assert np.all(np.diff(area) > 5), (shape, o, area)


# ---------------------------------------------------------------------------- reference caster
def _reference_labels(scale: float, shape: int, orientation: float) -> np.ndarray:
    """Fraction of the 2×2 rays per pixel hitting floor / wall / object, pixel by pixel."""
    phi = math.radians(orientation)
    c = (-s3.CAMERA_DISTANCE * math.sin(phi), s3.CAMERA_HEIGHT, -s3.CAMERA_DISTANCE * math.cos(phi))
    f = np.array([0.0, s3.TARGET_HEIGHT, 0.0]) - np.array(c)
    f /= np.linalg.norm(f)
    right = np.array([f[2], 0.0, -f[0]]) / math.hypot(f[0], f[2])  # horizontal, ⟂ f
    up = np.cross(f, right)
    a = s3.OBJECT_HALF_SIZE * scale
    n = 64 * s3.SUPERSAMPLE
    out = np.zeros((3, 64, 64))
    for r in range(n):
        for col in range(n):
            x = ((col + 0.5) / n * 2 - 1) * s3.HALF_FOV_TAN
            y = (1 - (r + 0.5) / n * 2) * s3.HALF_FOV_TAN
            d = f + x * right + y * up
            if _ref_hits_object(c, d, a, shape):
                label = 2
            else:
                label = 1
                if d[1] < 0:
                    t = -c[1] / d[1]
                    if max(abs(c[0] + t * d[0]), abs(c[2] + t * d[2])) <= s3.ROOM_HALF_WIDTH:
                        label = 0
            out[label, r // s3.SUPERSAMPLE, col // s3.SUPERSAMPLE] += 1 / s3.SUPERSAMPLE**2
    return out


def _ref_hits_object(c: tuple[float, ...], d: np.ndarray, a: float, shape: int) -> bool:
    if shape == 2:  # sphere of radius a centred a above the floor
        oc = (c[0], c[1] - a, c[2])
        qa = float(d @ d)
        qb = 2 * (oc[0] * d[0] + oc[1] * d[1] + oc[2] * d[2])
        qc = oc[0] ** 2 + oc[1] ** 2 + oc[2] ** 2 - a * a
        disc = qb * qb - 4 * qa * qc
        return disc >= 0 and (-qb - math.sqrt(disc)) / (2 * qa) > 0
    # cube [-a, a] × [0, 2a] × [-a, a]: hit iff some face plane is crossed inside the face
    lo, hi = (-a, 0.0, -a), (a, 2 * a, a)
    for axis in range(3):
        if abs(d[axis]) < 1e-15:
            continue
        for plane in (lo[axis], hi[axis]):
            t = (plane - c[axis]) / d[axis]
            if t <= 0:
                continue
            p = [c[k] + t * d[k] for k in range(3)]
            if all(lo[k] - 1e-12 <= p[k] <= hi[k] + 1e-12 for k in range(3) if k != axis):
                return True
    return False


@pytest.mark.parametrize(("scale", "shape", "orientation"),
                         [(1.0, 2, 0.0), (1.25, 0, 30.0 * 4 / 7), (0.75, 0, -30.0)])
def test_coverage_matches_scalar_reference_caster(scale: float, shape: int,
                                                  orientation: float) -> None:
    ref = _reference_labels(scale, shape, orientation)
    cov = shapes3d_coverage([0, 0, 0, scale, shape, orientation])[0]
    # a ray grazing an edge may go either way: allow a handful of quarter-pixel differences
    assert np.abs(cov - ref).sum() <= 2 * 0.25  # measured: 0 (identical)
    assert ref[2].sum() > 100


# ---------------------------------------------------------------------------- task sets
def test_factor_task_set_contents() -> None:
    ts = shapes3d(n=150, seed=1)
    assert isinstance(ts, TaskSet) and ts.inputs.shape == (150, 3, 64, 64)
    assert ts.inputs.dtype == np.float32 and 0 <= ts.inputs.min() and ts.inputs.max() <= 1
    assert ts.task_names == ["floor_hue", "wall_hue", "object_hue", "scale", "shape",
                             "orientation"]
    kinds = {name: t.kind for name, t in ts.tasks.items()}
    assert kinds == {"floor_hue": "classification", "wall_hue": "classification",
                     "object_hue": "classification", "scale": "regression",
                     "shape": "classification", "orientation": "regression"}
    assert ts["shape"].classes.tolist() == ["cube", "cylinder", "sphere", "capsule"]
    f = ts.factors
    assert f.names == s3.GRID.names and len(np.unique(f.values, axis=0)) == 150
    np.testing.assert_array_equal(f.levels[5], s3.ORIENTATIONS)
    np.testing.assert_array_equal(ts["floor_hue"].targets, f.codes()[:, 0])
    np.testing.assert_array_equal(ts["shape"].targets, f.values[:, 4].astype(int))
    np.testing.assert_allclose(ts["orientation"].targets, np.deg2rad(f.values[:, 5]),
                               rtol=1e-6)
    np.testing.assert_array_equal(ts.inputs, render_shapes3d(f.values).transpose(0, 3, 1, 2))
    assert ts.info["approximation"] is True
    np.testing.assert_array_equal(shapes3d(n=150, seed=1).factors.values, f.values)


def test_random_mlp_task_set() -> None:
    ts = shapes3d(n=200, seed=0, tasks="random_mlp", n_tasks=3, hidden=16, depth=2)
    assert ts.task_names == ["mlp_0", "mlp_1", "mlp_2"]
    y = np.stack([t.targets for t in ts.tasks.values()], axis=1)
    np.testing.assert_allclose(y.std(axis=0), 1.0, rtol=1e-4)
    assert ts.info["factor_subsets"] == [list(s3.GRID.names)] * 3


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("column", "value"), [
    ("floor_hue", 1.2), ("wall_hue", -0.1), ("object_hue", np.nan), ("scale", 0.5),
    ("scale", 1.3), ("shape", 4), ("shape", 1.5), ("orientation", 45.0),
])
def test_render_rejects_bad_factor_values(column: str, value: float) -> None:
    z = np.array(BASE_TUPLE)
    z[s3.GRID.names.index(column)] = value
    with pytest.raises(ValueError, match=column):
        render_shapes3d(z)


def test_bad_arguments_name_themselves() -> None:
    with pytest.raises(ValueError, match=r"factor_values must have shape \(N, 6\)"):
        render_shapes3d(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="factor_values is empty"):
        render_shapes3d(np.zeros((0, 6)))
    with pytest.raises(TypeError, match="factor_values"):
        render_shapes3d([["a"] * 6])
    with pytest.raises(ValueError, match="n must be"):
        shapes3d(n=1)
    with pytest.raises(ValueError, match="n must be at most 480000"):
        shapes3d(n=480_001)
    with pytest.raises(ValueError, match="tasks"):
        shapes3d(n=10, tasks="hues")
    with pytest.raises(ValueError, match=r"column 5 \(orientation\)"):
        s3.GRID.index([0, 0, 0, 0, 0, 15])
    with pytest.raises(ValueError, match="batch_size"):
        next(s3.GRID.images(batch_size=0))
    with pytest.raises(ValueError, match="start"):
        next(s3.GRID.images(start=10, stop=5))
