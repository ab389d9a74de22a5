"""The logistic regressions of the BetaVAE score and of explicitness, current or 2018 style."""

from __future__ import annotations

from typing import Any

from .._common.validation import check_choice

LOGISTIC_KINDS = ("lbfgs", "liblinear-ovr")


def make_logistic(kind: str, random_state: int | None, max_iter: int) -> Any:
    """A fresh logistic-regression classifier.

    ``"lbfgs"`` is scikit-learn's current default (multinomial, L2, C=1). ``"liblinear-ovr"``
    is the default of scikit-learn 0.20, which disentanglement_lib ran: one-vs-rest binary
    liblinear models (L2, C=1, intercept), probabilities normalized over classes.
    """
    from sklearn.linear_model import LogisticRegression

    check_choice(kind, "logistic", LOGISTIC_KINDS)
    if kind == "lbfgs":
        return LogisticRegression(random_state=random_state, max_iter=max_iter)
    from sklearn.multiclass import OneVsRestClassifier

    return OneVsRestClassifier(
        LogisticRegression(solver="liblinear", random_state=random_state, max_iter=max_iter))
