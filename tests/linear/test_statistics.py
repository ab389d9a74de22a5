"""Task correlations from data (Anon. 2025 (ICLR'26 sub.), eq. 6).

References: correlations built by construction on exactly whitened samples; per-class sums
by a Python loop for one-hot targets; ZCA whitening against scipy's matrix square root;
the condition number against numpy.linalg.cond.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import scipy.linalg

from tasklens.data import TaskSet
from tasklens.linear.statistics import (
    TaskCorrelations,
    as_sigma_dict,
    encode_targets,
    one_hot,
    task_correlations,
    whitening_transform,
)


def _exactly_white(n: int, d: int, seed: int) -> np.ndarray:
    """Samples with (1/N) XᵀX = I exactly (up to round-off)."""
    x = np.random.default_rng(seed).normal(size=(n, d))
    c = x.T @ x / n
    w, e = np.linalg.eigh(c)
    return x @ (e / np.sqrt(w)) @ e.T


def test_correlations_of_whitened_samples_equal_the_construction():
    rng = np.random.default_rng(0)
    x = _exactly_white(500, 6, seed=1)
    sig_a = rng.normal(size=(2, 6))
    sig_b = rng.normal(size=(3, 6))
    # Y = X Σᵀ gives (1/N) Yᵀ X = Σ (1/N) XᵀX = Σ
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        corr = task_correlations(x, {"a": x @ sig_a.T, "b": x @ sig_b.T})
    assert corr.is_whitened
    np.testing.assert_allclose(corr.sigmas["a"], sig_a, atol=1e-10)
    np.testing.assert_allclose(corr.sigmas["b"], sig_b, atol=1e-10)
    np.testing.assert_allclose(corr.sigma_xx, np.eye(6), atol=1e-10)
    assert corr.input_condition == pytest.approx(1.0, abs=1e-8)
    np.testing.assert_allclose(corr.xi(), np.vstack([sig_a, sig_b]))
    assert corr.output_dims() == {"a": 2, "b": 3}
    json.dumps(corr.to_dict())


def test_unwhitened_inputs_warn_and_report_condition():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 4)) * np.array([1.0, 2.0, 5.0, 0.5])
    y = x @ rng.normal(size=(4,))
    with pytest.warns(UserWarning, match="not whitened"):
        corr = task_correlations(x, {"t": y})
    assert not corr.is_whitened
    assert corr.input_condition == pytest.approx(np.linalg.cond(x.T @ x / len(x)), rel=1e-8)
    np.testing.assert_allclose(corr.sigmas["t"], (y[:, None].T @ x) / len(x))


def test_zca_whitening_matches_inverse_matrix_square_root():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 5)) @ rng.normal(size=(5, 5))
    w, cond = whitening_transform(x, "zca")
    sxx = x.T @ x / len(x)
    np.testing.assert_allclose(w, np.real(scipy.linalg.inv(scipy.linalg.sqrtm(sxx))),
                               atol=1e-8)
    assert cond == pytest.approx(np.linalg.cond(sxx), rel=1e-8)
    corr = task_correlations(x, {"t": x[:, 0]}, whiten="zca")
    assert corr.is_whitened
    np.testing.assert_allclose(corr.sigma_xx, np.eye(5), atol=1e-10)
    np.testing.assert_allclose(corr.sigmas["t"], x[:, :1].T @ (x @ w) / len(x), atol=1e-12)


def test_pca_whitening_drops_null_directions_and_zca_refuses_them():
    rng = np.random.default_rng(4)
    base = rng.normal(size=(200, 3))
    x = np.column_stack([base, base[:, 0] + base[:, 1]])  # rank 3 in 4 columns
    corr = task_correlations(x, {"t": base[:, 2]}, whiten="pca")
    assert corr.n_inputs == 3
    np.testing.assert_allclose(corr.sigma_xx, np.eye(3), atol=1e-10)
    assert corr.input_condition == np.inf
    with pytest.raises(ValueError, match="whiten='pca'"):
        task_correlations(x, {"t": base[:, 2]}, whiten="zca")


def test_centering_removes_the_input_mean():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(100, 3)) + 7.0
    y = rng.normal(size=100)
    corr = task_correlations(x, {"t": y}, center=True, warn=False)
    xc = x - x.mean(axis=0)
    np.testing.assert_allclose(corr.sigmas["t"], y[None, :] @ xc / 100)
    np.testing.assert_allclose(corr.input_mean, x.mean(axis=0))


def test_taskset_classification_is_one_hot_and_matches_per_class_loop():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    cls = rng.integers(0, 3, size=120)
    reg = rng.normal(size=(120, 2)).astype(np.float32)
    binary = (rng.random(120) > 0.5).astype(np.float32)
    ts = TaskSet.from_arrays(x, {"c": cls, "r": reg, "b": binary},
                             kinds={"c": "classification", "r": "regression", "b": "binary"})
    corr = task_correlations(ts, warn=False)
    assert corr.kinds == {"c": "classification", "r": "regression", "b": "binary"}
    xd = x.astype(np.float64)
    expected = np.zeros((3, 4))
    for mu in range(len(x)):  # brute force: Σ = (1/N) Σ_μ y^μ x^μᵀ with one-hot y
        expected[cls[mu]] += xd[mu]
    np.testing.assert_allclose(corr.sigmas["c"], expected / len(x), atol=1e-12)
    np.testing.assert_allclose(corr.sigmas["r"], reg.astype(float).T @ xd / len(x), atol=1e-6)
    np.testing.assert_allclose(corr.sigmas["b"], binary[None, :].astype(float) @ xd / len(x),
                               atol=1e-6)
    sub = task_correlations(ts, tasks=["r"], warn=False)
    assert sub.task_names == ["r"]


def test_one_hot_and_encode_targets():
    np.testing.assert_array_equal(one_hot([0, 2, 1], 3), np.eye(3)[[0, 2, 1]])
    assert encode_targets(np.arange(5.0), "regression").shape == (5, 1)
    assert encode_targets([1, 0, 1], "classification", n_classes=4).shape == (3, 4)
    with pytest.raises(ValueError, match="codes"):
        one_hot([0, 3], 2)
    with pytest.raises(TypeError, match="integer"):
        one_hot([0.5, 1.0])


def test_bad_inputs_name_the_argument():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(20, 3))
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="source"):
        task_correlations(bad, {"t": x[:, 0]})
    with pytest.raises(ValueError, match=r"targets\['t'\]"):
        task_correlations(x, {"t": x[:10, 0]})
    with pytest.raises(ValueError, match="'z'"):
        task_correlations(x, {"z": np.zeros(20)}, warn=False)
    with pytest.raises(ValueError, match="whiten"):
        task_correlations(x, {"t": x[:, 0]}, whiten="cholesky")
    with pytest.raises(ValueError, match="targets"):
        task_correlations(x, {})
    with pytest.raises(ValueError, match=r"sigmas\['b'\]"):
        as_sigma_dict({"a": np.ones((2, 3)), "b": np.ones((2, 4))})
    with pytest.raises(ValueError, match=r"sigmas\['a'\]"):
        as_sigma_dict({"a": np.zeros((2, 3))})
    with pytest.raises(TypeError, match="sigmas"):
        as_sigma_dict(3.0)


def test_as_sigma_dict_accepts_lists_and_task_correlations():
    x = _exactly_white(50, 3, seed=8)
    corr = task_correlations(x, {"p": x[:, 0], "q": x[:, 1]})
    assert isinstance(corr, TaskCorrelations)
    assert list(as_sigma_dict(corr)) == ["p", "q"]
    assert list(as_sigma_dict([np.ones((1, 3)), np.ones((2, 3))])) == ["task0", "task1"]


def test_one_hot_tasks_share_the_input_mean_mode_unless_centred():
    """Uncentred one-hot correlations of any two classification tasks have an overlap of 1.

    The rows of each Σ_io sum to the input mean, so the mean lies in both tasks' input
    subspaces (the α_1 = 1 of Multi-MNIST, Anon. 2025 (ICLR'26 sub.), App. D.5.1).
    """
    from tasklens.linear.alignment import overlap_singular_values

    rng = np.random.default_rng(9)
    x = rng.normal(size=(400, 8)) + 0.5
    left, right = rng.integers(0, 3, 400), rng.integers(0, 4, 400)
    kinds = {"left": "classification", "right": "classification"}
    corr = task_correlations(x, {"left": left, "right": right}, kinds=kinds, warn=False)
    np.testing.assert_allclose(corr.sigmas["left"].sum(axis=0), x.mean(axis=0), atol=1e-12)
    alphas = overlap_singular_values(corr.sigmas["left"], corr.sigmas["right"])
    assert alphas[0] == pytest.approx(1.0, abs=1e-10)
    centred = task_correlations(x, {"left": left, "right": right}, kinds=kinds, center=True,
                                warn=False)
    alphas_c = overlap_singular_values(centred.sigmas["left"], centred.sigmas["right"])
    assert alphas_c[0] < 1 - 1e-3


def test_unknown_task_in_taskset_selection():
    x = np.random.default_rng(10).normal(size=(30, 2)).astype(np.float32)
    ts = TaskSet.from_arrays(x, {"r": x[:, 0] * 2}, kinds={"r": "regression"})
    with pytest.raises(ValueError, match="nope"):
        task_correlations(ts, tasks=["nope"], warn=False)
    with pytest.raises(TypeError, match="targets"):
        task_correlations(ts, {"r": x[:, 0]})
