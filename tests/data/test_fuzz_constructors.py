"""Property-based fuzz of the public data constructors (issue 14).

Each example corrupts exactly one argument of ``TaskSet.from_arrays``,
``TaskSet.from_dataframe``, ``TaskSet.split`` or ``TaskSet.subset`` and checks that the call
raises a ``ValueError`` or ``TypeError`` whose message names that argument (or the task whose
targets are bad): never a deep numpy / pandas / Python error (IndexError, KeyError, ...),
and never a silent acceptance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasklens.data import TaskSet

N = 12

# values that are wrong for almost any argument
JUNK = st.sampled_from([None, "x", "0.2", b"1", 1.5j, [[1], [2, 3]], {"a": 1}, object(),
                        float("nan"), float("inf"), -1, True, [], ()])


def _good_arrays(seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N, 3)), {"cls": np.arange(N) % 3, "reg": rng.normal(size=N)}


def _expect_clear_error(call, *names: str) -> None:
    """``call()`` raises ValueError/TypeError and the message names one of ``names``."""
    try:
        call()
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        assert any(n in msg for n in names), f"message does not name {names}: {msg!r}"
        return
    pytest.fail(f"accepted bad input silently (expected an error naming {names})")


# ------------------------------------------------------------------------ from_arrays
BAD_INPUTS = st.one_of(
    JUNK,
    st.just(np.zeros((0, 3))),  # empty
    st.just(np.arange(float(N))),  # 1-D
    st.integers(0, N * 3 - 1).map(lambda i: np.where(np.arange(N * 3) == i, np.nan, 0.0)
                                  .reshape(N, 3)),  # one NaN
    st.just(np.full((N, 3), 1e39)),  # float32 overflow
    st.just(np.array([["a"] * 3] * N)),  # strings
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bad=BAD_INPUTS)
def test_fuzz_from_arrays_inputs(bad) -> None:
    _, y = _good_arrays()
    _expect_clear_error(lambda: TaskSet.from_arrays(bad, y), "inputs")


BAD_TARGET = st.one_of(
    st.sampled_from([None, "x", 3.0, [], [[1], [2, 3]], np.zeros((N, 2, 2)), np.zeros(N - 1),
                     np.zeros(N + 4), np.full(N, np.nan), np.full(N, 1e39), np.zeros(N),
                     np.array(["a", None] * (N // 2), dtype=object),
                     pd.array(["a", pd.NA] * (N // 2), dtype="string")]),
    st.integers(0, N - 1).map(lambda i: np.where(np.arange(N) == i, np.inf, np.arange(N) * 0.37)),
)


@settings(max_examples=60, deadline=None)
@given(bad=BAD_TARGET)
def test_fuzz_from_arrays_targets(bad) -> None:
    x, y = _good_arrays()
    _expect_clear_error(lambda: TaskSet.from_arrays(x, {**y, "bad": bad}), "'bad'")


@settings(max_examples=40, deadline=None)
@given(bad=st.one_of(JUNK, st.just({"cls": "ordinal"}), st.just({"nope": "regression"}),
                     st.just({"reg": "binary"}), st.just(["cls"])))
def test_fuzz_from_arrays_kinds(bad) -> None:
    x, y = _good_arrays()
    if bad in ((), [], None):  # an empty or absent kinds mapping is valid: kinds inferred
        return
    _expect_clear_error(lambda: TaskSet.from_arrays(x, y, bad), "kinds", "'reg'", "'cls'")


@settings(max_examples=40, deadline=None)
@given(bad=st.one_of(JUNK.filter(lambda v: v is not None), st.just(np.zeros(N - 1)),
                     st.just(np.zeros((N, 2)))))
def test_fuzz_from_arrays_groups(bad) -> None:
    x, y = _good_arrays()
    _expect_clear_error(lambda: TaskSet.from_arrays(x, y, groups=bad), "groups")


@settings(max_examples=40, deadline=None)
@given(bad=st.one_of(JUNK, st.just(np.zeros((N - 1, 2))), st.just(np.zeros(N))))
def test_fuzz_from_arrays_factors(bad) -> None:
    x, y = _good_arrays()
    if bad is None:
        return
    _expect_clear_error(lambda: TaskSet.from_arrays(x, y, factors=bad), "factors")


@settings(max_examples=30, deadline=None)
@given(bad=st.one_of(JUNK.filter(lambda v: v not in (None, (), [])),
                     st.just({"cls": [0, 1]}), st.just({"nope": [0, 1, 2]})))
def test_fuzz_from_arrays_classes(bad) -> None:
    x, y = _good_arrays()
    _expect_clear_error(lambda: TaskSet.from_arrays(x, y, classes=bad), "classes", "'cls'")


# ------------------------------------------------------------------------ from_dataframe
def _frame() -> pd.DataFrame:
    x, y = _good_arrays()
    return pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "cls": y["cls"], "reg": y["reg"],
                         "name": ["u", "v"] * (N // 2)})


@settings(max_examples=50, deadline=None)
@given(bad=st.one_of(JUNK, st.just("cls"), st.just(["nope"]), st.just(["cls", "cls"]),
                     st.just({"cls": "ordinal"}), st.just(["x1", "name"])))
def test_fuzz_from_dataframe_tasks(bad) -> None:
    _expect_clear_error(lambda: TaskSet.from_dataframe(_frame(), inputs=["x1", "x2"],
                                                       tasks=bad),
                        "tasks", "column", "task")


@settings(max_examples=50, deadline=None)
@given(bad=st.one_of(JUNK.filter(lambda v: v is not None), st.just("x1"), st.just(["nope"]),
                     st.just(["name"]), st.just(["cls"])))
def test_fuzz_from_dataframe_inputs(bad) -> None:
    _expect_clear_error(lambda: TaskSet.from_dataframe(_frame(), inputs=bad, tasks=["cls"]),
                        "inputs", "input columns", "column")


@settings(max_examples=30, deadline=None)
@given(bad=st.one_of(JUNK.filter(lambda v: v is not None), st.just("nope")))
def test_fuzz_from_dataframe_groups(bad) -> None:
    _expect_clear_error(lambda: TaskSet.from_dataframe(_frame(), inputs=["x1"], tasks=["cls"],
                                                       groups=bad), "groups", "column")


@settings(max_examples=20, deadline=None)
@given(bad=st.one_of(JUNK, st.just(np.zeros((3, 3)))))
def test_fuzz_from_dataframe_df(bad) -> None:
    _expect_clear_error(lambda: TaskSet.from_dataframe(bad, tasks=["cls"]), "df")


# ------------------------------------------------------------------------ split / subset
SIZES = st.one_of(JUNK.filter(lambda v: v != -1 or True), st.floats(-5, -1e-9),
                  st.floats(1.0, 5.0), st.just(0.99))


@settings(max_examples=80, deadline=None)
@given(arg=st.sampled_from(["test_size", "val_size"]), bad=SIZES)
def test_fuzz_split_sizes(arg: str, bad) -> None:
    ts = TaskSet.from_arrays(*_good_arrays())
    if arg == "test_size" and isinstance(bad, float) and bad == 0.99:
        # 0.99 is a valid fraction alone; with N=12 rows it leaves no training row
        _expect_clear_error(lambda: ts.split(test_size=bad), "test_size", "too few")
        return
    _expect_clear_error(lambda: ts.split(**{arg: bad}), arg, "val_size + test_size", "too few")


@settings(max_examples=40, deadline=None)
@given(bad=st.one_of(JUNK.filter(lambda v: v is not None), st.integers(-10**6, -1)))
def test_fuzz_split_seed(bad) -> None:
    ts = TaskSet.from_arrays(*_good_arrays())
    _expect_clear_error(lambda: ts.split(seed=bad), "seed")


@settings(max_examples=30, deadline=None)
@given(strategy=st.one_of(JUNK, st.just("temporal")), stratify_by=st.sampled_from([None, 3,
                                                                                   "reg", "no"]))
def test_fuzz_split_strategy(strategy, stratify_by) -> None:
    ts = TaskSet.from_arrays(*_good_arrays())
    _expect_clear_error(lambda: ts.split(strategy=strategy, stratify_by=stratify_by),
                        "strategy", "stratify_by")


BAD_INDICES = st.one_of(
    JUNK.filter(lambda v: not isinstance(v, dict)),
    st.just(np.zeros(N, dtype=bool)), st.just(np.ones(N - 1, dtype=bool)),
    st.lists(st.integers(N, 10**6), min_size=1, max_size=4),
    st.lists(st.integers(-(10**6), -N - 1), min_size=1, max_size=4),
    st.lists(st.floats(0, N - 1), min_size=1, max_size=4),
    st.just(np.zeros((2, 2), dtype=int)),
)


@settings(max_examples=80, deadline=None)
@given(bad=BAD_INDICES)
def test_fuzz_subset(bad) -> None:
    ts = TaskSet.from_arrays(*_good_arrays())
    _expect_clear_error(lambda: ts.subset(bad), "indices", "mask")


@settings(max_examples=40, deadline=None)
@given(idx=st.lists(st.integers(-N, N - 1), min_size=1, max_size=20))
def test_fuzz_subset_valid_indices_match_numpy(idx: list[int]) -> None:
    # the positive control: valid indices give exactly numpy's rows
    x, y = _good_arrays()
    sub = TaskSet.from_arrays(x, y).subset(idx)
    np.testing.assert_array_equal(sub.inputs, x.astype(np.float32)[idx])
    np.testing.assert_array_equal(sub["reg"].targets, y["reg"].astype(np.float32)[idx])
