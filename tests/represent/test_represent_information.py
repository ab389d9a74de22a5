"""MIG, mutual information, modularity/explicitness and IRS against loop references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasklens.represent import (
    discrete_entropy,
    discrete_mutual_info,
    histogram_discretize,
    irs,
    mig,
    modularity,
    modularity_explicitness,
    mutual_info_matrix,
)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(20, 200), bins=st.integers(2, 25))
def test_discretize_and_mutual_info_match_loops(ref, seed, n, bins):
    rng = np.random.default_rng(seed)
    codes = rng.standard_normal((n, 3)) * rng.uniform(0.1, 5, size=3)
    factors = rng.integers(0, 5, size=(n, 2))
    binned = histogram_discretize(codes, bins)
    for d in range(3):
        assert binned[:, d].tolist() == ref.equal_width_bins(codes[:, d], bins)
    mi = discrete_mutual_info(binned, factors)
    for d in range(3):
        for f in range(2):
            want = ref.mutual_info_loops(binned[:, d].tolist(), factors[:, f].tolist())
            assert mi[d, f] == pytest.approx(want, abs=1e-12)
    ent = discrete_entropy(factors)
    assert ent == pytest.approx([ref.entropy_loops(factors[:, f].tolist()) for f in range(2)])


def test_mig_matches_loop_reference(ref, constructed):
    for name in ("good", "rotated", "random"):
        codes, factors = constructed[f"{name}_train"], constructed["factors_train"]
        assert mig(codes, factors) == pytest.approx(ref.mig_loops(codes, factors), abs=1e-12)


def test_mig_orders_constructed_codes(constructed):
    f = constructed["factors_train"]
    good = mig(constructed["good_train"], f)
    rotated = mig(constructed["rotated_train"], f)
    random = mig(constructed["random_train"], f)
    assert good > 0.9
    assert random < 0.05
    assert random + 0.1 < rotated < good - 0.1


def test_mig_invariant_to_permutation_and_positive_rescaling(constructed):
    codes, f = constructed["rotated_train"], constructed["factors_train"]
    base = mig(codes, f)
    perm = [3, 1, 0, 2]
    # powers of two and exact shifts keep every bin edge comparison exact
    assert mig(codes[:, perm] * np.array([2.0, 0.25, 8.0, 1.0]) + 4.0, f) == base
    # a generic positive scale may move a value across a bin edge by round-off only
    scaled = codes * np.array([3.7, 0.013, 51.0, 1.9]) - 2.3
    assert mig(scaled, f) == pytest.approx(base, abs=2e-3)


def test_mutual_info_matrix_of_identity_code_is_factor_entropy(constructed):
    f = constructed["factors_train"]
    m = mutual_info_matrix(f.astype(float), f)
    assert np.diag(m) == pytest.approx(discrete_entropy(f))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(1, 6), f=st.integers(2, 5))
def test_modularity_matches_loops(ref, seed, d, f):
    rng = np.random.default_rng(seed)
    mi = rng.uniform(0, 1, size=(d, f)) * (rng.uniform(size=(d, 1)) > 0.2)
    assert modularity(mi) == pytest.approx(ref.modularity_loops(mi), abs=1e-12)


def test_modularity_explicitness_orders_codes(constructed):
    c = constructed
    good = modularity_explicitness(c["good_train"], c["factors_train"], c["good_test"],
                                   c["factors_test"])
    rand = modularity_explicitness(c["random_train"], c["factors_train"], c["random_test"],
                                   c["factors_test"])
    assert good["modularity_score"] > 0.95
    assert good["explicitness_score_test"] > 0.95
    assert rand["explicitness_score_test"] < 0.6
    assert set(good) == {"modularity_score", "explicitness_score_train",
                         "explicitness_score_test"}
    legacy = modularity_explicitness(c["good_train"], c["factors_train"], c["good_test"],
                                     c["factors_test"], logistic="liblinear-ovr")
    assert legacy["modularity_score"] == good["modularity_score"]
    assert legacy["explicitness_score_test"] > 0.9
    with pytest.raises(ValueError, match="unknown logistic 'svm'"):
        modularity_explicitness(c["good_train"], c["factors_train"], c["good_test"],
                                c["factors_test"], logistic="svm")


def test_irs_orders_codes(constructed):
    f = constructed["factors_train"]
    good = irs(constructed["good_train"], f)
    rand = irs(constructed["random_train"], f)
    assert good["irs"] > 0.8
    assert rand["irs"] < good["irs"] - 0.3
    assert good["num_active_dims"] == 4


def test_irs_drops_constant_codes(constructed):
    f = constructed["factors_train"]
    codes = np.hstack([constructed["good_train"], np.ones((len(f), 1))])
    with pytest.warns(RuntimeWarning, match="constant"):
        out = irs(codes, f)
    assert out["num_active_dims"] == 4
    assert out["irs"] == pytest.approx(irs(constructed["good_train"], f)["irs"])


# --- degenerate input -----------------------------------------------------------------------

def test_constant_factor_is_rejected(constructed):
    f = constructed["factors_train"].copy()
    f[:, 1] = 3
    with pytest.raises(ValueError, match=r"factors column 1 .*entropy is 0"):
        mig(constructed["good_train"], f)


def test_constant_code_is_rejected():
    f = np.arange(100)[:, None] % 4
    with pytest.raises(ValueError, match="codes is constant"):
        mig(np.ones((100, 3)), f)


def test_fewer_samples_than_bins_is_rejected():
    codes = np.random.default_rng(0).standard_normal((10, 2))
    with pytest.raises(ValueError, match="10 samples but num_bins=20"):
        mig(codes, (np.arange(10) % 2)[:, None])


def test_nan_codes_are_rejected(constructed):
    codes = constructed["good_train"].copy()
    codes[5, 2] = np.nan
    with pytest.raises(ValueError, match="codes contains 1 NaN"):
        mig(codes, constructed["factors_train"])


def test_length_mismatch_is_rejected(constructed):
    with pytest.raises(ValueError, match="factors has 999 rows but codes has 1000"):
        mig(constructed["good_train"], constructed["factors_train"][:-1])
    with pytest.raises(ValueError, match="factors_test has 499 rows but codes_test has 500"):
        modularity_explicitness(constructed["good_train"], constructed["factors_train"],
                                constructed["good_test"], constructed["factors_test"][:-1])


def test_non_integer_factors_and_single_code_are_rejected(constructed):
    with pytest.raises(ValueError, match="integer-coded"):
        mig(constructed["good_train"], constructed["factors_train"] + 0.5)
    with pytest.raises(ValueError, match="at least 2 code"):
        mig(constructed["good_train"][:, :1], constructed["factors_train"])
