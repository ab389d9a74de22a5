"""train_linear_mtl with a learning rate past the stability bound raises a clear error.

Reference for the bound: for a single linear layer, the loss ``½‖Y − W X‖²/N`` has Hessian
``XᵀX/N``; gradient descent on a quadratic converges iff ``lr < 2/λ_max`` — checked here by
iterating the GD map on the quadratic directly in NumPy, independently of the code.
"""

from __future__ import annotations

import numpy as np
import pytest

from tasklens.linear import DivergenceError, stable_learning_rate, train_linear_mtl


def _data(seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((40, 4)) @ np.diag([3.0, 1.0, 0.5, 0.2])
    return x, [x @ rng.standard_normal((4, 2)), x @ rng.standard_normal((4, 1))]


def _gd_on_quadratic_diverges(x: np.ndarray, lr: float, steps: int = 2000) -> bool:
    hess = x.T @ x / len(x)
    w = np.ones(x.shape[1])
    for _ in range(steps):
        w = w - lr * hess @ w
    return bool(np.linalg.norm(w) > 1.0)


def test_stable_learning_rate_is_the_gd_threshold() -> None:
    x, _ = _data()
    bound = stable_learning_rate(x)
    assert not _gd_on_quadratic_diverges(x, 0.99 * bound)
    assert _gd_on_quadratic_diverges(x, 1.01 * bound)


def test_stable_learning_rate_extreme_inputs() -> None:
    x, _ = _data()
    np.testing.assert_allclose(stable_learning_rate(1e150 * x), stable_learning_rate(x) / 1e300,
                               rtol=1e-12)
    assert stable_learning_rate(np.zeros((3, 2))) == np.inf


def test_huge_learning_rate_raises_naming_lr_and_bound() -> None:
    x, ys = _data()
    bound = stable_learning_rate(x)
    with pytest.raises(DivergenceError, match=r"learning_rate=1000.*2/λ_max\(XᵀX/N\) = ") as info:
        train_linear_mtl(x, ys, 3, learning_rate=1e3, epochs=2000, init="gaussian",
                         init_scale=0.1)
    assert f"{bound:.4g}" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_small_learning_rate_trains_to_finite_values() -> None:
    # the two-layer network's curvature is larger than the regression's (it scales with the
    # weights' norms): 0.5 × the bound diverges on this data, 0.05 × does not
    x, ys = _data()
    res = train_linear_mtl(x, ys, 3, learning_rate=0.05 * stable_learning_rate(x), epochs=50,
                           init="gaussian", init_scale=0.1, record_every=10)
    assert np.all(np.isfinite(res.losses)) and res.losses[-1].sum() < res.losses[0].sum()
