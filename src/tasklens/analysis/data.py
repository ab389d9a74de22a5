"""Resolve the DATA of ``tasklens analyze`` into a :class:`~tasklens.data.TaskSet`.

DATA is a built-in set name, a CSV or Parquet file, an ``.npz``, or an ``.npy`` inputs file
(out of core: :mod:`tasklens.analysis.ondisk`). Every check runs here,
before any training and before anything is written, and fails with a :class:`DataError`
(a ``ValueError``) whose one-line message names the column or option and the fix.

Files
-----
- ``tasks``: the target columns, each ``NAME`` or ``NAME:KIND`` (kind inferred and marked
  ``(inferred)`` when omitted); at least two.
- ``inputs``: the input columns; default every other column that is numeric or categorical.
  Categorical columns (strings, booleans, pandas categories with at most
  :data:`MAX_CATEGORIES` levels) are one-hot encoded; a text column with more levels is
  refused when named and skipped (with a note) by default.
- Missing input values: numeric ones are imputed with the column median, categorical ones
  get their own level; the count is kept in the summary.
- Missing targets: the library has no per-task masks, so rows with a missing target in any
  task are dropped; the count is kept in the summary. A task with no (or one) remaining
  value is an error.

``.npz`` files hold an ``inputs`` (or ``x``/``X``) array of shape ``(N, ...)`` and one array
of length ``N`` per task.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.builtin import BUILTIN_DATASETS, load_builtin
from ..data.digits_mixed import multi_digits_mixed
from ..data.storage import RowStore, row_bytes
from ..data.tasks import TASK_KINDS
from ..data.taskset import TaskSet, TaskSetSplit

logger = logging.getLogger("tasklens")

#: the default data set of ``tasklens analyze``
DEFAULT_DATA = "multi_digits_mixed"
MAX_CATEGORIES = 20
MIN_ROWS = 20
_FILE_SUFFIXES = (".csv", ".parquet", ".pq", ".npz", ".npy")


class DataError(ValueError):
    """A problem with the data or data options; the message is one line."""


@dataclass(frozen=True)
class LoadedData:
    """A task set ready for the analysis plus what was done to get there.

    Attributes
    ----------
    taskset : TaskSet
    source : str
        The DATA argument (built-in name or file path).
    notes : tuple of str
        What loading changed (rows dropped, columns encoded or skipped, imputed values).
    rows_dropped : dict {task: rows dropped for its missing target}
    missing_inputs : dict {column: missing values imputed}
    input_columns : tuple of str
        The input columns used (before one-hot encoding); empty for arrays.
    """

    taskset: TaskSet
    source: str
    notes: tuple[str, ...] = ()
    rows_dropped: dict[str, int] = field(default_factory=dict)
    missing_inputs: dict[str, int] = field(default_factory=dict)
    input_columns: tuple[str, ...] = ()
    # the fingerprint, once computed (a full pass over a file on disk); not an init field,
    # so dataclasses.replace (another task set) starts without it
    _cache: dict[str, str] = field(default_factory=dict, init=False, repr=False,
                                   compare=False)

    def fingerprint(self) -> str:
        """SHA-256 (16 hex digits) of inputs, task names, kinds and targets (computed once)."""
        if "fingerprint" not in self._cache:
            self._cache["fingerprint"] = taskset_fingerprint(self.taskset)
        return self._cache["fingerprint"]

    def split(self, test_size: float, seed: int) -> TaskSetSplit:
        """The seeded train/test split the analysis (and ``tasklens sweep``) trains on.

        Inputs and regression targets of both parts are standardized (mean 0, standard
        deviation 1; :class:`~tasklens.data.Standardizer`) with the statistics of the
        training part only, so that no test row influences what the models see. One scale
        for all features and targets keeps a short training with one learning rate
        meaningful, and makes regression losses comparable with classification ones.
        """
        return self.taskset.split(test_size=test_size, seed=seed, standardize=True)


def taskset_fingerprint(taskset: TaskSet) -> str:
    """SHA-256 (16 hex digits) of a task set's inputs, task names, kinds and targets.

    Inputs on disk are hashed block by block (never loaded whole); the digest equals that
    of the same float32 rows in memory.
    """
    digest = hashlib.sha256()
    for piece in row_bytes(taskset.inputs):
        digest.update(piece)
    digest.update(repr(taskset.inputs.shape).encode())
    for name, task in taskset.tasks.items():
        digest.update(f"{name}:{task.kind}".encode())
        digest.update(np.ascontiguousarray(task.targets).tobytes())
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------- built-ins
def builtin_names() -> tuple[str, ...]:
    """Names accepted as DATA besides files: the default set and every built-in set."""
    return (DEFAULT_DATA, *(n for n in BUILTIN_DATASETS if n != DEFAULT_DATA))


# --------------------------------------------------------------------------- task options
def parse_task_specs(specs: Any) -> dict[str, str | None]:
    """``["a", "b:binary"]`` (or one comma-separated string) → ``{"a": None, "b": "binary"}``."""
    if specs is None:
        return {}
    if isinstance(specs, str):
        specs = [specs]
    out: dict[str, str | None] = {}
    for spec in specs:
        for part in str(spec).split(","):
            part = part.strip()
            if not part:
                continue
            name, _, kind = part.partition(":")
            name, kind = name.strip(), kind.strip().lower()
            if not name:
                raise DataError(f"--task {part!r}: the column name is empty; use NAME or NAME:KIND")
            if kind and kind not in TASK_KINDS:
                raise DataError(f"--task {part!r}: unknown kind {kind!r}; use one of "
                                f"{', '.join(TASK_KINDS)}")
            if name in out:
                raise DataError(f"--task {name!r} is given twice")
            out[name] = kind or None
    return out


def parse_columns(text: Any) -> list[str] | None:
    """``"a,b, c"`` or a list → ``["a", "b", "c"]``; None stays None."""
    if text is None:
        return None
    items = text if isinstance(text, (list, tuple)) else str(text).split(",")
    cols = [str(c).strip() for c in items if str(c).strip()]
    if not cols:
        raise DataError("--inputs is empty; name input columns separated by commas")
    return cols


# --------------------------------------------------------------------------- loading
def load_data(data: str | None = None, tasks: Any = None, inputs: Any = None, *,
              max_rows: int | None = None, seed: int = 0,
              out_of_core: bool = False) -> LoadedData:
    """Load and check DATA (see the module docstring); raises :class:`DataError`.

    Parameters
    ----------
    data : str, optional
        Built-in name (default :data:`DEFAULT_DATA`) or path to a ``.csv``, ``.parquet``,
        ``.npz`` or ``.npy`` file (inputs; task ``NAME``'s targets in ``NAME.npy`` next to
        it, memory-mapped: see :mod:`tasklens.analysis.ondisk`).
    tasks : list of "NAME[:KIND]", optional
        Target columns (required for files; for built-in sets, a subset of their tasks).
    inputs : list of str or comma-separated str, optional
    max_rows : int, optional
        Keep a seeded random subset of at most this many rows.
    seed : int
        Seed of that subset.
    out_of_core : bool
        Read a Parquet file's inputs row group by row group instead of loading the file
        (``.npy`` inputs are always memory-mapped). The analysis then never loads the
        inputs whole (see :mod:`tasklens.analysis.ondisk`).
    """
    source = DEFAULT_DATA if data is None else str(data)
    specs = parse_task_specs(tasks)
    cols = parse_columns(inputs)
    path = Path(source)
    if path.suffix.lower() in _FILE_SUFFIXES or path.exists():
        loaded = _load_file(path, specs, cols, out_of_core)
    else:
        if out_of_core:
            raise DataError(f"--out-of-core applies to .parquet files (.npy ones always "
                            f"stay on disk); {source!r} is a built-in set")
        loaded = _load_builtin(source, specs, cols)
    ts = loaded.taskset
    if ts.n_tasks < 2:
        raise DataError(f"only one task ({ts.task_names[0]!r}); the analysis compares tasks, "
                        "name at least two with --task")
    if max_rows is not None and ts.n_samples > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(ts.n_samples, max_rows,
                                                          replace=False))
        ts = ts.subset(keep)
        loaded = LoadedData(ts, loaded.source, (*loaded.notes, f"kept a random {max_rows} of "
                                                f"{loaded.taskset.n_samples} rows (--max-rows)"),
                            loaded.rows_dropped, loaded.missing_inputs, loaded.input_columns)
    if ts.n_samples < MIN_ROWS:
        raise DataError(f"only {ts.n_samples} usable rows; the analysis needs at least "
                        f"{MIN_ROWS}")
    return dataclasses.replace(loaded, notes=(*loaded.notes, *_standardize_notes(ts)))


def _standardize_notes(ts: TaskSet) -> tuple[str, ...]:
    """What :meth:`LoadedData.split` will do to the inputs and regression targets."""
    on_disk = isinstance(ts.inputs, RowStore)
    notes = ["inputs standardized (mean 0, standard deviation 1 per feature) with the "
             "statistics of the training part of the split"
             + (f"; statistics streamed over the training rows, inputs read from the "
                f"{ts.storage} file batch by batch (never loaded whole)" if on_disk else "")]
    scaled = [name for name, task in ts.tasks.items() if task.kind == "regression"]
    if scaled:
        notes.append(f"regression targets standardized ({', '.join(scaled)}) with the training "
                     "part's statistics: their MSE is in units of the target's variance")
    return tuple(notes)


def _load_builtin(name: str, specs: dict[str, str | None], cols: list[str] | None
                  ) -> LoadedData:
    if cols is not None:
        raise DataError(f"--inputs applies to files only; {name!r} is a built-in set")
    if name == DEFAULT_DATA:
        ts = multi_digits_mixed()
    elif name in BUILTIN_DATASETS:
        ts = load_builtin(name)
    else:
        raise DataError(f"DATA {name!r} is neither a file (.csv, .parquet, .npz, .npy) nor a "
                        f"built-in set ({', '.join(builtin_names())})")
    if specs:
        missing = [t for t in specs if t not in ts.tasks]
        if missing:
            raise DataError(f"--task {missing[0]!r} is not a task of {name!r}; its tasks are "
                            f"{', '.join(ts.task_names)}")
        ts = ts.select(list(specs))
    if len(ts.input_shape) > 1:  # images: the MLP encoder reads flat vectors
        # the shape is kept: stage 6 adds CORE-MTL for image data (settings.core_mtl)
        ts = TaskSet(ts.inputs.reshape(ts.n_samples, -1), ts.tasks, ts.factors, ts.groups,
                     ts.name, {**ts.info, "image_shape": tuple(ts.input_shape)})
    return LoadedData(ts, name)


def _load_file(path: Path, specs: dict[str, str | None], cols: list[str] | None,
               out_of_core: bool = False) -> LoadedData:
    if not path.is_file():
        raise DataError(f"DATA file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npy" or (out_of_core and suffix in (".parquet", ".pq")):
        from .ondisk import load_npy, load_parquet_on_disk

        return (load_npy if suffix == ".npy" else load_parquet_on_disk)(path, specs, cols)
    if out_of_core:
        raise DataError(f"--out-of-core applies to .parquet files (.npy ones always stay on "
                        f"disk); {path.name} is read into memory: drop --out-of-core")
    if suffix == ".npz":
        return _load_npz(path, specs, cols)
    import pandas as pd

    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path)
    except ImportError as exc:
        raise DataError(f"reading {path.name} needs pyarrow: pip install "
                        f"'tasklens[parquet]' ({exc})") from None
    except Exception as exc:  # any parser failure becomes one line for the user
        raise DataError(f"cannot read {str(path)!r}: {str(exc).splitlines()[0]}") from None
    from .frame import taskset_from_frame

    return taskset_from_frame(df, specs, cols, name=path.name, source=str(path))


def _load_npz(path: Path, specs: dict[str, str | None], cols: list[str] | None) -> LoadedData:
    if cols is not None:
        raise DataError("--inputs does not apply to .npz files; store the inputs as 'inputs'")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (ValueError, OSError) as exc:
        raise DataError(f"cannot read {str(path)!r} as .npz without pickles: {exc}") from None
    key = next((k for k in ("inputs", "x", "X") if k in arrays), None)
    if key is None:
        raise DataError(f"{path.name} has no 'inputs' array; it has {', '.join(arrays)}")
    x = arrays.pop(key)
    if not specs:
        specs = {k: None for k, v in arrays.items() if len(v) == len(x)}
    missing = [t for t in specs if t not in arrays]
    if missing:
        raise DataError(f"--task {missing[0]!r} is not an array of {path.name}; it has "
                        f"{', '.join(arrays)}")
    if x.dtype.kind not in "biuf":
        raise DataError(f"{path.name}: 'inputs' must be numeric, got dtype {x.dtype}")
    image_shape = tuple(x.shape[1:])
    x = x.reshape(len(x), -1).astype(np.float64)
    if not np.isfinite(x).all():
        raise DataError(f"{path.name}: 'inputs' has NaN or infinite values; impute them first")
    import pandas as pd

    frame = pd.DataFrame({t: list(arrays[t]) if arrays[t].ndim > 1 else arrays[t]
                          for t in specs})
    keep, dropped = _drop_missing_targets(frame, list(specs))
    targets = {t: arrays[t][keep] for t in specs}
    ts = _build(x[keep], targets, specs, path.name)
    if len(image_shape) == 3:  # images (N, C, H, W): stage 6 then adds CORE-MTL
        ts = TaskSet(ts.inputs, ts.tasks, ts.factors, ts.groups, ts.name,
                     {**ts.info, "image_shape": image_shape})
    return LoadedData(ts, str(path), _drop_notes(dropped), dropped)


def _drop_missing_targets(df: Any, tasks: list[str]) -> tuple[np.ndarray, dict[str, int]]:
    """Boolean mask of rows whose every target is present; rows dropped per task."""
    import pandas as pd

    keep = np.ones(len(df), dtype=bool)
    dropped: dict[str, int] = {}
    for t in tasks:
        col = df[t]
        miss = col.isna().to_numpy().copy()
        if pd.api.types.is_numeric_dtype(col):
            miss |= ~np.isfinite(col.to_numpy(dtype=np.float64, na_value=np.nan))
        if miss.all():
            raise DataError(f"task column {t!r} has no values (all {len(df)} are missing)")
        if miss.any():
            dropped[t] = int(miss.sum())
        keep &= ~miss
    if keep.sum() < MIN_ROWS:
        raise DataError(f"only {int(keep.sum())} rows have every target "
                        f"({', '.join(tasks)}); the analysis needs at least {MIN_ROWS}")
    return keep, dropped


def _drop_notes(dropped: dict[str, int]) -> tuple[str, ...]:
    return tuple(f"dropped {n} row(s) with a missing {t!r} target (the library has no "
                 "per-task masks)" for t, n in dropped.items())


def _build(x: np.ndarray, targets: dict[str, Any], specs: dict[str, str | None],
           name: str) -> TaskSet:
    try:
        return TaskSet.from_arrays(x, targets, {t: k for t, k in specs.items() if k},
                                   name=name)
    except (ValueError, TypeError) as exc:
        raise DataError(str(exc).splitlines()[0]) from None
