"""Metrics against scikit-learn's independent implementations."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from tasklens.data import get_metric
from tasklens.data.metrics import METRICS


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def test_regression_metrics_match_sklearn(rng: np.random.Generator) -> None:
    y, p = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    assert get_metric("mse")(y, p) == pytest.approx(skm.mean_squared_error(y, p))
    assert get_metric("mae")(y, p) == pytest.approx(skm.mean_absolute_error(y, p))
    assert get_metric("r2")(y, p) == pytest.approx(skm.r2_score(y, p))


def test_classification_metrics_match_sklearn(rng: np.random.Generator) -> None:
    y = rng.integers(0, 4, 200)
    logits = rng.normal(size=(200, 4)) + 2 * np.eye(4)[y] * rng.random((200, 1))
    pred = logits.argmax(1)
    assert get_metric("accuracy")(y, logits) == pytest.approx(skm.accuracy_score(y, pred))
    assert get_metric("macro_f1")(y, logits) == pytest.approx(
        skm.f1_score(y, pred, average="macro", labels=np.arange(4), zero_division=0)
    )


def test_binary_and_multilabel_metrics_match_sklearn(rng: np.random.Generator) -> None:
    y = rng.integers(0, 2, 300).astype(float)
    logit = rng.normal(size=300) + y
    logit[:20] = 0.5  # ties exercise average ranks
    assert get_metric("auroc")(y, logit) == pytest.approx(skm.roc_auc_score(y, logit))
    assert get_metric("f1")(y, logit) == pytest.approx(skm.f1_score(y, logit > 0))
    assert get_metric("binary_accuracy")(y, logit) == pytest.approx(
        skm.accuracy_score(y, logit > 0))
    ym = rng.integers(0, 2, (100, 5))
    pm = rng.normal(size=(100, 5)) + ym
    assert get_metric("micro_f1")(ym, pm) == pytest.approx(
        skm.f1_score(ym, pm > 0, average="micro"))
    assert get_metric("hamming_accuracy")(ym, pm) == pytest.approx(
        1 - skm.hamming_loss(ym, pm > 0))


def test_directions_and_unknown_metric() -> None:
    assert not METRICS["mse"].higher_is_better and METRICS["accuracy"].higher_is_better
    with pytest.raises(ValueError, match="unknown metric 'bleu'; known metrics: accuracy"):
        get_metric("bleu")


def test_auroc_with_one_class_is_nan() -> None:
    assert np.isnan(get_metric("auroc")(np.ones(5), np.arange(5.0)))
