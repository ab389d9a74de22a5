"""Input checks used at public boundaries. Each error names the argument and the fix."""

from __future__ import annotations

import math
import numbers
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
        with np.errstate(over="ignore"):  # values beyond the dtype become inf, refused below
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
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an int >= 0, a numpy Generator or None, got "
                        f"{type(seed).__name__} {seed!r}")
    return np.random.default_rng(check_scalar(seed, name, numbers.Integral, low=0))


def seed_info(seed: Any) -> int | None:
    """The seed as a plain int for provenance records (None for a Generator or None)."""
    if isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_)):
        return int(seed)
    return None


def check_choice(value: str, name: str, choices: Sequence[str]) -> str:
    """Check that ``value`` is one of ``choices``; the error lists them."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(repr, choices))}")
    return value


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Check an integer argument (Python or NumPy, not bool) is at least ``minimum``."""
    return check_scalar(value, name, numbers.Integral, low=minimum)


def check_indices(indices: Any, n: int, name: str = "indices") -> np.ndarray:
    """Row indices into ``n`` rows: 1-D integers in ``[-n, n)`` or a boolean mask of length n.

    Returns
    -------
    (M,) int64 array, M >= 1
        The selected rows (a mask becomes the positions of its True entries).
    """
    if isinstance(indices, (str, bytes)):
        raise TypeError(f"{name} must be integer row indices or a boolean mask, got {indices!r}")
    try:
        idx = np.asarray(indices)
    except ValueError as exc:  # ragged nested lists
        raise TypeError(f"{name} must be a 1-D list of row indices or a mask: {exc}") from exc
    if idx.ndim != 1:
        raise ValueError(f"{name} must be 1-D (row indices or a mask), got shape {idx.shape}")
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise ValueError(f"a boolean mask {name} must have shape ({n},), got {idx.shape}")
        idx = np.flatnonzero(idx)
    elif idx.size and idx.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integer row indices or a boolean mask, got dtype "
                        f"{idx.dtype}")
    if idx.size == 0:
        raise ValueError(f"{name} selects no rows; select at least one row")
    if idx.min() < -n or idx.max() >= n:
        raise ValueError(f"{name} must be in [-{n}, {n}), got values from {idx.min()} to "
                         f"{idx.max()}")
    return idx.astype(np.int64, copy=False)


def check_scalar(
    value: Any,
    name: str,
    target_type: type | tuple[type, ...] = numbers.Real,
    *,
    low: float | None = None,
    high: float | None = None,
    include_low: bool = True,
    include_high: bool = True,
    allow_none: bool = False,
    finite: bool = False,
) -> Any:
    """Validate a scalar argument and return it as a plain Python number.

    Modelled on scikit-learn's ``check_scalar``: NumPy scalars are accepted wherever Python
    numbers are (``np.float32(0.01)`` is a ``numbers.Real``), ``bool`` is never a number,
    strings are refused with the expected type, and NaN is refused for reals.

    Parameters
    ----------
    value : object
        The argument to check.
    name : str
        The argument name used in error messages.
    target_type : type or tuple of types
        Usually ``numbers.Real`` or ``numbers.Integral``.
    low, high : float, optional
        Bounds; ``None`` for unbounded.
    include_low, include_high : bool
        Whether each bound is allowed (closed) or not (open).
    allow_none : bool
        Accept ``None`` and return it unchanged.
    finite : bool
        Also refuse ``±inf``.

    Returns
    -------
    int or float
        ``int(value)`` for an integral target type, ``float(value)`` otherwise.
    """
    if value is None and allow_none:
        return None
    out = _as_number(value, name, target_type)
    if finite and not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}")
    _check_bound(out, value, name, low, include_low, below=True)
    _check_bound(out, value, name, high, include_high, below=False)
    return out


def _as_number(value: Any, name: str, target_type: type | tuple[type, ...]) -> Any:
    """``value`` as int (integral target) or float; bools, other types and NaN refused."""
    types = target_type if isinstance(target_type, tuple) else (target_type,)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, types):
        expected = " or ".join(_type_name(t) for t in types)
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__} {value!r}")
    if all(issubclass(t, numbers.Integral) for t in types):
        return int(value)
    out = float(value)
    if math.isnan(out):
        raise ValueError(f"{name} must be a number, got NaN")
    return out


def _check_bound(out: float, value: Any, name: str, bound: float | None, inclusive: bool,
                 *, below: bool) -> None:
    """Raise unless ``out`` lies on the allowed side of ``bound`` (closed when inclusive)."""
    if bound is None:
        return
    outside = out < bound if below else out > bound
    if outside or (out == bound and not inclusive):
        op = (">" if below else "<") + ("=" if inclusive else "")
        raise ValueError(f"{name} must be {op} {bound}, got {value!r}")


def check_names(value: Any, name: str, what: str = "task names") -> list[str]:
    """A list of names (str) from any iterable of them; a bare string is refused.

    A string is itself an iterable of characters, so ``tasks="depth"`` would otherwise
    mean the five tasks ``d``, ``e``, ``p``, ``t``, ``h``.
    """
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a collection of {what}, got the string {value!r}; "
                        f"write [{value!r}]")
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"{name} must be a collection of {what}, got "
                        f"{type(value).__name__}") from None
    bad = [v for v in items if not isinstance(v, str)]
    if bad:
        raise TypeError(f"{what} must be strings; {name} has {bad[:3]}")
    return items


def _type_name(t: type) -> str:
    if t is numbers.Real:
        return "a real number"
    if t is numbers.Integral:
        return "an integer"
    return f"a {t.__name__}"
