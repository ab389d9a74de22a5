"""A tasks × tasks matrix that carries its task names (affinities, overlaps, gains)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class TaskMatrix:
    """Labelled square matrix over tasks.

    Convention for asymmetric scores: ``values[i, j]`` is the effect of task ``j`` on task
    ``i`` ("j onto i"), so row ``i`` reads everything that acts on task ``i``.

    Attributes
    ----------
    values : (K, K) float array
    task_names : tuple of K str
    name : str
        What the entries are (e.g. "gradient transference").
    higher_is_better : bool
        Whether larger entries mean more affinity.
    """

    values: np.ndarray
    task_names: tuple[str, ...]
    name: str = ""
    higher_is_better: bool = True

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        names = tuple(self.task_names)
        if values.ndim != 2 or values.shape[0] != values.shape[1]:
            raise ValueError(f"values must be a square (K, K) matrix, got shape {values.shape}")
        if len(names) != values.shape[0]:
            raise ValueError(f"task_names has {len(names)} names for a {values.shape} matrix")
        if len(set(names)) != len(names):
            raise ValueError(f"task_names contains duplicates: {names}")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "task_names", names)

    @classmethod
    def coerce(cls, matrix: Any, task_names: Sequence[str] | None = None,
               name: str = "") -> TaskMatrix:
        """Accept a TaskMatrix, a pandas DataFrame, or an array plus ``task_names``."""
        if isinstance(matrix, TaskMatrix):
            return matrix
        if hasattr(matrix, "columns") and hasattr(matrix, "to_numpy"):
            return cls(matrix.to_numpy(dtype=float), tuple(map(str, matrix.columns)), name)
        values = np.asarray(matrix, dtype=np.float64)
        if task_names is None:
            task_names = tuple(f"task{i}" for i in range(len(values)))
        return cls(values, tuple(task_names), name)

    @property
    def n_tasks(self) -> int:
        return len(self.task_names)

    def index(self, task: str) -> int:
        try:
            return self.task_names.index(task)
        except ValueError:
            raise KeyError(f"no task {task!r}; tasks are {list(self.task_names)}") from None

    def __getitem__(self, pair: tuple[str, str]) -> float:
        target, source = pair
        return float(self.values[self.index(target), self.index(source)])

    def is_symmetric(self, atol: float = 1e-12) -> bool:
        return bool(np.allclose(self.values, self.values.T, atol=atol, equal_nan=True))

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.values, index=list(self.task_names),
                            columns=list(self.task_names))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "task_names": list(self.task_names),
                "higher_is_better": self.higher_is_better, "values": self.values.tolist()}
