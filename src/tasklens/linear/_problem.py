"""Argument checks shared by the linear-dynamics modules (the lowest layer of
:mod:`tasklens.linear`: :mod:`.dynamics`, :mod:`.lambda_balanced` and :mod:`.simulate` import
these from here, so that none of them imports another for a check)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from tasklens._common.validation import check_array, check_scalar

__all__ = ["check_init_sizes", "check_mtl_problem"]


def check_mtl_problem(
    sigmas: Sequence[Any], W_S0: Any, heads0: Sequence[Any]
) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray]]:
    """Validate task correlations and weights of a two-layer MTL network.

    Parameters
    ----------
    sigmas : list of (N_io, N_i) arrays
        Input-output correlations ``Sigma_io`` (eq. 6), one per task; none may be all zero.
    W_S0 : (N_s, N_i) array
        Shared weights.
    heads0 : list of (N_io, N_s) arrays
        Task heads, in the order of ``sigmas``.

    Returns
    -------
    sigmas, W_S0, heads0 as float64 arrays.
    """
    if isinstance(sigmas, np.ndarray) and sigmas.ndim == 2:
        raise TypeError(
            "sigmas must be a list of (N_io, N_i) arrays, one per task; wrap it: [sigma]"
        )
    if isinstance(sigmas, (str, bytes)) or not isinstance(sigmas, Sequence | np.ndarray):
        raise TypeError("sigmas must be a list of (N_io, N_i) arrays, one per task")
    if len(sigmas) == 0:
        raise ValueError("sigmas is empty; pass one (N_io, N_i) correlation matrix per task")
    sig = [check_array(s, f"sigmas[{i}]", ndim=2) for i, s in enumerate(sigmas)]
    n_in = sig[0].shape[1]
    for i, s in enumerate(sig):
        if s.shape[1] != n_in:
            raise ValueError(
                f"sigmas[{i}] has {s.shape[1]} input columns but sigmas[0] has {n_in}; all tasks "
                "share the input, so every Sigma_io must be (N_io, N_i) with the same N_i"
            )
        if not np.any(s):
            raise ValueError(
                f"sigmas[{i}] is all zeros: task {i} carries no signal; drop it from the problem"
            )
    ws = check_array(W_S0, "W_S0", ndim=2)
    if ws.shape[1] != n_in:
        raise ValueError(f"W_S0 must be (N_s, N_i) with N_i = {n_in}, got shape {ws.shape}")
    if isinstance(heads0, np.ndarray) and heads0.ndim == 2:
        raise TypeError("heads0 must be a list of (N_io, N_s) arrays, one per task")
    if len(heads0) != len(sig):
        raise ValueError(f"heads0 has {len(heads0)} heads but sigmas has {len(sig)} tasks")
    heads = [check_array(h, f"heads0[{i}]", ndim=2) for i, h in enumerate(heads0)]
    for i, (h, s) in enumerate(zip(heads, sig)):
        if h.shape != (s.shape[0], ws.shape[0]):
            raise ValueError(
                f"heads0[{i}] must be (N_io, N_s) = ({s.shape[0]}, {ws.shape[0]}) to match "
                f"sigmas[{i}] and W_S0, got shape {h.shape}"
            )
    return sig, ws, heads


def check_init_sizes(n_inputs: int, n_hidden: int, n_outputs: int | Sequence[int],
                     scale: float) -> list[int]:
    """Validate the arguments shared by the init builders; the per-task output sizes."""
    sizes = [n_outputs] if isinstance(n_outputs, (int, np.integer)) else list(n_outputs)
    for name, v in (("n_inputs", n_inputs), ("n_hidden", n_hidden)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if not sizes or any(int(v) != v or v < 1 for v in sizes):
        raise ValueError(f"n_outputs must be positive integers, got {n_outputs!r}")
    check_scalar(scale, "scale", numbers.Real, low=0.0, include_low=False, finite=True)
    return [int(v) for v in sizes]
