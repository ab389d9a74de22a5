"""Procedural MPI3D stand-in: grid, renderer properties and task sets.

References, all independent of the renderer's code:
- the MPI3D README: factor sizes and order (last factor fastest), from which the flat-index
  bases ``[172800, 28800, 14400, 4800, 1600, 40, 1]`` follow by hand;
- a pinhole projection written here from the documented scene constants, for the position
  and size of the (round) sphere;
- ``matplotlib.path.Path.contains_points`` for the convex-polygon signed distance;
- properties: a colour recolours its region only, the arm axes move the object
  monotonically, a higher camera sees more floor.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.path import Path as MplPath

from tasklens.data import TaskSet
from tasklens.data import _render3d as r3
from tasklens.data import mpi3d_procedural as m3
from tasklens.data.mpi3d_procedural import (
    mpi3d,
    mpi3d_coverage,
    render_mpi3d,
)

BASES = np.array([172800, 28800, 14400, 4800, 1600, 40, 1])
SPHERE = m3.OBJECT_SHAPES.index("sphere")


def _sample_values(n: int, seed: int) -> np.ndarray:
    index = np.random.default_rng(seed).choice(m3.GRID.size, n, replace=False)
    return m3.GRID.codes_to_values(m3.GRID.codes(index))


def _centroid(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.mgrid[:64, :64]
    total = weights.sum(axis=(-2, -1))
    return (weights * rows).sum(axis=(-2, -1)) / total, (weights * cols).sum(axis=(-2, -1)) / total


# ---------------------------------------------------------------------------- the grid
def test_factor_levels_are_the_mpi3d_grid() -> None:
    assert m3.GRID.shape == (6, 6, 2, 3, 3, 40, 40) and m3.GRID.size == 1_036_800
    assert m3.GRID.names == ("object_color", "object_shape", "object_size", "camera_height",
                               "background_color", "horizontal_axis", "vertical_axis")
    assert list(m3.OBJECT_COLORS) == ["white", "green", "red", "blue", "brown", "olive"]
    assert m3.OBJECT_SHAPES == ("cone", "cube", "cylinder", "hexagonal", "pyramid", "sphere")
    assert m3.OBJECT_SIZES == ("small", "large")
    assert m3.CAMERA_HEIGHTS == ("top", "center", "bottom")
    assert list(m3.BACKGROUND_COLORS) == ["purple", "sea green", "salmon"]
    for lv, k in zip(m3.GRID.levels, m3.GRID.shape):
        np.testing.assert_array_equal(lv, np.arange(k))


@settings(max_examples=200, deadline=None)
@given(st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 1), st.integers(0, 2),
                 st.integers(0, 2), st.integers(0, 39), st.integers(0, 39)))
def test_index_round_trips_and_matches_hand_bases(codes: tuple[int, ...]) -> None:
    index = m3.GRID.index(np.array(codes))
    assert index == int(np.dot(codes, BASES))
    np.testing.assert_array_equal(m3.GRID.codes(np.array([index]))[0], codes)
    np.testing.assert_array_equal(m3.GRID.codes_to_values(np.array(codes))[0], codes)


def test_grid_iterator_follows_the_file_order() -> None:
    batches = list(m3.GRID.images(batch_size=30, start=m3.GRID.size - 50))
    assert [len(v) for _, v in batches] == [30, 20]
    values = np.concatenate([v for _, v in batches])
    expected = list(itertools.islice(itertools.product(*(range(k) for k in m3.GRID.shape)),
                                     m3.GRID.size - 50, None))
    np.testing.assert_array_equal(values, np.array(expected))
    np.testing.assert_array_equal(values[-1], [5, 5, 1, 2, 2, 39, 39])
    images, vals = batches[1]
    assert images.shape == (20, 64, 64, 3)
    np.testing.assert_array_equal(images, render_mpi3d(vals))


# ---------------------------------------------------------------------------- images
def test_images_are_deterministic_in_range_and_batch_independent() -> None:
    z = _sample_values(150, seed=3)
    images = render_mpi3d(z)
    assert images.shape == (150, 64, 64, 3) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_array_equal(images, render_mpi3d(z))
    for k in (0, 77, 149):  # another chunk, another window size: the same pixels
        np.testing.assert_array_equal(render_mpi3d(z[k])[0], images[k])
    cov = mpi3d_coverage(z)
    np.testing.assert_allclose(cov.sum(axis=1), 1.0, atol=1e-5)
    assert np.all(cov[:, 2].sum(axis=(1, 2)) > 20)  # the object is always in view


def test_object_stays_inside_the_frame_at_the_arm_extremes() -> None:
    z = np.array([[0, 1, 1, cam, 0, h, v] for cam, h, v in
                  itertools.product(range(3), (0, 19, 20, 39), (0, 20, 39))], dtype=float)
    obj = mpi3d_coverage(z)[:, 2]
    border = np.concatenate([obj[:, 0], obj[:, -1], obj[:, :, 0], obj[:, :, -1]], axis=1)
    assert border.max() == 0.0
    assert obj.sum(axis=(1, 2)).min() > 40


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_factor_level_gives_a_distinct_image(seed: int) -> None:
    base = _sample_values(1, seed)[0]
    for j, levels in enumerate(m3.GRID.levels):
        z = np.repeat(base[None], len(levels), axis=0)
        z[:, j] = levels
        flat = render_mpi3d(z).reshape(len(levels), -1)
        gaps = np.abs(flat[:, None] - flat[None]).max(axis=2)
        np.fill_diagonal(gaps, np.inf)
        assert gaps.min() > 1e-3, (m3.GRID.names[j], gaps.min())


@pytest.mark.parametrize(("column", "region"), [(0, 2), (4, 0)])
def test_a_colour_recolours_exactly_its_region(column: int, region: int) -> None:
    for base in _sample_values(4, seed=column):
        other = base.copy()
        other[column] = (base[column] + 1) % m3.GRID.shape[column]
        images = render_mpi3d(np.stack([base, other]))
        changed = np.abs(images[0] - images[1]).max(axis=-1) > 0
        cov = mpi3d_coverage(base)[0, region]
        assert not np.any(changed & (cov == 0))
        assert np.all(changed[cov > 1e-3])


def test_arm_axes_move_the_object_monotonically() -> None:
    for cam in range(3):
        z = np.array([[0, SPHERE, 1, cam, 0, h, 20] for h in range(40)], dtype=float)
        _, cols = _centroid(mpi3d_coverage(z)[:, 2])
        assert np.all(np.diff(cols) > 0.3), cam
        z = np.array([[0, SPHERE, 1, cam, 0, 20, v] for v in range(40)], dtype=float)
        rows, _ = _centroid(mpi3d_coverage(z)[:, 2])
        assert np.all(np.diff(rows) < -0.05), cam


def test_size_and_camera_height() -> None:
    for shape in range(6):
        z = np.array([[0, shape, s, 1, 0, 11, 29] for s in (0, 1)], dtype=float)
        area = mpi3d_coverage(z)[:, 2].sum(axis=(1, 2))
        assert area[1] > 1.8 * area[0], shape  # half-sizes 0.45 / 0.3: area ratio 2.25
    # the floor is drawn at 0.6 of the background colour, the wall at 0.9
    z = np.array([[0, 0, 0, cam, 2, 39, 0] for cam in range(3)], dtype=float)
    left = render_mpi3d(z)[:, :, 0, :] / np.array(m3.BACKGROUND_COLORS["salmon"])
    floor_rows = (left.mean(axis=-1) < 0.75).sum(axis=1)
    assert floor_rows[0] > floor_rows[1] > floor_rows[2] > 0


def _pinhole_sphere(cam: int, size: int, h: float, v: float) -> tuple[float, float, float]:
    """Centre (row, col) and radius in pixels of the sphere, from the documented scene."""
    e = math.radians(m3.CAMERA_ELEVATIONS_DEG[cam])
    forward = np.array([0.0, -math.sin(e), math.cos(e)])
    up = np.array([0.0, math.cos(e), math.sin(e)])
    camera = np.array([0.0, 1.75, 0.8]) - 6.0 * forward
    psi, tilt = math.radians(-45 + 90 * h / 39), math.radians(15 + 60 * v / 39)
    tip = np.array([0.0, 3.0, 0.5]) + 2.2 * np.array(
        [math.sin(psi) * math.sin(tilt), -math.cos(tilt), math.cos(psi) * math.sin(tilt)])
    rel = tip - camera
    depth = rel @ forward
    focal = 32 / 0.4
    col = 32 + focal * rel[0] / depth - 0.5
    row = 32 - focal * (rel @ up) / depth - 0.5
    return row, col, focal * (0.3, 0.45)[size] / depth


@pytest.mark.parametrize(("cam", "size", "h", "v"),
                         [(0, 0, 0, 0), (1, 1, 20, 20), (2, 1, 39, 39), (1, 0, 7, 33)])
def test_sphere_matches_a_pinhole_projection(cam: int, size: int, h: int, v: int) -> None:
    row, col, radius = _pinhole_sphere(cam, size, h, v)
    cov = mpi3d_coverage([0, SPHERE, size, cam, 0, h, v])[0, 2]
    r_hat, c_hat = _centroid(cov)
    assert abs(r_hat - row) < 0.05 and abs(c_hat - col) < 0.05
    assert cov.sum() == pytest.approx(math.pi * radius**2, rel=0.03)


@settings(max_examples=30, deadline=None)
@given(st.integers(3, 7), st.integers(0, 10_000))
def test_polygon_distance_agrees_with_matplotlib(k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, 2 * np.pi, k))
    radius = rng.uniform(5, 20)
    verts = np.stack([32 + radius * np.cos(angles), 30 + radius * np.sin(angles)], axis=1)
    if rng.random() < 0.5:
        verts = verts[::-1]  # either winding order
    rows, cols = np.mgrid[:64, :64].astype(float)
    sdf = r3.sdf_convex_polygon(cols[None], rows[None], verts[None])[0]
    inside = MplPath(verts).contains_points(np.stack([cols.ravel(), rows.ravel()], 1))
    inside = inside.reshape(64, 64)
    clear = np.abs(sdf) > 1e-6  # a pixel centre on an edge may go either way
    np.testing.assert_array_equal((sdf < 0)[clear], inside[clear])


# ---------------------------------------------------------------------------- task sets
def test_factor_task_set_contents() -> None:
    ts = mpi3d(n=300, seed=1)
    assert isinstance(ts, TaskSet) and ts.inputs.shape == (300, 3, 64, 64)
    assert ts.inputs.dtype == np.float32 and 0 <= ts.inputs.min() and ts.inputs.max() <= 1
    assert ts.task_names == list(m3.GRID.names)
    kinds = {name: t.kind for name, t in ts.tasks.items()}
    assert kinds["object_size"] == "binary" and kinds["horizontal_axis"] == "regression"
    assert kinds["object_shape"] == "classification"
    assert ts["object_shape"].classes.tolist() == list(m3.OBJECT_SHAPES)
    f = ts.factors
    assert f.names == m3.GRID.names and len(np.unique(f.values, axis=0)) == 300
    for j in range(5):
        np.testing.assert_array_equal(ts.tasks[m3.GRID.names[j]].targets, f.values[:, j])
    np.testing.assert_allclose(ts["vertical_axis"].targets, f.values[:, 6] / 39, rtol=1e-6)
    np.testing.assert_array_equal(ts.inputs, render_mpi3d(f.values).transpose(0, 3, 1, 2))
    assert ts.info["approximation"] is True
    np.testing.assert_array_equal(mpi3d(n=300, seed=1).factors.values, f.values)


def test_random_mlp_task_set() -> None:
    ts = mpi3d(n=200, seed=0, tasks="random_mlp", n_tasks=3, hidden=16, depth=2,
               factor_subsets="halves")
    assert ts.task_names == ["mlp_0", "mlp_1", "mlp_2"]
    y = np.stack([t.targets for t in ts.tasks.values()], axis=1)
    np.testing.assert_allclose(y.std(axis=0), 1.0, rtol=1e-4)
    assert ts.info["factor_subsets"][0] == list(m3.GRID.names[:4])


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("column", "value"), [
    ("object_color", 6), ("object_shape", -1), ("object_size", 0.5), ("camera_height", 3),
    ("background_color", 2.2), ("horizontal_axis", 40), ("vertical_axis", -0.5),
    ("vertical_axis", np.inf),
])
def test_render_rejects_bad_factor_values(column: str, value: float) -> None:
    z = np.array([0, 0, 0, 0, 0, 10, 10], dtype=float)
    z[m3.GRID.names.index(column)] = value
    with pytest.raises(ValueError, match=column):
        render_mpi3d(z)


def test_bad_arguments_name_themselves() -> None:
    with pytest.raises(ValueError, match=r"factor_values must have shape \(N, 7\)"):
        render_mpi3d(np.zeros((2, 6)))
    with pytest.raises(ValueError, match="n must be"):
        mpi3d(n=0)
    with pytest.raises(ValueError, match="n must be at most 1036800"):
        mpi3d(n=m3.GRID.size + 1)
    with pytest.raises(ValueError, match="tasks"):
        mpi3d(n=10, tasks="colors")
    with pytest.raises(ValueError, match=r"column 6 \(vertical_axis\)"):
        m3.GRID.index([0, 0, 0, 0, 0, 0, 40])
    with pytest.raises(TypeError, match="factor_codes must be integer"):
        m3.GRID.index([0, 0, 0, 0, 0, 0, 1.5])
    with pytest.raises(ValueError, match="start"):
        next(m3.GRID.images(start=-1))
