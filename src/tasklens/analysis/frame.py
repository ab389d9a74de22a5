"""A pandas table → task set for the analysis: column choice, encoding, missing values."""

from __future__ import annotations

from typing import Any

import numpy as np

from .data import MAX_CATEGORIES, DataError, LoadedData, _build, _drop_missing_targets, _drop_notes


def _is_categorical(col: Any) -> bool:
    import pandas as pd

    return (isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(col)
            or pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col))


def _choose_inputs(df: Any, tasks: list[str], cols: list[str] | None
                   ) -> tuple[list[str], list[str]]:
    """The input columns and the notes about skipped ones."""
    if cols is not None:
        _check_given_inputs(df, tasks, cols)
        return cols, []
    chosen, notes = [], []
    for c in df.columns:
        if c in tasks:
            continue
        skip = _why_not_input(df[c])
        if skip is None:
            chosen.append(c)
        else:
            notes.append(f"skipped input column {c!r}: {skip}")
    if not chosen:
        raise DataError("no usable input column (numeric or categorical) besides the tasks; "
                        "name them with --inputs")
    return chosen, notes


def _is_numeric(col: Any) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def _why_not_input(col: Any) -> str | None:
    """None when the column can be an input (numeric with a value, or few categories)."""
    if _is_numeric(col):
        return None if col.notna().any() else "every value is missing"
    if _is_categorical(col) and col.nunique(dropna=True) <= MAX_CATEGORIES:
        return None
    return f"not numeric and more than {MAX_CATEGORIES} distinct values"


def _check_given_inputs(df: Any, tasks: list[str], cols: list[str]) -> None:
    """--inputs columns must exist, not be tasks, and be numeric or few-valued categories."""
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(f"--inputs column {missing[0]!r} is not in the table; columns: "
                        f"{', '.join(map(str, df.columns))}")
    both = [c for c in cols if c in tasks]
    if both:
        raise DataError(f"column {both[0]!r} is both an input (--inputs) and a task (--task)")
    for c in cols:
        col = df[c]
        if _is_numeric(col):
            continue
        if not _is_categorical(col) or col.nunique(dropna=True) > MAX_CATEGORIES:
            raise DataError(
                f"input column {c!r} is not numeric and has {col.nunique()} distinct values "
                f"(more than {MAX_CATEGORIES}, so not one-hot encoded); drop it from "
                "--inputs or encode it")


def _encode_inputs(df: Any, cols: list[str]) -> tuple[np.ndarray, list[str], dict[str, int]]:
    """(N, F) float64 inputs, notes, and the number of missing values imputed per column."""
    import pandas as pd

    blocks, notes, missing = [], [], {}
    for c in cols:
        col = df[c]
        n_miss = int(col.isna().sum())
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            values = col.to_numpy(dtype=np.float64, na_value=np.nan)
            if np.isinf(values).any():
                raise DataError(f"input column {c!r} has infinite values; replace them")
            if n_miss:
                if n_miss == len(values):
                    raise DataError(f"input column {c!r} has no values (all are missing)")
                values = np.where(np.isnan(values), np.nanmedian(values), values)
                missing[str(c)] = n_miss
                notes.append(f"imputed {n_miss} missing value(s) of input {c!r} with its median")
            blocks.append(values[:, None])
        else:
            dummies = pd.get_dummies(col.astype("object"), prefix=str(c), dummy_na=n_miss > 0,
                                     dtype=np.float64)
            if n_miss:
                missing[str(c)] = n_miss
            notes.append(f"one-hot encoded categorical input {c!r} ({dummies.shape[1]} "
                         "columns)")
            blocks.append(dummies.to_numpy())
    return np.hstack(blocks), notes, missing


def taskset_from_frame(df: Any, specs: dict[str, str | None], cols: list[str] | None, *,
                       name: str, source: str) -> LoadedData:
    """Check and convert a table; every problem is a one-line :class:`DataError`."""
    if not specs:
        raise DataError("name the target columns with --task NAME[:KIND] (at least two); "
                        f"columns: {', '.join(map(str, df.columns))}")
    if len(specs) < 2:
        raise DataError(f"only one task ({next(iter(specs))!r}); the analysis compares tasks, "
                        "name at least two with --task")
    if df.columns.duplicated().any():
        raise DataError(f"the table has duplicate column names "
                        f"{df.columns[df.columns.duplicated()].tolist()}; rename them")
    missing = [t for t in specs if t not in df.columns]
    if missing:
        raise DataError(f"--task column {missing[0]!r} is not in the table; columns: "
                        f"{', '.join(map(str, df.columns))}")
    tasks = list(specs)
    inputs, notes = _choose_inputs(df, tasks, cols)
    keep, dropped = _drop_missing_targets(df, tasks)
    df = df.loc[keep].reset_index(drop=True)
    x, enc_notes, missing_inputs = _encode_inputs(df, inputs)
    targets = {t: df[t].to_numpy() for t in tasks}
    ts = _build(x, targets, specs, name)
    return LoadedData(ts, source, (*_drop_notes(dropped), *notes, *enc_notes), dropped,
                      missing_inputs, tuple(map(str, inputs)))
