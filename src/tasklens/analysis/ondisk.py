"""DATA of ``tasklens analyze`` that stays on disk: a ``.npy`` inputs file, or a Parquet file
read row group by row group (``--out-of-core``).

``.npy``: DATA is the inputs file, an ``(N, features...)`` numeric array; each task's
targets are the file ``NAME.npy`` next to it (``--task NAME[:KIND]``), one value (or one
row, for multilabel) per input row. The inputs are memory-mapped
(:meth:`tasklens.data.TaskSet.from_npy`); targets, one number per row and task, are read
into memory.

Parquet with ``--out-of-core``: the input columns must be numeric without missing values
(no one-hot encoding or imputation: those need every row at once); the task columns are
read into memory (:meth:`tasklens.data.TaskSet.from_parquet` with ``in_memory=False``).

``.npy``: rows with a missing target in any task are dropped, as for in-memory files: the
task set keeps the other rows as a view (an index array), no input is read. Parquet with
``--out-of-core``: a missing target is an error (drop those rows from the file first).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..data.storage import open_npy
from ..data.taskset import TaskSet
from .data import DataError, LoadedData, _drop_missing_targets, _drop_notes


def _target_frame(targets: dict[str, np.ndarray]) -> Any:
    import pandas as pd

    return pd.DataFrame({t: list(y) if y.ndim > 1 else y for t, y in targets.items()})


def _fill_missing(y: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """``y`` with its missing entries replaced by a present value: those rows are dropped
    afterwards, the filler only lets the constructor check and encode the others."""
    if not missing.any():
        return y
    y = y.copy()
    y[missing] = y[np.flatnonzero(~missing)[0]]
    return y


def _missing_rows(y: np.ndarray) -> np.ndarray:
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y)
        return bad.reshape(len(y), -1).any(axis=1) if y.ndim > 1 else bad
    if y.dtype.kind == "O":
        import pandas as pd

        return pd.isna(pd.Series(list(y))).to_numpy()
    return np.zeros(len(y), dtype=bool)


def _with_rows_kept(path: Path, build: Any, targets: dict[str, np.ndarray],
                    specs: dict[str, str | None]) -> LoadedData:
    """Build the task set from targets with missing entries filled, then keep the rows
    whose every target is present (a view: no input is read)."""
    keep, dropped = _drop_missing_targets(_target_frame(targets), list(specs))
    filled = {t: _fill_missing(y, _missing_rows(y)) for t, y in targets.items()}
    try:
        ts = build(filled)
    except (ValueError, TypeError) as exc:
        raise DataError(str(exc).splitlines()[0]) from None
    if not keep.all():
        ts = ts.subset(np.flatnonzero(keep))
    return LoadedData(ts, str(path), _drop_notes(dropped), dropped)


def load_npy(path: Path, specs: dict[str, str | None], cols: list[str] | None) -> LoadedData:
    """DATA ``path`` (inputs ``.npy``) with targets ``<folder>/<task>.npy``."""
    if cols is not None:
        raise DataError("--inputs does not apply to .npy files: every column of the array "
                        "is an input")
    if not specs:
        raise DataError(f"name the tasks of {path.name} with --task NAME[:KIND]; the targets "
                        f"of NAME are read from NAME.npy next to {path.name}")
    targets: dict[str, np.ndarray] = {}
    for t in specs:
        file = path.parent / f"{t}.npy"
        if not file.is_file():
            raise DataError(f"--task {t!r}: no targets file {str(file)!r}; save the targets "
                            f"of task {t!r} as {t}.npy next to {path.name}")
        try:
            targets[t] = np.asarray(open_npy(file, f"targets of {t!r}"))
        except ValueError as exc:
            raise DataError(str(exc).splitlines()[0]) from None
    kinds = {t: k for t, k in specs.items() if k}

    def build(ys: dict[str, np.ndarray]) -> TaskSet:
        return TaskSet.from_npy(path, ys, kinds, name=path.name)

    return _with_rows_kept(path, build, targets, specs)


def load_parquet_on_disk(path: Path, specs: dict[str, str | None], cols: list[str] | None
                         ) -> LoadedData:
    """DATA ``path`` (Parquet) with inputs read row group by row group."""
    from ..data.storage import open_parquet

    if not specs:
        raise DataError(f"name the target columns of {path.name} with --task NAME[:KIND]")
    try:
        pf = open_parquet(path)
        names = set(pf.schema_arrow.names)
        missing = [t for t in specs if t not in names]
        if missing:
            raise DataError(f"--task {missing[0]!r} is not a column of {path.name}")
        frame = pf.read(columns=list(specs)).to_pandas()
    except ImportError as exc:
        raise DataError(f"reading {path.name} needs pyarrow: pip install "
                        f"'tasklens[parquet]' ({exc})") from None
    except (OSError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"cannot read {str(path)!r}: {str(exc).splitlines()[0]}") from None
    for t in specs:
        n_missing = int(_missing_rows(frame[t].to_numpy()).sum())
        if n_missing:
            raise DataError(f"task column {t!r} of {path.name} has {n_missing} missing "
                            "value(s); with --out-of-core, drop those rows from the file first "
                            "(or analyse it in memory, without --out-of-core)")
    try:
        ts = TaskSet.from_parquet(str(path), inputs=cols, tasks=dict(specs), in_memory=False)
    except (ValueError, TypeError) as exc:
        raise DataError(str(exc).splitlines()[0]) from None
    return LoadedData(ts, str(path), (), {}, {}, tuple(ts.info.get("input_columns", ())))
