"""File readers behind ``TaskSet.from_csv`` / ``from_parquet``: pandas errors made clear."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any


def check_column_list(value: Any, name: str) -> None:
    """Refuse a bare string where a list of column names is expected.

    A string is a sequence of characters, so ``tasks="x1t"`` would name the columns
    ``"x"``, ``"1"`` and ``"t"``.
    """
    if value is None or isinstance(value, Mapping):
        return
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a list of column names, got the string {value!r}; "
                        f"write {name}=[{value!r}]")
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"{name} must be a list of column names, got "
                        f"{type(value).__name__}") from None
    bad = [v for v in items if not isinstance(v, str)]
    if bad and not _all_hashable(items):
        raise TypeError(f"{name} must be a list of column names, got entries {bad[:3]}")


def _all_hashable(items: list[Any]) -> bool:
    # non-string labels (e.g. integer column names) are legal in pandas; lists are not
    try:
        [hash(v) for v in items]
    except TypeError:
        return False
    return True


def read_csv(path: Any, **read_kwargs: Any) -> Any:
    """``pandas.read_csv`` with a clear error for a missing, empty or unreadable file."""
    import pandas as pd

    _check_path(path)
    try:
        return pd.read_csv(path, **read_kwargs)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty (no header, no rows); give a CSV file with a "
                         "header line and at least one row") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} could not be read as CSV ({exc}); check the file format, "
                         "or pass read options such as sep=';' to from_csv") from exc


def read_parquet(path: Any) -> Any:
    """``pandas.read_parquet`` with a clear error for a file that is not Parquet."""
    import pandas as pd

    _check_path(path)
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise ImportError("reading Parquet needs pyarrow: pip install 'tasklens[parquet]'"
                          ) from exc
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path} is not a Parquet file ({type(exc).__name__}: {exc}); "
                         "read CSV files with TaskSet.from_csv") from exc


def _check_path(path: Any) -> None:
    # local paths only; URLs and open file objects are left to pandas
    if isinstance(path, (str, Path)) and "://" not in str(path) and not Path(path).is_file():
        raise FileNotFoundError(f"no such file: {path}")


def resolve_columns(df: Any, inputs: Sequence[Any] | None,
                    tasks: Sequence[Any] | Mapping[Any, str | None] | None,
                    groups: Any, what: str = "df") -> tuple[list[Any], dict[Any, str | None]]:
    """Input columns and ``{task column: kind or None}`` of a frame, checked.

    Shared by ``TaskSet.from_dataframe`` and the out-of-core ``from_parquet`` (which
    passes an empty frame with the file's columns and dtypes); ``what`` names the frame
    in messages (``"df"``, ``"the file"``).
    """
    check_column_list(tasks, "tasks")
    check_column_list(inputs, "inputs")
    task_kinds = _task_kinds(tasks, what)
    _check_frame_columns(df, task_kinds, inputs, groups, what)
    if inputs is None:
        inputs = [c for c in df.columns if c not in task_kinds and c != groups]
    _check_inputs(df, list(inputs), task_kinds)
    return list(inputs), task_kinds


def _task_kinds(tasks: Sequence[Any] | Mapping[Any, str | None] | None,
                what: str) -> dict[Any, str | None]:
    """``{task column: kind or None}`` from a list or a mapping, without duplicates."""
    if not tasks:
        raise ValueError(f"tasks must name at least one target column of {what}")
    task_kinds = dict(tasks) if isinstance(tasks, Mapping) else {t: None for t in tasks}
    if len(set(task_kinds)) != len(list(tasks)):
        raise ValueError("tasks contains duplicate column names")
    return task_kinds


def _check_frame_columns(df: Any, task_kinds: Mapping[Any, str | None],
                         inputs: Sequence[Any] | None, groups: Any, what: str) -> None:
    """Unique column names, and every named task, group and input column present."""
    if df.columns.duplicated().any():
        dup = df.columns[df.columns.duplicated()].tolist()
        raise ValueError(f"{what} has duplicate column names {dup}; rename them first")
    if groups is not None and (not isinstance(groups, Hashable) or groups not in df.columns):
        raise ValueError(f"groups must name a column of {what}, got {groups!r}; available: "
                         f"{list(df.columns)}")
    wanted = list(task_kinds) + ([groups] if groups is not None else []) + list(inputs or [])
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in {what}; available: {list(df.columns)}")


def _check_inputs(df: Any, inputs: list[Any], task_kinds: Mapping[Any, str | None]) -> None:
    """Input columns: disjoint from the tasks, at least one, all numeric."""
    import pandas as pd

    overlap = set(inputs) & set(task_kinds)
    if overlap:
        raise ValueError(f"columns {sorted(overlap)} are both inputs and tasks")
    if not inputs:
        raise ValueError("no input columns left; pass inputs=[...] explicitly")
    non_numeric = [c for c in inputs if not pd.api.types.is_numeric_dtype(df[c])]
    if non_numeric:
        raise TypeError(
            f"input columns {non_numeric} are not numeric; encode them (e.g. pd.get_dummies)"
        )
