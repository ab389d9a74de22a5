"""Intervention-based metrics: FactorVAE score and BetaVAE score.

Both draw batches in which one factor is fixed, so they take a representation function and a
ground-truth source (:mod:`tasklens.represent.sources`). Definitions and defaults follow
google-research ``disentanglement_lib`` (``evaluation/metrics/factor_vae.py``, ``beta_vae.py``
and their study configs); Maziarka et al. 2022 describe FactorVAE in
their App. B.2.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .._common.validation import check_choice, check_positive_int, check_seed
from ._classifiers import LOGISTIC_KINDS, make_logistic
from .results import BetaVAEResult, FactorVAEResult
from .sources import check_source, encode

# observations encoded per representation call (memory bound, not a statistical choice)
_ROWS_PER_CALL = 8192


def _fixed_factor_batches(
    source: Any, n_points: int, batch_size: int, rng: np.random.Generator, pairs: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Factor index fixed per point and the (n_points, batch_size, F) factor codes.

    In ``pairs`` mode a second batch is drawn that shares only the fixed factor with the
    first (BetaVAE); otherwise the fixed factor takes the first sample's value (FactorVAE).
    """
    fixed = rng.integers(0, source.num_factors, size=n_points)
    first = np.asarray(source.sample_factors(n_points * batch_size, rng), dtype=np.int64)
    first = first.reshape(n_points, batch_size, -1)
    rows = np.arange(n_points)
    if not pairs:
        first[rows, :, fixed] = first[rows, 0, fixed][:, None]
        return fixed, first, None
    second = np.asarray(source.sample_factors(n_points * batch_size, rng), dtype=np.int64)
    second = second.reshape(n_points, batch_size, -1)
    second[rows, :, fixed] = first[rows, :, fixed]
    return fixed, first, second


def _encode_batches(representation_fn: Callable[[np.ndarray], Any], source: Any,
                    factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(P, B, F) factor codes → (P, B, D) codes, encoding a few thousand rows per call."""
    p, b, f = factors.shape
    flat = factors.reshape(p * b, f)
    out = [encode(representation_fn,
                  source.sample_observations_from_factors(flat[s:s + _ROWS_PER_CALL], rng))
           for s in range(0, p * b, _ROWS_PER_CALL)]
    return np.concatenate(out).reshape(p, b, -1)


def _factor_vae_votes(
    representation_fn: Callable[[np.ndarray], Any], source: Any, n_points: int,
    batch_size: int, rng: np.random.Generator, global_var: np.ndarray, active: np.ndarray,
) -> np.ndarray:
    """(F, D) vote counts: for each point, its fixed factor votes for the least-varying code."""
    votes = np.zeros((source.num_factors, global_var.size), dtype=np.int64)
    active_idx = np.flatnonzero(active)
    chunk = max(1, _ROWS_PER_CALL // batch_size)
    for start in range(0, n_points, chunk):
        fixed, fac, _ = _fixed_factor_batches(
            source, min(chunk, n_points - start), batch_size, rng, pairs=False)
        codes = _encode_batches(representation_fn, source, fac, rng)
        local_var = codes.var(axis=1, ddof=1)
        best = np.argmin(local_var[:, active] / global_var[active], axis=1)
        # the reference indexes votes by the position among *active* codes; that relabels
        # columns when codes are pruned but leaves the accuracy unchanged. We vote for the code.
        np.add.at(votes, (fixed, active_idx[best]), 1)
    return votes


def factor_vae_score(
    representation_fn: Callable[[np.ndarray], Any], source: Any,
    seed: int | np.random.Generator | None = 0, *, batch_size: int = 64,
    num_train: int = 10_000, num_eval: int = 5_000, num_variance_estimate: int = 10_000,
    prune_threshold: float = 0.05,
) -> FactorVAEResult:
    """FactorVAE disentanglement score (Kim & Mnih, 2018), as in ``disentanglement_lib``.

    Codes are scaled by their global standard deviation (estimated on
    ``num_variance_estimate`` samples, ``ddof=1``); codes with std below ``prune_threshold``
    are dropped. Each vote fixes a random factor across ``batch_size`` samples, and the code
    with the smallest scaled variance votes for that factor. The majority-vote classifier maps
    each code to the factor it was most often the argmin for; the score is its accuracy on
    ``num_eval`` fresh votes (Maziarka et al. 2022, App. B.2).

    Votes are drawn in vectorized chunks, so the random stream differs from the reference's
    one-vote-at-a-time loop; the score's distribution is the same.

    Parameters
    ----------
    representation_fn : callable
        (n, ...) observations → (n, D) codes.
    source : GroundTruthSource
        Samples factors and renders observations, e.g. :class:`GridDataSource`.
    seed : int, Generator or None
        The only source of randomness.
    batch_size : int
        Samples per vote (reference 64).
    num_train, num_eval : int
        Votes to fit and to evaluate the classifier (reference 10,000 and 5,000).
    num_variance_estimate : int
        Samples for the global variances (reference 10,000).
    prune_threshold : float
        Codes with global std below it are inactive (reference 0.05).

    Returns
    -------
    FactorVAEResult
        ``train_accuracy``, ``eval_accuracy`` and ``num_active_dims`` (the number of
        unpruned codes; the reference reports the total number of codes there).
    """
    src = check_source(source)
    batch_size = check_positive_int(batch_size, "batch_size", minimum=2)
    num_train = check_positive_int(num_train, "num_train")
    num_eval = check_positive_int(num_eval, "num_eval")
    num_variance_estimate = check_positive_int(num_variance_estimate, "num_variance_estimate",
                                               minimum=2)
    if prune_threshold < 0:
        raise ValueError(f"prune_threshold must be >= 0, got {prune_threshold}")
    rng = check_seed(seed)
    factors = src.sample_factors(num_variance_estimate, rng)
    codes = _encode_batches(representation_fn, src, np.asarray(factors)[None], rng)[0]
    global_var = codes.var(axis=0, ddof=1)
    active = (np.sqrt(global_var) >= prune_threshold) & (global_var > 0)
    if not active.any():
        warnings.warn("factor_vae_score: every code has std below prune_threshold; score 0",
                      RuntimeWarning, stacklevel=2)
        return FactorVAEResult(train_accuracy=0.0, eval_accuracy=0.0, num_active_dims=0)
    train_votes = _factor_vae_votes(representation_fn, src, num_train, batch_size, rng,
                                    global_var, active)
    classifier = np.argmax(train_votes, axis=0)  # code -> factor it votes for most
    cols = np.arange(train_votes.shape[1])
    eval_votes = _factor_vae_votes(representation_fn, src, num_eval, batch_size, rng,
                                   global_var, active)
    return FactorVAEResult(
        train_accuracy=float(train_votes[classifier, cols].sum() / train_votes.sum()),
        eval_accuracy=float(eval_votes[classifier, cols].sum() / eval_votes.sum()),
        num_active_dims=int(active.sum()),
    )


def _beta_vae_features(
    representation_fn: Callable[[np.ndarray], Any], source: Any, n_points: int,
    batch_size: int, rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """(n_points, D) mean |z1 - z2| over pairs sharing one factor, and that factor's index."""
    feats, labels = [], []
    chunk = max(1, _ROWS_PER_CALL // (2 * batch_size))
    for start in range(0, n_points, chunk):
        fixed, first, second = _fixed_factor_batches(
            source, min(chunk, n_points - start), batch_size, rng, pairs=True)
        assert second is not None
        z1 = _encode_batches(representation_fn, source, first, rng)
        z2 = _encode_batches(representation_fn, source, second, rng)
        feats.append(np.mean(np.abs(z1 - z2), axis=1))
        labels.append(fixed)
    return np.concatenate(feats), np.concatenate(labels)


def beta_vae_score(
    representation_fn: Callable[[np.ndarray], Any], source: Any,
    seed: int | np.random.Generator | None = 0, *, batch_size: int = 64,
    num_train: int = 10_000, num_eval: int = 5_000, max_iter: int = 100,
    logistic: str = "lbfgs",
) -> BetaVAEResult:
    """BetaVAE disentanglement score (Higgins et al., 2017), as in ``disentanglement_lib``.

    Each training point fixes a random factor ``k`` in two batches of ``batch_size`` samples
    that are otherwise independent; its feature is ``mean_b |z(x1_b) - z(x2_b)|`` and its
    label ``k``. A logistic regression (scikit-learn defaults) learns ``k`` from the features;
    the score is its accuracy on ``num_eval`` fresh points.

    Deliberate difference: scikit-learn's current default logistic regression (lbfgs,
    multinomial) where the reference ran 2018's default, one-vs-rest liblinear
    (``logistic="liblinear-ovr"`` restores it). The points are drawn in a different order
    than the reference's loop (vectorized), so only the distribution of the score matches.

    Parameters
    ----------
    representation_fn : callable
        (n, ...) observations → (n, D) codes.
    source : GroundTruthSource
    seed : int, Generator or None
    batch_size : int
        Pairs per point (reference 64).
    num_train, num_eval : int
        Points to fit and to evaluate (reference 10,000 and 5,000).
    max_iter : int
        Solver iterations (scikit-learn default 100).
    logistic : {"lbfgs", "liblinear-ovr"}
        Current scikit-learn default, or the reference's one-vs-rest liblinear.

    Returns
    -------
    BetaVAEResult
        ``train_accuracy`` and ``eval_accuracy``.
    """
    from sklearn.exceptions import ConvergenceWarning

    check_choice(logistic, "logistic", LOGISTIC_KINDS)
    src = check_source(source)
    batch_size = check_positive_int(batch_size, "batch_size")
    num_train = check_positive_int(num_train, "num_train")
    num_eval = check_positive_int(num_eval, "num_eval")
    rng = check_seed(seed)
    x_train, y_train = _beta_vae_features(representation_fn, src, num_train, batch_size, rng)
    if np.unique(y_train).size < 2:
        raise ValueError("beta_vae_score: the source has a single factor or num_train is too "
                         "small to draw two different fixed factors; use more points")
    model = make_logistic(logistic, int(rng.integers(2**31 - 1)), max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
    x_eval, y_eval = _beta_vae_features(representation_fn, src, num_eval, batch_size, rng)
    return BetaVAEResult(
        train_accuracy=float(np.mean(model.predict(x_train) == y_train)),
        eval_accuracy=float(np.mean(model.predict(x_eval) == y_eval)),
    )
