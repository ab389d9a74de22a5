"""Task-overlap singular values of a two-task classification data set, written for tests only.

Anon. 2025 (ICLR'26 sub.), eqs. 7–8: ``Σ_i = (1/N) Y_iᵀ X`` with whitened inputs and one-hot
targets, ``Σ_i = U_i S_i V_iᵀ``, and the overlap ``O_12 = V_1ᵀ V_2`` over the nonzero modes.
Independent of ``tasklens.linear`` and of ``tasklens.data.digits.zca_whiten``: inputs are
whitened here by PCA through a thin SVD of the data matrix (the overlap singular values do not
depend on the whitening basis).
"""

from __future__ import annotations

import numpy as np


def pca_whiten(x: np.ndarray, rtol: float = 1e-4) -> np.ndarray:
    """Uncentered PCA whitening to the numerical rank: ``sqrt(N) · U_r`` of ``X = U S Wᵀ``.

    ``rtol`` is relative to the largest singular value of ``X`` (so ``1e-4`` here matches an
    eigenvalue cut-off of ``1e-8``).
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    u, s, _ = np.linalg.svd(x / np.sqrt(n), full_matrices=False)
    keep = s > rtol * s[0]
    return u[:, keep] * np.sqrt(n)


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((len(labels), n_classes))
    for row, label in enumerate(labels):
        out[row, int(label)] = 1.0
    return out


def right_singular_vectors(sigma: np.ndarray, rtol: float = 1e-9) -> np.ndarray:
    """(D, r) right singular vectors of the modes with nonzero singular value."""
    _, s, vt = np.linalg.svd(sigma, full_matrices=False)
    return vt[s > rtol * s[0]].T


def overlap_singular_values(
    x: np.ndarray, labels_1: np.ndarray, labels_2: np.ndarray, *, n_classes: int = 10,
    whiten: bool = True,
) -> np.ndarray:
    """Singular values (descending) of ``V_1ᵀ V_2`` for two classification tasks on ``x``.

    Parameters
    ----------
    x : (N, D) array
    labels_1, labels_2 : (N,) int arrays
    whiten : bool
        PCA-whiten ``x`` first (set False when ``x`` is already whitened).
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    xw = pca_whiten(x) if whiten else x
    n = len(xw)
    v1 = right_singular_vectors(one_hot(labels_1, n_classes).T @ xw / n)
    v2 = right_singular_vectors(one_hot(labels_2, n_classes).T @ xw / n)
    return np.linalg.svd(v1.T @ v2, compute_uv=False)
