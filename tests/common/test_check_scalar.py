"""check_scalar: NumPy scalars accepted, bools and strings refused, bounds open or closed."""

import math
import numbers

import numpy as np
import pytest

from tasklens._common.validation import check_scalar


@pytest.mark.parametrize("value", [0.5, np.float32(0.5), np.float64(0.5), 1, np.int64(1)])
def test_numpy_and_python_reals_are_accepted(value):
    out = check_scalar(value, "lr", numbers.Real, low=0.0)
    assert type(out) is float
    assert out == pytest.approx(float(value))


@pytest.mark.parametrize("value", [3, np.int32(3), np.int64(3)])
def test_integers_returned_as_int(value):
    out = check_scalar(value, "n", numbers.Integral, low=1)
    assert type(out) is int and out == 3


@pytest.mark.parametrize("value", [True, np.bool_(True), "0.1", None, [0.1]])
def test_non_numbers_refused_with_the_name(value):
    with pytest.raises(TypeError, match="lr must be a real number"):
        check_scalar(value, "lr", numbers.Real)


def test_float_refused_for_integral():
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        check_scalar(2.0, "batch_size", numbers.Integral)


def test_nan_refused():
    with pytest.raises(ValueError, match="NaN"):
        check_scalar(math.nan, "lr", numbers.Real)


def test_bounds_closed_and_open():
    assert check_scalar(0.0, "x", low=0.0) == 0.0
    with pytest.raises(ValueError, match=r"x must be > 0\.0"):
        check_scalar(0.0, "x", low=0.0, include_low=False)
    with pytest.raises(ValueError, match="x must be <= 1"):
        check_scalar(1.5, "x", high=1)
    with pytest.raises(ValueError, match="x must be < 1"):
        check_scalar(1.0, "x", high=1, include_high=False)


def test_none_when_allowed():
    assert check_scalar(None, "x", allow_none=True) is None
