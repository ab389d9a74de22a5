"""Information-based disentanglement metrics: MIG, Modularity/Explicitness, IRS.

Definitions follow google-research ``disentanglement_lib`` (``evaluation/metrics/mig.py``,
``modularity_explicitness.py``, ``irs.py``) with its defaults; Maziarka et al. 2022
(Maziarka et al. 2022, App. B.1) uses MIG as defined there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._common.validation import check_choice, check_positive_int
from ._checks import check_codes_factors, check_same_columns
from ._classifiers import LOGISTIC_KINDS, make_logistic
from .discretize import discrete_entropy, discrete_mutual_info, histogram_discretize
from .results import _UNSET, IRSResult, ModularityExplicitnessResult, resolve_seed


def _check_bins(n_samples: int, num_bins: int, codes_name: str) -> int:
    num_bins = check_positive_int(num_bins, "num_bins", minimum=2)
    if n_samples < num_bins:
        raise ValueError(
            f"{codes_name} has {n_samples} samples but num_bins={num_bins}; the histogram "
            "estimate needs more samples than bins — pass more samples or fewer bins"
        )
    return num_bins


def mutual_info_matrix(codes: Any, factors: Any, num_bins: int = 20) -> np.ndarray:
    """Mutual information between each binned code and each factor (nats).

    Parameters
    ----------
    codes : (N, D) array-like
        Representations, one row per sample.
    factors : (N, F) array-like of int
        Integer-coded ground-truth factors.
    num_bins : int
        Equal-width bins per code column (reference default 20).

    Returns
    -------
    (D, F) array ``I(code_d; factor_f)``.
    """
    c, f = check_codes_factors(codes, factors)
    num_bins = _check_bins(c.shape[0], num_bins, "codes")
    return discrete_mutual_info(histogram_discretize(c, num_bins), f)


def mig(codes: Any, factors: Any, num_bins: int = 20) -> float:
    """Mutual Information Gap (Chen et al., 2018), as in ``disentanglement_lib``.

    ``MIG = mean_f (I(z_(1); v_f) - I(z_(2); v_f)) / H(v_f)`` where ``z_(1), z_(2)`` are the
    codes with the largest and second-largest mutual information with factor ``v_f`` and
    ``H(v_f)`` is the factor's entropy in the sample (Maziarka et al. 2022, App. B.1).

    Maziarka et al. 2022 write the denominator as ``sum_j I(z_i, z~_j)``; we use the factor
    entropy, as
    the reference implementation and the original MIG paper do (the gap is then a fraction of
    what there is to know about the factor).

    Parameters
    ----------
    codes : (N, D) array-like
        Representations; at least 2 columns (the gap needs a runner-up).
    factors : (N, F) array-like of int
        Integer-coded factors; each must take at least 2 values (else ``H = 0``).
    num_bins : int
        Equal-width histogram bins per code (reference default 20).

    Returns
    -------
    float in [0, 1]
    """
    c, f = check_codes_factors(codes, factors, min_dims=2)
    num_bins = _check_bins(c.shape[0], num_bins, "codes")
    m = discrete_mutual_info(histogram_discretize(c, num_bins), f)
    entropy = discrete_entropy(f)
    top = np.sort(m, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / entropy))


def modularity(mutual_info: np.ndarray) -> float:
    """Modularity (Ridgeway & Mozer, 2018) from a (D, F) mutual information matrix.

    For code ``d`` with ``theta_d = max_f I(d, f)``:
    ``delta_d = sum_{f != argmax} I(d, f)^2 / (theta_d^2 (F - 1))`` and the score is
    ``mean_d (1 - delta_d)``; a code with no information about any factor scores 0 (as in the
    reference). With a single factor every informative code is trivially modular (1); the
    reference divides by ``F - 1 = 0`` there.
    """
    sq = np.square(np.asarray(mutual_info, dtype=np.float64))
    max_sq = sq.max(axis=1)
    n_factors = sq.shape[1]
    score = np.zeros(sq.shape[0])
    informative = max_sq > 0
    if n_factors == 1:
        score[informative] = 1.0
    else:
        delta = (sq.sum(axis=1)[informative] - max_sq[informative]) / (
            max_sq[informative] * (n_factors - 1))
        score[informative] = 1.0 - delta
    return float(np.mean(score))


def _macro_roc_auc(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    """Mean one-vs-rest ROC-AUC over the classes present (with both labels) in ``y``."""
    from sklearn.metrics import roc_auc_score

    aucs = []
    for k, cls in enumerate(classes):
        target = y == cls
        if target.all() or not target.any():
            continue  # AUC undefined for a class absent from (or alone in) this split
        aucs.append(roc_auc_score(target, proba[:, k]))
    if not aucs:
        raise ValueError("explicitness: no factor class of the split has both labels")
    return float(np.mean(aucs))


def modularity_explicitness(
    codes_train: Any, factors_train: Any, codes_test: Any, factors_test: Any,
    num_bins: int = 20, *, seed: int | None = _UNSET, max_iter: int = 100,
    logistic: str = "lbfgs", random_state: Any = _UNSET,
) -> ModularityExplicitnessResult:
    """Modularity and explicitness (Ridgeway & Mozer, 2018), as in ``disentanglement_lib``.

    Modularity is :func:`modularity` of the binned-code/factor mutual information on the train
    split. Explicitness of a factor is the macro one-vs-rest ROC-AUC of a logistic regression
    from all standardized codes (train mean/std) to the factor, averaged over factors.

    Deliberate differences from the reference: the logistic regression is scikit-learn's
    current default (lbfgs, multinomial) where the reference ran 2018's default, one-vs-rest
    liblinear (``logistic="liblinear-ovr"`` restores it); classes absent from a split are
    skipped in the AUC (the reference crashes); a constant code is standardized with std 1
    (the reference divides by 0).

    Parameters
    ----------
    codes_train, codes_test : (N_train, D), (N_test, D) array-like
    factors_train, factors_test : (N_train, F), (N_test, F) array-like of int
    num_bins : int
        Histogram bins for the mutual information (reference default 20).
    seed : int or None
        Seed of the logistic regression (only used by some solvers; default 0).
    max_iter : int
        Iterations of the solver (scikit-learn default 100).
    logistic : {"lbfgs", "liblinear-ovr"}
        Current scikit-learn default, or the reference's one-vs-rest liblinear.

    random_state : deprecated
        Old name of ``seed``.

    Returns
    -------
    ModularityExplicitnessResult
        ``modularity_score``, ``explicitness_score_train``, ``explicitness_score_test``.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    seed = resolve_seed(seed, random_state, "modularity_explicitness", 0)
    check_choice(logistic, "logistic", LOGISTIC_KINDS)
    c_tr, f_tr = check_codes_factors(codes_train, factors_train, "codes_train", "factors_train")
    c_te, f_te = check_codes_factors(codes_test, factors_test, "codes_test", "factors_test")
    check_same_columns(c_tr, c_te, "codes_train", "codes_test")
    check_same_columns(f_tr, f_te, "factors_train", "factors_test")
    num_bins = _check_bins(c_tr.shape[0], num_bins, "codes_train")
    mi = discrete_mutual_info(histogram_discretize(c_tr, num_bins), f_tr)
    mean, std = c_tr.mean(axis=0), c_tr.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    x_tr, x_te = (c_tr - mean) / std, (c_te - mean) / std
    exp_train, exp_test = [], []
    for j in range(f_tr.shape[1]):
        clf = make_logistic(logistic, seed, max_iter)
        with warnings.catch_warnings():
            # the reference runs the solver with its default budget; we match it silently
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x_tr, f_tr[:, j])
        exp_train.append(_macro_roc_auc(f_tr[:, j], clf.predict_proba(x_tr), clf.classes_))
        exp_test.append(_macro_roc_auc(f_te[:, j], clf.predict_proba(x_te), clf.classes_))
    return ModularityExplicitnessResult(
        modularity_score=modularity(mi),
        explicitness_score_train=float(np.mean(exp_train)),
        explicitness_score_test=float(np.mean(exp_test)),
    )


def irs(
    codes: Any, factors: Any, diff_quantile: float = 0.99, num_bins: int = 20,
) -> IRSResult:
    """Interventional Robustness Score (Suter et al., 2019), as in ``disentanglement_lib``.

    Factors are binned like codes (20 equal-width bins, so factors with more than 20 levels are
    merged, as in the reference); constant codes are dropped. For code ``z`` and factor ``g``:
    ``dev(z, g) = mean_{levels k of g} quantile_q |z - E[z | g = k]|`` over the samples with
    ``g = k``; ``IRS(z) = max_g 1 - dev(z, g) / max|z - E z|``; the score is the average of
    ``IRS(z)`` weighted by ``max|z - E z|``. ``num_active_dims`` counts the non-constant codes
    (the reference reports the sum of their values there).

    Parameters
    ----------
    codes : (N, D) array-like
    factors : (N, F) array-like of int
    diff_quantile : float in (0, 1]
        Quantile of the within-level deviations (reference default 0.99; the paper uses 1).
    num_bins : int
        Bins for the factor discretization (reference default 20).

    Returns
    -------
    IRSResult
        ``irs`` (float), ``num_active_dims`` (int), ``per_code`` ((D_active,) array)
        and ``parents`` ((D_active,) index of each active code's best factor).
    """
    c, f = check_codes_factors(codes, factors)
    if not 0.0 < float(diff_quantile) <= 1.0:
        raise ValueError(f"diff_quantile must be in (0, 1], got {diff_quantile}")
    num_bins = _check_bins(c.shape[0], num_bins, "codes")
    f_binned = histogram_discretize(f.astype(np.float64), num_bins, name="factors")
    active = c[:, c.var(axis=0) > 0]
    max_dev = np.max(np.abs(active - active.mean(axis=0)), axis=0)
    cum_dev = np.zeros((active.shape[1], f_binned.shape[1]))
    for g in range(f_binned.shape[1]):
        levels = np.unique(f_binned[:, g])
        for level in levels:
            group = active[f_binned[:, g] == level]
            diffs = np.abs(group - group.mean(axis=0))
            cum_dev[:, g] += np.quantile(diffs, q=diff_quantile, axis=0)
        cum_dev[:, g] /= levels.size
    irs_matrix = 1.0 - cum_dev / max_dev[:, None]
    per_code = irs_matrix.max(axis=1)
    return IRSResult(
        irs=float(np.average(per_code, weights=max_dev)),
        num_active_dims=int(active.shape[1]),
        per_code=per_code,
        parents=irs_matrix.argmax(axis=1),
    )
