"""DCI and SAP: constructed codes with known answers, loop references, invariances, seeds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasklens.represent import (
    completeness_score,
    dci,
    dci_importance,
    disentanglement_score,
    sap,
    sap_matrix,
)

FEW_TREES = 10  # these tests are about the definitions, not the reference's 100 stages


def _dci(c, name, **kw):
    kw.setdefault("n_estimators", FEW_TREES)
    kw.setdefault("seed", 0)
    return dci(c[f"{name}_train"], c["factors_train"], c[f"{name}_test"], c["factors_test"],
               **kw)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), d=st.integers(2, 7), f=st.integers(2, 5))
def test_dci_scores_match_loops(ref, seed, d, f):
    rng = np.random.default_rng(seed)
    r = rng.uniform(0, 1, size=(d, f)) ** 3 * (rng.uniform(size=(d, f)) > 0.3)
    r[0, 0] += 0.1  # keep the matrix non-zero
    want_d, want_c = ref.dci_scores_loops(r)
    assert disentanglement_score(r) == pytest.approx(want_d, abs=1e-10)
    assert completeness_score(r) == pytest.approx(want_c, abs=1e-10)


def test_dci_scores_of_known_matrices():
    assert disentanglement_score(np.eye(4)) == pytest.approx(1.0, abs=1e-8)
    assert completeness_score(np.eye(4)) == pytest.approx(1.0, abs=1e-8)
    assert disentanglement_score(np.ones((4, 4))) == pytest.approx(0.0, abs=1e-12)
    # one code explains everything: completely complete, not disentangled
    one_code = np.zeros((3, 3))
    one_code[0] = 1.0
    assert completeness_score(one_code) == pytest.approx(1.0, abs=1e-8)
    assert disentanglement_score(one_code) == pytest.approx(0.0, abs=1e-8)


def test_dci_orders_constructed_codes(constructed):
    good = _dci(constructed, "good")
    rotated = _dci(constructed, "rotated")
    random = _dci(constructed, "random")
    assert good["disentanglement"] > 0.9 and good["completeness"] > 0.9
    assert good["informativeness_test"] > 0.95
    assert random["disentanglement"] < 0.3 and random["completeness"] < 0.3
    assert random["informativeness_test"] < 0.35
    for key in ("disentanglement", "completeness"):
        assert random[key] + 0.1 < rotated[key] < good[key] - 0.05


def test_dci_invariant_to_permutation_and_positive_rescaling(constructed):
    c = constructed
    base_imp, _, _ = dci_importance(c["rotated_train"], c["factors_train"], c["rotated_test"],
                                    c["factors_test"], 0, n_estimators=FEW_TREES)
    perm = np.array([2, 3, 0, 1])
    scale = np.array([5.0, 0.01, 3.3, 120.0])
    moved = {k: (v[:, perm] * scale + 1.5 if k.startswith("rotated") else v)
             for k, v in c.items()}
    imp, _, _ = dci_importance(moved["rotated_train"], c["factors_train"],
                               moved["rotated_test"], c["factors_test"], 0,
                               n_estimators=FEW_TREES)
    # trees see only the order of each code, so only ties between equally good splits (broken
    # by the visiting order of features, which the permutation changes) may differ
    np.testing.assert_allclose(imp, base_imp[perm], atol=2e-3)
    a, b = _dci(c, "rotated"), _dci(moved, "rotated")
    for key in a:
        assert b[key] == pytest.approx(a[key], abs=2e-3)


def test_dci_seeds_and_jobs_give_identical_numbers(constructed):
    c = {k: v[:300] for k, v in constructed.items()}
    first = _dci(c, "rotated", seed=7, n_estimators=5)
    assert _dci(c, "rotated", seed=7, n_estimators=5) == first
    from joblib import parallel_config

    with parallel_config(backend="threading"):  # same code path, no process start-up
        assert _dci(c, "rotated", seed=7, n_estimators=5, n_jobs=2) == first


def test_dci_hist_backend_agrees_on_clear_cases(constructed):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # the shared test machine has 2 cores; avoid oversubscription
        good = _dci(constructed, "good", backend="hist")
        random = _dci(constructed, "random", backend="hist")
    assert good["disentanglement"] > 0.9 and good["completeness"] > 0.9
    assert random["disentanglement"] < 0.3
    with pytest.raises(ValueError, match="unknown backend 'xgb'"):
        _dci(constructed, "good", backend="xgb")


def test_dci_rejects_degenerate_input(constructed):
    c = constructed
    f = c["factors_train"].copy()
    f[:, 0] = 1
    with pytest.raises(ValueError, match="factors_train column 0"):
        dci(c["good_train"], f, c["good_test"], c["factors_test"], n_estimators=2)
    with pytest.raises(ValueError, match="codes_train has 4 columns but codes_test has 3"):
        dci(c["good_train"], c["factors_train"], c["good_test"][:, :3], c["factors_test"],
            n_estimators=2)


def test_sap_discrete_orders_constructed_codes(constructed):
    c = constructed
    good = sap(c["good_train"], c["factors_train"], c["good_test"], c["factors_test"])
    random = sap(c["random_train"], c["factors_train"], c["random_test"], c["factors_test"])
    assert random < 0.05
    # a linear SVM on one code separates only some levels of a multi-level factor
    assert good > random + 0.15
    m = sap_matrix(c["good_train"], c["factors_train"], c["good_test"], c["factors_test"])
    assert m.shape == (4, 4)
    # each factor is best predicted by the code it was permuted to
    assert np.argmax(m, axis=0).tolist() == [1, 3, 0, 2]


def test_sap_continuous_is_squared_correlation(constructed):
    c = constructed
    codes, f = c["rotated_train"], c["factors_train"].astype(float)
    m = sap_matrix(codes, f, continuous=True)
    want = np.array([[np.corrcoef(codes[:, d], f[:, j])[0, 1] ** 2 for j in range(4)]
                     for d in range(4)])
    np.testing.assert_allclose(m, want, atol=1e-12)
    top = np.sort(want, axis=0)
    assert sap(codes, f, None, None, continuous=True) == pytest.approx(
        np.mean(top[-1] - top[-2]))
    good = sap(c["good_train"], f, None, None, continuous=True)
    assert good > 0.95


def test_sap_rejects_degenerate_input(constructed):
    c = constructed
    with pytest.raises(ValueError, match="at least 2 code"):
        sap(c["good_train"][:, :1], c["factors_train"], c["good_test"][:, :1],
            c["factors_test"])
    with pytest.raises(ValueError, match="needs codes_test"):
        sap(c["good_train"], c["factors_train"], None, None)
