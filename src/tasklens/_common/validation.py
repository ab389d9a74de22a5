"""Input checks used at public boundaries. Each error names the argument and the fix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def check_array(
    value: Any,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    dtype: Any = np.float64,
    allow_empty: bool = False,
    finite: bool = True,
) -> np.ndarray:
    """Convert ``value`` to an array and validate it.

    Parameters
    ----------
    value : array-like
    name : str
        The argument name used in error messages.
    ndim : int or sequence of int, optional
        Accepted numbers of dimensions.
    dtype : numpy dtype or None
        Target dtype; ``None`` keeps the input's.
    allow_empty : bool
        Whether an array with zero elements is accepted.
    finite : bool
        Reject NaN and infinity (numeric arrays only).
    """
    try:
        arr = np.asarray(value) if dtype is None else np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like of numbers; could not convert: {exc}") from exc
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(str(d) for d in allowed)
            raise ValueError(f"{name} must have {want} dimension(s), got shape {arr.shape}")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); pass at least one sample")
    if finite and arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(
            f"{name} contains {bad} NaN or infinite value(s); drop or impute them first"
        )
    return arr


def check_seed(seed: int | np.random.Generator | None, name: str = "seed") -> np.random.Generator:
    """Return a generator for ``seed`` (an int, a Generator, or None for fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.default_rng(seed)
    raise TypeError(f"{name} must be an int, a numpy Generator or None, got {type(seed).__name__}")


def check_choice(value: str, name: str, choices: Sequence[str]) -> str:
    """Check that ``value`` is one of ``choices``; the error lists them."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(repr, choices))}")
    return value


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Check an integer argument is at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)
