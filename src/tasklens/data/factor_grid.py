"""The full grid of generative factors of a procedural data set (dSprites, Shapes3D, ...).

A :class:`FactorGrid` is the Cartesian product of each factor's levels, enumerated in one flat
order with the **last factor varying fastest** (the order of the original dSprites, 3dshapes and
MPI3D archives). A *code* is a level's position in its factor's ``levels``; a *value* is the
level itself (e.g. a scale of 0.7). Each procedural data set exposes its grid as ``GRID``
(``tasklens.data.dsprites.GRID``, ``shapes3d_procedural.GRID``, ``mpi3d_procedural.GRID``,
``shaded_shapes.GRID``), so index ↔ codes ↔ values conversions are written once, here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._common.validation import check_positive_int


@dataclass(frozen=True, eq=False)
class FactorGrid:
    """A grid of generative factors: every combination of the factors' levels.

    Attributes
    ----------
    names : tuple of str, length F
        Factor names, in grid order (the last one varies fastest).
    levels : tuple of F 1-D float64 arrays
        The values each factor takes, in code order (as :attr:`Factors.levels`).
    render : callable, optional
        ``(B, F) values → (B, ...) images``; enables :meth:`images`. Equality compares names
        and levels only.

    Examples
    --------
    >>> grid = FactorGrid(("a", "b"), ([0.0, 1.0], [10.0, 20.0, 30.0]))
    >>> grid.shape, grid.size
    ((2, 3), 6)
    >>> int(grid.index([1, 2])), grid.codes([5]).tolist(), grid.codes_to_values([1, 2]).tolist()
    (5, [[1, 2]], [[1.0, 30.0]])
    """

    names: tuple[str, ...]
    levels: tuple[np.ndarray, ...]
    render: Callable[[np.ndarray], np.ndarray] | None = field(
        default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.names)
        levels = tuple(np.asarray(lv, dtype=np.float64) for lv in self.levels)
        if len(names) != len(levels) or not names:
            raise ValueError(f"a FactorGrid needs one levels array per name, got {len(names)} "
                             f"names and {len(levels)} levels")
        for name, lv in zip(names, levels):
            if lv.ndim != 1 or lv.size == 0:
                raise ValueError(f"factor {name!r}: levels must be a non-empty 1-D array")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "levels", levels)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FactorGrid):
            return NotImplemented
        return self.names == other.names and self.shape == other.shape and all(
            np.array_equal(a, b) for a, b in zip(self.levels, other.levels))

    def __hash__(self) -> int:
        return hash((self.names, self.shape))

    @property
    def shape(self) -> tuple[int, ...]:
        """Number of levels of each factor, ``(L_1, ..., L_F)``."""
        return tuple(len(lv) for lv in self.levels)

    @property
    def size(self) -> int:
        """Number of grid points, ``prod(shape)``."""
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        return self.size

    def index(self, codes: Any) -> np.ndarray:
        """Flat index (last factor fastest) of each row of level codes.

        Parameters
        ----------
        codes : (N, F) or (F,) int array-like
            Level index per factor, in ``names`` order.

        Returns
        -------
        index : (N,) int64 array (an int64 scalar for a single (F,) row), in ``0 .. size-1``
        """
        arr = np.asarray(codes)
        if arr.dtype.kind not in "iu":
            if arr.dtype.kind != "f" or not np.all(arr == np.round(arr)):
                raise TypeError(f"factor_codes must be integer level indices, got dtype "
                                f"{arr.dtype}")
        single = arr.ndim == 1
        codes2 = np.atleast_2d(arr).astype(np.int64)
        f = len(self.names)
        if codes2.ndim != 2 or codes2.shape[1] != f or codes2.shape[0] == 0:
            raise ValueError(f"factor_codes must have shape (N, {f}) or ({f},), got {arr.shape}")
        for j, (fname, size) in enumerate(zip(self.names, self.shape)):
            col = codes2[:, j]
            bad = (col < 0) | (col >= size)
            if bad.any():
                raise ValueError(f"factor_codes column {j} ({fname}) must lie in 0..{size - 1}; "
                                 f"got {np.unique(col[bad])[:5].tolist()}")
        index = np.ravel_multi_index(tuple(codes2.T), self.shape).astype(np.int64)
        return index[0] if single else index

    def codes(self, index: Any) -> np.ndarray:
        """Inverse of :meth:`index`: ``(N,)`` flat indices to ``(N, F)`` int64 level codes."""
        idx = np.asarray(index)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"index must be integers, got dtype {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.size):
            raise ValueError(f"index must lie in 0..{self.size - 1}")
        return np.stack(np.unravel_index(idx, self.shape), axis=-1).astype(np.int64)

    def codes_to_values(self, codes: Any) -> np.ndarray:
        """``(N, F)`` (or ``(F,)``) level codes to ``(N, F)`` float64 factor values."""
        codes2 = np.atleast_2d(np.asarray(codes))
        self.index(codes2)  # validates dtype, shape and ranges with a clear message
        codes2 = codes2.astype(np.int64)
        return np.stack([lv[codes2[:, j]] for j, lv in enumerate(self.levels)], axis=1)

    def values(self, index: Any = None) -> np.ndarray:
        """Factor values of the grid points ``index`` (default: the whole grid), ``(N, F)``."""
        idx = np.arange(self.size) if index is None else index
        return self.codes_to_values(self.codes(idx))

    def batches(self, batch_size: int = 4096, *, start: int = 0,
                stop: int | None = None) -> Iterator[np.ndarray]:
        """Iterate over the factor values of flat indices ``start .. stop-1`` in grid order.

        Yields
        ------
        values : (B, F) float64 array, rows ``start + k·batch_size ...`` of the grid
        """
        batch_size = check_positive_int(batch_size, "batch_size")
        stop = self.size if stop is None else stop
        if not (0 <= start <= stop <= self.size):
            raise ValueError(f"need 0 <= start <= stop <= {self.size}, got start={start}, "
                             f"stop={stop}")
        for lo in range(start, stop, batch_size):
            yield self.values(np.arange(lo, min(lo + batch_size, stop)))

    def images(self, batch_size: int = 4096, *, start: int = 0,
               stop: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Like :meth:`batches`, rendering each batch: yields ``(images, values)``."""
        if self.render is None:
            raise ValueError("this FactorGrid has no render function; pass render= to "
                             "FactorGrid or use batches() for the factor values only")
        for values in self.batches(batch_size, start=start, stop=stop):
            yield self.render(values), values

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"names", "levels", "shape", "size"}``."""
        return {"names": list(self.names), "levels": [lv.tolist() for lv in self.levels],
                "shape": list(self.shape), "size": self.size}

