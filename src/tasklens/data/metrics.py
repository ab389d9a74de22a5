"""Per-task metrics on numpy predictions, each with its direction ("higher is better").

Predictions follow the head outputs of :mod:`tasklens.nn`:

- regression: ``(N,)`` or ``(N, D)`` real values;
- classification: ``(N, C)`` logits (or probabilities) — argmax is the predicted class;
- binary: ``(N,)`` logits — positive means class 1;
- multilabel: ``(N, L)`` logits — positive means label present.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Metric:
    """A named metric ``fn(y_true, y_pred) -> float`` with its direction."""

    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    higher_is_better: bool

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return float(self.fn(np.asarray(y_true), np.asarray(y_pred)))


def _flat2(y: np.ndarray) -> np.ndarray:
    return y.reshape(len(y), -1)


def _mse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((_flat2(y) - _flat2(p)) ** 2))


def _mae(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.abs(_flat2(y) - _flat2(p))))


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    y2, p2 = _flat2(y).astype(float), _flat2(p).astype(float)
    ss_res = np.sum((y2 - p2) ** 2, axis=0)
    ss_tot = np.sum((y2 - y2.mean(axis=0)) ** 2, axis=0)
    # Columns with zero variance carry no signal: they are left out of the mean.
    ok = ss_tot > 0
    if not np.any(ok):
        return float("nan")
    return float(np.mean(1.0 - ss_res[ok] / ss_tot[ok]))


def _accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.argmax(p, axis=1) == y))


def _macro_f1_from_pred(y: np.ndarray, pred: np.ndarray, labels: np.ndarray) -> float:
    scores = []
    for c in labels:
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        denom = 2 * tp + fp + fn
        scores.append(0.0 if denom == 0 else 2 * tp / denom)
    return float(np.mean(scores))


def _macro_f1(y: np.ndarray, p: np.ndarray) -> float:
    return _macro_f1_from_pred(y, np.argmax(p, axis=1), np.arange(p.shape[1]))


def _binary_accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((p.reshape(-1) > 0) == (y.reshape(-1) > 0.5)))


def _binary_f1(y: np.ndarray, p: np.ndarray) -> float:
    pred = (p.reshape(-1) > 0).astype(int)
    return _macro_f1_from_pred((y.reshape(-1) > 0.5).astype(int), pred, np.array([1]))


def _auroc(y: np.ndarray, p: np.ndarray) -> float:
    # Mann–Whitney form with average ranks for ties; NaN when one class is absent.
    from scipy.stats import rankdata

    y1 = y.reshape(-1) > 0.5
    n_pos, n_neg = int(y1.sum()), int((~y1).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(p.reshape(-1))
    return float((ranks[y1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _hamming_accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((p > 0) == (y > 0.5)))


def _multilabel_micro_f1(y: np.ndarray, p: np.ndarray) -> float:
    pred, true = p > 0, y > 0.5
    tp = np.sum(pred & true)
    denom = 2 * tp + np.sum(pred & ~true) + np.sum(~pred & true)
    return float(0.0 if denom == 0 else 2 * tp / denom)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("mse", _mse, higher_is_better=False),
        Metric("mae", _mae, higher_is_better=False),
        Metric("r2", _r2, higher_is_better=True),
        Metric("accuracy", _accuracy, higher_is_better=True),
        Metric("macro_f1", _macro_f1, higher_is_better=True),
        Metric("binary_accuracy", _binary_accuracy, higher_is_better=True),
        Metric("f1", _binary_f1, higher_is_better=True),
        Metric("auroc", _auroc, higher_is_better=True),
        Metric("hamming_accuracy", _hamming_accuracy, higher_is_better=True),
        Metric("micro_f1", _multilabel_micro_f1, higher_is_better=True),
    ]
}


def get_metric(name: str) -> Metric:
    """Look up a metric by name; an unknown name lists the known ones."""
    try:
        return METRICS[name]
    except KeyError:
        known = ", ".join(sorted(METRICS))
        raise ValueError(f"unknown metric {name!r}; known metrics: {known}") from None
