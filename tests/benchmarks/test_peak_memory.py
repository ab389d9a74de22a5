"""The CPU peak-memory probe of the benchmarks against allocations of known size.

Each case runs in a fresh interpreter: pinning glibc's mmap threshold is permanent for a
process, and the pytest process must not be slowed by it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks.peak_memory import peak_rss_supported

pytestmark = pytest.mark.skipif(not peak_rss_supported(),
                                reason="needs Linux /proc/self/clear_refs (kernel >= 4.0)")

ROOT = Path(__file__).resolve().parents[2]
PRELUDE = """
import json, numpy as np
from benchmarks.peak_memory import peak_rss, pin_mmap_threshold
MIB = 2**20
def touch(n):
    out = np.empty(int(n * MIB), dtype=np.uint8)
    out[::4096] = 1  # make every page resident
    return out
assert pin_mmap_threshold()
touch(8)
"""


def _run(body: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PRELUDE + body], cwd=ROOT, text=True,
                          capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_peak_of_two_live_buffers_is_their_sum_not_the_final_footprint():
    out = _run("""
with peak_rss() as peak:
    a = touch(32); b = touch(32)
    del a, b  # freed inside the block: the peak still counts them
    c = touch(8)
print(json.dumps({"mib": peak.mib}))
""")
    assert 63 <= out["mib"] <= 64 + 8


def test_the_mark_is_reset_between_blocks_and_small_blocks_are_seen():
    out = _run("""
with peak_rss() as first:
    big = touch(64)
del big
with peak_rss() as second:
    small = touch(4)
print(json.dumps({"first": first.mib, "second": second.mib}))
""")
    assert out["first"] >= 63
    assert 3.5 <= out["second"] <= 4 + 8
