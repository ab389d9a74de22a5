"""Small task sets with every task kind, flat and image inputs, for the tasklens.nn tests."""

from __future__ import annotations

import numpy as np
import pytest

from tasklens.data import TaskSet

KINDS = {
    "reg": "regression",
    "reg2": "regression",
    "cls": "classification",
    "bin": "binary",
    "multi": "multilabel",
}


def make_taskset(input_shape: tuple[int, ...], n: int = 40, seed: int = 0) -> TaskSet:
    """Random inputs; targets are simple functions of the inputs (so they are learnable)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *input_shape)).astype(np.float32)
    f = x.reshape(n, -1)[:, :4]
    targets = {
        "reg": f[:, 0] - f[:, 1],
        "reg2": f[:, :2] * 2.0,
        "cls": np.digitize(f[:, 2], [-0.5, 0.5]),
        "bin": (f[:, 3] > 0).astype(np.float32),
        "multi": (f[:, :3] > 0).astype(np.float32),
    }
    return TaskSet.from_arrays(x, targets, KINDS, name=f"tiny{input_shape}")


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test of this folder runs on one torch thread (tests/conftest.py)."""


@pytest.fixture(scope="session")
def flat_taskset() -> TaskSet:
    return make_taskset((6,))


@pytest.fixture(scope="session")
def image_taskset() -> TaskSet:
    return make_taskset((2, 8, 8))
