"""Linear CKA, RSM/RDM/RSA and retrieved components against second formulas and loops."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group

from tasklens.represent import linear_cka, rdm, retrieved_components, rsa, rsm


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(4, 40), d1=st.integers(1, 8),
       d2=st.integers(1, 8))
def test_linear_cka_matches_hsic_with_centering_matrices(ref, seed, n, d1, d2):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d1)) * rng.uniform(0.1, 10, size=d1) + rng.uniform(-5, 5, d1)
    y = x[:, :1] @ rng.standard_normal((1, d2)) + rng.standard_normal((n, d2))
    assert linear_cka(x, y) == pytest.approx(ref.hsic_cka(x, y), rel=1e-9, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(1e-3, 1e3))
def test_linear_cka_invariant_to_orthogonal_transform_and_isotropic_scaling(seed, scale):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((50, 6))
    y = np.tanh(x @ rng.standard_normal((6, 4))) + 0.3 * rng.standard_normal((50, 4))
    q = ortho_group.rvs(6, random_state=seed)
    base = linear_cka(x, y)
    assert linear_cka(scale * x @ q, y) == pytest.approx(base, rel=1e-9)
    assert linear_cka(x, y * scale + 3.0) == pytest.approx(base, rel=1e-9)
    assert linear_cka(x, x @ q) == pytest.approx(1.0, rel=1e-12)
    assert 0.0 <= base <= 1.0


def test_linear_cka_not_invariant_to_anisotropic_scaling():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 3))
    assert linear_cka(x, x * np.array([1.0, 10.0, 0.1])) < 0.9


def test_linear_cka_rejects_bad_input():
    with pytest.raises(ValueError, match="y has 9 rows but x has 10"):
        linear_cka(np.random.default_rng(0).standard_normal((10, 2)), np.ones((9, 2)))
    with pytest.raises(ValueError, match="x is constant"):
        linear_cka(np.ones((10, 2)), np.random.default_rng(0).standard_normal((10, 2)))
    with pytest.raises(ValueError, match="x contains 1 NaN"):
        linear_cka(np.array([[1.0, np.nan], [2.0, 3.0]]), np.ones((2, 2)))


def test_rsm_is_sample_correlation_and_rsa_matches_loops(ref):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((12, 5))
    y = x @ rng.standard_normal((5, 3)) + 0.5 * rng.standard_normal((12, 3))
    np.testing.assert_allclose(rsm(x), np.corrcoef(x), atol=1e-12)
    np.testing.assert_allclose(rdm(x), 1 - np.corrcoef(x), atol=1e-12)
    assert rsa(x, y) == pytest.approx(ref.rsa_loops(x, y), abs=1e-12)
    # RSA sees only the rank order of pair dissimilarities
    assert rsa(x, 2.0 * x + 1.0) == pytest.approx(1.0)


def test_rsa_rejects_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="x rows \\[1\\] are constant"):
        rsa(np.array([[1.0, 2.0], [3.0, 3.0], [0.0, 1.0]]), rng.standard_normal((3, 2)))
    with pytest.raises(ValueError, match="must match"):
        rsa(rng.standard_normal((5, 3)), rng.standard_normal((4, 3)))
    with pytest.raises(ValueError, match="at least 3 samples"):
        rsa(rng.standard_normal((2, 3)), rng.standard_normal((2, 3)))


def test_retrieved_components_counts_distinct_significant_matches():
    rng = np.random.default_rng(0)
    f = np.stack([rng.integers(0, k, 800) for k in (3, 5, 7)], axis=1)
    z = f + 0.3 * rng.standard_normal(f.shape)
    # codes: factor 2 negated, factor 0 twice, and pure noise; factor 1 is never retrieved
    codes = np.column_stack([-z[:, 2], z[:, 0], 2 * z[:, 0], rng.standard_normal(800)])
    out = retrieved_components(codes, f, alpha=1e-3)
    assert out.matches.tolist() == [2, 0, 0, -1]
    assert out.num_retrieved == 2
    assert out.correlations[0, 2] < -0.9
    d = out.to_dict()
    assert d["num_retrieved"] == 2 and d["min_corr"] > 0.9
    with pytest.warns(RuntimeWarning, match="constant"):
        dead = retrieved_components(np.column_stack([codes, np.ones(800)]), f, alpha=1e-3)
    assert dead.matches[-1] == -1 and dead.num_retrieved == 2
