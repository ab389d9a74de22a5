"""Independent test references for the linear task families (Anon. 2025 (ICLR'26 sub.), Sec. 2.2).

Written without the library: plain NumPy SVDs, used only by tests/data/test_linear_families.py.
"""

from __future__ import annotations

import numpy as np


def right_singular_basis(sigma: np.ndarray, rtol: float = 1e-10) -> np.ndarray:
    """(N_i, r) right singular vectors of ``sigma`` whose singular values exceed rtol * s_max."""
    _, s, vt = np.linalg.svd(np.asarray(sigma, dtype=np.float64), full_matrices=False)
    keep = s > rtol * max(s[0], 1e-300)
    return vt[keep].T


def overlap_singular_values(sigma_a: np.ndarray, sigma_b: np.ndarray,
                            rtol: float = 1e-10) -> np.ndarray:
    """Singular values of ``O_ab = V_aᵀ V_b`` (eq. 8), descending, min(r_a, r_b) of them."""
    va, vb = right_singular_basis(sigma_a, rtol), right_singular_basis(sigma_b, rtol)
    return np.linalg.svd(va.T @ vb, compute_uv=False)


def principal_cosines(sigma_a: np.ndarray, sigma_b: np.ndarray) -> np.ndarray:
    """A second algorithm for the same numbers: cosines of the principal angles between the
    row spaces, via orthogonal projectors (eigenvalues of P_a P_b P_a are the squared cosines)."""
    pa = np.linalg.pinv(sigma_a) @ sigma_a
    pb = np.linalg.pinv(sigma_b) @ sigma_b
    ev = np.linalg.eigvalsh(pa @ pb @ pa)
    r = min(np.linalg.matrix_rank(sigma_a), np.linalg.matrix_rank(sigma_b))
    return np.sqrt(np.clip(np.sort(ev)[::-1][:r], 0.0, None))


def shared_spectrum(sigmas: list[np.ndarray]) -> np.ndarray:
    """Singular values of the stacked ξ = (Σ_1oᵀ Σ_2oᵀ ...)ᵀ (eq. 9), descending."""
    return np.linalg.svd(np.vstack(sigmas), compute_uv=False)


def row_magnitude_ratios(sigma_a: np.ndarray, sigma_b: np.ndarray) -> np.ndarray:
    """ΔM_ab^(i,j) = ||Σ_a^i|| / ||Σ_b^j|| for every pair of output rows (eq. 11), (N_ao, N_bo)."""
    na = np.linalg.norm(sigma_a, axis=1)
    nb = np.linalg.norm(sigma_b, axis=1)
    return na[:, None] / nb[None, :]
