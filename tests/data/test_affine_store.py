"""Standardising out-of-core inputs: streamed statistics and rows scaled as they are read."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from tasklens.data import TaskSet
from tasklens.data.standardize import Standardizer, streamed_mean_std
from tasklens.data.storage import AffineStore, NpyStore, RowStore

N, D = 203, 5


@pytest.fixture()
def npy(tmp_path) -> tuple[TaskSet, np.ndarray]:
    rng = np.random.default_rng(1)
    # a large offset makes a naive E[x²] − E[x]² formula lose digits; Chan's update does not
    x = (1e3 + rng.normal(size=(N, D)) * np.array([1, 2, 0.5, 3, 0])).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    ts = TaskSet.from_npy(tmp_path / "x.npy", {"r": rng.normal(size=N), "c": rng.integers(0, 3, N)},
                          {"c": "classification"})
    return ts, x


@pytest.mark.parametrize("chunk_rows", [1, 7, 64, 1000])
def test_streamed_mean_std_equals_numpy(npy, chunk_rows) -> None:
    ts, x = npy
    mean, std = streamed_mean_std(ts.inputs, chunk_rows)
    x64 = x.astype(np.float64)  # the reference: two-pass numpy on the whole array
    np.testing.assert_allclose(mean, x64.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(std, x64.std(axis=0), rtol=1e-9, atol=1e-12)


def test_standardizer_on_disk_scales_rows_as_read(npy, monkeypatch) -> None:
    ts, x = npy
    # nothing here may load the whole store
    monkeypatch.setattr(RowStore, "__array__", lambda *a, **k: pytest.fail("full load"))
    stats = Standardizer.fit(ts)
    out = stats.transform(ts)
    assert isinstance(out.inputs, AffineStore) and out.storage == "npy"
    x64 = x.astype(np.float64)
    sd = x64.std(axis=0)
    ref = ((x64 - x64.mean(axis=0)) / np.where(sd > 0, sd, 1.0)).astype(np.float32)
    idx = np.array([5, 0, 202, 17, 17])
    np.testing.assert_allclose(out.inputs[idx], ref[idx], rtol=1e-5, atol=1e-6)
    assert np.all(out.inputs[:][:, 4] == 0)  # a constant column is centred, not divided
    # splits stay views of the file, scaled the same way
    part = out.subset(np.array([3, 1, 4]))
    assert isinstance(part.inputs, AffineStore)
    np.testing.assert_array_equal(part.inputs[np.arange(3)], out.inputs[np.array([3, 1, 4])])


def test_affine_store_pickles_without_its_rows(npy) -> None:
    ts, _ = npy
    store = AffineStore(ts.inputs.take(np.array([2, 9])), np.ones(D), np.full(D, 2.0))
    blob = pickle.dumps(store)
    assert len(blob) < 2000  # path, row indices and statistics, not the file
    back = pickle.loads(blob)
    np.testing.assert_array_equal(back[np.arange(2)], store[np.arange(2)])
    assert isinstance(back.base, NpyStore)


def test_streaming_blocks_are_bounded_in_bytes_not_only_rows(tmp_path) -> None:
    from tasklens.data.storage import CHUNK_BYTES, chunk_rows_for

    assert chunk_rows_for((256,)) == 8192  # 8 MiB of float32 rows
    assert chunk_rows_for((2048,)) == 1024 and chunk_rows_for((3, 32, 32)) == 682
    assert chunk_rows_for((10**8,)) == 1
    np.save(tmp_path / "w.npy", np.zeros((700, 4096), np.float32))
    store = NpyStore(tmp_path / "w.npy")
    sizes = [len(b) for b in store.chunks()]
    assert sizes == [512, 188] and 512 * 4096 * 4 == CHUNK_BYTES
