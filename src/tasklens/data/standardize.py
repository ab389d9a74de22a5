"""Standardisation of a task set's inputs and regression targets with training statistics.

A model trained on standardised data needs the *training* set's mean and standard deviation
for every other part: statistics taken from the validation or test part leak information
from them (and shift their targets by a different amount). :class:`Standardizer` holds the
statistics of one training set; :meth:`TaskSet.standardize` and
``TaskSet.split(..., standardize=True)`` apply them and keep them in
``TaskSet.info["standardizer"]``, so predictions can be mapped back to the original units
with :meth:`TaskSet.inverse_transform_targets`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .storage import AffineStore, RowStore

if TYPE_CHECKING:
    from .taskset import TaskSet, TaskSetSplit

INFO_KEY = "standardizer"


def _mean_std(values: np.ndarray | RowStore) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and population std (ddof=0) in float64; a zero std becomes 1.

    A constant column is only centred (to 0) rather than divided by zero. Inputs on disk
    are streamed (:func:`streamed_mean_std`).
    """
    if isinstance(values, RowStore):
        mean, std = streamed_mean_std(values)
    else:
        v = np.asarray(values, dtype=np.float64)
        mean, std = v.mean(axis=0), v.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)


def streamed_mean_std(store: RowStore, chunk_rows: int | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Per-element mean and population std (ddof=0) of a store's rows, block by block.

    Each block's mean and centred sum of squares are computed in float64 and merged with
    the pairwise update of Chan, Golub & LeVeque (1979), "Updating formulae and a pairwise
    algorithm for computing sample variances": ``n = n_a + n_b``, ``δ = μ_b − μ_a``,
    ``μ = μ_a + δ n_b / n``, ``M = M_a + M_b + δ² n_a n_b / n``. Memory: one block.

    Returns
    -------
    mean, std : ``row_shape`` float64 arrays (a zero std stays 0)
    """
    n = 0
    mean = np.zeros(store.row_shape)
    m2 = np.zeros(store.row_shape)
    blocks = store.chunks() if chunk_rows is None else store.chunks(chunk_rows)
    for block in blocks:
        b = block.astype(np.float64)
        nb, mb = len(b), b.mean(axis=0)
        m2b = ((b - mb) ** 2).sum(axis=0)
        tot = n + nb
        delta = mb - mean
        mean = mean + delta * (nb / tot)
        m2 = m2 + m2b + delta**2 * (n * nb / tot)
        n = tot
    if n == 0:
        raise ValueError("cannot take statistics of an empty store; pass at least one row")
    return mean, np.sqrt(m2 / n)


def scale_inputs(inputs: np.ndarray | RowStore, mean: np.ndarray, std: np.ndarray
                 ) -> np.ndarray | RowStore:
    """``(inputs - mean) / std`` as float32: an array for in-memory inputs, an
    :class:`~tasklens.data.storage.AffineStore` (scaled as rows are read) for a store."""
    if isinstance(inputs, RowStore):
        return AffineStore(inputs, mean, std)
    return ((inputs - mean) / std).astype(np.float32)


@dataclass(frozen=True, eq=False)
class Standardizer:
    """The training statistics: ``x' = (x - mean) / std`` per input element and per output.

    Attributes
    ----------
    input_mean, input_std : ``(*input_shape)`` float64 arrays, or None
        Per input element (None: inputs left unchanged). A std of 0 is stored as 1.
    target_mean, target_std : dict {task name: () or (D,) float64 array}
        One entry per standardised regression task; other kinds are never standardised.
    n_samples : int
        Rows of the training set the statistics come from.
    """

    input_mean: np.ndarray | None
    input_std: np.ndarray | None
    target_mean: dict[str, np.ndarray]
    target_std: dict[str, np.ndarray]
    n_samples: int

    @classmethod
    def fit(cls, train: TaskSet, *, inputs: bool = True, targets: bool = True) -> Standardizer:
        """Statistics of ``train``: its inputs (if ``inputs``) and regression targets.

        Parameters
        ----------
        train : TaskSet
            The training set, not yet standardised, with at least one row. Inputs on disk
            are streamed once (:func:`streamed_mean_std`), never loaded whole.
        """
        if INFO_KEY in train.info:
            raise ValueError("train is already standardised; fit on the raw training set")
        train.check_not_empty("train")
        in_mean = in_std = None
        if inputs:
            in_mean, in_std = _mean_std(train.inputs)
        t_mean, t_std = {}, {}
        if targets:
            for name, task in train.tasks.items():
                if task.kind == "regression":
                    t_mean[name], t_std[name] = _mean_std(task.targets)
        return cls(in_mean, in_std, t_mean, t_std, len(train))

    def transform(self, taskset: TaskSet) -> TaskSet:
        """``taskset`` with its inputs and regression targets standardised (float32).

        Raises
        ------
        ValueError
            ``taskset`` is already standardised, its input shape differs from the training
            set's, or a standardised task is missing or not regression.
        """
        if INFO_KEY in taskset.info:
            raise ValueError(f"{taskset.name!r} is already standardised; standardise the raw "
                             "task set (statistics are applied once)")
        inputs = taskset.inputs
        if self.input_mean is not None:
            if tuple(taskset.input_shape) != self.input_mean.shape:
                raise ValueError(f"inputs have shape {taskset.input_shape} per row, the "
                                 f"training set {self.input_mean.shape}")
            # inputs on disk stay there: scaled block by block as they are read
            inputs = scale_inputs(taskset.inputs, self.input_mean, self.input_std)
        tasks = dict(taskset.tasks)
        for name, mean in self.target_mean.items():
            task = tasks.get(name)
            if task is None or task.kind != "regression":
                has = "no such task" if task is None else f"a {task.kind} task"
                raise ValueError(f"the training set standardised regression task {name!r}; "
                                 f"this task set has {has}")
            scaled = (task.targets - mean) / self.target_std[name]
            tasks[name] = dataclasses.replace(task, targets=scaled.astype(np.float32))
        return dataclasses.replace(taskset, inputs=inputs, tasks=tasks,
                                   info={**taskset.info, INFO_KEY: self})

    def inverse_transform_targets(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Regression outputs in the original units: ``value * std + mean``.

        Parameters
        ----------
        values : mapping {task name: array, tensor or TaskPrediction}
            E.g. a model's outputs or :meth:`MTLModel.predict`'s result; ``(N,)`` or
            ``(N, D)`` per regression task. Tasks that were not standardised (other kinds)
            are returned unchanged.

        Returns
        -------
        dict
            The same keys and types (a TaskPrediction gets new ``values``).
        """
        if not isinstance(values, Mapping):
            raise TypeError("values must be a mapping {task name: predictions}, got "
                            f"{type(values).__name__}")
        out = dict(values)
        for name, value in values.items():
            if name in self.target_mean:
                out[name] = _inverse(value, self.target_mean[name], self.target_std[name])
        return out

    def inverse_transform_inputs(self, x: Any) -> np.ndarray:
        """Inputs ``(N, *input_shape)`` in the original units."""
        if self.input_mean is None:
            raise ValueError("inputs were not standardised (inputs=False)")
        return np.asarray(x, dtype=np.float64) * self.input_std + self.input_mean

    def to_dict(self) -> dict[str, Any]:
        def listed(a: np.ndarray | None) -> Any:
            return None if a is None else a.tolist()
        return {
            "n_samples": self.n_samples,
            "input_mean": listed(self.input_mean),
            "input_std": listed(self.input_std),
            "target_mean": {n: listed(v) for n, v in self.target_mean.items()},
            "target_std": {n: listed(v) for n, v in self.target_std.items()},
        }


def _inverse(value: Any, mean: np.ndarray, std: np.ndarray) -> Any:
    """``value * std + mean`` for an array, a torch tensor or a TaskPrediction."""
    if hasattr(value, "kind") and hasattr(value, "values"):  # a TaskPrediction
        return dataclasses.replace(value, values=_inverse(value.values, mean, std))
    if type(value).__module__.startswith("torch"):
        import torch

        return (value * torch.as_tensor(std, dtype=value.dtype, device=value.device)
                + torch.as_tensor(mean, dtype=value.dtype, device=value.device))
    return np.asarray(value, dtype=np.float64) * std + mean


def standardize_taskset(taskset: TaskSet, train: Any = None, *, inputs: bool = True,
                        targets: bool = True) -> TaskSet:
    """What :meth:`TaskSet.standardize` does (see there)."""
    from .taskset import TaskSet

    if train is None:
        train = taskset
    if isinstance(train, TaskSet):
        train = Standardizer.fit(train, inputs=inputs, targets=targets)
    elif not isinstance(train, Standardizer):
        raise TypeError("train must be the training TaskSet, a Standardizer or None, got "
                        f"{type(train).__name__}")
    return train.transform(taskset)


def standardize_split(split: TaskSetSplit, *, inputs: bool = True,
                      targets: bool = True) -> TaskSetSplit:
    """Every part of ``split`` standardised with the statistics of ``split.train``."""
    stats = Standardizer.fit(split.train, inputs=inputs, targets=targets)
    return dataclasses.replace(
        split, train=stats.transform(split.train),
        val=None if split.val is None else stats.transform(split.val),
        test=stats.transform(split.test),
    )
