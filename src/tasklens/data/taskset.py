"""The :class:`TaskSet`: inputs plus named tasks — the one data type every capability reads."""

from __future__ import annotations

import logging
import numbers
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._common.validation import (
    check_array,
    check_choice,
    check_indices,
    check_names,
    check_scalar,
)
from ._checks import check_groups, task_mapping
from ._readers import read_csv, read_parquet, resolve_columns
from .factors import Factors, make_factors
from .loader import BatchIndexDataset
from .splits import SPLIT_STRATEGIES, SplitIndices, group_split, random_split, stratified_split
from .standardize import INFO_KEY as STANDARDIZER_KEY
from .standardize import Standardizer, standardize_split, standardize_taskset
from .storage import RowStore, chunk_rows_for, take_rows
from .tasks import TargetsDict, Task, make_task, task_mismatch

if TYPE_CHECKING:
    import torch.utils.data

logger = logging.getLogger("tasklens")


@dataclass(frozen=True)
class TaskSetSplit:
    """Train / validation / test task sets from one seeded split."""

    train: TaskSet
    val: TaskSet | None
    test: TaskSet
    indices: SplitIndices

    def __post_init__(self) -> None:
        # a split assembled by hand must share the training encoding; an empty part (from
        # test_size=0) is allowed here and refused where it is used
        for name, part in (("val", self.val), ("test", self.test)):
            if part is not None and len(part):
                part.check_compatible(self.train, f"split.{name}")


@dataclass(frozen=True, eq=False)
class TaskSet:
    """Inputs plus an ordered mapping of named :class:`Task` objects.

    Build one with :meth:`from_arrays`, :meth:`from_dataframe`, :meth:`from_csv`,
    :meth:`from_parquet`, or a built-in generator in :mod:`tasklens.data`.

    Attributes
    ----------
    inputs : (N, ...) float32 array, or RowStore
        In memory, or on disk (:meth:`from_npy`, :meth:`from_parquet` with
        ``in_memory=False``): a :class:`~tasklens.data.storage.RowStore` read lazily, whose
        ``inputs[rows]`` is a float32 array; see :attr:`storage`.
    tasks : dict[str, Task]
        In the order given; targets are always in memory.
    factors : Factors or None
        Ground-truth generative factors, when known.
    groups : (N,) array or None
        Group label per sample, for group-aware splits.
    name : str
    info : dict
        Free-form provenance (generator, seed, parameters).
    """

    inputs: np.ndarray | RowStore
    tasks: dict[str, Task]
    factors: Factors | None = None
    groups: np.ndarray | None = None
    name: str = "taskset"
    info: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_arrays(
        cls,
        inputs: Any,
        targets: Mapping[str, Any],
        kinds: Mapping[str, str] | None = None,
        *,
        factors: Any = None,
        factor_names: Sequence[str] | None = None,
        factor_levels: Sequence[Any] | None = None,
        groups: Any = None,
        name: str = "taskset",
        info: Mapping[str, Any] | None = None,
        classes: Mapping[str, Any] | None = None,
        like: TaskSet | None = None,
    ) -> TaskSet:
        """Build a task set from an input array and a mapping ``{task name: targets}``.

        Parameters
        ----------
        inputs : (N, ...) array-like
            Converted to float32; NaN or infinite values are rejected.
        targets : mapping of str to (N,) or (N, D) array-like
        kinds : mapping of str to str, optional
            Kind per task; tasks not listed get an inferred kind, which is logged and
            marked ``kind_inferred``.
        factors : (N, F) array-like, optional
        factor_names : sequence of F str, optional (default ``factor0``, ...)
        factor_levels : sequence of F array-like, optional
            The discrete values of each factor; default: the unique values observed.
        groups : (N,) array-like, optional
        classes : mapping of str to array-like, optional
            Full label sets for classification tasks.
        like : TaskSet, optional
            A training set whose encoding to use (kinds, classes, losses, metrics), for
            validation and test sets built separately; see :meth:`encode_like`.
        """
        x = check_array(inputs, "inputs", dtype=None)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"inputs must be numeric, got dtype {x.dtype}")
        x = check_array(x, "inputs", dtype=np.float32)
        if x.ndim < 2:
            raise ValueError(
                f"inputs must have shape (N, features...), got {x.shape}; "
                "reshape a single feature with inputs.reshape(-1, 1)"
            )
        tasks = _make_tasks(targets, kinds, classes, like, len(x))
        fac = make_factors(factors, factor_names, factor_levels, len(x))
        return cls(x, tasks, fac, check_groups(groups, len(x)), name, dict(info or {}))

    @classmethod
    def from_dataframe(
        cls,
        df: Any,
        inputs: Sequence[str] | None = None,
        tasks: Sequence[str] | Mapping[str, str | None] | None = None,
        *,
        groups: str | None = None,
        name: str = "dataframe",
        like: TaskSet | None = None,
    ) -> TaskSet:
        """Build a task set from a pandas DataFrame.

        Parameters
        ----------
        df : pandas.DataFrame
        inputs : list of column names, optional
            Default: every column that is not a task or the group column.
        tasks : list of column names, or mapping column -> kind (None to infer)
        groups : str, optional
            Column with the group of each row.
        like : TaskSet, optional
            The training set whose encoding to use (for separately built evaluation sets).
        """
        import pandas as pd

        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        inputs, task_kinds = resolve_columns(df, inputs, tasks, groups, "df")
        x = df[list(inputs)].to_numpy(dtype=np.float64)
        targets = {t: df[t].to_numpy() for t in task_kinds}
        kinds = {t: k for t, k in task_kinds.items() if k is not None}
        return cls.from_arrays(
            x, targets, kinds, groups=None if groups is None else df[groups].to_numpy(),
            name=name, info={"input_columns": list(map(str, inputs))}, like=like,
        )

    @classmethod
    def from_csv(cls, path: str, inputs: Sequence[str] | None = None,
                 tasks: Sequence[str] | Mapping[str, str | None] | None = None,
                 *, groups: str | None = None, like: TaskSet | None = None,
                 **read_kwargs: Any) -> TaskSet:
        """Read a CSV with pandas and call :meth:`from_dataframe` (``like``: see there)."""
        return cls.from_dataframe(read_csv(path, **read_kwargs), inputs, tasks,
                                  groups=groups, name=str(path), like=like)

    @classmethod
    def from_parquet(cls, path: str, inputs: Sequence[str] | None = None,
                     tasks: Sequence[str] | Mapping[str, str | None] | None = None,
                     *, groups: str | None = None, like: TaskSet | None = None,
                     in_memory: bool = True) -> TaskSet:
        """Build a task set from a Parquet file (needs the ``parquet`` extra).

        ``in_memory=True`` reads the file with pandas and calls :meth:`from_dataframe`.
        ``in_memory=False`` keeps the input columns on disk: they are validated in one
        streaming pass over the row groups and read lazily, a row group at a time
        (a :class:`~tasklens.data.storage.ParquetStore`); the task and group columns are
        read and encoded in memory (one number per row and task), with the same checks.
        The arguments mean the same in both modes.
        """
        if not isinstance(in_memory, (bool, np.bool_)):
            raise TypeError(f"in_memory must be True or False, got {in_memory!r}")
        if not in_memory:
            from .files import taskset_from_parquet

            return taskset_from_parquet(path, inputs, tasks, groups=groups, like=like)
        df = read_parquet(path)
        return cls.from_dataframe(df, inputs, tasks, groups=groups, name=str(path), like=like)

    @classmethod
    def from_npy(cls, inputs: str | Path, targets: Mapping[str, Any],
                 kinds: Mapping[str, str] | None = None, *, groups: Any = None,
                 name: str | None = None, classes: Mapping[str, Any] | None = None,
                 like: TaskSet | None = None) -> TaskSet:
        """A task set whose inputs stay in a memory-mapped ``.npy`` file.

        The inputs are opened with ``np.load(mmap_mode="r", allow_pickle=False)``, checked
        in one streaming pass (numeric, ``(N, features...)``, finite in float32) and read
        lazily, batch by batch (a :class:`~tasklens.data.storage.NpyStore`); splits and
        subsets hold row indices, never copies. Targets are encoded in memory with the
        checks of :meth:`from_arrays` (kinds, classes, ``like``, missing and non-finite
        values).

        Parameters
        ----------
        inputs : str or Path
            A ``.npy`` file with an ``(N, ...)`` numeric array.
        targets : mapping of str to path or (N,) / (N, D) array-like
            Per task, a ``.npy`` file (read without pickle) or an array.
        kinds, classes, like, groups
            As in :meth:`from_arrays`; ``groups`` may also be a ``.npy`` path.
        name : str, optional
            Default: the inputs path.
        """
        from .files import taskset_from_npy

        return taskset_from_npy(inputs, targets, kinds, groups=groups, name=name,
                                classes=classes, like=like)

    # ------------------------------------------------------------------ basic properties
    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def n_samples(self) -> int:
        return len(self.inputs)

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    @property
    def task_names(self) -> list[str]:
        return list(self.tasks)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.inputs.shape[1:])

    @property
    def storage(self) -> str:
        """Where the inputs live: ``"memory"``, ``"npy"`` (memory-mapped) or ``"parquet"``."""
        return self.inputs.kind if isinstance(self.inputs, RowStore) else "memory"

    def to_memory(self) -> TaskSet:
        """This task set with its inputs loaded into memory (itself when they already are)."""
        if not isinstance(self.inputs, RowStore):
            return self
        return TaskSet(np.asarray(self.inputs), self.tasks, self.factors, self.groups,
                       self.name, dict(self.info))

    def chunks(self, chunk_rows: int | None = None
               ) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """Rows in order, ``chunk_rows`` at a time: ``(inputs, {task: encoded targets})``.

        The streaming pass of out-of-core task sets (e.g.
        :func:`tasklens.linear.streaming_task_correlations`); inputs are float32
        ``(rows, ...)`` blocks read from disk, or slices of the in-memory array. Default
        ``chunk_rows``: :func:`tasklens.data.storage.chunk_rows_for` (at most 8192 rows and
        8 MiB of inputs per block).
        """
        chunk_rows = check_scalar(chunk_rows, "chunk_rows", numbers.Integral, low=1,
                                  allow_none=True)
        if chunk_rows is None:
            chunk_rows = chunk_rows_for(self.input_shape)
        for start in range(0, len(self), chunk_rows):
            stop = min(start + chunk_rows, len(self))
            yield (np.asarray(self.inputs[start:stop]),
                   {n: t.targets[start:stop] for n, t in self.tasks.items()})

    def __getitem__(self, task_name: str) -> Task:
        try:
            return self.tasks[task_name]
        except KeyError:
            raise KeyError(f"no task {task_name!r}; tasks are {self.task_names}") from None

    @property
    def targets(self) -> TargetsDict:
        """``{task name: encoded targets}`` (a property, like :attr:`task_names`)."""
        return TargetsDict({n: t.targets for n, t in self.tasks.items()})

    @property
    def standardizer(self) -> Standardizer | None:
        """The training statistics this task set was standardised with (None: raw)."""
        return self.info.get(STANDARDIZER_KEY)

    def standardize(self, train: TaskSet | Standardizer | None = None, *, inputs: bool = True,
                    targets: bool = True) -> TaskSet:
        """This task set with inputs and regression targets scaled to the training statistics.

        ``(x - mean) / std`` per input element and per regression output, the mean and
        population std of ``train`` (this set when None; a std of 0 counts as 1). Pass the
        raw training set (or its :attr:`standardizer`) for validation and test sets, so that
        they never contribute statistics. The result keeps the statistics
        (:attr:`standardizer`) for :meth:`inverse_transform_targets`.
        """
        return standardize_taskset(self, train, inputs=inputs, targets=targets)

    def inverse_transform_targets(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Regression predictions ``{task: array, tensor or TaskPrediction}`` in original units.

        See :meth:`~tasklens.data.standardize.Standardizer.inverse_transform_targets`.
        """
        if self.standardizer is None:
            raise ValueError(f"{self.name!r} is not standardised; its targets are in the "
                             "original units already")
        return self.standardizer.inverse_transform_targets(values)

    # ------------------------------------------------------------------ derived task sets
    def select(self, task_names: Iterable[str]) -> TaskSet:
        """A task set with only ``task_names`` (in the given order), same inputs."""
        names = check_names(task_names, "task_names")
        if not names:
            raise ValueError("select needs at least one task name")
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate task names in select: {names}")
        missing = [n for n in names if n not in self.tasks]
        if missing:
            raise ValueError(f"unknown task(s) {missing}; tasks are {self.task_names}")
        return TaskSet(self.inputs, {n: self.tasks[n] for n in names}, self.factors,
                       self.groups, self.name, dict(self.info))

    def subset(self, indices: Any) -> TaskSet:
        """The task set restricted to rows ``indices`` (integer indices or a boolean mask)."""
        return self._take(check_indices(indices, len(self)))

    def _take(self, idx: np.ndarray) -> TaskSet:
        """Rows ``idx`` (checked integer indices, possibly none: empty split parts)."""
        return TaskSet(
            take_rows(self.inputs, idx),
            {n: t.take(idx) for n, t in self.tasks.items()},
            None if self.factors is None else self.factors.take(idx),
            None if self.groups is None else self.groups[idx],
            self.name,
            dict(self.info),
        )

    def encode_like(self, reference: TaskSet) -> TaskSet:
        """This task set with every task encoded like the same task of ``reference``.

        Use it for validation and test sets built separately from the training set: their
        own encoding numbers the classes they happen to hold (a test set without class 0
        would call label 1 code 0), so their codes would be scored against other labels.

        Parameters
        ----------
        reference : TaskSet
            The training set; it must have every task of this one and the same input shape.

        Raises
        ------
        ValueError
            A label that the training task has no class for, a regression target with
            another number of outputs, or a task or input shape the training set lacks.
        """
        if not isinstance(reference, TaskSet):
            raise TypeError(f"reference must be a TaskSet, got {type(reference).__name__}")
        ref = _reference_tasks(reference, self.tasks)
        _check_input_shape(self, reference, "this task set")
        tasks = {n: make_task(n, t.labels(), like=ref[n], description=t.description)
                 for n, t in self.tasks.items()}
        return TaskSet(self.inputs, tasks, self.factors, self.groups, self.name, dict(self.info))

    def check_compatible(self, reference: TaskSet, name: str = "eval set") -> None:
        """Refuse this set as an evaluation set of a model trained on ``reference``.

        It must be non-empty and have the same tasks (in order), input shape, and per task
        the same kind, classes (same labels, same order) and number of outputs.

        Parameters
        ----------
        reference : TaskSet
            The training set.
        name : str
            How the error messages call this set (e.g. ``"val"``).
        """
        if not isinstance(reference, TaskSet):
            raise TypeError(f"reference must be a TaskSet, got {type(reference).__name__}")
        self.check_not_empty(name)
        if self.task_names != reference.task_names:
            fix = (f"reorder with {name}.select(train.task_names)"
                   if sorted(self.task_names) == sorted(reference.task_names)
                   else "evaluate on the same tasks")
            raise ValueError(f"{name} has tasks {self.task_names}, the training set "
                             f"{reference.task_names}; {fix}")
        _check_input_shape(self, reference, name)
        for task_name, task in self.tasks.items():
            detail = task_mismatch(task, reference.tasks[task_name])
            if detail is not None:
                raise ValueError(
                    f"{name}: task {task_name!r} has {detail}; its codes would be scored "
                    f"against other labels. Encode it with the training set's classes: "
                    f"{name}.encode_like(train), or build it with "
                    f"TaskSet.from_dataframe(..., like=train)"
                )

    def check_not_empty(self, name: str = "taskset") -> None:
        """Raise a ValueError naming ``name`` when this task set has no rows."""
        if len(self) == 0:
            part = self.info.get("split_part")
            hint = (f"it is the {part} part of a split with {part}_size=0; pass "
                    f"{part}_size > 0 or do not use that part" if part
                    else "give it at least one row")
            raise ValueError(f"{name} is an empty task set (0 rows); {hint}")

    def split(
        self,
        test_size: float = 0.2,
        val_size: float = 0.0,
        *,
        strategy: str = "random",
        stratify_by: str | None = None,
        seed: int | None = 0,
        standardize: bool = False,
    ) -> TaskSetSplit:
        """Seeded train / validation / test split.

        Parameters
        ----------
        test_size, val_size : float
            Fractions of rows (of groups for ``strategy="group"``).
        strategy : {"random", "stratified", "group"}
            ``stratified`` keeps the label distribution of ``stratify_by`` (default: the
            first classification or binary task); ``group`` keeps each group whole.
        standardize : bool
            Standardise inputs and regression targets of every part with the training
            part's statistics (:meth:`standardize`).
        """
        check_choice(strategy, "strategy", SPLIT_STRATEGIES)
        test_size = check_scalar(test_size, "test_size", numbers.Real, low=0.0, high=1.0,
                                 include_high=False)
        val_size = check_scalar(val_size, "val_size", numbers.Real, low=0.0, high=1.0,
                                include_high=False)
        if stratify_by is not None and not isinstance(stratify_by, str):
            raise TypeError(f"stratify_by must be a task name (str) or None, got {stratify_by!r}")
        if strategy == "random":
            idx = random_split(len(self), val_size, test_size, seed)
        elif strategy == "stratified":
            task = self._stratify_task(stratify_by)
            idx = stratified_split(task.targets, val_size, test_size, seed)
        else:
            if self.groups is None:
                raise ValueError("strategy='group' needs groups; build the task set with groups=")
            idx = group_split(self.groups, val_size, test_size, seed)
        # an empty test part (test_size=0) is kept, marked so that its users can say why
        test = self._take(idx.test)
        if not idx.test.size:
            test = TaskSet(test.inputs, test.tasks, test.factors, test.groups, test.name,
                           {**test.info, "split_part": "test"})
        split = TaskSetSplit(
            self._take(idx.train), self._take(idx.val) if idx.val.size else None, test, idx,
        )
        return standardize_split(split) if standardize else split

    def _stratify_task(self, stratify_by: str | None) -> Task:
        if stratify_by is not None:
            task = self[stratify_by]
            if task.kind not in ("classification", "binary"):
                raise ValueError(f"cannot stratify by {task.kind} task {stratify_by!r}")
            return task
        for task in self.tasks.values():
            if task.kind in ("classification", "binary"):
                return task
        raise ValueError("strategy='stratified' needs a classification or binary task")

    # ------------------------------------------------------------------ torch
    def dataloader(
        self,
        batch_size: int = 128,
        *,
        shuffle: bool = True,
        seed: int | None = 0,
        drop_last: bool = False,
    ) -> torch.utils.data.DataLoader:
        """A torch ``DataLoader`` yielding ``(inputs, {task name: targets})`` batches.

        Batches are gathered with one fancy-index per tensor (no per-sample collate), and
        shuffling uses its own seeded generator.
        """
        import torch
        from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

        batch_size = check_scalar(batch_size, "batch_size", numbers.Integral, low=1)
        seed = check_scalar(seed, "seed", numbers.Integral, low=0, allow_none=True)
        self.check_not_empty(f"TaskSet {self.name!r}")
        dataset = BatchIndexDataset(self)
        gen = torch.Generator().manual_seed(0 if seed is None else int(seed))
        base = RandomSampler(dataset, generator=gen) if shuffle else SequentialSampler(dataset)
        return DataLoader(dataset, sampler=BatchSampler(base, batch_size, drop_last),
                          batch_size=None)

    # ------------------------------------------------------------------ display
    def summary_rows(self) -> list[dict[str, Any]]:
        """One dict per task: name, kind (with "(inferred)"), outputs, loss, metrics, balance."""
        rows = []
        for t in self.tasks.values():
            if t.kind in ("classification", "binary"):
                counts = np.bincount(t.targets.astype(np.int64), minlength=t.n_classes or 0)
                detail = f"{t.n_classes} classes, smallest {counts.min() / len(t.targets):.1%}"
            elif t.kind == "multilabel":
                detail = f"{t.output_size} labels, mean positive {t.targets.mean():.1%}"
            else:
                detail = f"mean {t.targets.mean():.3g}, std {t.targets.std():.3g}"
            rows.append({
                "task": t.name,
                "kind": t.kind + (" (inferred)" if t.kind_inferred else ""),
                "outputs": t.output_size,
                "loss": t.loss,
                "metrics": ", ".join(t.metrics),
                "targets": detail,
            })
        return rows

    def summary(self) -> str:
        """A plain-text summary: size, input shape, one line per task, factors, groups."""
        where = "" if self.storage == "memory" else f" (on disk, {self.storage})"
        lines = [f"TaskSet {self.name!r}: {self.n_samples} samples, inputs {self.input_shape}"
                 f"{where}, {self.n_tasks} task(s)"]
        for r in self.summary_rows():
            lines.append(f"  - {r['task']}: {r['kind']}, {r['outputs']} output(s), "
                         f"loss {r['loss']}, metrics [{r['metrics']}]; {r['targets']}")
        if self.factors is not None:
            sizes = ", ".join(f"{n} ({len(lv)})" for n, lv in zip(self.factors.names,
                                                                   self.factors.levels))
            lines.append(f"  factors: {sizes}")
        if self.groups is not None:
            lines.append(f"  groups: {len(np.unique(self.groups))}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        kinds = ", ".join(f"{n}:{t.kind}" for n, t in self.tasks.items())
        if len(kinds) > 120:
            kinds = kinds[:117] + "..."
        return (f"TaskSet(name={self.name!r}, n_samples={self.n_samples}, "
                f"input_shape={self.input_shape}, tasks=[{kinds}])")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n_samples": self.n_samples,
            "input_shape": list(self.input_shape),
            "storage": self.storage,
            "tasks": [t.to_dict() for t in self.tasks.values()],
            "factors": None if self.factors is None else list(self.factors.names),
            "info": {k: v for k, v in self.info.items() if isinstance(v, (str, int, float, bool))},
        }


def _make_tasks(targets: Any, kinds: Any, classes: Any, like: TaskSet | None,
                n: int) -> dict[str, Task]:
    """Validated, encoded tasks of ``targets`` (the checks of every constructor)."""
    if not isinstance(targets, Mapping) or len(targets) == 0:
        raise ValueError("targets must be a non-empty mapping {task name: target array}")
    kinds = task_mapping(kinds, "kinds", targets)
    classes = task_mapping(classes, "classes", targets)
    reference = _reference_tasks(like, targets)
    tasks: dict[str, Task] = {}
    for task_name, values in targets.items():
        task = make_task(
            task_name, values, kinds.get(task_name), n_samples=n,
            classes=classes.get(task_name), like=reference.get(task_name),
        )
        if task.kind_inferred:
            logger.info("task %r: kind inferred as %s", task_name, task.kind)
        tasks[task_name] = task
    return tasks


def _reference_tasks(like: Any, names: Iterable[str]) -> dict[str, Task]:
    """The tasks of ``like`` (a training set) for ``names``; ``{}`` when ``like`` is None."""
    if like is None:
        return {}
    if not isinstance(like, TaskSet):
        raise TypeError(f"like must be a TaskSet (the training set), got {type(like).__name__}")
    unknown = [n for n in names if n not in like.tasks]
    if unknown:
        raise ValueError(f"task(s) {unknown} are not in like (the training set has "
                         f"{like.task_names}); an evaluation set can only hold its tasks")
    return like.tasks


def _check_input_shape(ts: TaskSet, reference: TaskSet, name: str) -> None:
    if ts.input_shape != reference.input_shape:
        raise ValueError(f"{name} has inputs of shape {ts.input_shape}, the training set "
                         f"{reference.input_shape}; a model reads one input shape")
