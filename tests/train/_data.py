"""Tiny synthetic task sets and models for the trainer tests (CPU, a few hundred samples)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tasklens.data import TaskSet
from tasklens.nn import HardParameterSharing, MTLModel, hps_for, make_heads


def tiny_taskset(n: int = 240, seed: int = 0, *, same_heads: bool = False) -> TaskSet:
    """Regression ``a`` + classification ``b`` (or a second regression ``c``) on 6 inputs."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    a = x @ rng.normal(size=6) + 0.1 * rng.normal(size=n)
    if same_heads:
        c = x @ rng.normal(size=6) + 0.1 * rng.normal(size=n)
        return TaskSet.from_arrays(x, {"a": a, "c": c},
                                   kinds={"a": "regression", "c": "regression"}, name="tiny2")
    b = (x[:, 0] - x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    return TaskSet.from_arrays(x, {"a": a, "b": b},
                               kinds={"a": "regression", "b": "classification"}, name="tiny")


def tiny_model(ts: TaskSet, seed: int = 0) -> HardParameterSharing:
    return hps_for(ts, seed=seed, hidden=(16,), code_dim=8, head_hidden=8, head_depth=1)


def dropout_model(ts: TaskSet, seed: int = 0) -> HardParameterSharing:
    """HPS with dropout in the encoder, so that torch's RNG matters for resuming."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 8))
    return HardParameterSharing(encoder, make_heads(ts, 8, 8, 1, seed=seed))


class PerTaskFeatures(MTLModel):
    """A model whose heads read per-task features (no shared z): representation level is
    meaningless for it."""

    shares_representation = False

    def __init__(self, ts: TaskSet) -> None:
        super().__init__(make_heads(ts, 4, 4, 1, seed=0))
        self.trunk = nn.Linear(6, 4 * ts.n_tasks)
        self._names = list(ts.task_names)

    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        parts = self.trunk(x).split(4, dim=1)
        return dict(zip(self._names, parts))
