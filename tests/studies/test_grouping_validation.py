"""Grouping validation: totals follow the per-network test losses; random partitions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasklens.affinity import GainSettings
from tasklens.data import TaskSet
from tasklens.studies import grouping_validation as gv
from tasklens.studies import random_groupings, validate_grouping


@settings(max_examples=30, deadline=None)
@given(k=st.integers(2, 8), seed=st.integers(0, 1000), data=st.data())
def test_random_groupings_are_partitions(k: int, seed: int, data) -> None:
    n_groups = data.draw(st.integers(1, k))
    tasks = [f"t{i}" for i in range(k)]
    for part in random_groupings(tasks, n_groups, 3, seed):
        assert len(part) == n_groups and all(part)
        assert sorted(t for g in part for t in g) == sorted(tasks)


def _toy() -> TaskSet:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6))
    return TaskSet.from_arrays(x, {"a": x[:, 0] + 0.1 * rng.normal(size=200),
                                   "b": x[:, 0] - x[:, 1], "c": rng.normal(size=200)})


def test_totals_are_sums_of_best_losses(monkeypatch) -> None:
    # stand-in trainer: the loss of task t in group G is len(G) + index(t) (known values)
    calls: list[tuple[str, ...]] = []

    def fake(split, tasks, seed, settings):
        calls.append(tuple(tasks))
        return {"metrics": {t: {"loss": len(tasks) + "abc".index(t)} for t in tasks}}

    monkeypatch.setattr(gv, "train_and_evaluate", fake)
    res = validate_grouping(_toy(), [["a", "b"], ["c"]], n_random=2, seed=0)
    assert res.totals["chosen"] == (2 + 0) + (2 + 1) + (1 + 2)
    assert res.totals["all_in_one"] == 3 * 3 + 0 + 1 + 2
    assert res.totals["single_task"] == 3 + 0 + 1 + 2
    assert len(set(calls)) == len(calls)  # each distinct group trained once
    assert {k for k in res.totals if k.startswith("random_")} == {"random_0", "random_1"}


def test_real_training_and_errors() -> None:
    res = validate_grouping(_toy(), [["a", "b"], ["c"]], n_random=1,
                            settings=GainSettings(epochs=2))
    assert set(res.totals) == {"chosen", "all_in_one", "single_task", "random_0"}
    assert all(np.isfinite(v) and v > 0 for v in res.totals.values())
    with pytest.raises(ValueError, match=r"unserved"):
        validate_grouping(_toy(), [["a", "b"]])
    with pytest.raises(ValueError, match=r"unknown task"):
        validate_grouping(_toy(), [["a", "b", "z"], ["c"]])


def test_summary_is_a_readable_table():
    from tasklens.studies import GroupingValidation

    res = GroupingValidation(
        totals={"chosen": 1.5, "all_in_one": 2.0, "single_task": 1.25, "random_0": 3.0,
                "random_1": 2.5},
        groupings={"chosen": [["a", "b"], ["c"]], "all_in_one": [["a", "b", "c"]],
                   "single_task": [["a"], ["b"], ["c"]], "random_0": [["a", "c"], ["b"]],
                   "random_1": [["a"], ["b", "c"]]},
        task_losses={})
    text = res.summary(digits=2)
    assert str(res) == res.summary()  # default 4 decimals
    assert "1.2500" in str(res)
    lines = text.splitlines()
    assert lines[1].split()[:2] == ["grouping", "total"]
    body = [line.split() for line in lines[2:]]
    # sorted by total, best first; differences against the chosen grouping
    assert [row[0] for row in body[:5]] == ["single_task", "chosen", "all_in_one", "random_1",
                                             "random_0"]
    assert body[0][1:] == ["1.25", "-0.25", "a", "|", "b", "|", "c"]
    assert body[1][1:] == ["1.50", "+0.00", "a,b", "|", "c"]
    assert body[-1] == ["random", "(mean)", "2.75", "+1.25"]
