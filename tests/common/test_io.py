"""Atomic writes leave either the old file or the complete new one, never a partial file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tasklens._common.io import atomic_write, write_atomic_with, write_json


def test_atomic_write_replaces_on_success(tmp_path) -> None:
    path = tmp_path / "sub" / "f.txt"
    with atomic_write(path) as fh:
        fh.write("hello")
    assert path.read_text() == "hello"
    assert [p.name for p in path.parent.iterdir()] == ["f.txt"]


def test_atomic_write_keeps_old_file_on_error(tmp_path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(path) as fh:
        fh.write("partial")
        raise RuntimeError("crash mid-write")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_write_atomic_with_and_json(tmp_path) -> None:
    out = write_atomic_with(tmp_path / "a.bin", lambda p: open(p, "wb").write(b"xyz"))
    assert out.read_bytes() == b"xyz"
    write_json(tmp_path / "r.json", {"a": np.arange(3), "b": np.float64(1.5)})
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": [0, 1, 2], "b": 1.5}
    with pytest.raises(ValueError, match="mode must be"):
        with atomic_write(tmp_path / "x", mode="a"):
            pass
