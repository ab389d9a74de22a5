"""Loading DATA for the analysis: task specs, encoding, missing values, one-line errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from tasklens.analysis import DataError, load_data, parse_task_specs
from tasklens.analysis.data import multi_digits_mixed
from tasklens.data import TaskSet, load_builtin
from tasklens.data import multi_digits_mixed as data_multi_digits_mixed

from .conftest import write_mixed_csv


def test_task_specs_parse_names_and_kinds() -> None:
    assert parse_task_specs(["a", "b:binary", "c:Regression"]) == {
        "a": None, "b": "binary", "c": "regression"}
    assert parse_task_specs("a,b") == {"a": None, "b": None}
    with pytest.raises(DataError, match="unknown kind 'bogus'"):
        parse_task_specs(["a:bogus"])
    with pytest.raises(DataError, match="given twice"):
        parse_task_specs(["a", "a:binary"])


def test_default_set_has_five_tasks_of_three_kinds_from_the_same_images() -> None:
    ts = multi_digits_mixed(n=200, seed=1)
    kinds = {n: t.kind for n, t in ts.tasks.items()}
    assert kinds == {"left": "classification", "right": "classification",
                     "left_odd": "binary", "right_ge5": "binary", "sum": "regression"}
    left, right = ts["left"].targets, ts["right"].targets
    np.testing.assert_array_equal(ts["left_odd"].targets, left % 2)
    np.testing.assert_array_equal(ts["right_ge5"].targets, right >= 5)
    np.testing.assert_array_equal(ts["sum"].targets, left + right)
    # one function, registered as a built-in data set and re-exported by analysis
    assert multi_digits_mixed is data_multi_digits_mixed
    small = load_builtin("multi_digits_mixed", n=200, seed=1)
    np.testing.assert_array_equal(small.inputs, ts.inputs)


def test_csv_inputs_encoded_imputed_and_standardized(tmp_path) -> None:
    path = write_mixed_csv(tmp_path / "d.csv", n=120, nan_rows=7)
    df = pd.read_csv(path)
    df.loc[30, "x1"] = np.nan  # one missing input: imputed with the median of the kept rows
    df.to_csv(path, index=False)
    loaded = load_data(str(path), ["reg", "bin", "cls:classification"])
    ts = loaded.taskset
    assert ts.task_names == ["reg", "bin", "cls"]
    assert [ts[t].kind for t in ts.task_names] == ["regression", "binary", "classification"]
    assert ts["reg"].kind_inferred and not ts["cls"].kind_inferred
    assert loaded.rows_dropped == {"reg": 7} and ts.n_samples == 113
    # six numeric inputs + three one-hot colour columns; row_id (120 distinct strings) skipped
    assert ts.inputs.shape == (113, 9)
    assert loaded.input_columns == tuple([f"x{i}" for i in range(6)] + ["colour"])
    assert any("row_id" in n for n in loaded.notes)
    assert any("training part" in n for n in loaded.notes)
    kept = df[df["reg"].notna()].reset_index(drop=True)
    x1 = kept["x1"].to_numpy()
    filled = np.where(np.isnan(x1), np.nanmedian(x1), x1)
    # loading encodes and imputes; it does not standardize (the split does, see below)
    np.testing.assert_allclose(ts.inputs[:, 1], filled, rtol=1e-6)
    assert loaded.missing_inputs == {"x1": 1}
    colour = (kept["colour"] == "blue").to_numpy(dtype=float)  # first one-hot column
    np.testing.assert_array_equal(ts.inputs[:, 6], colour)
    np.testing.assert_allclose(ts["reg"].targets, kept["reg"].to_numpy(), rtol=1e-6)

    # the analysis' split: standardized with the statistics of its training rows only
    split = loaded.split(0.25, seed=3)
    train_rows = split.indices.train
    for j, col in ((1, filled), (6, colour)):
        ref = col[train_rows]
        np.testing.assert_allclose(split.train.inputs[:, j], (ref - ref.mean()) / ref.std(),
                                   atol=1e-5)
        test_ref = col[split.indices.test]
        np.testing.assert_allclose(split.test.inputs[:, j],
                                   (test_ref - ref.mean()) / ref.std(), atol=1e-5)
    reg = kept["reg"].to_numpy()[train_rows]
    np.testing.assert_allclose(split.train["reg"].targets, (reg - reg.mean()) / reg.std(),
                               atol=1e-5)


def test_the_analysis_split_statistics_ignore_the_test_rows(tmp_path) -> None:
    """No leak: changing a test row (inputs and regression target) leaves the
    standardization statistics and every training value bit-identical."""
    loaded = load_data(str(write_mixed_csv(tmp_path / "d.csv", n=120)), ["reg", "bin"])
    split = loaded.split(0.25, seed=0)
    row = int(split.indices.test[0])
    ts = loaded.taskset
    inputs = ts.inputs.copy()
    inputs[row] += 1000.0
    tasks = dict(ts.tasks)
    targets = ts["reg"].targets.copy()
    targets[row] = -1e4
    tasks["reg"] = dataclasses.replace(ts["reg"], targets=targets)
    changed = dataclasses.replace(loaded, taskset=TaskSet(inputs, tasks, ts.factors, ts.groups,
                                                           ts.name, dict(ts.info)))
    other = changed.split(0.25, seed=0)
    np.testing.assert_array_equal(other.indices.test, split.indices.test)
    a, b = split.train.standardizer, other.train.standardizer
    np.testing.assert_array_equal(a.input_mean, b.input_mean)
    np.testing.assert_array_equal(a.input_std, b.input_std)
    np.testing.assert_array_equal(a.target_mean["reg"], b.target_mean["reg"])
    np.testing.assert_array_equal(a.target_std["reg"], b.target_std["reg"])
    np.testing.assert_array_equal(split.train.inputs, other.train.inputs)
    np.testing.assert_array_equal(split.train["reg"].targets, other.train["reg"].targets)
    # the changed row itself is standardized with those statistics (it did change)
    assert not np.array_equal(split.test.inputs[0], other.test.inputs[0])
    # whole-table statistics, as before the fix, would have moved
    assert not np.array_equal(inputs.mean(axis=0), ts.inputs.mean(axis=0))


@pytest.mark.parametrize(("tasks", "inputs", "match"), [
    (["reg", "nope"], None, "--task column 'nope' is not in the table"),
    (["reg", "bin"], "x0,row_id", "input column 'row_id' is not numeric"),
    (["reg", "bin"], "x0,missing", "--inputs column 'missing' is not in the table"),
    (["reg"], None, "only one task"),
    (["reg", "bin"], "x0,reg", "both an input"),
    (None, None, "name the target columns with --task"),
])
def test_bad_csv_options_are_one_line_errors(mixed_csv, tasks, inputs, match) -> None:
    with pytest.raises(DataError, match=match) as info:
        load_data(str(mixed_csv), tasks, inputs)
    assert "\n" not in str(info.value)


def test_all_missing_or_infinite_targets_are_errors(tmp_path) -> None:
    path = write_mixed_csv(tmp_path / "d.csv", n=60)
    df = pd.read_csv(path)
    df["reg"] = np.nan
    df.to_csv(path, index=False)
    with pytest.raises(DataError, match="task column 'reg' has no values"):
        load_data(str(path), ["reg", "bin"])
    df["reg"] = 1.0
    df.loc[:50, "reg"] = np.inf  # dropped as missing: too few rows remain
    df.to_csv(path, index=False)
    with pytest.raises(DataError, match="only 9 rows have every target"):
        load_data(str(path), ["reg", "bin"])


def test_npz_and_unknown_name(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4))
    np.savez(tmp_path / "d.npz", inputs=x, a=(x[:, 0] > 0).astype(int), b=x[:, 1])
    loaded = load_data(str(tmp_path / "d.npz"))
    assert loaded.taskset.task_names == ["a", "b"]
    assert [loaded.taskset[t].kind for t in ("a", "b")] == ["binary", "regression"]
    with pytest.raises(DataError, match="neither a file"):
        load_data("no_such_set")


def test_parquet_reads_like_csv(tmp_path) -> None:
    pytest.importorskip("pyarrow")
    csv = write_mixed_csv(tmp_path / "d.csv", n=80)
    pd.read_csv(csv).to_parquet(tmp_path / "d.parquet")
    a = load_data(str(csv), ["reg", "bin", "cls"]).taskset
    b = load_data(str(tmp_path / "d.parquet"), ["reg", "bin", "cls"]).taskset
    np.testing.assert_array_equal(a.inputs, b.inputs)
    for t in ("reg", "bin", "cls"):
        np.testing.assert_array_equal(a[t].targets, b[t].targets)
