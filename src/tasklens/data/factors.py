"""Ground-truth generative factors of a task set: values on a declared grid of levels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._common.validation import check_array


@dataclass(frozen=True)
class Factors:
    """Ground-truth generative factors of each sample.

    Attributes
    ----------
    values : (N, F) array
        Factor value of each sample (the actual value, e.g. a scale of 0.7).
    names : tuple of str, length F
    levels : tuple of F arrays
        The discrete values each factor takes (the grid), in order.
    """

    values: np.ndarray
    names: tuple[str, ...]
    levels: tuple[np.ndarray, ...]

    def codes(self) -> np.ndarray:
        """(N, F) int64 index of each sample's value in its factor's ``levels``.

        Raises
        ------
        ValueError
            When a value is not one of its factor's levels (up to float round-off).
        """
        out = np.empty(self.values.shape, dtype=np.int64)
        for j, lv in enumerate(self.levels):
            out[:, j] = _level_codes(self.values[:, j], np.asarray(lv), self.names[j])
        return out

    def take(self, indices: np.ndarray) -> Factors:
        return Factors(self.values[indices], self.names, self.levels)


def make_factors(factors: Any, names: Sequence[str] | None, levels: Sequence[Any] | None,
                  n: int) -> Factors | None:
    if factors is None:
        if names is not None or levels is not None:
            raise ValueError("factor_names/factor_levels given without factors")
        return None
    values = check_array(factors, "factors", ndim=2)
    if len(values) != n:
        raise ValueError(f"factors has {len(values)} rows but inputs have {n}")
    n_f = values.shape[1]
    names_t = tuple(names) if names is not None else tuple(f"factor{j}" for j in range(n_f))
    if len(names_t) != n_f:
        raise ValueError(f"factor_names has {len(names_t)} names for {n_f} factor columns")
    if levels is None:
        levels_t = tuple(np.unique(values[:, j]) for j in range(n_f))
    else:
        levels_t = tuple(np.asarray(lv, dtype=np.float64) for lv in levels)
        if len(levels_t) != n_f:
            raise ValueError(f"factor_levels has {len(levels_t)} entries for {n_f} factors")
        for j, lv in enumerate(levels_t):
            _level_codes(values[:, j], lv, names_t[j])  # every value must be a level
    return Factors(values, names_t, levels_t)


# Stored factor values may carry float32 round-off (about 6e-8 relative); a value further
# than this from every level is not a level, and snapping it to the nearest would hide it.
_LEVEL_RTOL, _LEVEL_ATOL = 1e-5, 1e-8


def _level_codes(values: np.ndarray, levels: np.ndarray, name: str) -> np.ndarray:
    """Index of each value's level; a ValueError for values that are no level."""
    if levels.ndim != 1 or levels.size == 0:
        raise ValueError(f"factor {name!r}: levels must be a non-empty 1-D list of values")
    codes = np.abs(values[:, None] - levels[None, :]).argmin(axis=1)
    off = ~np.isclose(values, levels[codes], rtol=_LEVEL_RTOL, atol=_LEVEL_ATOL)
    if off.any():
        bad = np.unique(values[off])[:5].tolist()
        raise ValueError(
            f"factor {name!r} has {int(off.sum())} value(s) {bad} that are not among its "
            f"levels {levels[:10].tolist()}; fix the values or list every level in "
            "factor_levels"
        )
    return codes
