"""Peak resident memory of a block of code on Linux, for benchmarks that run on the CPU.

``torch.cuda.max_memory_allocated`` has no CPU counterpart. On Linux, writing ``5`` to
``/proc/self/clear_refs`` resets the process's high-water mark of resident memory
(``VmHWM`` in ``/proc/self/status``, kernel ≥ 4.0); the peak of a block is then
``VmHWM`` after it minus ``VmRSS`` before it. Large tensors are allocated with ``mmap`` and
returned to the system when freed, so this follows tensor memory closely; it also counts
anything else the block allocates (allocator caches, thread stacks on first use — run one
warm-up first). Elsewhere (macOS, Windows, restricted ``/proc``) it reports ``nan``.

glibc raises its ``mmap`` threshold after large blocks are freed (up to 32 MiB), after which
freed memory may stay resident in the heap and be reused without raising the mark: a block
would then be under-counted. :func:`pin_mmap_threshold` fixes the threshold (``mallopt``),
so that every allocation above it is mapped and unmapped. It slows allocation-heavy code
down: measure time and memory in separate passes, memory last.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_mib(field: str) -> float:
    match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), flags=re.MULTILINE)
    if match is None:
        raise OSError(f"{field} not in {_STATUS}")
    return int(match.group(1)) / 1024.0


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


def pin_mmap_threshold(nbytes: int = 64 * 1024) -> bool:
    """Fix glibc's ``mmap`` threshold at ``nbytes`` for this process (no-op elsewhere).

    Returns whether it was set. Permanent for the process: call it only in a process (or the
    final pass of a benchmark) that measures memory.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, int(nbytes)))
    except (OSError, AttributeError):
        return False


def peak_rss_supported() -> bool:
    """Whether the high-water mark can be reset and read here."""
    try:
        _CLEAR_REFS.write_text("5")
        _status_mib("VmHWM")
        _status_mib("VmRSS")
    except OSError:
        return False
    return True


class PeakMemory:
    """Result holder of :func:`peak_rss`: ``.mib`` is the block's peak extra resident MiB."""

    mib: float = math.nan


@contextmanager
def peak_rss() -> Iterator[PeakMemory]:
    """Measure the peak resident memory a block adds, in MiB (``nan`` where unsupported).

    Examples
    --------
    >>> with peak_rss() as peak:
    ...     step()
    >>> peak.mib
    """
    result = PeakMemory()
    supported = peak_rss_supported()  # also resets the high-water mark
    before = _status_mib("VmRSS") if supported else math.nan
    try:
        yield result
    finally:
        if supported:
            result.mib = max(0.0, _status_mib("VmHWM") - before)
