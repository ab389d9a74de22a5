"""Comparing representations: linear CKA, RSM/RDM and RSA, and retrieved components.

One implementation, shared with :mod:`tasklens.affinity` (representation-similarity task
affinity).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._common.validation import check_array


def _centered(x: Any, name: str, n_rows: int | None = None, other: str = "x") -> np.ndarray:
    """Column-centred ``x`` divided by its largest entry (exact scale: CKA ignores it).

    Dividing first keeps every later product finite for features of any magnitude (squares of
    1e200 overflow float64). "Constant" means no variation above round-off: a centred norm
    below ``√(N·D) · 4ε`` of the rescaled array.
    """
    arr = check_array(x, name, ndim=2)
    if n_rows is not None and arr.shape[0] != n_rows:
        raise ValueError(
            f"{name} has {arr.shape[0]} rows but {other} has {n_rows}; both must represent the "
            "same samples in the same order"
        )
    if arr.shape[0] < 2:
        raise ValueError(f"{name} has {arr.shape[0]} sample(s); pass at least 2")
    arr = np.asarray(arr, dtype=np.float64)
    scale = float(np.max(np.abs(arr))) if arr.size else 0.0
    if scale > 0.0:
        arr = arr / scale
    centered = arr - arr.mean(axis=0)
    if scale == 0.0 or np.linalg.norm(centered) <= np.sqrt(arr.size) * 4 * np.finfo(float).eps:
        raise ValueError(
            f"{name} is constant over samples (up to round-off); its similarity is undefined "
            "(0/0) — drop constant representations or add variation"
        )
    return centered


def linear_cka(x: Any, y: Any) -> float:
    """Linear centered kernel alignment (Kornblith et al., 2019) of two representations.

    ``CKA = ||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F)`` with column-centered
    ``X_c, Y_c`` — the feature-space form of ``HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))``
    with linear kernels ``K = X X^T``, ``L = Y Y^T``. Invariant to orthogonal transforms and
    isotropic scaling of either representation; 1 for identical ones.

    Parameters
    ----------
    x : (N, D1) array-like
    y : (N, D2) array-like
        The same N samples, in the same order.

    Returns
    -------
    float in [0, 1]
    """
    xc = _centered(x, "x")
    yc = _centered(y, "y", xc.shape[0], "x")
    # scale each by its Frobenius norm first: CKA is scale-invariant and this avoids overflow
    xc = xc / np.linalg.norm(xc)
    yc = yc / np.linalg.norm(yc)
    cross = np.linalg.norm(yc.T @ xc) ** 2
    return float(cross / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)))


def rsm(x: Any) -> np.ndarray:
    """Representational similarity matrix: Pearson correlation between samples' representations.

    Parameters
    ----------
    x : (N, D) array-like
        Representations of a batch of N samples; D >= 2.

    Returns
    -------
    (N, N) array, ``rsm[i, j] = corr(x_i, x_j)`` over the D features.
    """
    arr = check_array(x, "x", ndim=2)
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise ValueError(f"x must have at least 2 samples and 2 features, got shape {arr.shape}")
    flat = np.ptp(arr, axis=1) == 0
    if flat.any():
        raise ValueError(
            f"x rows {np.flatnonzero(flat)[:5].tolist()} are constant across features; their "
            "correlation is undefined — drop those samples"
        )
    # each row divided by its largest entry first (correlation ignores it): no overflow of
    # the squared norms for representations of any magnitude
    arr = arr / np.max(np.abs(arr), axis=1, keepdims=True)
    centered = arr - arr.mean(axis=1, keepdims=True)
    unit = centered / np.linalg.norm(centered, axis=1, keepdims=True)
    return np.clip(unit @ unit.T, -1.0, 1.0)


def rdm(x: Any) -> np.ndarray:
    """Representational dissimilarity matrix ``1 - rsm(x)``, (N, N)."""
    return 1.0 - rsm(x)


def rsa(x: Any, y: Any) -> float:
    """Representational similarity analysis: Spearman correlation of two RDMs.

    Compares the strict upper triangles of ``rdm(x)`` and ``rdm(y)`` (the N (N - 1) / 2
    distinct sample pairs).

    Parameters
    ----------
    x : (N, D1) array-like
    y : (N, D2) array-like
        The same N >= 3 samples in the same order.

    Returns
    -------
    float in [-1, 1]
    """
    from scipy.stats import spearmanr

    dx, dy = rdm(x), rdm(y)
    if dx.shape != dy.shape:
        raise ValueError(f"x has {dx.shape[0]} samples but y has {dy.shape[0]}; they must match")
    if dx.shape[0] < 3:
        raise ValueError("rsa needs at least 3 samples (2 distinct pairs)")
    iu = np.triu_indices(dx.shape[0], k=1)
    a, b = dx[iu], dy[iu]
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        raise ValueError("an RDM is constant over pairs (all samples equally similar); "
                         "rsa is undefined")
    return float(spearmanr(a, b)[0])


@dataclass(frozen=True)
class RetrievedComponents:
    """Components of a representation matched to ground-truth factors (Maziarka et al. 2022, App.
    I).

    Attributes
    ----------
    num_retrieved : int
        Number of distinct factors matched by at least one component.
    matches : (D,) int array
        Factor matched by each component, -1 when none is significant.
    correlations : (D, F) array
        Spearman correlation of each component with each factor (0 for constant components).
    pvalues : (D, F) array
    matched_abs_corr : (K,) array
        ``|correlation|`` of the K matched components with their factor.
    """

    num_retrieved: int
    matches: np.ndarray
    correlations: np.ndarray
    pvalues: np.ndarray
    matched_abs_corr: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """Counts and the mean/std/min/max ``|correlation|`` of matched components (Table 7)."""
        m = self.matched_abs_corr
        stats = ({"mean_corr": float(m.mean()), "std_corr": float(m.std()),
                  "min_corr": float(m.min()), "max_corr": float(m.max())} if m.size else
                 {"mean_corr": float("nan"), "std_corr": float("nan"),
                  "min_corr": float("nan"), "max_corr": float("nan")})
        return {"num_retrieved": self.num_retrieved, "matches": self.matches.tolist(), **stats}


def retrieved_components(codes: Any, factors: Any, alpha: float = 0.05) -> RetrievedComponents:
    """Number of factors retrieved by a representation (Maziarka et al. 2022, App. I).

    For each component, compute its Spearman correlation with every factor and match it to
    the factor with the largest correlation, if that correlation is significant
    (``p < alpha``); count the distinct matched factors.

    Decisions where App. I is silent: "largest" is by absolute value (a negated factor is as
    well retrieved), significance is the uncorrected two-sided test of ``scipy.stats.spearmanr``
    per pair, and constant components match nothing.

    Parameters
    ----------
    codes : (N, D) array-like
    factors : (N, F) array-like
        Factor values or codes (only their order matters).
    alpha : float in (0, 1)
        Significance level.

    Returns
    -------
    RetrievedComponents
    """
    from scipy.stats import spearmanr

    c = check_array(codes, "codes", ndim=2)
    f = check_array(factors, "factors", ndim=2)
    if c.shape[0] != f.shape[0]:
        raise ValueError(f"codes has {c.shape[0]} rows but factors has {f.shape[0]}")
    if c.shape[0] < 3:
        raise ValueError("retrieved_components needs at least 3 samples")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if np.any(np.ptp(f, axis=0) == 0):
        raise ValueError("factors has a constant column; its correlation is undefined — drop it")
    n_codes, n_factors = c.shape[1], f.shape[1]
    corr = np.zeros((n_codes, n_factors))
    pval = np.ones((n_codes, n_factors))
    live = np.ptp(c, axis=0) > 0
    if not live.all():
        warnings.warn(f"codes columns {np.flatnonzero(~live).tolist()} are constant; they "
                      "match no factor", RuntimeWarning, stacklevel=2)
    for d in np.flatnonzero(live):
        for j in range(n_factors):
            res = spearmanr(c[:, d], f[:, j])
            corr[d, j], pval[d, j] = res[0], res[1]
    best = np.argmax(np.abs(corr), axis=1)
    rows = np.arange(n_codes)
    significant = live & (pval[rows, best] < alpha)
    matches = np.where(significant, best, -1)
    return RetrievedComponents(
        num_retrieved=int(np.unique(matches[significant]).size),
        matches=matches,
        correlations=corr,
        pvalues=pval,
        matched_abs_corr=np.abs(corr[rows, best])[significant],
    )
