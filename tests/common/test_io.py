"""Atomic writes leave either the old file or the complete new one, never a partial file."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tasklens._common.io import (
    STALE_AFTER_S,
    _host_tag,
    atomic_write,
    check_writable_dir,
    clean_stale_temps,
    write_atomic_with,
    write_json,
)


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


# ------------------------------------------------------------------ faults (issue 14)
def _umask(mask: int) -> int:
    return os.umask(mask)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_new_files_get_the_mode_a_plain_open_would_give(tmp_path, mask) -> None:
    old = _umask(mask)
    try:
        with atomic_write(tmp_path / "a.txt") as fh:
            fh.write("x")
        write_atomic_with(tmp_path / "b.bin", lambda p: open(p, "wb").write(b"x"))
        with open(tmp_path / "ref.txt", "w") as fh:  # the reference: a plain open
            fh.write("x")
    finally:
        _umask(old)
    expected = stat.S_IMODE((tmp_path / "ref.txt").stat().st_mode)
    assert expected == 0o666 & ~mask
    for name in ("a.txt", "b.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected, name


def test_replacing_a_file_keeps_its_permissions(tmp_path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("old")
    path.chmod(0o640)
    with atomic_write(path) as fh:
        fh.write("new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and path.read_text() == "new"


def test_the_directory_is_fsynced_after_the_rename(tmp_path, monkeypatch) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync-dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync-file")
        real_fsync(fd)

    def replace(src, dst) -> None:
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    with atomic_write(tmp_path / "a.txt") as fh:
        fh.write("x")
    assert events == ["fsync-file", "replace", "fsync-dir"]
    events.clear()
    write_atomic_with(tmp_path / "b.bin", lambda p: open(p, "wb").write(b"x"))
    assert events == ["fsync-file", "replace", "fsync-dir"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_orphans_of_dead_writers_are_removed_and_live_writers_kept(tmp_path) -> None:
    host = _host_tag()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        names = {
            "dead": f".f.txt.{_dead_pid()}-{host}-0a1b.tmp",
            "live": f".f.txt.{live.pid}-{host}-0a1b.tmp",
            "mine": f".f.txt.{os.getpid()}-{host}-0a1b.tmp",  # e.g. another thread
            "other_host_recent": f".f.txt.{_dead_pid()}-ffffffff-0a1b.tmp",
            "other_host_old": f".f.txt.{_dead_pid()}-fffffffe-0a1b.tmp",
            "legacy_recent": ".f.txt.k2j4h_9z.tmp",
            "legacy_old": ".f.txt.q8w7e6r5.tmp",
            "other_destination": f".g.txt.{_dead_pid()}-{host}-0a1b.tmp",
            "dead_write_atomic_with": f".fig.png.{_dead_pid()}-{host}-0a1b.tmp.png",
        }
        for name in names.values():
            (tmp_path / name).write_text("partial")
        old = time.time() - STALE_AFTER_S - 60
        for key in ("other_host_old", "legacy_old"):
            os.utime(tmp_path / names[key], (old, old))
        with atomic_write(tmp_path / "f.txt") as fh:
            fh.write("done")
        left = {p.name for p in tmp_path.iterdir()}
    finally:
        live.kill()
        live.wait()
    gone = {"dead", "other_host_old", "legacy_old", "other_destination",
            "dead_write_atomic_with"}
    for key, name in names.items():
        assert (name not in left) == (key in gone), key
    assert "f.txt" in left


def test_the_temp_file_of_a_killed_writer_is_cleaned_by_the_next_write(tmp_path) -> None:
    src = Path(__file__).resolve().parents[2] / "src"
    code = ("import os, signal\nfrom tasklens._common.io import atomic_write\n"
            f"with atomic_write({str(tmp_path / 'f.bin')!r}, 'wb') as fh:\n"
            "    fh.write(b'x' * 1000); fh.flush()\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, "-c", code], env=env)
    assert proc.returncode == -9
    assert len(list(tmp_path.glob(".f.bin.*.tmp"))) == 1  # the orphan
    assert clean_stale_temps(tmp_path, "other.bin") == []
    with atomic_write(tmp_path / "f.bin", "wb") as fh:
        fh.write(b"ok")
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_check_writable_dir(tmp_path) -> None:
    (tmp_path / "file").write_text("x")
    assert check_writable_dir(tmp_path / "new" / "deeper", "log_dir") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # nothing created
    with pytest.raises(ValueError, match=r"log_dir=.*file.*is not a directory"):
        check_writable_dir(tmp_path / "file", "log_dir")
    with pytest.raises(ValueError, match=r"checkpoint_dir=.*ancestor .*file is a file"):
        check_writable_dir(tmp_path / "file" / "sub", "checkpoint_dir")
    with pytest.raises(TypeError, match="log_dir must be a path"):
        check_writable_dir(3, "log_dir")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into read-only directories")
def test_check_writable_dir_refuses_a_read_only_directory(tmp_path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="not writable"):
            check_writable_dir(ro / "runs", "checkpoint_dir")
    finally:
        ro.chmod(0o700)


def test_check_writable_dir_uses_the_access_check(tmp_path, monkeypatch) -> None:
    # runs also as root (where chmod cannot make a directory unwritable)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(ValueError, match=r"log_dir=.*runs.*parent directory .* not writable"):
        check_writable_dir(tmp_path / "runs", "log_dir")
    with pytest.raises(ValueError, match=r"checkpoint_dir=.*the directory is not writable"):
        check_writable_dir(tmp_path, "checkpoint_dir")
