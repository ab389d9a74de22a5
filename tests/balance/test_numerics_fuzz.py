"""Property fuzz of the public entry ``aggregate`` for every registered gradient method.

Over float32/float64 Jacobians with entries from 1e-30 to 1e30 (rows of different scales,
zero rows, duplicated, exactly and nearly opposite rows), every method must return a finite
(P,) direction of the Jacobian's dtype — or raise a ValueError that names the method (never
a NaN, a NumPy ``LinAlgError``, an overflow warning turned error, or a deep traceback). The
Gramian-only methods are fuzzed the same way on PSD, possibly singular, Gramians.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tasklens import balance

GRADIENT_METHODS = [n for n in balance.available() if balance.get(n).needs_gradients]
DTYPES = {"float32": torch.float32, "float64": torch.float64}


@st.composite
def jacobians(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor]:
    k = draw(st.integers(2, 4))
    p = draw(st.integers(1, 10))
    dtype = DTYPES[draw(st.sampled_from(sorted(DTYPES)))]
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    exponent = draw(st.floats(-30.0, 30.0))
    spread = draw(st.floats(0.0, 6.0))  # rows differ in scale by up to 1e6
    row_exp = exponent + spread * (rng.random(k) - 0.5)
    jac = rng.standard_normal((k, p)) * 10.0 ** row_exp[:, None]
    structure = draw(st.sampled_from(["generic", "zero_row", "duplicate", "opposite",
                                      "near_opposite"]))
    if structure == "zero_row":
        jac[-1] = 0.0
    elif structure == "duplicate":
        jac[-1] = jac[0]
    elif structure == "opposite":
        jac[-1] = -jac[0]
    elif structure == "near_opposite":  # cos ≈ −1 + 1e-14: Nash / FairGrad weights run away
        jac[-1] = -jac[0] + 1e-7 * np.abs(jac[0]).max() * rng.standard_normal(p)
    losses = rng.uniform(0.1, 10.0, size=k)
    return torch.as_tensor(jac, dtype=dtype), torch.as_tensor(losses, dtype=dtype)


@pytest.mark.parametrize("name", GRADIENT_METHODS)
@settings(max_examples=12, deadline=None)
@given(case=jacobians())
def test_aggregate_is_finite_or_a_clear_error(name: str, case) -> None:
    jac, losses = case
    method = balance.get(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # NumPy overflow / invalid value
        try:
            direction = method.aggregate(jac, losses=losses)
        except ValueError as exc:
            assert not isinstance(exc, np.linalg.LinAlgError), repr(exc)
            assert repr(name) in str(exc), f"error does not name the method: {exc}"
            return
    assert direction.shape == (jac.shape[1],)
    assert direction.dtype == jac.dtype
    assert bool(torch.isfinite(direction).all()), direction


GRAMIAN_METHODS = [n for n in GRADIENT_METHODS
                   if balance.get(n).requires == frozenset({"gramian"})]


@st.composite
def gramians(draw: st.DrawFn) -> torch.Tensor:
    """PSD Gramians (possibly singular) of float32 / float64, scales 1e-30 .. 1e30."""
    k = draw(st.integers(2, 4))
    rank = draw(st.integers(1, k))
    dtype = DTYPES[draw(st.sampled_from(sorted(DTYPES)))]
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    factor = rng.standard_normal((k, rank))
    exponent = draw(st.floats(-30.0, 30.0))
    gram = factor @ factor.T * 10.0**exponent
    return torch.as_tensor(0.5 * (gram + gram.T), dtype=dtype)


@pytest.mark.parametrize("name", GRAMIAN_METHODS)
@settings(max_examples=12, deadline=None)
@given(gram=gramians())
def test_weights_from_a_gramian_are_finite_or_a_clear_error(name: str, gram) -> None:
    method = balance.get(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            w = method.weights(balance.BalanceContext(gramian=gram))
        except ValueError as exc:
            assert not isinstance(exc, np.linalg.LinAlgError), repr(exc)
            assert repr(name) in str(exc), f"error does not name the method: {exc}"
            return
    assert w.shape == (gram.shape[0],) and w.dtype == gram.dtype
    assert bool(torch.isfinite(w).all()), w
