"""Out-of-core inputs for a :class:`~tasklens.data.TaskSet`: rows read lazily from disk.

A :class:`RowStore` stands where an in-memory ``(N, ...)`` float32 input array would: it
has ``shape``, ``dtype``, ``ndim`` and ``len``, and ``store[idx]`` (integer indices, a
slice or a boolean mask) returns those rows as an in-memory float32 array. Nothing else is
read. ``store.take(idx)`` is a view that holds an index array, never a copy, so splits and
subsets of a file larger than memory stay on disk. ``store.chunks(rows)`` yields the rows
in order, a bounded block at a time (streaming passes: validation, statistics).

Two backends:

* :class:`NpyStore` -- a ``.npy`` file opened with ``np.load(mmap_mode="r",
  allow_pickle=False)``; the operating system pages rows in on demand.
* :class:`ParquetStore` -- numeric columns of a Parquet file, decoded by pyarrow one row
  group at a time (a small cache of decoded groups keeps sequential reads cheap).

``np.asarray(store)`` loads everything (the explicit escape hatch, e.g. ``to_memory``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: at most this many rows per block of a streaming pass ...
DEFAULT_CHUNK_ROWS = 8192
#: ... and at most this many bytes of float32 rows (8192 rows at 256 features): wide rows
#: get fewer rows per block, so a pass's memory does not grow with the row width
CHUNK_BYTES = 8 * 2**20


def chunk_rows_for(row_shape: tuple[int, ...]) -> int:
    """Rows per block of a streaming pass over rows of ``row_shape`` (float32):
    ``min(DEFAULT_CHUNK_ROWS, CHUNK_BYTES / row bytes)``, at least 1."""
    row_bytes = 4 * max(1, int(np.prod(row_shape, dtype=np.int64)))
    return max(1, min(DEFAULT_CHUNK_ROWS, CHUNK_BYTES // row_bytes))


class RowStore(ABC):
    """An ``(N, ...)`` float32 array whose rows are read from disk on demand.

    Attributes
    ----------
    path : Path
        The file the rows come from.
    rows : (M,) int64 array or None
        The file rows this view holds, in order; None for all rows of the file.
    """

    dtype = np.dtype(np.float32)
    kind = ""  # "npy" or "parquet"

    def __init__(self, path: Path, rows: np.ndarray | None) -> None:
        self.path = path
        self.rows = rows

    # ---------------------------------------------------------------- to implement
    @property
    @abstractmethod
    def file_rows(self) -> int:
        """Number of rows in the file."""

    @property
    @abstractmethod
    def row_shape(self) -> tuple[int, ...]:
        """Shape of one row."""

    @abstractmethod
    def _read_file_rows(self, file_idx: np.ndarray) -> np.ndarray:
        """Rows ``file_idx`` of the file (any order, repeats allowed) as float32."""

    @abstractmethod
    def _view(self, rows: np.ndarray) -> RowStore:
        """The same file restricted to file rows ``rows``."""

    # ---------------------------------------------------------------- array protocol
    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.row_shape)

    @property
    def ndim(self) -> int:
        return 1 + len(self.row_shape)

    @property
    def nbytes(self) -> int:
        """Bytes the rows would take in memory as float32."""
        return int(np.prod(self.shape, dtype=np.int64)) * 4

    def __len__(self) -> int:
        return self.file_rows if self.rows is None else len(self.rows)

    def _file_index(self, idx: np.ndarray) -> np.ndarray:
        return idx if self.rows is None else self.rows[idx]

    def __getitem__(self, key: Any) -> np.ndarray:
        """Rows ``key`` (int, slice, integer indices or boolean mask) as float32."""
        if isinstance(key, tuple):
            raise TypeError("a RowStore is indexed by rows only; read the rows first "
                            "(store[rows]) and index the result")
        if isinstance(key, (int, np.integer)):
            return self._read(np.array([key]))[0]
        if isinstance(key, slice):
            r = range(len(self))[key]  # no index array of all N rows
            return self._read(np.arange(r.start, r.stop, r.step))
        idx = np.asarray(key)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise IndexError(f"boolean mask of shape {idx.shape} for {len(self)} rows")
            idx = np.flatnonzero(idx)
        return self._read(idx)

    def _read(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"row index out of range for {n} rows")
        idx = np.where(idx < 0, idx + n, idx)
        if not idx.size:
            return np.empty((0, *self.row_shape), np.float32)
        return self._read_file_rows(self._file_index(idx))

    def take(self, idx: Any) -> RowStore:
        """A view of rows ``idx`` (checked int64 indices): an index array, no data read."""
        idx = np.asarray(idx, dtype=np.int64)
        return self._view(self._file_index(idx).copy())

    def chunks(self, chunk_rows: int | None = None) -> Iterator[np.ndarray]:
        """The rows in order, ``chunk_rows`` at a time (default :func:`chunk_rows_for`),
        each block a float32 array."""
        if chunk_rows is None:
            chunk_rows = chunk_rows_for(self.row_shape)
        for start in range(0, len(self), chunk_rows):
            yield self._read(np.arange(start, min(start + chunk_rows, len(self))))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        # the explicit full load: np.asarray(store)
        out = np.empty(self.shape, np.float32)
        pos = 0
        for block in self.chunks():
            out[pos:pos + len(block)] = block
            pos += len(block)
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        view = "" if self.rows is None else f", {len(self)} of {self.file_rows} rows"
        return f"{type(self).__name__}({str(self.path)!r}, shape={self.shape}{view})"


class NpyStore(RowStore):
    """Rows of a ``.npy`` file, memory-mapped read-only (never unpickled).

    Parameters
    ----------
    path : str or Path
        A ``.npy`` file of a numeric ``(N, ...)`` array with ``N >= 1`` and at least 2
        dimensions.
    """

    kind = "npy"

    def __init__(self, path: str | Path, rows: np.ndarray | None = None,
                 _mmap: np.ndarray | None = None) -> None:
        super().__init__(Path(path), rows)
        self._mm = _mmap if _mmap is not None else open_npy(self.path, "inputs")

    @property
    def file_rows(self) -> int:
        return int(self._mm.shape[0])

    @property
    def row_shape(self) -> tuple[int, ...]:
        return tuple(self._mm.shape[1:])

    def _read_file_rows(self, file_idx: np.ndarray) -> np.ndarray:
        # a contiguous run is a slice of the map (one sequential read); otherwise numpy
        # gathers the rows, touching only their pages
        lo, hi = int(file_idx[0]), int(file_idx[-1])
        if hi - lo + 1 == len(file_idx) and np.all(np.diff(file_idx) == 1):
            block = self._mm[lo:hi + 1]
        else:
            block = self._mm[file_idx]
        with np.errstate(over="ignore"):  # overflow is refused by the validation pass
            return np.asarray(block, dtype=np.float32)

    def _view(self, rows: np.ndarray) -> RowStore:
        return NpyStore(self.path, rows, self._mm)

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled (process pools, DataLoader workers) as path + rows, reopened on load:
        # pickling the map itself would copy the whole file
        return (NpyStore, (self.path, self.rows))


class ParquetStore(RowStore):
    """Numeric columns of a Parquet file as ``(N, len(columns))`` float32 rows.

    Rows are decoded one row group at a time with pyarrow; the last ``cache_groups``
    decoded groups are kept, so a sequential pass decodes each group once. Random access
    (shuffled batches) decodes every group a batch touches: train from ``.npy`` when the
    batches are shuffled over a large file (see docs/data.md).
    """

    kind = "parquet"

    def __init__(self, path: str | Path, columns: Sequence[str], rows: np.ndarray | None = None,
                 *, cache_groups: int = 2, _file: Any = None) -> None:
        super().__init__(Path(path), rows)
        self._file = _file if _file is not None else open_parquet(self.path)
        self.columns = list(columns)
        meta = self._file.metadata
        sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        self._starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_groups = cache_groups

    @property
    def file_rows(self) -> int:
        return int(self._starts[-1])

    @property
    def row_shape(self) -> tuple[int, ...]:
        return (len(self.columns),)

    @property
    def n_row_groups(self) -> int:
        return len(self._starts) - 1

    def read_group(self, group: int) -> np.ndarray:
        """Row group ``group`` as a ``(rows, columns)`` float32 array (cached)."""
        if group in self._cache:
            self._cache.move_to_end(group)
            return self._cache[group]
        table = self._file.read_row_group(group, columns=self.columns)
        block = np.empty((table.num_rows, len(self.columns)), np.float32)
        for j, name in enumerate(self.columns):
            col = table.column(name)
            if col.null_count:
                raise ValueError(
                    f"input column {name!r} of {self.path} has {col.null_count} missing "
                    f"value(s) in row group {group}; drop or impute them first"
                )
            with np.errstate(over="ignore"):
                block[:, j] = col.to_numpy()
        self._cache[group] = block
        while len(self._cache) > self._cache_groups:
            self._cache.popitem(last=False)
        return block

    def _read_file_rows(self, file_idx: np.ndarray) -> np.ndarray:
        groups = np.searchsorted(self._starts, file_idx, side="right") - 1
        out = np.empty((len(file_idx), len(self.columns)), np.float32)
        for g in np.unique(groups):
            at = np.flatnonzero(groups == g)
            out[at] = self.read_group(int(g))[file_idx[at] - self._starts[g]]
        return out

    def _view(self, rows: np.ndarray) -> RowStore:
        return ParquetStore(self.path, self.columns, rows, cache_groups=self._cache_groups,
                            _file=self._file)

    def __reduce__(self) -> tuple[Any, ...]:
        # reopened by path on load (an open ParquetFile does not pickle)
        return (_reopen_parquet, (self.path, self.columns, self.rows, self._cache_groups))


class AffineStore(RowStore):
    """Rows of another store mapped to ``(x - shift) / scale`` (float32) as they are read.

    What a standardised out-of-core task set holds: the statistics are taken in one
    streaming pass (:func:`tasklens.data.standardize.streamed_mean_std`) and applied to
    each block read, so the scaled rows never exist as a whole. The arithmetic is that of
    the in-memory path (float32 rows minus float64 statistics, cast to float32), so a row
    equals the in-memory scaled row up to the rounding of the statistics.

    Parameters
    ----------
    base : RowStore
        The raw rows.
    shift, scale : ``row_shape`` float64 arrays
        Per element; ``scale`` must be nonzero (constant elements: pass 1).
    """

    def __init__(self, base: RowStore, shift: np.ndarray, scale: np.ndarray) -> None:
        super().__init__(base.path, base.rows)
        self.base = base
        self.kind = base.kind
        self.shift = np.asarray(shift, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)

    @property
    def file_rows(self) -> int:
        return self.base.file_rows

    @property
    def row_shape(self) -> tuple[int, ...]:
        return self.base.row_shape

    def _read_file_rows(self, file_idx: np.ndarray) -> np.ndarray:
        raw = self.base._read_file_rows(file_idx)
        return ((raw - self.shift) / self.scale).astype(np.float32)

    def _view(self, rows: np.ndarray) -> RowStore:
        return AffineStore(self.base._view(rows), self.shift, self.scale)

    def __reduce__(self) -> tuple[Any, ...]:
        # the base store pickles as path + rows (see NpyStore / ParquetStore)
        return (AffineStore, (self.base, self.shift, self.scale))

    def __repr__(self) -> str:
        return f"AffineStore({self.base!r})"


def _reopen_parquet(path: Path, columns: list[str], rows: np.ndarray | None,
                    cache_groups: int) -> ParquetStore:
    return ParquetStore(path, columns, rows, cache_groups=cache_groups)


def open_npy(path: Path, name: str) -> np.ndarray:
    """``np.load(path, mmap_mode="r", allow_pickle=False)`` with clear errors."""
    if not path.is_file():
        raise FileNotFoundError(f"{name}: no such file: {path}")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:  # object arrays need pickle: refused
        raise ValueError(f"{name}: {path} holds Python objects (pickled); save a numeric "
                         f"array, e.g. np.save(path, x.astype(np.float32)) ({exc})") from exc
    except OSError as exc:
        raise ValueError(f"{name}: {path} is not a .npy file ({exc}); write it with "
                         "np.save") from exc
    if not isinstance(arr, np.ndarray):  # an .npz archive
        raise ValueError(f"{name}: {path} is an .npz archive; give one .npy file per array")
    return arr


def open_parquet(path: Path) -> Any:
    """A ``pyarrow.parquet.ParquetFile`` with clear errors."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError("reading Parquet needs pyarrow: pip install 'tasklens[parquet]'"
                          ) from exc
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        return pq.ParquetFile(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise ValueError(f"{path} is not a Parquet file ({type(exc).__name__}: {exc}); "
                         "read CSV files with TaskSet.from_csv") from exc


def check_store(store: RowStore, name: str = "inputs",
                chunk_rows: int | None = None) -> None:
    """Streaming validation of out-of-core inputs: at least one row, ``(N, features...)``,
    finite in float32 (NaN, inf and values beyond float32 are refused), block by block."""
    if store.ndim < 2:
        raise ValueError(f"{name} must have shape (N, features...), got {store.shape}; "
                         "save a single feature as x.reshape(-1, 1)")
    if len(store) == 0 or 0 in store.row_shape:
        raise ValueError(f"{name} is empty (shape {store.shape}); pass at least one sample")
    bad = 0
    for block in store.chunks(chunk_rows):
        bad += int(block.size - np.count_nonzero(np.isfinite(block)))
    if bad:
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s) (or values beyond "
                         "float32, |x| > 3.4e38); drop or impute them first")


def row_bytes(inputs: np.ndarray | RowStore) -> Iterator[memoryview]:
    """The raw bytes of numeric ``inputs`` in row order: one piece for an in-memory array,
    one per block for a store (never loaded whole). Feeding them to a hash gives the same
    digest wherever the same rows live."""
    if not isinstance(inputs, RowStore):
        yield memoryview(np.ascontiguousarray(inputs).reshape(-1).view(np.uint8))
        return
    for block in inputs.chunks():
        yield memoryview(np.ascontiguousarray(block).reshape(-1).view(np.uint8))


def hash_rows(h: Any, label: str, inputs: np.ndarray | RowStore) -> None:
    """Feed ``label:dtype:shape;`` and the raw bytes of ``inputs`` to the hash ``h``.

    A store is hashed block by block, as float32; the digest equals that of the same rows
    in memory (``np.ascontiguousarray(x)``), so a checkpoint's data fingerprint does not
    depend on where the inputs live, and hashing never loads a whole file.
    """
    data = inputs if isinstance(inputs, RowStore) else np.ascontiguousarray(inputs)
    h.update(f"{label}:{data.dtype.str}:{data.shape};".encode())
    if data.dtype.hasobject:  # e.g. string labels: no raw bytes to hash
        h.update(repr(data.tolist()).encode())
        return
    for piece in row_bytes(data):
        h.update(piece)


def take_rows(inputs: np.ndarray | RowStore, idx: np.ndarray) -> np.ndarray | RowStore:
    """Rows ``idx`` of in-memory inputs (a copy) or of a store (a view)."""
    return inputs.take(idx) if isinstance(inputs, RowStore) else inputs[idx]
