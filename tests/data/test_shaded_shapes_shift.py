"""shaded_shapes' photometric domain shift: held-out nuisance levels, shared geometry."""

from __future__ import annotations

import numpy as np
import pytest

from tasklens.data import shaded_shapes
from tasklens.data.shaded_shapes import GRID, nuisance_level_split

NUISANCE = ("object_hue", "background", "light_azimuth", "light_elevation")


def test_split_partitions_every_nuisance_factor() -> None:
    split = nuisance_level_split(0)
    assert set(split) == set(NUISANCE)
    for name, parts in split.items():
        levels = len(GRID.levels[GRID.names.index(name)])
        both = np.concatenate([parts["in"], parts["out"]])
        assert sorted(both.tolist()) == list(range(levels))  # a partition
        assert len(parts["in"]) == int(np.ceil(0.6 * levels)) and len(parts["out"]) >= 1
    other = nuisance_level_split(1)
    assert any(not np.array_equal(split[k]["in"], other[k]["in"]) for k in NUISANCE)


def test_in_and_out_sets_use_disjoint_levels_and_share_geometry() -> None:
    a = shaded_shapes(300, size=8, seed=5, nuisance_levels="in")
    b = shaded_shapes(300, size=8, seed=5, nuisance_levels="out")
    full = shaded_shapes(300, size=8, seed=5)
    split = nuisance_level_split(0)
    for name in NUISANCE:
        col = GRID.names.index(name)
        levels = GRID.levels[col]
        seen_a = set(a.factors.values[:, col].tolist())
        seen_b = set(b.factors.values[:, col].tolist())
        assert seen_a == set(levels[split[name]["in"]].tolist())  # 300 draws hit every level
        assert seen_b == set(levels[split[name]["out"]].tolist())
        assert not seen_a & seen_b
    geometry = slice(0, 3)
    np.testing.assert_array_equal(a.factors.values[:, geometry], b.factors.values[:, geometry])
    np.testing.assert_array_equal(a.factors.values[:, geometry],
                                  full.factors.values[:, geometry])
    for t in ("shape", "orientation", "scale"):
        np.testing.assert_array_equal(a.targets[t], b.targets[t])
    assert not np.array_equal(np.asarray(a.inputs), np.asarray(b.inputs))


def test_all_levels_unchanged_and_bad_input() -> None:
    # the default keeps the images drawn before the option existed: nothing extra is drawn
    x = shaded_shapes(20, size=8, seed=3)
    y = shaded_shapes(20, size=8, seed=3, nuisance_levels="all", nuisance_split_seed=9)
    np.testing.assert_array_equal(np.asarray(x.inputs), np.asarray(y.inputs))
    with pytest.raises(ValueError, match="nuisance_levels"):
        shaded_shapes(10, size=8, nuisance_levels="ood")
    with pytest.raises(ValueError, match="shortcut=0"):
        shaded_shapes(10, size=8, shortcut=0.5, nuisance_levels="out")
