"""FactorGrid: flat order, codes and values checked against itertools.product enumeration."""

from __future__ import annotations

import importlib
import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasklens.data import FactorGrid

LEVELS = ([0.5, 1.5], [10.0, 20.0, 30.0], [-1.0, 0.0, 1.0, 2.0])
GRID = FactorGrid(("a", "b", "c"), LEVELS)
# brute force: the Cartesian product in the order itertools enumerates (last factor fastest)
PRODUCT_CODES = np.array(list(itertools.product(*(range(len(lv)) for lv in LEVELS))))
PRODUCT_VALUES = np.array(list(itertools.product(*LEVELS)))


def test_grid_enumerates_the_cartesian_product_last_factor_fastest() -> None:
    assert GRID.shape == (2, 3, 4) and GRID.size == len(GRID) == 24
    np.testing.assert_array_equal(GRID.codes(np.arange(24)), PRODUCT_CODES)
    np.testing.assert_array_equal(GRID.values(), PRODUCT_VALUES)
    np.testing.assert_array_equal(GRID.index(PRODUCT_CODES), np.arange(24))
    np.testing.assert_array_equal(GRID.codes_to_values(PRODUCT_CODES), PRODUCT_VALUES)
    assert int(GRID.index([1, 2, 3])) == 23  # a single row gives a scalar


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 23), st.integers(1, 30), st.integers(0, 24))
def test_batches_cover_the_range_in_order(start: int, batch: int, extra: int) -> None:
    stop = min(24, start + extra)
    got = list(GRID.batches(batch, start=start, stop=stop))
    joined = np.concatenate(got) if got else np.empty((0, 3))
    np.testing.assert_array_equal(joined, PRODUCT_VALUES[start:stop])
    assert all(len(b) <= batch for b in got)


def test_images_render_each_batch_and_need_a_renderer() -> None:
    grid = FactorGrid(("a", "b", "c"), LEVELS, render=lambda v: v.sum(axis=1))
    (img, val), = list(grid.images(24))
    np.testing.assert_array_equal(img, PRODUCT_VALUES.sum(axis=1))
    np.testing.assert_array_equal(val, PRODUCT_VALUES)
    with pytest.raises(ValueError, match="no render function"):
        next(GRID.images())


def test_equality_to_dict_and_bad_input() -> None:
    assert GRID == FactorGrid(("a", "b", "c"), [np.array(lv) for lv in LEVELS])
    assert GRID != FactorGrid(("a", "b", "c"), ([0.5, 1.5], [10.0, 20.0, 31.0], LEVELS[2]))
    d = json.loads(json.dumps(GRID.to_dict()))
    assert d["shape"] == [2, 3, 4] and d["size"] == 24 and d["levels"][1] == LEVELS[1]
    with pytest.raises(ValueError, match=r"column 1 \(b\) must lie in 0..2"):
        GRID.index([0, 3, 0])
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        GRID.index([[0, 0]])
    with pytest.raises(TypeError, match="integer level indices"):
        GRID.index([0.5, 0, 0])
    with pytest.raises(ValueError, match=r"0\.\.23"):
        GRID.codes([24])
    with pytest.raises(ValueError, match="start"):
        next(GRID.batches(start=5, stop=2))
    with pytest.raises(ValueError, match="one levels array per name"):
        FactorGrid(("a",), LEVELS)
    with pytest.raises(ValueError, match="non-empty"):
        FactorGrid(("a",), ([],))


@pytest.mark.parametrize(("name", "shape"), [
    ("dsprites", (3, 6, 40, 32, 32)),
    ("shapes3d_procedural", (10, 10, 10, 8, 4, 15)),
    ("mpi3d_procedural", (6, 6, 2, 3, 3, 40, 40)),
    ("shaded_shapes", (3, 9, 4, 8, 3, 8, 3)),  # the package attribute is the function
])
def test_each_procedural_data_set_exposes_its_grid(name: str, shape: tuple[int, ...]) -> None:
    module = importlib.import_module(f"tasklens.data.{name}")
    assert isinstance(module.GRID, FactorGrid) and module.GRID.shape == shape
    images, values = next(module.GRID.images(2))
    assert len(images) == 2
    np.testing.assert_array_equal(values, module.GRID.values([0, 1]))
