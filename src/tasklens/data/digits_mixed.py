"""``multi_digits_mixed``: five tasks of three kinds read from the same two-digit images."""

from __future__ import annotations

import numpy as np

from .digits import multi_digits
from .taskset import TaskSet


def multi_digits_mixed(n: int = 2000, seed: int = 0) -> TaskSet:
    """Five tasks of three kinds read from the same two-digit images.

    Images of :func:`tasklens.data.multi_digits` (two 8×8 scikit-learn digits side by side
    on a 12×12 canvas); tasks ``left`` and ``right`` (10-way classification of each digit),
    ``left_odd`` (binary: left digit odd), ``right_ge5`` (binary: right digit at least 5)
    and ``sum`` (regression: left + right). Some pairs share what they read
    (``left``/``left_odd``), some do not (``left``/``right``), and ``sum`` needs both. The
    default data set of ``tasklens analyze``.

    Parameters
    ----------
    n : int
        Number of images.
    seed : int

    Returns
    -------
    TaskSet
        ``inputs`` as :func:`multi_digits` gives them; tasks as above, factors of the
        images kept.
    """
    base = multi_digits(n=n, seed=seed)
    assert base.factors is not None
    names = list(base.factors.names)
    left = base.factors.values[:, names.index("left_class")].astype(np.int64)
    right = base.factors.values[:, names.index("right_class")].astype(np.int64)
    targets = {"left": left, "right": right, "left_odd": (left % 2).astype(np.float32),
               "right_ge5": (right >= 5).astype(np.float32),
               "sum": (left + right).astype(np.float32)}
    kinds = {"left": "classification", "right": "classification", "left_odd": "binary",
             "right_ge5": "binary", "sum": "regression"}
    return TaskSet.from_arrays(
        base.inputs, targets, kinds, name="multi_digits_mixed",
        classes={"left": np.arange(10), "right": np.arange(10)},
        info={"generator": "tasklens.data.multi_digits_mixed", "n": n, "seed": seed,
              "images": "tasklens.data.multi_digits (12x12, two sklearn digits)"})
