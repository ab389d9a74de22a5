"""Linear CKA at extreme feature scales and on degenerate inputs.

Reference: CKA in exact rational arithmetic (``fractions.Fraction``) on small integer-valued
features, where the scale factor can be pulled out exactly — independent of the float code.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from tasklens.nn.dual_stream import linear_cka as torch_cka
from tasklens.represent.similarity import linear_cka


def _exact_cka(x: np.ndarray, y: np.ndarray) -> float:
    def centred(a: np.ndarray) -> list[list[Fraction]]:
        rows = [[Fraction(int(v)) for v in row] for row in a]
        n = len(rows)
        means = [sum(r[j] for r in rows) / n for j in range(len(rows[0]))]
        return [[r[j] - means[j] for j in range(len(r))] for r in rows]

    def gram_t(a: list[list[Fraction]], b: list[list[Fraction]]) -> list[list[Fraction]]:
        return [[sum(ra[i] * rb[j] for ra, rb in zip(a, b)) for j in range(len(b[0]))]
                for i in range(len(a[0]))]

    def fro2(m: list[list[Fraction]]) -> Fraction:
        return sum(v * v for row in m for v in row)

    xc, yc = centred(x), centred(y)
    num = fro2(gram_t(yc, xc))
    den2 = fro2(gram_t(xc, xc)) * fro2(gram_t(yc, yc))
    return float(num) / float(den2) ** 0.5


@pytest.fixture
def features() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.integers(-5, 6, size=(12, 4)).astype(float)
    y = x @ rng.integers(-2, 3, size=(4, 3)) + rng.integers(-3, 4, size=(12, 3))
    return x, y.astype(float)


@pytest.mark.parametrize(("sx", "sy"), [(1e200, 1.0), (1e200, 1e-200), (1e-300, 1e300),
                                        (1.0, 1.0)])
def test_cka_is_right_at_any_scale(features, sx, sy) -> None:
    x, y = features
    ref = _exact_cka(x, y)
    got = linear_cka(x * sx, y * sy)
    assert np.isfinite(got)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    got_torch = torch_cka(torch.as_tensor(x * sx), torch.as_tensor(y * sy))
    np.testing.assert_allclose(float(got_torch), ref, rtol=1e-12)


def test_torch_cka_gradient_is_scale_covariant(features) -> None:
    x, y = features
    grads = []
    for s in (1.0, 1e200):
        xt = torch.as_tensor(x * s).requires_grad_(True)
        torch_cka(xt, torch.as_tensor(y)).backward()
        grads.append(xt.grad * s)  # CKA(s x) = CKA(x)  ⇒  s ∇CKA(s x) = ∇CKA(x)
    assert bool(torch.isfinite(grads[1]).all())
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-10, atol=1e-14)


def test_constant_and_nan_features_raise(features) -> None:
    x, y = features
    const = np.full_like(x, 0.1)  # the mean of 0.1s is not exactly 0.1: round-off residue
    with pytest.raises(ValueError, match="constant over samples"):
        linear_cka(const, y)
    with pytest.raises(ValueError, match="constant over samples"):
        linear_cka(x, 1e6 + 1e-12 * y)  # variation below float64 resolution
    with pytest.raises(ValueError, match="NaN or infinite"):
        linear_cka(np.where(np.eye(12, 4) > 0, np.nan, x), y)
    with pytest.raises(ValueError, match="constant over samples"):
        linear_cka(np.zeros_like(x), y)


def test_rsm_at_extreme_scales_is_scale_free() -> None:
    from tasklens.represent.similarity import rsm

    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 6))
    ref = np.corrcoef(x)  # NumPy's Pearson correlation between rows
    row_scales = np.array([1e200, 1e-200, 1.0, 1e300, 1e-300])[:, None]
    np.testing.assert_allclose(rsm(x * row_scales), ref, rtol=1e-12, atol=1e-14)
