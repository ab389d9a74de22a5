"""``tasklens analyze`` on data that stays on disk (.npy, Parquet row groups) against the
same rows in memory, with every full load of the inputs made an error."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tasklens.analysis import AnalysisSettings, load_data, run_analysis
from tasklens.analysis.data import DataError
from tasklens.data.storage import RowStore
from tasklens.data.taskset import TaskSet

N = 240
#: the most rows one read may return under the guard (a batch, a block): never all N
READ_CAP = N // 3
BLOCK = 32


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ondisk")
    rng = np.random.default_rng(0)
    x = (3.0 + rng.normal(size=(N, 6)) * [1, 2, 1, 0.5, 1, 1]).astype(np.float32)
    c = np.digitize(x[:, 0] - x[:, 1], [-0.5, 0.5])
    r = (x[:, 2] + 0.5 * x[:, 0] + 0.1 * rng.normal(size=N)).astype(np.float32)
    np.save(folder / "x.npy", x)
    np.save(folder / "c.npy", c)
    np.save(folder / "r.npy", r)
    np.savez(folder / "same.npz", inputs=x, c=c, r=r)
    df = pd.DataFrame(x, columns=[f"x{j}" for j in range(6)]).assign(c=c, r=r)
    df.to_parquet(folder / "d.parquet", row_group_size=50)
    return folder


@pytest.fixture()
def guarded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inputs on disk may be read a bounded block at a time only: ``np.asarray(store)``
    fails, any read of more than READ_CAP rows fails, streaming passes use BLOCK rows."""
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the whole store was loaded (np.asarray)")

    read, chunks = RowStore._read, RowStore.chunks
    ts_chunks = TaskSet.chunks

    def capped(self: RowStore, idx: np.ndarray) -> np.ndarray:
        if np.size(idx) > READ_CAP:
            raise AssertionError(f"{np.size(idx)} rows read at once (cap {READ_CAP})")
        return read(self, idx)

    monkeypatch.setattr(RowStore, "__array__", refuse)
    monkeypatch.setattr(RowStore, "_read", capped)
    monkeypatch.setattr(RowStore, "chunks",
                        lambda self, rows=None: chunks(self, min(rows or BLOCK, BLOCK)))
    monkeypatch.setattr(TaskSet, "chunks",
                        lambda self, rows=None: ts_chunks(self, min(rows or BLOCK, BLOCK)))


def _settings() -> AnalysisSettings:
    # probes (GS/GT, CKA) of 32 rows: below the read cap, so the guard sees them as bounded
    return AnalysisSettings.for_budget("fast", epochs=1, n_seeds=1, methods=("ew",),
                                       probe_size=32)


def _numbers(value: Any, path: str = "") -> dict[str, Any]:
    """Every number and string of a results tree by its path (timings and names left out)."""
    skip = {"seconds", "total_seconds", "timings", "started_utc", "source", "name", "notes",
            "storage", "executor"}
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in skip:
                out.update(_numbers(v, f"{path}/{k}"))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.update(_numbers(v, f"{path}[{i}]"))
    else:
        out[path] = value
    return out


def _assert_same(a: dict[str, Any], b: dict[str, Any], rtol: float) -> None:
    # the summary's first line says where the inputs live: the one intended difference
    na, nb = ({k: v for k, v in _numbers(x).items() if not k.startswith("/summary/finding")}
              for x in (a, b))
    assert na.keys() == nb.keys()
    for k, va in na.items():
        vb = nb[k]
        if isinstance(va, float) and isinstance(vb, float) and math.isfinite(va):
            assert math.isclose(va, vb, rel_tol=rtol, abs_tol=1e-7), (k, va, vb)
        else:
            assert va == vb, (k, va, vb)


def test_npy_analysis_equals_in_memory_without_loading_the_file(files: Path, tmp_path: Path,
                                                                guarded: None) -> None:
    st = _settings()
    disk = load_data(str(files / "x.npy"), ["c:classification", "r"])
    assert disk.taskset.storage == "npy"
    mem = load_data(str(files / "same.npz"), ["c:classification", "r"])
    assert mem.taskset.storage == "memory"
    # the same float32 rows: the fingerprint (streamed for the file) is the same
    assert disk.fingerprint() == mem.fingerprint()
    a = run_analysis(disk, st, tmp_path / "disk", progress=False)
    b = run_analysis(mem, st, tmp_path / "mem", progress=False)
    assert all(s["status"] == "done" for s in a["stages"].values()), a["stages"]
    # standardisation statistics streamed in blocks of 32 rows round differently from
    # numpy's whole-array pass (~1e-16 relative): every number agrees to 1e-5
    _assert_same(a["stages"], b["stages"], rtol=1e-5)
    summary = a["stages"]["summary"]["result"]
    assert summary["storage"] == "npy"
    assert "inputs on disk, npy" in a["stages"]["summary"]["finding"][0]
    assert any("streamed over the training rows" in n for n in summary["notes"])
    rep = a["stages"]["representation"]["result"]
    assert rep["computed_on"] == f"computed on {rep['probe_size']} of {rep['test_rows']} " \
                                 "test rows"


def test_parquet_out_of_core_reads_row_groups(files: Path, guarded: None) -> None:
    disk = load_data(str(files / "d.parquet"), ["c:classification", "r"], out_of_core=True)
    assert disk.taskset.storage == "parquet"
    assert disk.input_columns == tuple(f"x{j}" for j in range(6))
    mem = load_data(str(files / "d.parquet"), ["c:classification", "r"])
    assert disk.fingerprint() == mem.fingerprint()
    rows = np.array([0, 199, 57, 58])
    np.testing.assert_allclose(disk.taskset.inputs[rows], mem.taskset.inputs[rows],
                               rtol=1e-6, atol=1e-6)


def test_npy_rows_with_missing_targets_are_dropped(files: Path, tmp_path: Path) -> None:
    x = np.load(files / "x.npy")
    r = np.load(files / "r.npy").copy()
    r[[3, 10]] = np.nan
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "r.npy", r)
    np.save(tmp_path / "c.npy", np.load(files / "c.npy"))
    loaded = load_data(str(tmp_path / "x.npy"), ["c:classification", "r"])
    assert loaded.rows_dropped == {"r": 2} and loaded.taskset.n_samples == N - 2
    assert loaded.taskset.storage == "npy"  # a view of the file, not a copy
    keep = np.setdiff1d(np.arange(N), [3, 10])
    assert np.isfinite(loaded.taskset["r"].targets).all()
    np.testing.assert_array_equal(loaded.taskset["c"].targets,
                                  load_data(str(files / "x.npy"), ["c:classification", "r"]
                                            ).taskset["c"].targets[keep])


@pytest.mark.parametrize(("data", "kwargs", "match"), [
    ("x.npy", {"tasks": None}, "--task NAME"),
    ("x.npy", {"tasks": ["c", "nope"]}, "nope.npy"),
    ("x.npy", {"tasks": ["c", "r"], "inputs": "a,b"}, "--inputs does not apply"),
    ("same.npz", {"tasks": ["c", "r"], "out_of_core": True}, "--out-of-core applies"),
    ("multi_digits_mixed", {"out_of_core": True}, "--out-of-core applies"),
    ("d.parquet", {"tasks": ["c", "zz"], "out_of_core": True}, "'zz' is not a column"),
])
def test_bad_out_of_core_options(files: Path, data: str, kwargs: dict[str, Any],
                                 match: str) -> None:
    source = data if data == "multi_digits_mixed" else str(files / data)
    with pytest.raises(DataError, match=match):
        load_data(source, **kwargs)


def test_parquet_out_of_core_refuses_missing_targets(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": np.arange(30.0), "b": np.ones(30), "t": np.arange(30.0),
                       "u": np.arange(30) % 2})
    df.loc[4, "t"] = np.nan
    df.to_parquet(tmp_path / "m.parquet")
    with pytest.raises(DataError, match=r"'t' of m\.parquet has 1 missing"):
        load_data(str(tmp_path / "m.parquet"), ["t", "u"], out_of_core=True)


def test_cli_out_of_core_errors_are_one_line(files: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tasklens.cli.main import app

    out = tmp_path / "out"
    for args, needle in [([str(files / "same.npz"), "--task", "c", "--task", "r",
                           "--out-of-core"], "--out-of-core applies to .parquet"),
                         ([str(files / "x.npy"), "--task", "c", "--task", "q"], "q.npy")]:
        result = CliRunner().invoke(app, ["analyze", *args, "--out", str(out)])
        err = result.stderr.strip()
        assert result.exit_code == 2 and err.count("\n") == 0 and needle in err, err
        assert not out.exists()  # nothing written before the checks
