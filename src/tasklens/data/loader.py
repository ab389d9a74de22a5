"""The map-style dataset behind ``TaskSet.dataloader``: one batch per index list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .storage import RowStore

if TYPE_CHECKING:
    from .taskset import TaskSet


class BatchIndexDataset:
    """Map-style dataset whose ``__getitem__`` takes a list of indices and returns a batch."""

    def __init__(self, taskset: TaskSet) -> None:
        import torch

        # out-of-core inputs are read per batch (only the batch's rows); in-memory ones
        # are shared with torch without a copy
        self._store = taskset.inputs if isinstance(taskset.inputs, RowStore) else None
        self._x = (None if self._store is not None
                   else torch.from_numpy(np.ascontiguousarray(taskset.inputs)))
        self._n = len(taskset)
        self._y = {n: torch.from_numpy(np.ascontiguousarray(t.targets))
                   for n, t in taskset.tasks.items()}

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, indices: list[int]) -> tuple[Any, dict[str, Any]]:
        import torch

        idx = torch.as_tensor(indices, dtype=torch.long)
        if self._store is not None:
            x = torch.from_numpy(self._store[idx.numpy()])
        else:
            x = self._x[idx]  # type: ignore[index]
        return x, {n: y[idx] for n, y in self._y.items()}
