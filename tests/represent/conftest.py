"""Shared fixtures for tasklens.represent tests: the loop references and constructed codes."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest

from tests.reference import represent_reference


@pytest.fixture(scope="session")
def ref() -> ModuleType:
    """The loop references of tests/reference/represent_reference.py."""
    return represent_reference


def make_factors(n: int, levels: tuple[int, ...], seed: int) -> np.ndarray:
    """(n, F) uniform integer factor codes."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, lv, size=n) for lv in levels], axis=1)


def rotate_pairs(z: np.ndarray, angle: float = np.pi / 16) -> np.ndarray:
    """Rotate consecutive column pairs (0,1), (2,3), ... by ``angle``: a partly mixed code."""
    out = z.astype(np.float64).copy()
    c, s = np.cos(angle), np.sin(angle)
    for j in range(0, z.shape[1] - 1, 2):
        a, b = out[:, j].copy(), out[:, j + 1].copy()
        out[:, j], out[:, j + 1] = c * a - s * b, s * a + c * b
    return out


@pytest.fixture(scope="module")
def constructed() -> dict[str, np.ndarray]:
    """Train/test factors and three codes: disentangled, rotated (mixed), random."""
    levels = (4, 5, 6, 8)
    rng = np.random.default_rng(0)
    out: dict[str, np.ndarray] = {}
    for split, n, seed in (("train", 1000, 1), ("test", 500, 2)):
        f = make_factors(n, levels, seed)
        z = (f - f.mean(axis=0)) / f.std(axis=0)
        noise = 0.02 * rng.standard_normal(z.shape)
        perm, scale = [2, 0, 3, 1], np.array([3.0, 0.5, 2.0, 7.0])
        out[f"factors_{split}"] = f
        out[f"good_{split}"] = (z + noise)[:, perm] * scale + 1.0
        out[f"rotated_{split}"] = rotate_pairs(z + noise)
        out[f"random_{split}"] = rng.standard_normal((n, 4))
    return out
