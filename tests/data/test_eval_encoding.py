"""Evaluation sets use the training set's label encoding (issue 14, item 1).

A test set built on its own encodes its classes from its own labels: without class 0,
label 1 becomes code 0 and every prediction is scored against a shifted label. These tests
check that (a) such a set is refused where it meets the training set, naming the task and
the fix, and (b) ``encode_like`` / ``like=`` give the training set's codes, so the reported
accuracy equals the accuracy counted by hand on the raw labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tasklens.data import TaskSet
from tasklens.nn import hps_for
from tasklens.train import Trainer
from tasklens.train.evaluation import evaluate


def _frame(n: int, seed: int, drop_class: int | None = None) -> pd.DataFrame:
    """Four well separated classes on one axis, plus a regression target."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 4, n)
    if drop_class is not None:
        label[label == drop_class] = (drop_class + 1) % 4
    x1 = label * 3.0 + rng.normal(scale=0.3, size=n)
    x2 = rng.normal(size=n)
    return pd.DataFrame({"x1": x1, "x2": x2, "label": label, "y": x1 - x2})


def test_separately_built_test_set_has_shifted_codes() -> None:
    # the bug, shown at the data level: same kind, other codes for the same label
    train = TaskSet.from_dataframe(_frame(80, 0), tasks=["label", "y"])
    test = TaskSet.from_dataframe(_frame(40, 1, drop_class=0), tasks=["label", "y"])
    assert train["label"].kind == test["label"].kind == "classification"
    assert train["label"].classes.tolist() == [0, 1, 2, 3]
    assert test["label"].classes.tolist() == [1, 2, 3]
    fixed = test.encode_like(train)
    raw = _frame(40, 1, drop_class=0)["label"].to_numpy()
    np.testing.assert_array_equal(fixed["label"].targets, raw)  # code == label for 0..3
    assert fixed["label"].classes.tolist() == [0, 1, 2, 3]
    assert fixed["label"].output_size == 4
    np.testing.assert_allclose(fixed["y"].targets, test["y"].targets)
    like = TaskSet.from_dataframe(_frame(40, 1, drop_class=0), tasks=["label", "y"], like=train)
    np.testing.assert_array_equal(like["label"].targets, raw)


def test_trainer_refuses_mismatched_classes_naming_task_and_fix() -> None:
    train = TaskSet.from_dataframe(_frame(80, 0), tasks=["label", "y"])
    test = TaskSet.from_dataframe(_frame(40, 1, drop_class=0), tasks=["label", "y"])
    model = hps_for(train, seed=0, hidden=(8,), code_dim=4, head_hidden=4, head_depth=1)
    with pytest.raises(ValueError, match=r"test: task 'label'.*classes.*encode_like"):
        Trainer(model, train, test=test)
    with pytest.raises(ValueError, match=r"val: task 'label'.*classes.*encode_like"):
        Trainer(model, train, val=test)


def test_equal_class_count_but_other_labels_is_refused() -> None:
    # output sizes agree (3 == 3) but the labels differ: codes would be silently wrong
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 2))
    train = TaskSet.from_arrays(x, {"t": np.arange(30) % 3})
    test = TaskSet.from_arrays(x, {"t": np.arange(30) % 3 + 1})
    with pytest.raises(ValueError, match=r"task 't'.*classes \[1, 2, 3\].*\[0, 1, 2\]"):
        test.check_compatible(train, "test")
    with pytest.raises(ValueError, match=r"task 't'.*label\(s\) \[3\].*not.*training"):
        test.encode_like(train)


def test_output_size_and_input_shape_mismatch_refused() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 2))
    train = TaskSet.from_arrays(x, {"r": rng.normal(size=(20, 2))})
    test = TaskSet.from_arrays(x, {"r": rng.normal(size=(20, 3))})
    with pytest.raises(ValueError, match=r"task 'r'.*3 output.*2"):
        test.check_compatible(train, "val")
    other_x = TaskSet.from_arrays(rng.normal(size=(20, 5)), {"r": rng.normal(size=(20, 2))})
    with pytest.raises(ValueError, match=r"inputs of shape \(5,\).*\(2,\)"):
        other_x.check_compatible(train, "val")


def test_binary_labels_of_another_type_refused() -> None:
    x = np.random.default_rng(0).normal(size=(6, 2))
    train = TaskSet.from_arrays(x, {"b": ["no", "yes", "no", "yes", "no", "yes"]})
    test = TaskSet.from_arrays(x, {"b": [0, 1, 0, 1, 0, 1]})
    with pytest.raises(ValueError, match=r"task 'b'.*classes"):
        test.check_compatible(train, "test")
    with pytest.raises(ValueError, match=r"task 'b'.*not.*training"):
        test.encode_like(train)


def test_reported_accuracy_matches_hand_count_after_encode_like() -> None:
    train = TaskSet.from_dataframe(_frame(200, 0), tasks=["label", "y"])
    raw_test = _frame(120, 1, drop_class=0)
    test = TaskSet.from_dataframe(raw_test, tasks=["label", "y"]).encode_like(train)
    model = hps_for(train, seed=0, hidden=(16,), code_dim=8, head_hidden=8, head_depth=1)
    Trainer(model, train, lr=1e-2, batch_size=32, progress=False).fit(15)
    reported = evaluate(model, test)["label"]["accuracy"]
    with torch.no_grad():
        logits = model(torch.as_tensor(test.inputs))["label"].numpy()
    predicted_label = train["label"].classes[logits.argmax(axis=1)]
    by_hand = float(np.mean(predicted_label == raw_test["label"].to_numpy()))
    assert reported == pytest.approx(by_hand, abs=1e-12)
    assert by_hand > 0.8  # separable classes: the model is right, the score reflects it


def test_evaluate_refuses_head_size_mismatch() -> None:
    train = TaskSet.from_dataframe(_frame(80, 0), tasks=["label", "y"])
    test = TaskSet.from_dataframe(_frame(40, 1, drop_class=0), tasks=["label", "y"])
    model = hps_for(train, seed=0, hidden=(8,), code_dim=4, head_hidden=4, head_depth=1)
    with pytest.raises(ValueError, match=r"task 'label'.*4 outputs.*3 classes.*encode_like"):
        evaluate(model, test)


def test_like_requires_known_tasks_and_matching_kinds() -> None:
    train = TaskSet.from_dataframe(_frame(40, 0), tasks=["label", "y"])
    df = _frame(20, 1)
    with pytest.raises(ValueError, match=r"task\(s\) \['x2'\].*not in like"):
        TaskSet.from_dataframe(df, tasks=["label", "x2"], inputs=["x1"], like=train)
    with pytest.raises(ValueError, match=r"task 'label'.*kind 'regression'.*classification"):
        TaskSet.from_dataframe(df, tasks={"label": "regression", "y": None}, like=train)
    with pytest.raises(TypeError, match="like must be a TaskSet"):
        TaskSet.from_dataframe(df, tasks=["label", "y"], like="train")


def test_like_keeps_a_constant_eval_task() -> None:
    # one class present in a small eval set is legitimate; the training encoding decides
    train = TaskSet.from_dataframe(_frame(40, 0), tasks=["label", "y"])
    df = _frame(5, 1)
    df["label"] = 2
    test = TaskSet.from_dataframe(df, tasks=["label", "y"], like=train)
    assert test["label"].targets.tolist() == [2] * 5
    assert test["label"].output_size == 4


def test_hand_built_split_is_checked() -> None:
    # a TaskSetSplit assembled by hand reaches affinity gains / grouping validation as is
    from tasklens.data import SplitIndices, TaskSetSplit

    train = TaskSet.from_dataframe(_frame(40, 0), tasks=["label", "y"])
    test = TaskSet.from_dataframe(_frame(20, 1, drop_class=0), tasks=["label", "y"])
    idx = SplitIndices(np.arange(40), np.arange(0), np.arange(20))
    with pytest.raises(ValueError, match=r"split\.test: task 'label'.*classes"):
        TaskSetSplit(train, None, test, idx)
    ok = TaskSetSplit(train, None, test.encode_like(train), idx)
    assert ok.test["label"].output_size == 4


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_fuzz_encode_like_round_trip(data) -> None:
    # any label subset of the training classes: codes index the training classes and
    # decode back to the raw labels (checked against the raw array, not our encoder)
    pool = data.draw(st.sampled_from([np.array(["cat", "dog", "eel", "fox"]),
                                      np.array([3, 7, 11, 20, 40]), np.array([0.5, 1.5, 2.5])]))
    n_train = data.draw(st.integers(len(pool), 30))
    train_labels = np.concatenate([pool, data.draw(st.lists(st.sampled_from(pool.tolist()),
                                                            min_size=n_train - len(pool),
                                                            max_size=n_train - len(pool)))])
    test_labels = np.asarray(data.draw(st.lists(st.sampled_from(pool.tolist()), min_size=1,
                                                max_size=15)), dtype=pool.dtype)
    rng = np.random.default_rng(0)
    train = TaskSet.from_arrays(rng.normal(size=(len(train_labels), 2)),
                                {"t": train_labels}, {"t": "classification"})
    own = TaskSet.from_arrays(rng.normal(size=(len(test_labels), 2)), {"t": test_labels},
                              {"t": "classification"}) if len(set(test_labels.tolist())) > 1 \
        else None
    test = TaskSet.from_arrays(rng.normal(size=(len(test_labels), 2)), {"t": test_labels},
                               like=train)
    codes = test["t"].targets
    assert train["t"].classes[codes].tolist() == test_labels.tolist()
    assert test["t"].output_size == len(pool)
    test.check_compatible(train, "test")
    if own is not None:
        assert own.encode_like(train)["t"].targets.tolist() == codes.tolist()
        same = own["t"].classes.tolist() == train["t"].classes.tolist()
        if not same:
            with pytest.raises(ValueError, match="classes"):
                own.check_compatible(train, "test")


def test_task_order_and_names_checked() -> None:
    train = TaskSet.from_dataframe(_frame(40, 0), tasks=["label", "y"])
    swapped = TaskSet.from_dataframe(_frame(20, 1), tasks=["y", "label"], like=train)
    with pytest.raises(ValueError, match=r"reorder with test\.select\(train\.task_names\)"):
        swapped.check_compatible(train, "test")
    swapped.select(train.task_names).check_compatible(train, "test")
    fewer = TaskSet.from_dataframe(_frame(20, 1), tasks=["label"], like=train)
    with pytest.raises(ValueError, match="evaluate on the same tasks"):
        fewer.check_compatible(train, "test")


def test_evaluate_refuses_regression_output_size_mismatch() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 2))
    train = TaskSet.from_arrays(x, {"r": rng.normal(size=(10, 2)), "c": np.arange(10) % 2})
    other = TaskSet.from_arrays(x, {"r": rng.normal(size=(10, 3)), "c": np.arange(10) % 2})
    model = hps_for(train, seed=0, hidden=(4,), code_dim=4, head_hidden=4, head_depth=1)
    evaluate(model, train)  # matching sizes work
    with pytest.raises(ValueError, match=r"task 'r'.*2 outputs.*3"):
        evaluate(model, other)
