"""Monitors: cosines, conflicts and norms equal those of a plain per-task autograd loop."""

from __future__ import annotations

import copy
import itertools

import pytest

from tasklens.nn import task_losses
from tasklens.train import Trainer
from tests.reference.train_reference import cosine, cosine_matrix, flat_task_gradients

from ._data import tiny_model, tiny_taskset


def _first_row_and_reference(ts, method, level=None):
    """Monitor row of step 0 (full batch) and per-task gradients of the initial model."""
    model = tiny_model(ts, seed=2)
    initial = copy.deepcopy(model)
    trainer = Trainer(model, ts, method, batch_size=len(ts), monitor_every=1, level=level)
    trainer.fit(1)
    x, y = next(iter(ts.dataloader(len(ts), shuffle=False)))
    z = initial.encode(x)
    losses = task_losses(ts, initial.decode(z), y)
    shared = flat_task_gradients(list(losses), list(initial.shared_parameters()))
    rep = flat_task_gradients(list(losses), [z])
    heads = {t: flat_task_gradients([losses[k]], list(initial.task_parameters(t)))[0]
             for k, t in enumerate(ts.task_names)}
    return trainer.monitor_history[0], shared, rep, heads


@pytest.mark.parametrize("method", ["ew", "mgda"])
def test_shared_cosines_norms_and_conflicts_match_a_plain_loop(method):
    ts = tiny_taskset(n=96)
    row, shared, _, _ = _first_row_and_reference(ts, method)
    cos = cosine_matrix(shared)
    assert row["level"] == "parameter"
    assert row["cos/a/b"] == pytest.approx(float(cos[0, 1]), abs=1e-5)
    assert row["conflicts"] == int(float(cos[0, 1]) < 0)
    for k, t in enumerate(ts.task_names):
        assert row[f"grad_norm/{t}"] == pytest.approx(float(shared[k].norm()), rel=1e-4)


def test_representation_level_cosines_match_a_plain_loop():
    ts = tiny_taskset(n=96)
    row, _, rep, _ = _first_row_and_reference(ts, "mgda", level="representation")
    assert row["level"] == "representation"
    assert row["cos/a/b"] == pytest.approx(float(cosine_matrix(rep)[0, 1]), abs=1e-5)


def test_head_cosines_only_for_heads_of_equal_shape():
    same = tiny_taskset(n=96, same_heads=True)  # two regression heads, same shapes
    row, _, _, heads = _first_row_and_reference(same, "ew")
    assert row["head_cos/a/c"] == pytest.approx(cosine(heads["a"], heads["c"]), abs=1e-5)

    mixed = tiny_taskset(n=96)  # regression (1 output) vs 3-class head: shapes differ
    row, *_ = _first_row_and_reference(mixed, "ew")
    assert not any(k.startswith("head_cos/") for k in row)


def test_conflict_count_over_three_tasks():
    import numpy as np

    from tasklens.data import TaskSet
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 6)).astype(np.float32)
    w = rng.normal(size=6)
    ts = TaskSet.from_arrays(x, {"p": x @ w, "q": -(x @ w), "r": x @ rng.normal(size=6)},
                             kinds=dict.fromkeys("pqr", "regression"))
    row, shared, _, _ = _first_row_and_reference(ts, "ew")
    cos = cosine_matrix(shared)
    expected = sum(float(cos[i, j]) < 0 for i, j in itertools.combinations(range(3), 2))
    assert row["conflicts"] == expected
