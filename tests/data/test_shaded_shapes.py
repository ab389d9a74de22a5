"""Shaded shapes: geometry in the normals only, photometry in albedo and light only, known
closed-form normals, the shortcut maps, and clear errors."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from tasklens.data import shaded_shapes
from tasklens.data.shaded_shapes import render_shaded_shapes

# the module (its constants); the package attribute of the same name is the function
SS = importlib.import_module("tasklens.data.shaded_shapes")


def _row(**kw) -> np.ndarray:
    base = {"shape": 0, "orientation": 0.0, "scale": 0.7, "object_hue": 0.0,
            "background": 0.45, "light_azimuth": 0.0, "light_elevation": 55.0}
    base.update(kw)
    return np.array([[base[k] for k in SS.GRID.names]])


def test_normals_are_unit_and_known_at_landmarks() -> None:
    r = render_shaded_shapes(np.concatenate([_row(shape=s) for s in range(3)]), size=32)
    np.testing.assert_allclose(np.linalg.norm(r.normals, axis=1), 1.0, rtol=1e-5)
    # background faces the viewer; the corner pixel is background for every shape
    np.testing.assert_allclose(r.normals[:, :, 0, 0], [[0, 0, 1]] * 3, atol=1e-7)
    # ellipsoid and cylinder tops (centre) face the viewer; pyramid faces tilt by atan(0.8)
    c = 16  # pixel 16 has centre +1/32: near the middle
    assert r.normals[0, 2, c, c] > 0.99 and r.normals[1, 2, c, c] > 0.99
    np.testing.assert_allclose(r.normals[2, 2, 12, 20], 1 / np.sqrt(1 + 0.8**2), rtol=1e-5)
    # cylinder (orientation 0, axis along x): normals have no x component
    assert np.abs(r.normals[1, 0][r.mask[1]]).max() < 1e-6


def test_geometry_and_photometry_factors_act_on_their_maps_only() -> None:
    base = render_shaded_shapes(_row(), 16)
    for name, value in [("object_hue", 0.5), ("background", 0.65), ("light_azimuth", 90.0),
                        ("light_elevation", 75.0)]:
        other = render_shaded_shapes(_row(**{name: value}), 16)
        np.testing.assert_array_equal(other.normals, base.normals)
        assert not np.array_equal(other.images, base.images), name
    for name, value in [("shape", 1), ("orientation", 40.0), ("scale", 0.85)]:
        other = render_shaded_shapes(_row(**{name: value}), 16)
        assert not np.array_equal(other.normals, base.normals), name
        assert set(np.unique(other.albedo)) == set(np.unique(base.albedo)), name


def test_rotation_by_90_degrees_rotates_the_pyramid_image() -> None:
    a = render_shaded_shapes(_row(shape=2, light_elevation=90.0), 16)
    b = render_shaded_shapes(_row(shape=2, orientation=90.0, light_elevation=90.0), 16)
    np.testing.assert_allclose(a.images, b.images, atol=1e-5)  # 4-fold symmetry, light overhead


def test_taskset_tasks_and_shortcut() -> None:
    src = shaded_shapes(300, size=8, shortcut=1.0, seed=0)
    tgt = shaded_shapes(300, size=8, domain="target", shortcut=1.0, seed=0)
    assert src.task_names == ["shape", "orientation", "scale"]
    assert src.inputs.shape == (300, 3, 8, 8)
    shape = src.tasks["shape"].targets
    hue = src.factors.codes()[:, 3]
    np.testing.assert_array_equal(hue, SS.SOURCE_HUES[shape])
    np.testing.assert_array_equal(tgt.factors.codes()[:, 3], SS.TARGET_HUES[shape])
    free = shaded_shapes(600, size=8, seed=1)
    codes = free.factors.codes()
    # independent hue: every shape meets most hues
    assert min(len(np.unique(codes[codes[:, 0] == s, 3])) for s in range(3)) >= 6
    for t in ("orientation", "scale"):
        assert 0.0 <= free.tasks[t].targets.min() and free.tasks[t].targets.max() <= 1.0


@pytest.mark.parametrize("kwargs, match", [
    ({"shortcut": 1.5}, "shortcut"), ({"domain": "test"}, "domain"), ({"size": 2}, "size"),
    ({"n": 0}, "n"),
])
def test_bad_arguments(kwargs, match) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        shaded_shapes(**{"n": 4, **kwargs})
    with pytest.raises(ValueError, match="shape"):
        render_shaded_shapes(_row(shape=3))
