"""Taxonomical distance: 002 Table 1 reproduced, tree formats, errors."""

from __future__ import annotations

import numpy as np
import pytest

from tasklens.affinity import TABLE1_NEWICK, taxonomical_distance, tree_distances

TASKS = ["SemSeg", "Keypts", "Edges", "Depth", "Normal"]
# Azorin et al. 2023, Table 1 (off-diagonal entries as printed)
TABLE1 = np.array([
    [0, -8, -6, -8, -5],
    [-8, 0, -4, -12, -9],
    [-6, -4, 0, -10, -7],
    [-8, -12, -10, 0, -5],
    [-5, -9, -7, -5, 0],
], dtype=float)


def test_table1_reproduced_exactly() -> None:
    td = taxonomical_distance(TABLE1_NEWICK, TASKS)
    np.testing.assert_array_equal(td.values, TABLE1)
    assert td.is_symmetric() and td.higher_is_better


def test_table1_is_a_tree_metric() -> None:
    # four-point condition: of the three pair sums, the two largest are equal
    d = -TABLE1
    from itertools import combinations

    for i, j, k, m in combinations(range(5), 4):
        sums = sorted([d[i, j] + d[k, m], d[i, k] + d[j, m], d[i, m] + d[j, k]])
        assert sums[1] == sums[2]


def test_nested_mapping_and_lists_use_unit_edges() -> None:
    tree = {"geometry": {"depth": None, "normal": None}, "semantic": ["seg", "class"]}
    dist = tree_distances(tree)
    assert dist["depth", "normal"] == 2 and dist["depth", "seg"] == 4
    assert taxonomical_distance([["a", "b"], "c"])["a", "c"] == -3


def test_newick_default_lengths_and_order() -> None:
    td = taxonomical_distance("((a,b),(c,d));", ["d", "a"])
    assert td.task_names == ("d", "a") and td["d", "a"] == -4


@pytest.mark.parametrize(("tree", "match"), [
    ("((a,b),c)", "must end with ';'"),
    ("((a,b),a);", "appears twice"),
    ("((a:x,b),c);", "bad Newick branch length"),
    ("(a);", "at least two"),
])
def test_bad_trees(tree: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        taxonomical_distance(tree)


def test_task_missing_from_tree() -> None:
    with pytest.raises(ValueError, match=r"tasks \['Depth'\] are not leaves"):
        taxonomical_distance("((a,b),c);", ["a", "Depth"])
