"""Bad input to the data constructors: a clear error naming the argument (issue 14).

Each case was a silent wrong result or a deep numpy/pandas error before: an overflowing
regression target kept as inf, missing labels turned into the classes 'None' / '<NA>',
factor values snapped to the nearest declared level, an empty split part accepted until
after an epoch, strings split into characters, and so on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasklens.data import Factors, TaskSet
from tasklens.nn import hps_for
from tasklens.train import Trainer
from tasklens.train.evaluation import evaluate


def _toy(n: int = 40, seed: int = 0) -> TaskSet:
    rng = np.random.default_rng(seed)
    return TaskSet.from_arrays(rng.normal(size=(n, 3)),
                               {"c": np.arange(n) % 3, "r": rng.normal(size=n)})


def _small_model(ts: TaskSet):
    return hps_for(ts, seed=0, hidden=(4,), code_dim=4, head_hidden=4, head_depth=1)


# ---------------------------------------------------------------- item 2: float32 overflow
def test_regression_target_overflowing_float32_is_refused() -> None:
    y = np.array([1.0, 2.0, 1e39, 3.0])
    with pytest.raises(ValueError, match=r"task 'y'.*1 value\(s\).*float32"):
        TaskSet.from_arrays(np.arange(4.0)[:, None], {"y": y}, kinds={"y": "regression"})
    with pytest.raises(ValueError, match=r"task 'y'.*float32"):
        TaskSet.from_arrays(np.arange(4.0)[:, None], {"y": np.c_[y, y]})


def test_inputs_overflowing_float32_are_refused() -> None:
    with pytest.raises(ValueError, match="inputs contains 1 NaN or infinite"):
        TaskSet.from_arrays(np.array([[1.0], [1e39], [0.0]]), {"y": [0.0, 1.0, 2.5]})


# ---------------------------------------------------------------- item 3: missing labels
@pytest.mark.parametrize("dtype", [object, "string", "category"])
def test_missing_labels_are_missing_not_a_class(dtype) -> None:
    labels = pd.Series(["a", None, "b", "a", "b", "a"], dtype=dtype)
    df = pd.DataFrame({"x": np.arange(6.0), "t": labels})
    with pytest.raises(ValueError, match=r"task 't' has 1 missing value"):
        TaskSet.from_dataframe(df, tasks=["t"])


def test_missing_in_object_array_refused() -> None:
    for missing in (None, pd.NA, np.nan, pd.NaT):
        labels = np.array(["a", missing, "b", "a"], dtype=object)
        with pytest.raises(ValueError, match=r"task 't' has 1 missing value"):
            TaskSet.from_arrays(np.zeros((4, 1)), {"t": labels})


# ---------------------------------------------------------------- item 4: factor levels
def test_factor_value_outside_declared_levels_is_refused() -> None:
    factors = np.array([[0.0], [0.5], [1.0], [0.7]])
    with pytest.raises(ValueError, match=r"factor 'scale'.*0\.7.*not.*factor_levels"):
        TaskSet.from_arrays(np.zeros((4, 1)), {"y": [0.0, 1.0, 2.0, 3.5]}, factors=factors,
                            factor_names=["scale"], factor_levels=[[0.0, 0.5, 1.0]])
    direct = Factors(factors, ("scale",), (np.array([0.0, 0.5, 1.0]),))
    with pytest.raises(ValueError, match=r"factor 'scale'.*0\.7"):
        direct.codes()


def test_factor_levels_tolerate_float_round_off() -> None:
    levels = np.linspace(0.5, 1.0, 6)
    values = levels.astype(np.float32).astype(np.float64)[[0, 3, 5]][:, None]
    f = Factors(values, ("scale",), (levels,))
    assert f.codes()[:, 0].tolist() == [0, 3, 5]


# ---------------------------------------------------------------- item 5: empty parts
def test_empty_test_part_refused_where_used() -> None:
    sp = _toy().split(test_size=0.0, val_size=0.25, seed=0)
    assert len(sp.test) == 0
    model = _small_model(sp.train)
    with pytest.raises(ValueError, match=r"test is an empty task set.*test_size"):
        Trainer(model, sp.train, test=sp.test)
    with pytest.raises(ValueError, match=r"empty task set.*test_size"):
        sp.test.dataloader(8)
    with pytest.raises(ValueError, match=r"empty task set.*test_size"):
        evaluate(model, sp.test)


# ---------------------------------------------------------------- item 18: clear messages
def test_empty_training_set_refused() -> None:
    ts = _toy()
    empty = TaskSet(ts.inputs[:0], {n: t.take(np.arange(0)) for n, t in ts.tasks.items()})
    with pytest.raises(ValueError, match="taskset is an empty task set"):
        Trainer(_small_model(ts), empty)


@pytest.mark.parametrize(
    ("indices", "error", "match"),
    [
        ([], ValueError, "indices selects no rows"),
        (np.zeros(40, dtype=bool), ValueError, "indices selects no rows"),
        ([0, 40], ValueError, r"indices must be in \[-40, 40\)"),
        ([0.5, 1.0], TypeError, "indices must be integer"),
        ([[0, 1]], ValueError, "indices must be 1-D"),
        ("01", TypeError, "indices must be integer"),
    ],
)
def test_subset_bad_indices(indices, error, match) -> None:
    with pytest.raises(error, match=match):
        _toy().subset(indices)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, "8", True])
def test_dataloader_bad_batch_size(batch_size) -> None:
    with pytest.raises((TypeError, ValueError), match="batch_size must be"):
        _toy().dataloader(batch_size)


def test_dataloader_accepts_numpy_batch_size() -> None:
    batches = list(_toy().dataloader(np.int64(16), shuffle=False))
    assert [len(x) for x, _ in batches] == [16, 16, 8]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"test_size": "0.2"}, TypeError, "test_size must be a real number"),
        ({"val_size": None}, TypeError, "val_size must be a real number"),
        ({"test_size": float("nan")}, ValueError, "test_size must be a number"),
        ({"test_size": 1.0}, ValueError, "test_size must be < 1"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
        ({"seed": 1.5}, TypeError, "seed must be"),
        ({"seed": "0"}, TypeError, "seed must be"),
        ({"stratify_by": 3, "strategy": "stratified"}, TypeError, "stratify_by must be"),
    ],
)
def test_split_bad_arguments(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        _toy().split(**kwargs)


def test_split_accepts_numpy_scalars() -> None:
    sp = _toy().split(np.float32(0.25), np.float64(0.25), seed=np.int64(3))
    assert (len(sp.train), len(sp.val), len(sp.test)) == (20, 10, 10)


@pytest.mark.parametrize("arg", ["tasks", "inputs"])
def test_from_dataframe_refuses_a_string_for_a_list(arg) -> None:
    df = pd.DataFrame({"x1": np.arange(4.0), "x1t": [0, 1, 0, 1]})
    kwargs = {"tasks": ["x1t"], arg: "x1t" if arg == "tasks" else "x1"}
    with pytest.raises(TypeError, match=rf"{arg} must be a list of column names.*\['x1"):
        TaskSet.from_dataframe(df, **kwargs)


def test_from_csv_on_empty_file(tmp_path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv.*is empty"):
        TaskSet.from_csv(str(path), tasks=["y"])


def test_from_csv_missing_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        TaskSet.from_csv(str(tmp_path / "nope.csv"), tasks=["y"])


def test_from_parquet_on_a_csv_file(tmp_path) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "data.csv"
    path.write_text("x,y\n1,2\n3,4\n")
    with pytest.raises(ValueError, match=r"data\.csv.*not a Parquet file.*from_csv"):
        TaskSet.from_parquet(str(path), tasks=["y"])


def test_from_parquet_round_trip(tmp_path) -> None:
    pytest.importorskip("pyarrow")
    df = pd.DataFrame({"x": np.arange(6.0), "y": [0, 1, 2, 0, 1, 2]})
    df.to_parquet(tmp_path / "d.parquet")
    ts = TaskSet.from_parquet(str(tmp_path / "d.parquet"), tasks=["y"])
    assert ts["y"].targets.tolist() == [0, 1, 2, 0, 1, 2]


def test_select_refuses_a_string() -> None:
    rng = np.random.default_rng(0)
    ts = TaskSet.from_arrays(rng.normal(size=(6, 2)), {"a": rng.normal(size=6),
                                                       "b": rng.normal(size=6),
                                                       "ab": rng.normal(size=6)})
    # list("ab") would silently select the tasks "a" and "b"
    with pytest.raises(TypeError, match=r"task_names must be a collection.*\['ab'\]"):
        ts.select("ab")
    assert ts.select(["ab"]).task_names == ["ab"]
