"""Atomic file writes: every file tasklens writes goes through :func:`atomic_write`.

A write goes to a temporary sibling ``.<name>.<pid>-<host>-<token>.tmp`` that is flushed,
fsynced, renamed over the destination, and then the directory is fsynced so that the
rename itself survives a power loss. The temporary file is created like a normal
``open(path, "w")`` would create the destination: mode ``0o666`` minus the umask, or the
existing destination's permission bits when it is replaced.

A process killed mid-write (``kill -9``, OOM) leaves its temporary file behind. The first
write of a process into a directory removes such orphans with :func:`clean_stale_temps`
(the Trainer also does when it opens its ``checkpoint_dir``):
a temporary file is removed only when its writer is known to be gone — it was written on
this host by a process id that no longer exists — or when it is older than
``STALE_AFTER_S`` (one day; for files from another host sharing the directory, or from
an older tasklens whose names carry no pid). A concurrent writer's file (live pid, or
recent and from another host) is never touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import socket
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

STALE_AFTER_S = 24 * 3600.0
"""Age after which any temporary sibling is considered orphaned, whatever its writer."""


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _temp_name(dest: Path, suffix: str = "") -> Path:
    return dest.parent / (f".{dest.name}.{os.getpid()}-{_host_tag()}-"
                          f"{secrets.token_hex(4)}.tmp{suffix}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True  # unknown: keep the file
    return True


def _is_orphan(path: Path, match: re.Match[str], now: float) -> bool:
    try:
        age = now - path.stat().st_mtime
    except FileNotFoundError:
        return False  # its writer just renamed or removed it
    if age > STALE_AFTER_S:
        return True
    pid, host = match.group("pid"), match.group("host")
    if pid is None or host != _host_tag():
        return False  # legacy name or another host: only age tells
    return int(pid) != os.getpid() and not _pid_alive(int(pid))


def clean_stale_temps(directory: str | os.PathLike[str], name: str | None = None) -> list[Path]:
    """Remove orphaned temporary files of :func:`atomic_write` in ``directory``.

    Parameters
    ----------
    directory : path-like
    name : str, optional
        Only the temporary files of this destination file name (default: of any).

    Returns
    -------
    list of Path
        The files removed.
    """
    folder = Path(directory)
    if not folder.is_dir():
        return []
    target = re.escape(name) if name is not None else ".+"
    pattern = re.compile(
        rf"^\.(?:{target})\.(?:(?P<pid>\d+)-(?P<host>[0-9a-f]{{8}})-[0-9a-f]+|[A-Za-z0-9_]+)"
        r"\.tmp(?:\.[^.]*)?$")
    removed, now = [], time.time()
    for entry in folder.iterdir():
        match = pattern.match(entry.name)
        if match is None or not _is_orphan(entry, match, now):
            continue
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed.append(entry)
    return removed


def _create_temp(dest: Path, suffix: str = "") -> tuple[int, Path]:
    """Create the temporary sibling exclusively, with the mode a plain open would give."""
    tmp = _temp_name(dest, suffix)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                 0o666)  # the kernel applies the umask
    try:
        existing = dest.stat().st_mode
    except OSError:
        existing = None
    if existing is not None and stat.S_ISREG(existing):
        with contextlib.suppress(OSError):  # keep the replaced file's permissions
            os.chmod(tmp, stat.S_IMODE(existing))
    return fd, tmp


def fsync_directory(directory: str | os.PathLike[str]) -> None:
    """Make a rename inside ``directory`` durable (no-op where directories cannot be
    opened, e.g. Windows)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


_SWEPT: set[str] = set()
"""Directories this process has already cleaned (one scan each, not one per write)."""


def _prepare(path: str | os.PathLike[str]) -> Path:
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    folder = os.path.abspath(dest.parent)
    if folder not in _SWEPT:
        # once per directory and process: a sweep writing thousands of result files into
        # one directory must not rescan it for every file
        clean_stale_temps(folder)
        _SWEPT.add(folder)
    return dest


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` and rename it over ``path`` on success.

    A crash or exception inside the block leaves any previous ``path`` untouched and no
    half-written file behind (a killed process's file is removed by the next write).

    Parameters
    ----------
    path : path-like
        Destination file. Its parent directory is created when missing.
    mode : {"w", "wb"}
        Text or binary mode.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    dest = _prepare(path)
    fd, tmp = _create_temp(dest)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_directory(dest.parent)


def write_atomic_with(path: str | os.PathLike[str], writer: Callable[[str], None]) -> Path:
    """Call ``writer(tmp_path)`` (e.g. ``fig.savefig``) then rename the result to ``path``.

    For third-party writers that want a file name rather than a handle. The temporary name
    keeps the destination's suffix so format detection by extension still works.
    """
    dest = _prepare(path)
    fd, tmp = _create_temp(dest, dest.suffix)
    os.close(fd)
    try:
        writer(str(tmp))
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_directory(dest.parent)
    return dest


def check_writable_dir(path: str | os.PathLike[str] | None, name: str) -> Path | None:
    """Check that ``path`` is, or can be created as, a writable directory (creates nothing).

    Parameters
    ----------
    path : path-like or None
        None is passed through.
    name : str
        The argument name used in error messages.
    """
    if path is None:
        return None
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(path).__name__}")
    folder = Path(path)
    probe = folder
    while not probe.exists():  # the first existing ancestor decides
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        where = "" if probe == folder else f" (its ancestor {probe} is a file)"
        raise ValueError(f"{name}={str(folder)!r} is not a directory{where}; pass a directory "
                         "path")
    if not os.access(probe, os.W_OK | os.X_OK):
        what = "directory" if probe == folder else f"parent directory {probe}"
        raise ValueError(f"{name}={str(folder)!r}: the {what} is not writable; pass a "
                         "directory you can write to")
    return folder


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_write(path) as handle:
        json.dump(obj, handle, indent=2, sort_keys=False, default=_json_default)
        handle.write("\n")
    return Path(path)


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialize {type(value).__name__} to JSON")
