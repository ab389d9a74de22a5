"""Procedural dSprites: checked against real dSprites images, hand counts, a polygon renderer.

References, all independent of the renderer's code:
- the shared fixture: twelve real dSprites images with their latent values;
- masks and bounding boxes counted by hand for known factor tuples;
- a second renderer (below) that transforms shape outlines to the screen and tests pixel
  centres with ``matplotlib.path.Path`` — no shared code with the vectorized one;
- the published dSprites ``latents_bases`` (its README): flat index = codes · bases.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.path import Path as MplPath

from tasklens.data import TaskSet
from tasklens.data import dsprites as sp
from tasklens.data.dsprites import (
    orientation_target,
    render_sprite,
    render_sprites,
    sprites,
)

# dSprites README: latents_sizes = [1, 3, 6, 40, 32, 32] (color first, dropped here) and
# latents_bases = concatenate(latents_sizes[::-1].cumprod()[::-1][1:], [1]).
DSPRITES_BASES = np.array([245760, 40960, 1024, 32, 1])
CENTRE_POS = 0.515625  # 15.5 + 32 · 0.515625 = 32: the sprite centre on pixel (32, 32)


# ---------------------------------------------------------------------------- the grid
def test_factor_levels_are_the_dsprites_grid() -> None:
    np.testing.assert_allclose(sp.SCALES, [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    assert len(sp.ORIENTATIONS) == 40
    assert sp.ORIENTATIONS[0] == 0.0 and sp.ORIENTATIONS[-1] == pytest.approx(2 * np.pi)
    np.testing.assert_allclose(np.diff(sp.POSITIONS), 1 / 31)
    assert sp.GRID.shape == (3, 6, 40, 32, 32) and sp.GRID.size == 737_280
    assert sp.GRID.names == ("shape", "scale", "orientation", "pos_x", "pos_y")


def test_grid_values_cover_exactly_the_grid_in_dsprites_order() -> None:
    z = sp.GRID.values()
    # the cartesian product with the last factor fastest (the dSprites file order)
    mesh = np.meshgrid([1.0, 2.0, 3.0], sp.SCALES, sp.ORIENTATIONS, sp.POSITIONS, sp.POSITIONS,
                       indexing="ij")
    np.testing.assert_array_equal(z, np.stack([m.ravel() for m in mesh], axis=1))
    assert z.shape == (737_280, 5)
    # every row distinct: its level codes give distinct flat indices
    codes = np.stack([np.searchsorted(lv, z[:, j]) for j, lv in enumerate(sp.GRID.levels)], 1)
    assert len(np.unique(codes @ DSPRITES_BASES)) == 737_280


@settings(max_examples=200, deadline=None)
@given(st.tuples(st.integers(0, 2), st.integers(0, 5), st.integers(0, 39), st.integers(0, 31),
                 st.integers(0, 31)))
def test_grid_index_round_trips_and_matches_published_bases(codes: tuple[int, ...]) -> None:
    index = sp.GRID.index(np.array(codes))
    assert index == int(np.dot(codes, DSPRITES_BASES))
    np.testing.assert_array_equal(sp.GRID.codes(np.array([index]))[0], codes)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 737_279), st.integers(0, 4))
def test_grid_neighbours_differ_in_exactly_one_factor(index: int, factor: int) -> None:
    codes = sp.GRID.codes(np.array([index]))[0]
    if codes[factor] == sp.GRID.shape[factor] - 1:
        return  # no next level along this factor
    neighbour = sp.GRID.codes(np.array([index + DSPRITES_BASES[factor]]))[0]
    diff = neighbour - codes
    assert diff[factor] == 1 and np.count_nonzero(diff) == 1
    values = sp.GRID.codes_to_values(np.stack([codes, neighbour]))
    assert np.count_nonzero(values[0] != values[1]) == 1


def test_grid_images_yield_the_grid_in_order() -> None:
    z = sp.GRID.values()
    batches = list(itertools.islice(sp.GRID.images(batch_size=700), 2))
    tail = list(sp.GRID.images(batch_size=1000, start=sp.GRID.size - 2500))
    assert [len(v) for _, v in tail] == [1000, 1000, 500]
    np.testing.assert_array_equal(batches[1][1], z[700:1400])
    np.testing.assert_array_equal(tail[-1][1], z[-500:])
    images, values = tail[-1]
    assert images.shape == (500, 64, 64) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[::97], render_sprites(*values[::97].T))


# ---------------------------------------------------------------------------- real dSprites
def _mask_figures(rendered: np.ndarray, real: np.ndarray) -> tuple[float, float, float]:
    a, b = rendered.astype(bool), real.astype(bool)
    rows, cols = np.mgrid[:64, :64]
    iou = (a & b).sum() / (a | b).sum()
    centroid_err = np.hypot(rows[a].mean() - rows[b].mean(), cols[a].mean() - cols[b].mean())
    return float(iou), float(centroid_err), a.sum() / b.sum()


def test_renderer_matches_real_dsprites(shared_fixtures) -> None:
    data = np.load(shared_fixtures / "dsprites_sample.npz")
    latents, real = data["latents_values"], data["imgs"]
    rendered = render_sprites(*latents[:, 1:].T)
    for row in range(len(real)):
        iou, centroid_err, area_ratio = _mask_figures(rendered[row], real[row])
        # measured: IoU >= 0.992 (square, ellipse), >= 0.960 (heart); centroid <= 0.13 px;
        # area ratio 0.993 .. 1.036
        min_iou = 0.95 if latents[row, 1] == 3 else 0.99
        assert iou >= min_iou, (row, iou)
        assert centroid_err <= 0.25, (row, centroid_err)
        assert 0.95 <= area_ratio <= 1.05, (row, area_ratio)


def test_real_dsprites_rejects_clockwise_rotation(shared_fixtures) -> None:
    """The fixture can tell the rotation sense apart: turning the other way fails badly."""
    data = np.load(shared_fixtures / "dsprites_sample.npz")
    latents, real = data["latents_values"], data["imgs"]
    ellipses = np.flatnonzero(latents[:, 1] == 2)
    flipped = latents[ellipses, 1:].copy()
    flipped[:, 2] = -flipped[:, 2]
    ious = [_mask_figures(m, real[i])[0] for m, i in zip(render_sprites(*flipped.T), ellipses)]
    assert min(ious) < 0.6


# ---------------------------------------------------------------------------- hand checks
def test_square_mask_counted_by_hand() -> None:
    # centre 15.5 + 32·15/31 = 30.984; half side 9.6 → pixel centres 21.38..40.58 → 22..40
    img = render_sprite(1, 1.0, 0.0, 15 / 31, 15 / 31)
    expected = np.zeros((64, 64), dtype=np.uint8)
    expected[22:41, 22:41] = 1
    np.testing.assert_array_equal(img, expected)
    assert img.sum() == 19 * 19


def test_ellipse_bounding_box_and_area_by_hand() -> None:
    # x: 30.984 ± 12.9 → columns 19..43; y: 30.984 ± 7.2 → rows 24..38; area π·12.9·7.2 = 291.8
    img = render_sprite(2, 1.0, 0.0, 15 / 31, 15 / 31)
    rows, cols = np.nonzero(img)
    assert (cols.min(), cols.max(), rows.min(), rows.max()) == (19, 43, 24, 38)
    assert img.sum() == pytest.approx(np.pi * 12.9 * 7.2, rel=0.02)
    # orientation π/2 turns the long axis vertical
    rows, cols = np.nonzero(render_sprite(2, 1.0, np.pi / 2, 15 / 31, 15 / 31))
    assert (rows.max() - rows.min(), cols.max() - cols.min()) == (24, 14)


def test_heart_is_mirror_symmetric_with_lobes_up() -> None:
    img = render_sprite(3, 1.0, 0.0, CENTRE_POS, CENTRE_POS)
    np.testing.assert_array_equal(img[:, 32 - 20:32], img[:, 32 + 20:32:-1])
    top, bottom = img[:32], img[33:]
    assert top.sum() > bottom.sum()  # the lobes carry the mass
    # the point is at the bottom: the lowest row holds a single pixel, on the axis
    lowest = np.nonzero(img.any(axis=1))[0].max()
    assert np.flatnonzero(img[lowest]).tolist() == [32]
    # the notch between the lobes: the top row of the heart is empty on the axis
    highest = np.nonzero(img.any(axis=1))[0].min()
    assert img[highest, 32] == 0


@pytest.mark.parametrize("shape", [1, 2, 3])
@pytest.mark.parametrize("scale", [0.5, 0.8, 1.0])
def test_quarter_turn_rotates_the_image_counter_clockwise(shape: int, scale: float) -> None:
    base = render_sprite(shape, scale, 0.3, CENTRE_POS, CENTRE_POS)
    turned = render_sprite(shape, scale, 0.3 + np.pi / 2, CENTRE_POS, CENTRE_POS)
    window = np.s_[32 - 25:32 + 26, 32 - 25:32 + 26]  # centred on pixel (32, 32)
    np.testing.assert_array_equal(turned[window], np.rot90(base[window]))


def test_orientation_zero_and_two_pi_give_the_same_image() -> None:
    for shape in (1, 2, 3):
        np.testing.assert_array_equal(render_sprite(shape, 0.7, 0.0, 0.3, 0.6),
                                      render_sprite(shape, 0.7, 2 * np.pi, 0.3, 0.6))


# ---------------------------------------------------------------------------- second renderer
def _outline(shape: int, n: int = 4000) -> list[np.ndarray]:
    """Canonical outlines (x right, y up, scale 1) as polygons; the heart is three pieces."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    if shape == 1:
        h = sp.SQUARE_SIDE / 2
        return [np.array([[-h, -h], [h, -h], [h, h], [-h, h]])]
    if shape == 2:
        a, b = sp.ELLIPSE_SEMI_AXES
        return [np.stack([a * np.cos(t), b * np.sin(t)], axis=1)]
    d = sp.HEART_SQUARE_SIDE / np.sqrt(2)
    r, c = sp.HEART_LOBE_RADIUS, sp.HEART_SHIFT
    diamond = np.array([[0, -d], [d, 0], [0, d], [-d, 0]]) + [0, c]
    lobes = [np.stack([sx * d / 2 + r * np.cos(t), c + d / 2 + r * np.sin(t)], axis=1)
             for sx in (-1, 1)]
    return [diamond, *lobes]


def _reference_render(shape: int, scale: float, theta: float, px: float, py: float) -> np.ndarray:
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    cx, cy = 15.5 + 32 * px, 15.5 + 32 * py
    rows, cols = np.mgrid[:64, :64]
    centres = np.stack([cols.ravel(), rows.ravel()], axis=1).astype(float)
    inside = np.zeros(64 * 64, dtype=bool)
    for poly in _outline(shape):
        xy_up = scale * poly @ rot.T
        screen = np.stack([cx + xy_up[:, 0], cy - xy_up[:, 1]], axis=1)
        inside |= MplPath(screen).contains_points(centres)
    return inside.reshape(64, 64)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([1, 2, 3]), st.floats(0.5, 1.0), st.floats(0, 2 * np.pi),
       st.floats(0, 1), st.floats(0, 1))
def test_vectorized_renderer_matches_polygon_renderer(shape: int, scale: float, theta: float,
                                                      px: float, py: float) -> None:
    ours = render_sprite(shape, scale, theta, px, py).astype(bool)
    ref = _reference_render(shape, scale, theta, px, py)
    assert np.count_nonzero(ours ^ ref) <= 1  # a pixel centre on the outline may go either way


def test_batch_equals_single_renders() -> None:
    z = sp.GRID.codes_to_values(sp.GRID.codes(np.random.default_rng(3).choice(sp.GRID.size, 50)))
    batch = render_sprites(*z.T)
    for k in range(0, 50, 7):
        np.testing.assert_array_equal(batch[k], render_sprite(*z[k]))


# ---------------------------------------------------------------------------- task sets
def test_factor_task_set_contents() -> None:
    ts = sprites(n=400, seed=1)
    assert isinstance(ts, TaskSet) and ts.inputs.shape == (400, 1, 64, 64)
    assert ts.inputs.dtype == np.float32 and set(np.unique(ts.inputs)) <= {0.0, 1.0}
    assert ts.task_names == ["shape", "scale", "orientation", "pos_x", "pos_y"]
    assert ts["shape"].kind == "classification"
    assert ts["shape"].classes.tolist() == ["square", "ellipse", "heart"]
    assert all(ts[t].kind == "regression" for t in ts.task_names[1:])
    assert ts["orientation"].targets.shape == (400, 2)
    f = ts.factors
    assert f.names == sp.GRID.names and len(f.levels) == 5
    np.testing.assert_array_equal(f.levels[2], sp.ORIENTATIONS)
    assert len(np.unique(f.values, axis=0)) == 400  # drawn without replacement
    np.testing.assert_array_equal(ts["shape"].targets, f.values[:, 0].astype(int) - 1)
    np.testing.assert_allclose(ts["pos_x"].targets, f.values[:, 3], atol=1e-6)
    np.testing.assert_array_equal(ts.inputs[:, 0], render_sprites(*f.values.T))
    again = sprites(n=400, seed=1)
    np.testing.assert_array_equal(again.factors.values, f.values)
    assert not np.array_equal(sprites(n=400, seed=2).factors.values, f.values)


def test_orientation_target_respects_shape_symmetry() -> None:
    theta = np.array([0.4, 0.4 + np.pi / 2, 0.4 + np.pi])
    for shape, equal in [(1, [True, True]), (2, [False, True]), (3, [False, False])]:
        y = orientation_target(np.full(3, shape), theta)
        assert [np.allclose(y[0], y[k]) for k in (1, 2)] == equal
    # the images agree exactly where the targets agree
    square = [render_sprite(1, 0.9, t, CENTRE_POS, CENTRE_POS) for t in theta]
    np.testing.assert_array_equal(square[0], square[1])
    y = orientation_target(np.array([3, 3]), np.array([0.0, 2 * np.pi]))
    np.testing.assert_allclose(y[0], y[1], atol=1e-12)


def test_random_mlp_task_set() -> None:
    ts = sprites(n=300, seed=0, tasks="random_mlp", n_tasks=4, hidden=32, factor_subsets=2)
    assert ts.task_names == ["mlp_0", "mlp_1", "mlp_2", "mlp_3"]
    assert all(t.kind == "regression" for t in ts.tasks.values())
    y = np.stack([t.targets for t in ts.tasks.values()], axis=1)
    np.testing.assert_allclose(y.std(axis=0), 1.0, rtol=1e-4)
    assert all(len(s) == 2 for s in ts.info["factor_subsets"])
    again = sprites(n=300, seed=0, tasks="random_mlp", n_tasks=4, hidden=32, factor_subsets=2)
    np.testing.assert_array_equal(again["mlp_2"].targets, ts["mlp_2"].targets)


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(("kwargs", "match"), [
    ({"shape": 4}, "shape"),
    ({"shape": 0}, "shape"),
    ({"scale": 0.3}, "scale"),
    ({"scale": 1.2}, "scale"),
    ({"pos_x": 1.5}, "pos_x"),
    ({"pos_y": -0.1}, "pos_y"),
    ({"orientation": float("nan")}, "orientation"),
])
def test_render_rejects_bad_factors(kwargs: dict, match: str) -> None:
    args = {"shape": 1, "scale": 1.0, "orientation": 0.0, "pos_x": 0.5, "pos_y": 0.5, **kwargs}
    with pytest.raises(ValueError, match=match):
        render_sprite(**args)


def test_bad_arguments_name_themselves() -> None:
    with pytest.raises(ValueError, match="n must be"):
        sprites(n=0)
    with pytest.raises(ValueError, match="n must be at most"):
        sprites(n=sp.GRID.size + 1)
    with pytest.raises(ValueError, match="tasks"):
        sprites(n=10, tasks="shapes")
    with pytest.raises(ValueError, match="orientation_encoding"):
        sprites(n=10, orientation_encoding="degrees")
    with pytest.raises(ValueError, match="factor_codes column 2"):
        sp.GRID.index(np.array([0, 0, 40, 0, 0]))
    with pytest.raises(ValueError, match="factor_codes must have shape"):
        sp.GRID.index(np.zeros((3, 4), dtype=int))
    with pytest.raises(ValueError, match="common length"):
        render_sprites([1, 2], [1.0, 1.0, 1.0], 0.0, 0.5, 0.5)
    with pytest.raises(ValueError, match="start"):
        next(sp.GRID.images(start=10, stop=5))
