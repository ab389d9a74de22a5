"""Network selection: branch and bound and exhaustive search against a brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasklens.grouping import Candidate, higher_order_approximation, select_networks
from tests.reference.grouping_bruteforce import best_selection_loss


def _random_instance(seed: int, n_tasks: int, n_cands: int) -> list[Candidate]:
    rng = np.random.default_rng(seed)
    tasks = [f"t{i}" for i in range(n_tasks)]
    cands = [Candidate(frozenset([t]), {t: float(rng.uniform(0.5, 1.5))},
                       cost=float(rng.choice([0.5, 1.0]))) for t in tasks]
    for j in range(n_cands):
        size = int(rng.integers(2, n_tasks + 1))
        group = rng.choice(tasks, size=size, replace=False)
        cands.append(Candidate(frozenset(group.tolist()),
                               {t: float(rng.uniform(0.3, 1.6)) for t in group},
                               cost=float(rng.choice([0.5, 1.0, 1.5])), name=f"c{j}"))
    return cands


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_tasks=st.integers(2, 5), n_cands=st.integers(1, 7),
       budget=st.sampled_from([1.0, 1.5, 2.0, 3.0, 4.5]))
def test_branch_and_bound_equals_brute_force(seed: int, n_tasks: int, n_cands: int,
                                             budget: float) -> None:
    cands = _random_instance(seed, n_tasks, n_cands)
    tasks = sorted(set().union(*(c.tasks for c in cands)))
    ref = best_selection_loss([(set(c.tasks), dict(c.losses), c.cost) for c in cands],
                              tasks, budget)
    if not np.isfinite(ref):
        with pytest.raises(ValueError, match="no set of candidates within budget"):
            select_networks(cands, budget)
        return
    for method in ("branch_and_bound", "exhaustive"):
        sel = select_networks(cands, budget, method=method)
        assert sel.total_loss == pytest.approx(ref, rel=1e-12)
        assert sel.total_cost <= budget + 1e-9
        # the reported assignment really achieves the total
        assert sum(sel.assignment[t].losses[t] for t in tasks) == pytest.approx(sel.total_loss)
        for t, c in sel.assignment.items():
            assert c in sel.candidates and t in c.tasks


def test_same_subset_twice_with_different_costs() -> None:
    full = Candidate(frozenset({"a", "b"}), {"a": 0.2, "b": 0.3}, cost=2.0, name="full")
    half = Candidate(frozenset({"a", "b"}), {"a": 0.4, "b": 0.5}, cost=1.0, name="half")
    singles = [Candidate(frozenset({t}), {t: 1.0}, cost=1.0) for t in "ab"]
    assert select_networks([full, half, *singles], 1.0).candidates == (half,)
    assert select_networks([full, half, *singles], 2.0).candidates == (full,)


def test_hand_example() -> None:
    # a and b help each other, c conflicts with both: best with 2 networks is {a,b} + {c}
    cands = [
        Candidate(frozenset("abc"), {"a": 0.9, "b": 0.9, "c": 0.9}),
        Candidate(frozenset("ab"), {"a": 0.5, "b": 0.5}),
        Candidate(frozenset("a"), {"a": 0.7}),
        Candidate(frozenset("b"), {"b": 0.7}),
        Candidate(frozenset("c"), {"c": 0.4}),
    ]
    sel = select_networks(cands, 2.0)
    assert {c.tasks for c in sel.candidates} == {frozenset("ab"), frozenset("c")}
    assert sel.total_loss == pytest.approx(1.4)
    assert select_networks(cands, 1.0).total_loss == pytest.approx(2.7)


def test_errors_name_the_problem() -> None:
    a = Candidate(frozenset("a"), {"a": 1.0})
    with pytest.raises(ValueError, match=r"tasks \['z'\] are served by no candidate"):
        select_networks([a], 1.0, tasks=["a", "z"])
    with pytest.raises(ValueError, match="budget must be > 0"):
        select_networks([a], 0.0)
    with pytest.raises(ValueError, match="candidates is empty"):
        select_networks([], 1.0)
    with pytest.raises(ValueError, match="unknown method"):
        select_networks([a], 1.0, method="greedy")
    with pytest.raises(ValueError, match="losses has no value for tasks"):
        Candidate(frozenset("ab"), {"a": 1.0})
    with pytest.raises(ValueError, match="cost must be > 0"):
        Candidate(frozenset("a"), {"a": 1.0}, cost=-1)
    with pytest.raises(ValueError, match=r"losses\['a'\] must be a number, got NaN"):
        Candidate(frozenset("a"), {"a": float("nan")})


def test_higher_order_approximation_averages_pairs() -> None:
    single = {"a": 1.0, "b": 2.0, "c": 3.0}
    pairs = {("a", "b"): 0.8, ("a", "c"): 1.2, ("b", "a"): 1.9, ("b", "c"): 2.1,
             ("c", "a"): 2.5, ("c", "b"): 3.5}
    cands = {c.tasks: c for c in higher_order_approximation(single, pairs)}
    assert len(cands) == 7
    assert cands[frozenset("a")].losses == {"a": 1.0}
    assert cands[frozenset("ab")].losses == {"a": 0.8, "b": 1.9}
    abc = cands[frozenset("abc")].losses
    assert abc["a"] == pytest.approx(1.0) and abc["b"] == pytest.approx(2.0)
    assert abc["c"] == pytest.approx(3.0)
    with pytest.raises(ValueError, match="lacks 1 ordered pair"):
        higher_order_approximation(single, {k: v for k, v in pairs.items() if k != ("c", "b")})
