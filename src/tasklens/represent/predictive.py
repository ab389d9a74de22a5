"""Predictor-based disentanglement metrics: DCI and SAP.

Definitions follow google-research ``disentanglement_lib`` (``evaluation/metrics/dci.py`` and
``sap_score.py``) and Maziarka et al. 2022 (Maziarka et al. 2022, App. B.3-B.4).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._common.validation import check_choice, check_positive_int, check_seed
from ._checks import check_codes_factors, check_same_columns
from .results import _UNSET, DCIResult, resolve_seed

DCI_BACKENDS = ("gbt", "hist")

# reference: scipy.stats.entropy(importance + 1e-11, base=...) — the offset keeps log(0) away
# and makes an all-zero row uniform (entropy 1, score 0).
_IMPORTANCE_EPS = 1e-11


def _fit_one_factor(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
    backend: str, n_estimators: int, seed: int,
) -> tuple[np.ndarray, float, float]:
    """Importances (D,), train and test accuracy of one boosted classifier."""
    if backend == "gbt":
        from sklearn.ensemble import GradientBoostingClassifier

        model = GradientBoostingClassifier(n_estimators=n_estimators, random_state=seed)
        model.fit(x_train, y_train)
        importance = np.abs(model.feature_importances_)
    else:
        from sklearn.ensemble import HistGradientBoostingClassifier

        model = HistGradientBoostingClassifier(
            max_iter=n_estimators, max_depth=3, max_leaf_nodes=None, early_stopping=False,
            random_state=seed)
        model.fit(x_train, y_train)
        importance = _hist_gain_importance(model, x_train.shape[1])
    acc_train = float(np.mean(model.predict(x_train) == y_train))
    acc_test = float(np.mean(model.predict(x_test) == y_test))
    return importance, acc_train, acc_test


def _hist_gain_importance(model: Any, n_features: int) -> np.ndarray:
    """Total split gain per feature of a fitted HistGradientBoostingClassifier, summing to 1.

    The histogram booster has no ``feature_importances_``; the summed split gain is the
    analogue of the impurity decrease the exact booster reports. Falls back to permutation
    importance if scikit-learn's internal tree layout is not available.
    """
    gain = np.zeros(n_features)
    try:
        for stage in model._predictors:
            for tree in stage:
                nodes = tree.nodes[~tree.nodes["is_leaf"].astype(bool)]
                np.add.at(gain, nodes["feature_idx"].astype(np.int64), nodes["gain"])
    except (AttributeError, KeyError, ValueError):  # pragma: no cover - sklearn internals moved
        raise RuntimeError(
            "backend='hist' reads HistGradientBoostingClassifier's trees, whose layout changed "
            "in this scikit-learn; use backend='gbt'"
        ) from None
    gain = np.clip(gain, 0.0, None)
    total = gain.sum()
    return gain / total if total > 0 else gain


def dci_importance(
    codes_train: Any, factors_train: Any, codes_test: Any, factors_test: Any,
    seed: int | np.random.Generator | None = _UNSET, *, backend: str = "gbt",
    n_estimators: int = 100, n_jobs: int | None = None, random_state: Any = _UNSET,
) -> tuple[np.ndarray, float, float]:
    """Importance matrix of DCI and the mean train/test accuracy of its predictors.

    One boosted-tree classifier per factor predicts the factor from all codes; its feature
    importances form one column of ``R``. Parameters as in :func:`dci`.

    Returns
    -------
    importance : (D, F) array, ``R[d, f] >= 0``
    informativeness_train, informativeness_test : float
        Mean accuracy over factors.
    """
    c_tr, f_tr = check_codes_factors(codes_train, factors_train, "codes_train", "factors_train")
    c_te, f_te = check_codes_factors(codes_test, factors_test, "codes_test", "factors_test")
    check_same_columns(c_tr, c_te, "codes_train", "codes_test")
    check_same_columns(f_tr, f_te, "factors_train", "factors_test")
    check_choice(backend, "backend", DCI_BACKENDS)
    n_estimators = check_positive_int(n_estimators, "n_estimators")
    # one seed per factor, drawn up front: results do not depend on n_jobs or on order
    seed = resolve_seed(seed, random_state, "dci_importance", None)
    seeds = check_seed(seed, "seed").integers(0, 2**31 - 1, size=f_tr.shape[1])
    jobs = [(c_tr, f_tr[:, j], c_te, f_te[:, j], backend, n_estimators, int(seeds[j]))
            for j in range(f_tr.shape[1])]
    results: list[Any]
    if n_jobs is None or n_jobs == 1:
        results = [_fit_one_factor(*job) for job in jobs]
    else:
        from joblib import Parallel, delayed

        # a boosting stage fits one tree per class: start the factors with most levels first
        order = np.argsort([-np.unique(f_tr[:, j]).size for j in range(f_tr.shape[1])],
                           kind="stable")
        done = Parallel(n_jobs=n_jobs)(delayed(_fit_one_factor)(*jobs[j]) for j in order)
        results = [None] * len(jobs)
        for j, res in zip(order, done, strict=True):
            results[j] = res
    importance = np.stack([r[0] for r in results], axis=1)
    return (importance, float(np.mean([r[1] for r in results])),
            float(np.mean([r[2] for r in results])))


def _one_minus_entropy(p_unnormalized: np.ndarray, base: int) -> np.ndarray:
    """``1 - H_base(p)`` of each row, rows normalized to sum to 1."""
    p = p_unnormalized + _IMPORTANCE_EPS
    p = p / p.sum(axis=1, keepdims=True)
    if base < 2:
        return np.ones(p.shape[0])  # one outcome: perfectly specific by definition
    return 1.0 + np.sum(p * np.log(p), axis=1) / np.log(base)


def disentanglement_score(importance: np.ndarray) -> float:
    """DCI disentanglement of a (D, F) importance matrix.

    ``D_d = 1 - H_F(P_d.)`` with ``P_df = R_df / sum_k R_dk`` and the average weighted by the
    code's share of the total importance, ``rho_d = sum_f R_df / sum R``
    (Maziarka et al. 2022, App. B.4; the appendix swaps the index names d and n).
    With a single factor, ``D_d = 1`` (the reference's log base 1 gives NaN).
    """
    r = np.asarray(importance, dtype=np.float64)
    per_code = _one_minus_entropy(r, r.shape[1])
    weights = r if r.sum() > 0 else np.ones_like(r)
    return float(np.sum(per_code * weights.sum(axis=1) / weights.sum()))


def completeness_score(importance: np.ndarray) -> float:
    """DCI completeness of a (D, F) importance matrix.

    ``C_f = 1 - H_D(P_.f)`` with ``P_df = R_df / sum_k R_kf``, averaged with weights
    ``sum_d R_df / sum R`` as in the reference (Maziarka et al. 2022, App. B.4 states an
    unweighted mean; the factors' importances are normalized per model, so the weights are
    equal unless a model found no useful split).
    """
    r = np.asarray(importance, dtype=np.float64)
    per_factor = _one_minus_entropy(r.T, r.shape[0])
    weights = r if r.sum() > 0 else np.ones_like(r)
    return float(np.sum(per_factor * weights.sum(axis=0) / weights.sum()))


def dci(
    codes_train: Any, factors_train: Any, codes_test: Any, factors_test: Any,
    seed: int | np.random.Generator | None = _UNSET, *, backend: str = "gbt",
    n_estimators: int = 100, n_jobs: int | None = None, random_state: Any = _UNSET,
) -> DCIResult:
    """Disentanglement, completeness, informativeness (Eastwood & Williams, 2018).

    As in ``disentanglement_lib``: per factor a scikit-learn ``GradientBoostingClassifier``
    with its defaults (100 trees of depth 3, learning rate 0.1) predicts the factor from all
    codes; its feature importances give ``R`` (see :func:`disentanglement_score`,
    :func:`completeness_score`); informativeness is the mean accuracy on the train and test
    split (Maziarka et al. 2022, App. B.4).

    Parameters
    ----------
    codes_train, codes_test : (N_train, D), (N_test, D) array-like
    factors_train, factors_test : (N_train, F), (N_test, F) array-like of int
    seed : int, Generator or None
        Seeds the per-factor classifiers (only tie-breaking among equal splits is random
        with the defaults). ``None`` (default) draws fresh entropy, like scikit-learn.
    backend : {"gbt", "hist"}
        ``"gbt"`` (default) is the reference ``GradientBoostingClassifier``; ``"hist"`` is
        the faster ``HistGradientBoostingClassifier`` (256-bin histograms, the same depth 3,
        learning rate and number of stages, no early stopping) with split-gain importances —
        an explicit approximation whose numbers differ from the reference.
    n_estimators : int
        Boosting stages per factor (reference 100); lower it only to save time in tests.
    n_jobs : int or None
        Factors fitted in parallel with joblib (``None``/1: sequential). The numbers do not
        depend on it. The histogram booster also uses OpenMP threads; on a busy machine cap
        them (``threadpoolctl.threadpool_limits(1)``) or use ``n_jobs``, whose workers get a
        share of the cores each.

    random_state : deprecated
        Old name of ``seed``.

    Returns
    -------
    DCIResult
        ``disentanglement``, ``completeness``, ``informativeness_train``,
        ``informativeness_test`` (floats); ``to_dict()`` for JSON.
    """
    seed = resolve_seed(seed, random_state, "dci", None)
    importance, acc_train, acc_test = dci_importance(
        codes_train, factors_train, codes_test, factors_test, seed,
        backend=backend, n_estimators=n_estimators, n_jobs=n_jobs)
    return DCIResult(
        disentanglement=disentanglement_score(importance),
        completeness=completeness_score(importance),
        informativeness_train=acc_train,
        informativeness_test=acc_test,
    )


def sap_matrix(
    codes_train: Any, factors_train: Any, codes_test: Any = None, factors_test: Any = None,
    continuous: bool = False,
) -> np.ndarray:
    """SAP score matrix ``S[d, f]``; parameters as in :func:`sap`.

    Returns
    -------
    (D, F) array: test accuracy of a one-code linear SVM (discrete factors) or the squared
    correlation of code and factor on the train split (continuous factors).
    """
    c_tr, f_tr = check_codes_factors(codes_train, factors_train, "codes_train", "factors_train",
                                     integer=not continuous)
    n_codes, n_factors = c_tr.shape[1], f_tr.shape[1]
    scores = np.zeros((n_codes, n_factors))
    if continuous:
        # squared Pearson correlation; a constant code scores 0 as in the reference
        cc = c_tr - c_tr.mean(axis=0)
        ff = f_tr - f_tr.mean(axis=0)
        cov = cc.T @ ff
        var_c = np.sum(cc**2, axis=0)
        var_f = np.sum(ff**2, axis=0)
        ok = var_c / len(cc) > 1e-12
        scores[ok] = cov[ok] ** 2 / (var_c[ok, None] * var_f[None, :])
        return scores
    if codes_test is None or factors_test is None:
        raise ValueError("sap with continuous=False needs codes_test and factors_test")
    c_te, f_te = check_codes_factors(codes_test, factors_test, "codes_test", "factors_test")
    check_same_columns(c_tr, c_te, "codes_train", "codes_test")
    check_same_columns(f_tr, f_te, "factors_train", "factors_test")
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    for d in range(n_codes):
        for f in range(n_factors):
            clf = LinearSVC(C=0.01, class_weight="balanced")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(c_tr[:, d : d + 1], f_tr[:, f])
            scores[d, f] = np.mean(clf.predict(c_te[:, d : d + 1]) == f_te[:, f])
    return scores


def sap(
    codes_train: Any, factors_train: Any, codes_test: Any, factors_test: Any,
    continuous: bool = False,
) -> float:
    """Separated Attribute Predictability (Kumar et al., 2018), as in ``disentanglement_lib``.

    ``SAP = mean_f (S_(1)f - S_(2)f)``, the gap between the two codes that predict factor ``f``
    best (Maziarka et al. 2022, App. B.3). For discrete factors ``S[d, f]`` is the test
    accuracy of a linear SVM (``C = 0.01``, balanced class weights) on code ``d`` alone; for
    continuous factors it is the squared correlation on the train split (the test split is
    then unused). Maziarka et al. 2022 describe a decision tree / R^2 variant; we follow the
    reference.

    Parameters
    ----------
    codes_train, codes_test : (N_train, D), (N_test, D) array-like
        At least 2 code columns.
    factors_train, factors_test : (N_train, F), (N_test, F) array-like
        Integer-coded (real-valued allowed when ``continuous``).
    continuous : bool
        Treat factors as continuous.

    Returns
    -------
    float
    """
    if np.ndim(codes_train) == 2 and np.shape(codes_train)[1] < 2:
        raise ValueError("codes_train has 1 column; SAP needs at least 2 code dimensions")
    scores = sap_matrix(codes_train, factors_train, codes_test, factors_test, continuous)
    top = np.sort(scores, axis=0)
    return float(np.mean(top[-1] - top[-2]))
