"""Histogram discretization of codes and discrete mutual information.

These are the building blocks of MIG, Modularity and IRS. They follow google-research
``disentanglement_lib`` (``evaluation/metrics/utils.py``): each code column is cut into
``num_bins`` equal-width bins spanning its observed range, and mutual information is the
plug-in estimate from the joint histogram, in nats.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._common.validation import check_array, check_positive_int


def histogram_discretize(values: Any, num_bins: int = 20, name: str = "codes") -> np.ndarray:
    """Cut each column into ``num_bins`` equal-width bins over its observed range.

    A value ``v`` of a column with range ``[lo, hi]`` gets bin
    ``1 + floor((v - lo) / width)`` (``width = (hi - lo) / num_bins``), with ``hi`` itself in
    the last bin — exactly ``np.digitize`` against the left edges of ``np.histogram``, as in
    the reference. A constant column falls into one bin.

    Parameters
    ----------
    values : (N, D) array-like
    num_bins : int
        Number of equal-width bins (reference default 20).
    name : str
        Argument name for error messages.

    Returns
    -------
    (N, D) int64 array of bin indices in ``1..num_bins``.
    """
    arr = check_array(values, name, ndim=2)
    num_bins = check_positive_int(num_bins, "num_bins", minimum=2)
    out = np.empty(arr.shape, dtype=np.int64)
    for j in range(arr.shape[1]):
        left_edges = np.histogram_bin_edges(arr[:, j], bins=num_bins)[:-1]
        out[:, j] = np.digitize(arr[:, j], left_edges)
    return out


def _labels(column: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense labels 0..K-1 of a 1-D array and K."""
    uniq, inverse = np.unique(column, return_inverse=True)
    return inverse.ravel(), uniq.size


def discrete_mutual_info(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Plug-in mutual information (nats) between every column of ``a`` and of ``b``.

    ``I(a_i; b_j) = sum_{x,y} p(x,y) log(p(x,y) / (p(x) p(y)))`` with probabilities from the
    joint counts — the same estimate as ``sklearn.metrics.mutual_info_score``.

    Parameters
    ----------
    a : (N, D) int array
        Discrete values (e.g. binned codes).
    b : (N, F) int array
        Discrete values (e.g. factor codes).

    Returns
    -------
    (D, F) array of mutual informations, all >= 0.
    """
    n = a.shape[0]
    a_lab = [_labels(a[:, i]) for i in range(a.shape[1])]
    b_lab = [_labels(b[:, j]) for j in range(b.shape[1])]
    out = np.zeros((a.shape[1], b.shape[1]))
    for i, (la, ka) in enumerate(a_lab):
        pa = np.bincount(la, minlength=ka) / n
        for j, (lb, kb) in enumerate(b_lab):
            pb = np.bincount(lb, minlength=kb) / n
            joint = np.bincount(la * kb + lb, minlength=ka * kb).reshape(ka, kb) / n
            nz = joint > 0
            ratio = joint[nz] / np.outer(pa, pb)[nz]
            # clip: round-off can make an exactly-independent pair slightly negative
            out[i, j] = max(float(np.sum(joint[nz] * np.log(ratio))), 0.0)
    return out


def discrete_entropy(b: np.ndarray) -> np.ndarray:
    """Plug-in entropy (nats) of each column of ``b``: ``H(b_j) = I(b_j; b_j)``.

    Parameters
    ----------
    b : (N, F) int array

    Returns
    -------
    (F,) array
    """
    n = b.shape[0]
    out = np.zeros(b.shape[1])
    for j in range(b.shape[1]):
        lab, k = _labels(b[:, j])
        p = np.bincount(lab, minlength=k) / n
        p = p[p > 0]
        out[j] = float(-np.sum(p * np.log(p)))
    return out
