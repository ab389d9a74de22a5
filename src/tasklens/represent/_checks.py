"""Input checks shared by the representation metrics (one place, used at each public boundary)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._common.validation import check_array


def check_codes(codes: Any, name: str = "codes", *, min_dims: int = 1) -> np.ndarray:
    """Validate a representation matrix.

    Parameters
    ----------
    codes : (N, D) array-like
        One row per sample, one column per code (latent) dimension.
    name : str
        Argument name for error messages.
    min_dims : int
        Smallest accepted number of code columns.

    Returns
    -------
    (N, D) float64 array

    Raises
    ------
    ValueError
        When the array is not 2-D, is empty, holds NaN/inf, has fewer than ``min_dims``
        columns, or when every column is constant (nothing can be measured). A few constant
        columns only warn: a collapsed latent is common and scores 0 in every metric.
    """
    arr = check_array(codes, name, ndim=2)
    if arr.shape[1] < min_dims:
        raise ValueError(
            f"{name} has {arr.shape[1]} column(s); this metric needs at least {min_dims} code "
            "dimensions"
        )
    constant = np.ptp(arr, axis=0) == 0
    if constant.all():
        raise ValueError(
            f"{name} is constant (every one of its {arr.shape[1]} columns has a single value); "
            "pass the representation of varied inputs"
        )
    if constant.any():
        warnings.warn(
            f"{name} columns {np.flatnonzero(constant).tolist()} are constant; they carry no "
            "information and score 0",
            RuntimeWarning,
            stacklevel=3,
        )
    return arr


def check_factors(
    factors: Any, name: str = "factors", *, n_samples: int | None = None,
    codes_name: str = "codes", integer: bool = True, min_levels: int = 2,
) -> np.ndarray:
    """Validate ground-truth factors.

    Parameters
    ----------
    factors : (N, F) array-like
        Integer codes of each factor (``integer=True``) or real values.
    name : str
        Argument name for error messages.
    n_samples : int, optional
        Required number of rows (the length of the matching codes).
    codes_name : str
        Name of the matching codes argument, for the length-mismatch message.
    integer : bool
        Require integer values; returned as int64.
    min_levels : int
        Each column must take at least this many distinct values.

    Returns
    -------
    (N, F) int64 array (float64 when ``integer=False``)
    """
    arr = check_array(factors, name, ndim=2)
    if n_samples is not None and arr.shape[0] != n_samples:
        raise ValueError(
            f"{name} has {arr.shape[0]} rows but {codes_name} has {n_samples}; pass one row of "
            "factors per coded sample"
        )
    if integer:
        if not np.all(arr == np.round(arr)):
            raise ValueError(
                f"{name} must be integer-coded (level indices); got non-integer values — "
                "map each factor's values to 0..L-1 first (e.g. Factors.codes())"
            )
        arr = arr.astype(np.int64)
    for j in range(arr.shape[1]):
        n_levels = np.unique(arr[:, j]).size
        if n_levels < min_levels:
            raise ValueError(
                f"{name} column {j} takes {n_levels} distinct value(s); each factor must vary "
                f"(at least {min_levels} levels) — its entropy is 0, so normalized scores are "
                "0/0. Drop the column or sample more varied data"
            )
    return arr


def check_codes_factors(
    codes: Any, factors: Any, codes_name: str = "codes", factors_name: str = "factors",
    *, min_dims: int = 1, integer: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (codes, factors) pair of matching length; see :func:`check_codes`."""
    c = check_codes(codes, codes_name, min_dims=min_dims)
    f = check_factors(factors, factors_name, n_samples=c.shape[0], codes_name=codes_name,
                      integer=integer)
    return c, f


def check_same_columns(a: np.ndarray, b: np.ndarray, a_name: str, b_name: str) -> None:
    """Train and test matrices must have the same number of columns."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{a_name} has {a.shape[1]} columns but {b_name} has {b.shape[1]}; train and test "
            "must describe the same code dimensions / factors"
        )
