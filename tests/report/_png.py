"""PNG checks shared by the figure tests (PNG specification: signature, IHDR header)."""

from __future__ import annotations

import struct
from pathlib import Path

from tasklens.report.figures import save_figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TASKS7 = ("depth", "normal", "semseg", "edge", "keypoint", "shading", "curvature")


def png_size(path: Path) -> tuple[int, int]:
    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def render(fig, path: Path) -> tuple[int, int]:
    """Save with the Agg backend; the PNG must be a real, non-trivial image."""
    width, height = png_size(save_figure(fig, path))
    assert width > 100 and height > 100
    return width, height
