"""Streaming (chunked) correlations and whitening against the in-memory computation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasklens.data import TaskSet
from tasklens.data.storage import RowStore
from tasklens.linear import (
    Moments,
    accumulate_moments,
    streaming_task_correlations,
    task_correlations,
)


def _chunks(x, y, cuts):
    edges = [0, *sorted(cuts), len(x)]
    return [(x[a:b], y[a:b]) for a, b in itertools.pairwise(edges)]


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 60), cuts=st.lists(st.integers(0, 60), max_size=8),
       seed=st.integers(0, 2**16))
def test_moments_equal_two_pass_reference(n, cuts, seed) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) * [1.0, 10.0, 0.1] + 5.0
    y = rng.normal(size=(n, 2))
    m = accumulate_moments(_chunks(x, y, [c for c in cuts if c <= n]))
    # reference: the textbook two-pass formulas on the whole array
    xc, yc = x - x.mean(0), y - y.mean(0)
    assert m.n == n
    np.testing.assert_allclose(m.mean_x, x.mean(0), rtol=0, atol=1e-12)
    np.testing.assert_allclose(m.cxx, xc.T @ xc, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(m.cyx, yc.T @ xc, rtol=1e-12, atol=1e-10)
    sxx, syx = m.correlations(center=False)
    np.testing.assert_allclose(sxx, x.T @ x / n, rtol=1e-12)
    np.testing.assert_allclose(syx, y.T @ x / n, rtol=1e-12, atol=1e-12)


def test_moments_are_stable_for_a_large_offset() -> None:
    # a one-pass Σx² − n·mean² would lose every digit of a unit variance at offset 1e8
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10_000, 2)) + 1e8
    m = accumulate_moments((x[i:i + 97], x[i:i + 97, :1]) for i in range(0, len(x), 97))
    xc = x - x.mean(0)
    ref = xc.T @ xc
    scale = np.abs(ref).max()
    np.testing.assert_allclose(m.cxx, ref, rtol=0, atol=1e-8 * scale)
    naive = x.T @ x - len(x) * np.outer(x.mean(0), x.mean(0))
    assert np.abs(naive - ref).max() > 1e-3 * scale  # the test can tell the two apart
    with pytest.raises(ValueError, match="no rows"):
        accumulate_moments([])


def test_merge_is_the_moment_of_the_union() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(7, 2)), rng.normal(size=(4, 2)) + 3
    whole = Moments.of(np.vstack([a, b]), np.vstack([a, b]))
    merged = Moments.of(a, a).merge(Moments.of(b, b))
    np.testing.assert_allclose(merged.cxx, whole.cxx, rtol=1e-13)
    np.testing.assert_allclose(merged.mean_y, whole.mean_y, rtol=1e-13)


@pytest.fixture()
def sets(tmp_path) -> tuple[TaskSet, TaskSet]:
    rng = np.random.default_rng(3)
    n, d = 500, 5
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 0.5  # correlated, off-centre
    ys = {"cls": rng.integers(0, 4, n), "reg": x @ rng.normal(size=d) + rng.normal(size=n),
          "multi": rng.normal(size=(n, 2)), "bin": (x[:, 0] > 0.5).astype(int)}
    np.save(tmp_path / "x.npy", x)
    return TaskSet.from_npy(tmp_path / "x.npy", ys), TaskSet.from_arrays(x, ys)


def _align_signs(w: np.ndarray, ref: np.ndarray) -> np.ndarray:
    # PCA directions are defined up to sign
    return w * np.sign(np.sum(w * ref, axis=0))


@pytest.mark.parametrize("whiten", ["none", "zca", "pca"])
@pytest.mark.parametrize("center", [False, True])
def test_streaming_equals_in_memory(sets, whiten, center, monkeypatch) -> None:
    lazy, mem = sets
    want = task_correlations(mem, whiten=whiten, center=center, warn=False)
    monkeypatch.setattr(RowStore, "__array__", lambda *a, **k: pytest.fail("full load"))
    got = task_correlations(lazy, whiten=whiten, center=center, warn=False)  # dispatches
    assert got.task_names == want.task_names and got.kinds == want.kinds
    assert got.n_samples == want.n_samples and got.is_whitened == want.is_whitened
    np.testing.assert_allclose(got.sigma_xx, want.sigma_xx, rtol=0, atol=1e-10)
    if whiten == "none":
        assert got.whitening is None
    else:
        w = _align_signs(got.whitening, want.whitening) if whiten == "pca" else got.whitening
        np.testing.assert_allclose(w, want.whitening, rtol=0, atol=1e-10)
        signs = np.sign(np.sum(got.whitening * want.whitening, axis=0))
    for name in want.task_names:
        sig = got.sigmas[name] * (signs if whiten == "pca" else 1.0)
        np.testing.assert_allclose(sig, want.sigmas[name], rtol=0, atol=1e-10)
    assert got.input_condition == pytest.approx(want.input_condition, rel=1e-8)
    if center:
        np.testing.assert_allclose(got.input_mean, want.input_mean, rtol=0, atol=1e-12)
    else:
        assert got.input_mean is None


@pytest.mark.parametrize("chunk_rows", [1, 7, 499, 10_000])
def test_chunk_size_does_not_change_the_result(sets, chunk_rows) -> None:
    lazy, mem = sets
    want = task_correlations(mem, whiten="zca", tasks=["reg", "cls"], warn=False)
    got = streaming_task_correlations(lazy, whiten="zca", tasks=["reg", "cls"],
                                      chunk_rows=chunk_rows, warn=False)
    assert got.task_names == ["reg", "cls"]
    np.testing.assert_allclose(got.xi(), want.xi(), rtol=0, atol=1e-10)
    in_memory = streaming_task_correlations(mem, whiten="zca", tasks=["reg", "cls"],
                                            chunk_rows=chunk_rows, warn=False)
    np.testing.assert_allclose(in_memory.xi(), want.xi(), rtol=0, atol=1e-10)


def test_streaming_on_a_split_and_on_parquet(sets, tmp_path) -> None:
    import pandas as pd

    lazy, mem = sets
    part, ref = lazy.split(0.3, seed=2).train, mem.split(0.3, seed=2).train
    got = task_correlations(part, tasks=["reg"], warn=False)
    want = task_correlations(ref, tasks=["reg"], warn=False)
    np.testing.assert_allclose(got.sigmas["reg"], want.sigmas["reg"], rtol=0, atol=1e-10)
    df = pd.DataFrame(np.asarray(mem.inputs, dtype=np.float64), columns=list("abcde"))
    df["reg"] = mem["reg"].targets
    df.to_parquet(tmp_path / "d.parquet", row_group_size=64)
    pq = TaskSet.from_parquet(str(tmp_path / "d.parquet"), tasks=["reg"], in_memory=False)
    got = task_correlations(pq, whiten="zca", warn=False)
    want = task_correlations(mem, tasks=["reg"], whiten="zca", warn=False)
    np.testing.assert_allclose(got.sigmas["reg"], want.sigmas["reg"], rtol=0, atol=1e-10)


def test_streaming_warns_and_refuses_like_in_memory(sets) -> None:
    lazy, _ = sets
    with pytest.warns(UserWarning, match="not whitened"):
        streaming_task_correlations(lazy)
    with pytest.raises(ValueError, match="not in the task set"):
        streaming_task_correlations(lazy, tasks=["nope"])
    with pytest.raises(ValueError, match="whiten"):
        streaming_task_correlations(lazy, whiten="pcaa")
    with pytest.raises(ValueError, match="chunk_rows"):
        streaming_task_correlations(lazy, chunk_rows=0)
    with pytest.raises(TypeError, match="source must be a TaskSet"):
        streaming_task_correlations(np.ones((3, 2)))
