"""Training-free alignment affinity and grouping from data."""

from __future__ import annotations

import numpy as np
import pytest

from tasklens.affinity import alignment_affinity, spectrum_gain
from tasklens.data import correlated_pair_family
from tasklens.grouping import group_tasks_from_data


def _pair(regime: str) -> list[np.ndarray]:
    fam = correlated_pair_family(regime, n_inputs=8, n_outputs=4, singular_values_1=[4, 3],
                               singular_values_2=[2, 1.5], seed=0)
    return list(fam.sigmas)


def _gain_by_hand(sa: np.ndarray, sb: np.ndarray) -> float:
    # independent: SVD of the stacked ξ, task a's share of each mode from its rows of U
    u, s, _ = np.linalg.svd(np.vstack([sa, sb]), full_matrices=False)
    keep = s > 1e-10 * s[0]
    share = (u[: len(sa), keep] ** 2).sum(axis=0)
    return float((share * s[keep] ** 3).sum() / (np.linalg.svd(sa, compute_uv=False) ** 3).sum()
                 - 1)


def test_spectrum_gain_values() -> None:
    a, b = _pair("aligned")
    # aligned: modes √(4²+2²), √(3²+1.5²), task 1 holds 0.8 of each
    expected = 0.8 * (20**1.5 + 11.25**1.5) / (4**3 + 3**3) - 1
    assert spectrum_gain(a, b) == pytest.approx(expected, rel=1e-10)
    assert spectrum_gain(b, a) > spectrum_gain(a, b) > 0  # the weaker task gains more
    assert spectrum_gain(*_pair("orthogonal")) == pytest.approx(0.0, abs=1e-12)
    c1, c2 = _pair("conflicting")
    assert spectrum_gain(c1, c2) == pytest.approx(_gain_by_hand(c1, c2), rel=1e-10)
    with pytest.raises(ValueError, match="all zero"):
        spectrum_gain(np.zeros((2, 8)), b)


def test_alignment_affinity_matrices() -> None:
    a, b = _pair("aligned")
    sig = {"a": a, "b": b}
    overlap = alignment_affinity(sig)
    np.testing.assert_allclose(overlap.values, np.ones((2, 2)), atol=1e-10)
    gain = alignment_affinity(sig, score="spectrum_gain")
    assert gain["a", "b"] == pytest.approx(spectrum_gain(a, b))
    assert gain["b", "a"] == pytest.approx(spectrum_gain(b, a))
    balance = alignment_affinity(sig, score="magnitude_balance")
    assert balance["a", "b"] == pytest.approx(np.linalg.norm(b) / np.linalg.norm(a))
    with pytest.raises(ValueError, match="unknown score"):
        alignment_affinity(sig, score="bogus")
    with pytest.raises(ValueError, match="at least two tasks"):
        alignment_affinity({"a": a})


def test_grouping_from_data_finds_aligned_blocks() -> None:
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    # tasks 1,2 read directions 0-2; tasks 3,4 read directions 6-8 (orthogonal blocks)
    def task(cols: slice, scale: float) -> np.ndarray:
        return scale * rng.normal(size=(2, 3)) @ q[:, cols].T

    sig = {"t1": task(slice(0, 3), 1.0), "t2": task(slice(0, 3), 0.5),
           "t3": task(slice(6, 9), 1.0), "t4": task(slice(6, 9), 2.0)}
    sel = group_tasks_from_data(sig, 2)
    assert {c.tasks for c in sel.candidates} == {frozenset({"t1", "t2"}), frozenset({"t3", "t4"})}
