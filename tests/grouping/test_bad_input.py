"""Bad input to the grouping entry points: clear errors naming the argument (issue 14)."""

from __future__ import annotations

import numpy as np
import pytest

from tasklens.grouping import (
    Candidate,
    candidates_from_losses,
    higher_order_approximation,
    select_groups_from_affinity,
    select_networks,
)


def _cands() -> list[Candidate]:
    return [Candidate(frozenset({"a"}), {"a": 1.0}), Candidate(frozenset({"b"}), {"b": 2.0}),
            Candidate(frozenset({"a", "b"}), {"a": 0.5, "b": 1.5}, cost=1.5)]


def test_candidate_refuses_a_string_for_tasks() -> None:
    # frozenset("depth") would be the tasks {"d", "e", "p", "t", "h"}
    with pytest.raises(TypeError, match=r"tasks must be a collection of task names.*\['depth'\]"):
        Candidate("depth", {"depth": 1.0})


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"tasks": {"a"}, "losses": [1.0]}, TypeError, "losses must be a mapping"),
        ({"tasks": {"a"}, "losses": {"a": "1"}}, TypeError, r"losses\['a'\] must be a real"),
        ({"tasks": {"a"}, "losses": {"a": 1.0}, "cost": "2"}, TypeError, "cost must be a real"),
        ({"tasks": {"a"}, "losses": {"a": 1.0}, "cost": 0.0}, ValueError, "cost must be > 0"),
        ({"tasks": {"a"}, "losses": {"a": 1.0}, "cost": np.inf}, ValueError, "cost must be"),
        ({"tasks": {1}, "losses": {1: 1.0}}, TypeError, "task names must be strings"),
    ],
)
def test_candidate_bad_arguments(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        Candidate(**kwargs)


def test_candidate_accepts_numpy_numbers() -> None:
    c = Candidate(["a", "b"], {"a": np.float32(0.5), "b": np.float64(1.0)}, cost=np.int64(2))
    assert c.tasks == frozenset({"a", "b"}) and c.cost == 2.0
    assert type(c.losses["a"]) is float


@pytest.mark.parametrize(
    ("budget", "error", "match"),
    [("2", TypeError, "budget must be a real number"), (0, ValueError, "budget must be > 0"),
     (np.inf, ValueError, "budget must be finite"), (None, TypeError, "budget must be")],
)
def test_select_networks_bad_budget(budget, error, match) -> None:
    with pytest.raises(error, match=match):
        select_networks(_cands(), budget)


def test_select_networks_accepts_numpy_budget_and_refuses_string_tasks() -> None:
    sel = select_networks(_cands(), np.float32(2.0))
    # {a, b} alone (0.5 + 1.5, cost 1.5) beats {a} + {b} (1 + 2, cost 2)
    assert sel.total_loss == pytest.approx(2.0) and sel.total_cost == pytest.approx(1.5)
    with pytest.raises(TypeError, match=r"tasks must be a collection of task names.*\['ab'\]"):
        select_networks(_cands(), 2.0, tasks="ab")
    with pytest.raises(TypeError, match="candidates must be"):
        select_networks("ab", 2.0)


def test_select_groups_bad_n_groups() -> None:
    aff = np.array([[1.0, 0.2], [0.3, 1.0]])
    with pytest.raises(TypeError, match="n_groups must be an integer"):
        select_groups_from_affinity(aff, "2", task_names=["a", "b"])
    with pytest.raises(ValueError, match="n_groups must be >= 1"):
        select_groups_from_affinity(aff, 0, task_names=["a", "b"])
    with pytest.raises(ValueError, match="max_group_size must be >= 1"):
        select_groups_from_affinity(aff, 1, task_names=["a", "b"], max_group_size=0)
    with pytest.raises(TypeError, match="max_group_size must be an integer"):
        select_groups_from_affinity(aff, 1, task_names=["a", "b"], max_group_size=1.5)
    sel = select_groups_from_affinity(aff, np.int64(1), task_names=["a", "b"])
    assert len(sel.candidates) == 1


def test_approximation_bad_arguments() -> None:
    with pytest.raises(TypeError, match="group_losses must be a mapping"):
        candidates_from_losses([({"a"}, {"a": 1.0})])
    with pytest.raises(TypeError, match="max_size must be an integer"):
        higher_order_approximation({"a": 1.0, "b": 1.0}, {("a", "b"): 1.0, ("b", "a"): 1.0},
                                   max_size="2")
