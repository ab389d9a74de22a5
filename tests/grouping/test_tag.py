"""TAG grouping from an affinity matrix against a brute-force search over group sets."""

from __future__ import annotations

import numpy as np
import pytest

from tasklens.data.matrix import TaskMatrix
from tasklens.grouping import group_scores, select_groups_from_affinity
from tests.reference.grouping_bruteforce import best_tag_score


@pytest.mark.parametrize(("k", "n_groups", "seed"), [(3, 1, 0), (3, 2, 1), (4, 2, 2), (4, 3, 3),
                                                     (5, 2, 4)])
def test_partition_dp_matches_brute_force(k: int, n_groups: int, seed: int) -> None:
    affinity = np.random.default_rng(seed).normal(size=(k, k))
    names = [f"t{i}" for i in range(k)]
    ref = best_tag_score(affinity, n_groups)
    for method in ("partition_dp", "branch_and_bound"):
        sel = select_groups_from_affinity(affinity, n_groups, task_names=names, method=method)
        assert -sel.total_loss == pytest.approx(ref, rel=1e-10, abs=1e-12)
        assert len(sel.candidates) <= n_groups
        assert set().union(*(c.tasks for c in sel.candidates)) == set(names)


def test_methods_agree_on_larger_instance() -> None:
    affinity = np.random.default_rng(9).normal(size=(7, 7))
    a = select_groups_from_affinity(affinity, 3, method="partition_dp")
    b = select_groups_from_affinity(affinity, 3, method="branch_and_bound")
    assert a.total_loss == pytest.approx(b.total_loss, rel=1e-10)


def test_group_scores_follow_onto_convention() -> None:
    m = TaskMatrix(np.array([[0.0, 1.0, 3.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]]),
                   ("a", "b", "c"))
    assert group_scores(m, ["a", "b", "c"]) == {"a": 2.0, "b": 1.0, "c": 0.0}
    assert group_scores(m, ["a"]) == {"a": 0.0}


def test_obvious_clusters_are_found() -> None:
    # two blocks of mutually helpful tasks, harmful across blocks
    block = np.kron(np.eye(2), np.ones((3, 3))) * 2 - 1
    sel = select_groups_from_affinity(block, 2, task_names=list("abcdef"))
    assert {c.tasks for c in sel.candidates} == {frozenset("abc"), frozenset("def")}


def test_errors() -> None:
    with pytest.raises(ValueError, match="n_groups must be >= 1"):
        select_groups_from_affinity(np.zeros((3, 3)), 0)
    with pytest.raises(ValueError, match="NaN"):
        select_groups_from_affinity(np.full((3, 3), np.nan), 1)
    with pytest.raises(ValueError, match="square"):
        select_groups_from_affinity(np.zeros((3, 2)), 1)
    with pytest.raises(ValueError, match="at least two tasks"):
        select_groups_from_affinity(np.zeros((1, 1)), 1)
