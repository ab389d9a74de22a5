"""Out-of-core task sets (memory-mapped .npy, Parquet row groups) against in-memory ones."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from tasklens.data import TaskSet
from tasklens.data.storage import NpyStore, ParquetStore, RowStore
from tasklens.nn import hps_for
from tasklens.train import Trainer

N, D = 300, 6


@pytest.fixture()
def arrays() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, D))  # float64 on disk: both paths cast to float32
    return x, {"c": rng.choice(np.array([3, 7, 9]), N), "r": rng.normal(size=N),
               "m": rng.normal(size=(N, 2))}


@pytest.fixture()
def npy_set(tmp_path, arrays) -> TaskSet:
    x, ys = arrays
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "c.npy", ys["c"])
    return TaskSet.from_npy(tmp_path / "x.npy", {"c": tmp_path / "c.npy", "r": ys["r"],
                                                 "m": ys["m"]})


def _parquet(tmp_path, x, ys, row_group_size=64) -> str:
    df = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
    for name, y in ys.items():
        df[name] = y
    path = str(tmp_path / "d.parquet")
    df.to_parquet(path, row_group_size=row_group_size)
    return path


@pytest.fixture()
def no_full_load(monkeypatch):
    """Make loading a whole store an error: what runs under it reads rows lazily."""
    def refuse(self, *args, **kwargs):
        raise AssertionError("the whole store was loaded")
    monkeypatch.setattr(RowStore, "__array__", refuse)


def _same_tasks(a: TaskSet, b: TaskSet) -> None:
    assert a.task_names == b.task_names
    for n in a.task_names:
        assert a[n].kind == b[n].kind and a[n].kind_inferred == b[n].kind_inferred
        np.testing.assert_array_equal(a[n].targets, b[n].targets)
        if b[n].classes is not None:
            assert a[n].classes.tolist() == b[n].classes.tolist()


def test_npy_set_matches_in_memory(npy_set, arrays) -> None:
    x, ys = arrays
    mem = TaskSet.from_arrays(x, ys)
    assert npy_set.storage == "npy" and isinstance(npy_set.inputs, NpyStore)
    assert npy_set.input_shape == mem.input_shape and len(npy_set) == N
    np.testing.assert_array_equal(np.asarray(npy_set.inputs), mem.inputs)
    _same_tasks(npy_set, mem)
    assert npy_set.to_memory().storage == "memory"
    assert "on disk, npy" in npy_set.summary() and npy_set.to_dict()["storage"] == "npy"


def test_parquet_set_matches_in_memory(tmp_path, arrays) -> None:
    x, ys = arrays
    ys = {"c": ys["c"], "r": ys["r"]}
    path = _parquet(tmp_path, x, ys)
    lazy = TaskSet.from_parquet(path, tasks=["c", "r"], in_memory=False)
    eager = TaskSet.from_parquet(path, tasks=["c", "r"])
    assert lazy.storage == "parquet" and isinstance(lazy.inputs, ParquetStore)
    assert lazy.inputs.n_row_groups == 5  # 300 rows in groups of 64
    np.testing.assert_array_equal(np.asarray(lazy.inputs), eager.inputs)
    _same_tasks(lazy, eager)
    assert lazy.info["input_columns"] == eager.info["input_columns"]


@pytest.mark.parametrize("kind", ["npy", "parquet"])
def test_rows_indexing_matches_numpy(tmp_path, arrays, kind) -> None:
    x, _ = arrays
    if kind == "npy":
        np.save(tmp_path / "x.npy", x)
        store: RowStore = NpyStore(tmp_path / "x.npy")
    else:
        store = ParquetStore(_parquet(tmp_path, x, {}), [f"x{i}" for i in range(D)])
    ref = x.astype(np.float32)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, N, 50)  # unordered, with repeats, across row groups
    np.testing.assert_array_equal(store[idx], ref[idx])
    np.testing.assert_array_equal(store[-1], ref[-1])
    np.testing.assert_array_equal(store[10:200:7], ref[10:200:7])
    mask = rng.random(N) < 0.3
    np.testing.assert_array_equal(store[mask], ref[mask])
    view = store.take(np.array([5, 2, 299]))
    assert view.shape == (3, D) and view.rows.tolist() == [5, 2, 299]
    np.testing.assert_array_equal(view.take(np.array([2, 0]))[:], ref[[299, 5]])
    np.testing.assert_array_equal(np.vstack(list(store.chunks(71))), ref)
    clone = pickle.loads(pickle.dumps(view))  # path + rows, not the data
    assert type(clone) is type(store) and clone.rows.tolist() == [5, 2, 299]
    np.testing.assert_array_equal(clone[:], ref[[5, 2, 299]])
    assert len(pickle.dumps(store)) < 2000
    with pytest.raises(IndexError):
        store[np.array([N])]
    with pytest.raises(TypeError, match="rows only"):
        store[0, 1]


def test_split_and_subset_hold_indices_not_copies(npy_set, arrays, no_full_load) -> None:
    x, ys = arrays
    mem = TaskSet.from_arrays(x, ys)
    for kw in ({"strategy": "random"}, {"strategy": "stratified", "stratify_by": "c"}):
        lazy, eager = npy_set.split(0.2, 0.1, seed=3, **kw), mem.split(0.2, 0.1, seed=3, **kw)
        for part in ("train", "val", "test"):
            a, b = getattr(lazy, part), getattr(eager, part)
            assert isinstance(a.inputs, NpyStore)
            np.testing.assert_array_equal(a.inputs.rows, getattr(lazy.indices, part))
            np.testing.assert_array_equal(a.inputs[:], b.inputs)
            _same_tasks(a, b)
    sub = npy_set.select(["r"]).subset(np.arange(N) % 3 == 0)
    np.testing.assert_array_equal(sub.inputs[:], mem.inputs[::3])


@pytest.mark.parametrize("kind", ["npy", "parquet"])
def test_dataloader_batches_equal_in_memory(tmp_path, arrays, kind, no_full_load) -> None:
    x, ys = arrays
    ys = {"c": ys["c"], "r": ys["r"]}
    if kind == "npy":
        np.save(tmp_path / "x.npy", x)
        lazy = TaskSet.from_npy(tmp_path / "x.npy", ys)
    else:
        lazy = TaskSet.from_parquet(_parquet(tmp_path, x, ys), tasks=["c", "r"],
                                    in_memory=False)
    mem = TaskSet.from_arrays(x, ys)
    lazy_train, mem_train = lazy.split(0.25, seed=0).train, mem.split(0.25, seed=0).train
    for shuffle in (True, False):
        got = list(lazy_train.dataloader(32, shuffle=shuffle, seed=5))
        want = list(mem_train.dataloader(32, shuffle=shuffle, seed=5))
        assert len(got) == len(want) == 8
        for (xa, ya), (xb, yb) in zip(got, want):
            assert xa.dtype == torch.float32
            assert torch.equal(xa, xb)
            assert all(torch.equal(ya[n], yb[n]) for n in yb)


def test_training_on_memmap_is_bit_identical(npy_set, arrays, no_full_load) -> None:
    x, ys = arrays
    mem = TaskSet.from_arrays(x, ys)
    params = []
    for ts in (npy_set, mem):
        sp = ts.split(0.2, seed=0)
        model = hps_for(sp.train, seed=0, hidden=(16,), code_dim=8, head_hidden=8,
                        head_depth=1)
        Trainer(model, sp.train, "pcgrad", lr=0.01, batch_size=32, seed=4, val=sp.test,
                progress=False).fit(2)
        params.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*params))
    assert any(not torch.equal(p, torch.zeros_like(p)) for p in params[0])


def test_fingerprint_is_streamed_and_equals_in_memory(npy_set, arrays, no_full_load) -> None:
    from tasklens.train.trainer_state import data_fingerprint

    x, ys = arrays
    mem = TaskSet.from_arrays(x, ys)
    part = npy_set.split(0.3, seed=1).train
    assert data_fingerprint(npy_set) == data_fingerprint(mem)
    assert data_fingerprint(part) == data_fingerprint(mem.split(0.3, seed=1).train)
    assert data_fingerprint(part) != data_fingerprint(npy_set)


def test_checkpoint_of_memmap_run_resumes_in_memory(npy_set, arrays, tmp_path,
                                                    no_full_load) -> None:
    x, ys = arrays
    mem = TaskSet.from_arrays(x, ys)

    def trainer(ts, folder):
        model = hps_for(ts, seed=0, hidden=(8,), code_dim=4, head_hidden=4, head_depth=1)
        return Trainer(model, ts, "ew", lr=0.01, batch_size=64, seed=1, progress=False,
                       checkpoint_dir=tmp_path / folder)

    on_disk = trainer(npy_set, "a")
    on_disk.fit(1)  # writes last.pt: the fingerprint is hashed block by block
    resumed = trainer(mem, "b")
    resumed.fit(2, resume=on_disk.checkpoint_path)  # same data: accepted
    straight = trainer(mem, "c")
    straight.fit(2)
    assert all(torch.equal(a, b) for a, b in zip(resumed.model.parameters(),
                                                 straight.model.parameters()))


def test_eval_set_encoded_like_training_set(tmp_path) -> None:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x_train.npy", rng.normal(size=(40, 3)))
    np.save(tmp_path / "x_test.npy", rng.normal(size=(10, 3)))
    train = TaskSet.from_npy(tmp_path / "x_train.npy", {"y": np.tile(["a", "b", "c", "d"], 10)})
    test = TaskSet.from_npy(tmp_path / "x_test.npy", {"y": np.array(["b", "d"] * 5)},
                            like=train)
    assert test["y"].classes.tolist() == ["a", "b", "c", "d"]
    assert test["y"].targets.tolist() == [1, 3] * 5
    test.check_compatible(train, "test")
    with pytest.raises(ValueError, match=r"label\(s\) \['z'\] are not among the training"):
        TaskSet.from_npy(tmp_path / "x_test.npy", {"y": np.array(["z"] * 10)}, like=train)


def _save(tmp_path, name, arr) -> str:
    path = tmp_path / name
    np.save(path, arr, allow_pickle=True)
    return str(path)


@pytest.mark.parametrize(("inputs", "error", "match"), [
    (np.array([[0.0, np.nan]] * 5), ValueError, r"inputs \(.*x.npy\) contains 5 NaN"),
    (np.array([[0.0, 1e39]] * 5), ValueError, r"contains 5 NaN or infinite.*float32"),
    (np.arange(5.0), ValueError, r"shape \(N, features...\)"),
    (np.array([["a", "b"]] * 5), TypeError, "inputs must be numeric"),
    (np.array([[1, None]] * 5, dtype=object), ValueError, "pickled"),
    (np.zeros((0, 3)), ValueError, "empty"),
])
def test_bad_npy_inputs(tmp_path, inputs, error, match) -> None:
    with pytest.raises(error, match=match):
        TaskSet.from_npy(_save(tmp_path, "x.npy", inputs), {"y": np.arange(max(len(inputs), 1))})


def test_bad_npy_arguments(tmp_path) -> None:
    path = _save(tmp_path, "x.npy", np.ones((5, 2)))
    with pytest.raises(FileNotFoundError, match="no such file"):
        TaskSet.from_npy(tmp_path / "nope.npy", {"y": np.arange(5)})
    with pytest.raises(TypeError, match=r"path to a \.npy file"):
        TaskSet.from_npy(np.ones((5, 2)), {"y": np.arange(5)})
    with pytest.raises(ValueError, match="4 targets but inputs have 5"):
        TaskSet.from_npy(path, {"y": np.arange(4)})
    with pytest.raises(ValueError, match="2 NaN/inf target"):
        TaskSet.from_npy(path, {"y": np.array([0.0, 1, np.nan, np.inf, 2])})
    with pytest.raises(ValueError, match="pickled"):
        TaskSet.from_npy(path, {"y": _save(tmp_path, "y.npy", np.array([1, None] * 2 + [3],
                                                                       dtype=object))})
    with pytest.raises(ValueError, match="targets must be a non-empty mapping"):
        TaskSet.from_npy(path, {})
    with pytest.raises(ValueError, match="groups must have shape"):
        TaskSet.from_npy(path, {"y": np.arange(5)}, groups=np.arange(3))


def test_bad_streaming_parquet(tmp_path) -> None:
    df = pd.DataFrame({"a": [1.0, 2.0, None, 4.0], "b": [1.0, 0.0, 1.0, 0.0],
                       "s": ["u", "v", "u", "v"], "y": ["p", None, "q", "p"]})
    path = str(tmp_path / "d.parquet")
    df.to_parquet(path)
    with pytest.raises(ValueError, match=r"input column 'a' .* 1 missing value"):
        TaskSet.from_parquet(path, inputs=["a"], tasks=["b"], in_memory=False)
    with pytest.raises(ValueError, match="task 'y' has 1 missing value"):
        TaskSet.from_parquet(path, inputs=["b"], tasks=["y"], in_memory=False)
    with pytest.raises(TypeError, match=r"input columns \['s'\] are not numeric"):
        TaskSet.from_parquet(path, inputs=["s"], tasks=["b"], in_memory=False)
    with pytest.raises(ValueError, match=r"columns \['zz'\] are not in the file"):
        TaskSet.from_parquet(path, tasks=["zz"], in_memory=False)
    with pytest.raises(TypeError, match=r"write tasks=\['b'\]"):
        TaskSet.from_parquet(path, tasks="b", in_memory=False)
    with pytest.raises(TypeError, match="in_memory must be True or False"):
        TaskSet.from_parquet(path, tasks=["b"], in_memory="no")
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a Parquet file"):
        TaskSet.from_parquet(str(tmp_path / "t.csv"), tasks=["b"], in_memory=False)


def test_streaming_parquet_groups_and_split(tmp_path) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(120, 3))
    path = _parquet(tmp_path, x, {"y": rng.normal(size=120), "g": np.repeat(np.arange(12), 10)},
                    row_group_size=25)
    lazy = TaskSet.from_parquet(path, tasks=["y"], groups="g", in_memory=False)
    eager = TaskSet.from_parquet(path, tasks=["y"], groups="g")
    assert lazy.info["input_columns"] == ["x0", "x1", "x2"]
    a, b = (ts.split(0.25, strategy="group", seed=1) for ts in (lazy, eager))
    np.testing.assert_array_equal(a.test.inputs[:], b.test.inputs)
    np.testing.assert_array_equal(a.test.groups, b.test.groups)
