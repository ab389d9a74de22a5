"""Random-MLP tasks (003 §3.1): determinism, factor subsets, and the law of θ ~ N(0, 1).

References: closed-form output variances of random networks over the draw of θ (linear:
``|x|² + 1``; one ReLU layer: ``H (|x|² + 1) / 2 + 1``; one tanh layer: ``H E[tanh(g)²] + 1``
with ``g ~ N(0, |x|² + 1)``, the expectation by numerical quadrature), least-squares linearity,
and invariance to factors a task does not see.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate

from tasklens.data import Factors
from tasklens.data.random_mlp import random_mlp_targets, random_mlp_tasks, resolve_factor_subsets

# two rows whose factors map to x = (-1, -1, -1) and x = (1, 1, 1), so |x|² = 3
CORNERS = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
UNIT_RANGES = np.array([[0.0, 1.0]] * 3)


def _random_factors(n: int = 40, f: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2, 3, size=(n, f))


def test_shape_standardization_and_determinism() -> None:
    z = _random_factors()
    y = random_mlp_tasks(z, n_tasks=6, seed=4, hidden=40)
    assert y.shape == (40, 6) and y.dtype == np.float64
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(y, random_mlp_tasks(z, n_tasks=6, seed=4, hidden=40))
    other = random_mlp_tasks(z, n_tasks=6, seed=5, hidden=40)
    assert np.all(np.abs(np.corrcoef(y.T, other.T)[:6, 6:]) < 0.999)


def test_task_i_does_not_depend_on_the_number_of_tasks() -> None:
    z = _random_factors()
    for subsets in (None, 2):
        few = random_mlp_tasks(z, 3, seed=1, hidden=30, factor_subsets=subsets)
        many = random_mlp_tasks(z, 7, seed=1, hidden=30, factor_subsets=subsets)
        np.testing.assert_array_equal(few, many[:, :3])


def _output_variance(n_tasks: int, **kwargs) -> float:
    y = random_mlp_tasks(CORNERS, n_tasks, seed=11, factor_ranges=UNIT_RANGES,
                         standardize=False, **kwargs)
    return float(np.mean(y[1] ** 2))  # E over θ of y(x)², x = (1, 1, 1); E y = 0


def test_linear_network_variance_matches_unit_normal_weights_and_biases() -> None:
    # y = w·x + b, w_j, b ~ N(0, 1): Var y = |x|² + 1 = 4
    assert _output_variance(4000, depth=0) == pytest.approx(4.0, rel=0.08)
    # fan-in scaling: std 1/sqrt(3) → Var y = (|x|² + 1) / 3
    assert _output_variance(4000, depth=0, weight_std="fan_in") == pytest.approx(4 / 3, rel=0.08)


def test_relu_layer_variance_matches_closed_form() -> None:
    # E[relu(g)²] = Var g / 2 with Var g = |x|² + 1 = 4 → Var y = 20 · 2 + 1 = 41
    assert _output_variance(3000, depth=1, hidden=20, activation="relu") == pytest.approx(
        41.0, rel=0.1)


def test_tanh_layer_variance_matches_quadrature() -> None:
    sigma = 2.0  # sqrt(|x|² + 1)
    e_tanh2, _ = integrate.quad(
        lambda g: np.tanh(g) ** 2 * np.exp(-g * g / (2 * sigma**2)) / np.sqrt(2 * np.pi * sigma**2),
        -np.inf, np.inf)
    expected = 20 * e_tanh2 + 1
    assert _output_variance(3000, depth=1, hidden=20) == pytest.approx(expected, rel=0.1)


def test_linear_network_is_linear_in_the_factors() -> None:
    z = _random_factors(n=30, f=4)
    y = random_mlp_tasks(z, 3, seed=2, depth=0)
    design = np.column_stack([np.ones(len(z)), z])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    np.testing.assert_allclose(design @ coef, y, atol=1e-10)
    deep = random_mlp_tasks(z, 3, seed=2, hidden=50)
    coef, *_ = np.linalg.lstsq(design, deep, rcond=None)
    assert np.mean((design @ coef - deep) ** 2) > 0.05  # the default networks are not linear


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.lists(st.integers(0, 4), min_size=1, max_size=4, unique=True),
       st.floats(-5, 5).filter(lambda d: abs(d) > 1e-3))
def test_task_depends_only_on_its_factor_subset(seed: int, subset: list[int],
                                                delta: float) -> None:
    z = _random_factors(n=25, f=5, seed=seed % 1000)
    y = random_mlp_tasks(z, 1, seed=seed, hidden=25, factor_subsets=[subset])
    outside = [j for j in range(5) if j not in subset]
    if outside:
        moved = z.copy()
        moved[:, outside] += delta * np.random.default_rng(seed).normal(size=(25, len(outside)))
        np.testing.assert_array_equal(random_mlp_tasks(moved, 1, seed=seed, hidden=25,
                                                       factor_subsets=[subset]), y)
    inside = z.copy()
    inside[0, subset[0]] += delta  # one sample moved along a factor the task sees
    changed = random_mlp_tasks(inside, 1, seed=seed, hidden=25, factor_subsets=[subset])
    assert not np.array_equal(changed, y)


def test_subset_options() -> None:
    subsets = resolve_factor_subsets("halves", 5, 4)
    assert subsets == [(0, 1, 2), (3, 4), (0, 1, 2), (3, 4)]
    drawn = resolve_factor_subsets(3, 5, 50, seed=0)
    assert all(len(s) == 3 and len(set(s)) == 3 and max(s) < 5 for s in drawn)
    assert len(set(drawn)) > 1
    z = _random_factors()
    _, _, info = random_mlp_targets(z, [f"f{j}" for j in range(z.shape[1])],
                                    [np.unique(c) for c in z.T], 4, seed=0, hidden=10,
                                    factor_subsets=2)
    used = info["factor_subsets"]
    assert len(used) == 4 and all(len(s) == 2 for s in used)
    # random_mlp_tasks returns one type whatever the arguments: the (N, n_tasks) targets
    assert isinstance(random_mlp_tasks(z, 4, seed=0, hidden=10, factor_subsets=2), np.ndarray)


def test_factors_object_gives_sample_independent_tasks() -> None:
    levels = (np.linspace(0, 1, 5), np.linspace(-3, 3, 7))
    rng = np.random.default_rng(0)
    values = np.stack([rng.choice(lv, 60) for lv in levels], axis=1)
    full = random_mlp_tasks(Factors(values, ("a", "b"), levels), 2, seed=3, hidden=20,
                            standardize=False)
    part = random_mlp_tasks(Factors(values[:10], ("a", "b"), levels), 2, seed=3, hidden=20,
                            standardize=False)
    np.testing.assert_allclose(part, full[:10], rtol=1e-12)
    explicit = random_mlp_tasks(values, 2, seed=3, hidden=20, standardize=False,
                                factor_ranges=[[0, 1], [-3, 3]])
    np.testing.assert_allclose(explicit, full, rtol=1e-12)


def test_task_on_a_constant_factor_is_zero_not_nan() -> None:
    z = _random_factors()
    z[:, 2] = 1.5
    y = random_mlp_tasks(z, 2, seed=0, hidden=10, factor_subsets=[[2], [0, 2]])
    np.testing.assert_array_equal(y[:, 0], 0.0)
    assert np.isfinite(y).all() and y[:, 1].std() == pytest.approx(1.0)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"factor_subsets": [[0, 5]]}, "factor_subsets"),
    ({"factor_subsets": [[0], [1]]}, "factor_subsets"),
    ({"factor_subsets": [[]]}, "factor_subsets"),
    ({"factor_subsets": [[1, 1]]}, "factor_subsets"),
    ({"factor_subsets": 6}, "factor_subsets"),
    ({"factor_subsets": "thirds"}, "factor_subsets"),
    ({"n_tasks": 0}, "n_tasks"),
    ({"hidden": 0}, "hidden"),
    ({"activation": "gelu"}, "activation"),
    ({"weight_std": -1.0}, "weight_std"),
    ({"weight_std": "xavier"}, "weight_std"),
    ({"factor_ranges": [[0, 1]]}, "factor_ranges"),
])
def test_bad_arguments_name_themselves(kwargs: dict, match: str) -> None:
    args = {"n_tasks": 1, "seed": 0, "hidden": 5, **kwargs}
    with pytest.raises(ValueError, match=match):
        random_mlp_tasks(_random_factors(f=5), **args)


def test_bad_factors() -> None:
    with pytest.raises(ValueError, match="factors"):
        random_mlp_tasks(np.ones(5), 1)
    with pytest.raises(ValueError, match="factors"):
        random_mlp_tasks(np.array([[np.nan, 1.0], [0.0, 1.0]]), 1)
    with pytest.raises(ValueError, match="at least 2 rows"):
        random_mlp_tasks(np.ones((1, 3)), 1)
