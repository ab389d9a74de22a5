"""TaskSet construction, validation, splits, selection and loaders."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasklens.data import TaskSet


def _toy(n: int = 60, seed: int = 0) -> TaskSet:
    rng = np.random.default_rng(seed)
    return TaskSet.from_arrays(
        rng.normal(size=(n, 4)),
        {
            "cls": rng.integers(0, 3, n),
            "reg": rng.normal(size=n),
            "bin": rng.integers(0, 2, n).astype(bool),
            "multi": rng.integers(0, 2, (n, 3)),
        },
        groups=np.repeat(np.arange(n // 5), 5),
    )


def test_kinds_inferred_and_flagged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tasklens"):
        ts = _toy()
    kinds = {n: t.kind for n, t in ts.tasks.items()}
    assert kinds == {"cls": "classification", "reg": "regression", "bin": "binary",
                     "multi": "multilabel"}
    assert all(t.kind_inferred for t in ts.tasks.values())
    assert "kind inferred as classification" in caplog.text
    assert "(inferred)" in ts.summary()


def test_encoding_and_output_sizes() -> None:
    ts = TaskSet.from_arrays(
        np.zeros((6, 2)) + np.arange(6)[:, None],
        {"animal": np.array(["cat", "dog", "cat", "eel", "dog", "eel"]),
         "y2": np.arange(12.0).reshape(6, 2)},
    )
    animal = ts["animal"]
    assert animal.kind == "classification"
    assert animal.classes.tolist() == ["cat", "dog", "eel"]
    assert animal.targets.tolist() == [0, 1, 0, 2, 1, 2]
    assert animal.targets.dtype == np.int64
    assert animal.output_size == 3
    assert ts["y2"].output_size == 2 and ts["y2"].kind == "regression"
    assert ts.inputs.dtype == np.float32


def test_explicit_kind_overrides_inference() -> None:
    x = np.arange(20.0).reshape(10, 2)
    ts = TaskSet.from_arrays(x, {"t": np.arange(10) % 3}, kinds={"t": "regression"})
    assert ts["t"].kind == "regression" and not ts["t"].kind_inferred


@pytest.mark.parametrize(
    ("targets", "kinds", "match"),
    [
        ({"a": np.arange(9)}, None, "10 samples"),
        ({"a": np.r_[np.arange(9.0), np.nan]}, None, "NaN"),
        ({"a": np.ones(10)}, {"a": "regression"}, "constant"),
        ({"a": np.zeros(10, dtype=int)}, None, "constant"),
        ({"a": np.arange(10)}, {"a": "ordinal"}, "unknown kind"),
        ({"a": np.arange(10)}, {"b": "regression"}, "not in targets"),
        ({}, None, "non-empty mapping"),
        ({"a": np.arange(10) % 3}, {"a": "binary"}, "exactly 2 labels"),
        ({"": np.arange(10)}, None, "non-empty strings"),
    ],
)
def test_bad_targets_raise_clear_errors(targets: dict, kinds: dict | None, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TaskSet.from_arrays(np.random.default_rng(0).normal(size=(10, 3)), targets, kinds)


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="inputs contains 1 NaN"):
        TaskSet.from_arrays(np.array([[1.0], [np.nan]]), {"a": [0.0, 1.0]})
    with pytest.raises(ValueError, match="inputs must have shape"):
        TaskSet.from_arrays(np.arange(5.0), {"a": np.arange(5.0)})
    with pytest.raises(ValueError, match="inputs is empty"):
        TaskSet.from_arrays(np.zeros((0, 3)), {"a": np.zeros(0)})
    with pytest.raises(ValueError, match="groups must have shape"):
        TaskSet.from_arrays(np.zeros((4, 1)), {"a": [0.0, 1.0, 2.0, 3.0]}, groups=[1, 2])


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 30),
    extra=st.integers(-3, 3).filter(lambda v: v != 0),
    nan_at=st.one_of(st.none(), st.integers(0, 29)),
)
def test_fuzz_from_arrays_errors_name_the_problem(n: int, extra: int, nan_at: int | None) -> None:
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, 3))
    if nan_at is not None:
        x[nan_at % n, 0] = np.nan
    y = rng.normal(size=max(n + extra, 1))
    with pytest.raises(ValueError) as info:
        TaskSet.from_arrays(x, {"target": y})
    msg = str(info.value)
    assert ("inputs" in msg and "NaN" in msg) or ("'target'" in msg and "samples" in msg)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(3, 25),
    drop=st.sampled_from(["inputs", "tasks", "none"]),
    nan=st.booleans(),
)
def test_fuzz_from_dataframe(n: int, drop: str, nan: bool) -> None:
    rng = np.random.default_rng(n)
    df = pd.DataFrame({"f1": rng.normal(size=n), "f2": rng.normal(size=n),
                       "label": np.arange(n) % 2, "score": rng.normal(size=n)})
    if nan:
        df.loc[0, "score"] = np.nan
        with pytest.raises(ValueError, match=r"'score'.*NaN"):
            TaskSet.from_dataframe(df, tasks=["label", "score"])
        return
    if drop == "inputs":
        with pytest.raises(ValueError, match=r"columns \['nope'\] are not in df"):
            TaskSet.from_dataframe(df, inputs=["nope"], tasks=["label"])
    elif drop == "tasks":
        with pytest.raises(ValueError, match="at least one target"):
            TaskSet.from_dataframe(df, tasks=[])
    else:
        ts = TaskSet.from_dataframe(df, tasks={"label": "binary", "score": None})
        assert ts.input_shape == (2,)
        assert ts["label"].kind == "binary" and ts["score"].kind == "regression"
        np.testing.assert_allclose(ts.inputs[:, 0], df["f1"].to_numpy(), rtol=1e-6)


def test_dataframe_rejects_non_numeric_inputs_and_overlap() -> None:
    df = pd.DataFrame({"a": ["x", "y", "x"], "b": [1.0, 2.0, 3.0], "t": [0, 1, 0]})
    with pytest.raises(TypeError, match="not numeric"):
        TaskSet.from_dataframe(df, tasks=["t"])
    with pytest.raises(ValueError, match="both inputs and tasks"):
        TaskSet.from_dataframe(df, inputs=["b", "t"], tasks=["t"])


def test_csv_and_parquet_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x1": rng.normal(size=20), "x2": rng.normal(size=20),
                       "y": rng.integers(0, 4, 20), "g": np.arange(20) // 4})
    df.to_csv(tmp_path / "d.csv", index=False)
    df.to_parquet(tmp_path / "d.parquet")
    for ts in (TaskSet.from_csv(str(tmp_path / "d.csv"), tasks=["y"], groups="g"),
               TaskSet.from_parquet(str(tmp_path / "d.parquet"), tasks=["y"], groups="g")):
        assert ts.input_shape == (2,)
        assert ts.groups is not None and len(np.unique(ts.groups)) == 5
        np.testing.assert_array_equal(ts["y"].classes[ts["y"].targets], df["y"].to_numpy())


def test_select_and_subset() -> None:
    ts = _toy()
    sel = ts.select(["reg", "cls"])
    assert sel.task_names == ["reg", "cls"]
    assert sel.inputs is ts.inputs
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['nope'\]"):
        ts.select(["nope"])
    with pytest.raises(ValueError, match="duplicate"):
        ts.select(["reg", "reg"])
    sub = ts.subset(np.arange(10))
    assert len(sub) == 10 and sub["cls"].classes is ts["cls"].classes


def test_random_split_is_seeded_disjoint_and_complete() -> None:
    ts = _toy(100)
    a, b = ts.split(0.2, 0.1, seed=3), ts.split(0.2, 0.1, seed=3)
    np.testing.assert_array_equal(a.indices.test, b.indices.test)
    parts = [a.indices.train, a.indices.val, a.indices.test]
    assert sorted(np.concatenate(parts).tolist()) == list(range(100))
    assert [len(p) for p in parts] == [70, 10, 20]
    c = ts.split(0.2, 0.1, seed=4)
    assert not np.array_equal(a.indices.test, c.indices.test)


def test_stratified_split_keeps_proportions() -> None:
    y = np.repeat([0, 1, 2], [50, 30, 20])
    ts = TaskSet.from_arrays(np.arange(100.0)[:, None], {"y": y})
    s = ts.split(0.2, strategy="stratified", seed=0)
    counts = np.bincount(s.test["y"].targets, minlength=3)
    np.testing.assert_array_equal(counts, [10, 6, 4])


def test_group_split_keeps_groups_whole() -> None:
    ts = _toy(100)
    s = ts.split(0.25, 0.1, strategy="group", seed=0)
    groups = [set(np.unique(p.groups).tolist()) for p in (s.train, s.val, s.test)]
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    assert len(groups[2]) == 5  # 25 % of 20 groups


def test_split_errors() -> None:
    ts = _toy(10)
    with pytest.raises(ValueError, match="too few samples"):
        TaskSet.from_arrays(np.zeros((2, 1)) + [[0.0], [1.0]], {"a": [0.0, 1.0]}).split(0.3, 0.3)
    with pytest.raises(ValueError, match="leaves no training data"):
        ts.split(0.6, 0.5)
    with pytest.raises(ValueError, match="unknown strategy"):
        ts.split(strategy="temporal")
    no_groups = TaskSet.from_arrays(np.arange(10.0)[:, None], {"a": np.arange(10.0)})
    with pytest.raises(ValueError, match="needs groups"):
        no_groups.split(strategy="group")
    with pytest.raises(ValueError, match="cannot stratify by regression"):
        ts.split(strategy="stratified", stratify_by="reg")


def test_dataloader_batches_cover_the_data_once() -> None:
    ts = _toy(50)
    seen = []
    for x, ys in ts.dataloader(batch_size=16, seed=1):
        assert set(ys) == set(ts.task_names)
        assert x.shape[1:] == (4,) and len(ys["multi"]) == len(x)
        seen.append(x.numpy())
    allx = np.concatenate(seen)
    assert allx.shape == (50, 4)
    # same rows, permuted: sort both by first column
    np.testing.assert_allclose(np.sort(allx[:, 0]), np.sort(ts.inputs[:, 0]))
    again = np.concatenate([x.numpy() for x, _ in ts.dataloader(batch_size=16, seed=1)])
    np.testing.assert_array_equal(allx, again)


def test_factors_codes_and_validation() -> None:
    values = np.array([[0.5, 1.0], [1.0, 2.0], [0.75, 1.0]])
    ts = TaskSet.from_arrays(np.zeros((3, 1)) + [[0.0], [1.0], [2.0]], {"a": [0.0, 1.0, 2.0]},
                             factors=values, factor_names=["scale", "shape"],
                             factor_levels=[[0.5, 0.75, 1.0], [1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(ts.factors.codes(), [[0, 0], [2, 1], [1, 0]])
    with pytest.raises(ValueError, match="factor_names has 1 names"):
        TaskSet.from_arrays(np.zeros((3, 1)), {"a": [0.0, 1.0, 2.0]}, factors=values,
                            factor_names=["x"])


def test_repr_and_to_dict() -> None:
    ts = _toy()
    assert "n_samples=60" in repr(ts) and "cls:classification" in repr(ts)
    d = ts.to_dict()
    assert [t["name"] for t in d["tasks"]] == ["cls", "reg", "bin", "multi"]
