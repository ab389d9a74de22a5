"""Out-of-core constructors behind ``TaskSet.from_npy`` and ``from_parquet(in_memory=False)``.

Inputs stay on disk in a :class:`~tasklens.data.storage.RowStore`, checked in one
streaming pass; targets and groups (one number per row and task) are read into memory and
encoded by the same code as every in-memory constructor, so kinds, classes, ``like=``,
missing and non-finite values are handled identically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._readers import resolve_columns
from .storage import NpyStore, ParquetStore, check_store, open_npy, open_parquet

if TYPE_CHECKING:
    from .taskset import TaskSet


def _as_path(value: Any, name: str) -> Path:
    if not isinstance(value, (str, Path)):
        raise TypeError(f"{name} must be a path to a .npy file (str or Path), got "
                        f"{type(value).__name__}; use TaskSet.from_arrays for arrays")
    return Path(value)


def _load_column(value: Any, name: str) -> Any:
    """A target or group column: a ``.npy`` path (loaded, no pickle) or an array-like."""
    if isinstance(value, (str, Path)):
        return np.asarray(open_npy(Path(value), name))
    return value


def taskset_from_npy(inputs: Any, targets: Mapping[str, Any],
                     kinds: Mapping[str, str] | None = None, *, groups: Any = None,
                     name: str | None = None, classes: Mapping[str, Any] | None = None,
                     like: TaskSet | None = None) -> TaskSet:
    """See :meth:`tasklens.data.TaskSet.from_npy`."""
    from ._checks import check_groups
    from .taskset import TaskSet, _make_tasks

    path = _as_path(inputs, "inputs")
    mm = open_npy(path, "inputs")
    if mm.dtype.kind not in "biuf":
        raise TypeError(f"inputs must be numeric, got dtype {mm.dtype} in {path}")
    store = NpyStore(path, _mmap=mm)
    check_store(store, f"inputs ({path})")
    if not isinstance(targets, Mapping) or len(targets) == 0:
        raise ValueError("targets must be a non-empty mapping {task name: .npy path or array}")
    raw = {t: _load_column(v, f"targets[{t!r}]") for t, v in targets.items()}
    tasks = _make_tasks(raw, kinds, classes, like, len(store))
    grp = check_groups(_load_column(groups, "groups"), len(store))
    return TaskSet(store, tasks, None, grp, str(path) if name is None else name,
                   {"inputs_path": str(path)})


def taskset_from_parquet(path: Any, inputs: Sequence[str] | None,
                         tasks: Sequence[str] | Mapping[str, str | None] | None, *,
                         groups: str | None = None, like: TaskSet | None = None) -> TaskSet:
    """See :meth:`tasklens.data.TaskSet.from_parquet` (``in_memory=False``)."""
    from ._checks import check_groups
    from .taskset import TaskSet, _make_tasks

    pf = open_parquet(Path(path))
    # an empty frame with the file's columns and dtypes: the column rules of
    # from_dataframe, checked without reading a row
    empty = pf.schema_arrow.empty_table().to_pandas()
    input_cols, task_kinds = resolve_columns(empty, inputs, tasks, groups, "the file")
    store = ParquetStore(path, input_cols)
    check_store(store, f"inputs ({path})")
    wanted = list(task_kinds) + ([groups] if groups is not None else [])
    df = pf.read(columns=wanted).to_pandas()
    targets = {t: df[t].to_numpy() for t in task_kinds}
    kinds = {t: k for t, k in task_kinds.items() if k is not None}
    built = _make_tasks(targets, kinds, None, like, len(store))
    grp = check_groups(None if groups is None else df[groups].to_numpy(), len(store))
    return TaskSet(store, built, None, grp, str(path),
                   {"input_columns": list(map(str, input_cols))})
