"""Alignment, magnitude, shared spectrum and rank facts (Anon. 2025 (ICLR'26 sub.), Sec. 2.2).

References: published values (Figure 3 / App. E: S_ξ = [4.472, 3.354]; App. D.2 plot B:
S_ξ = [4, 1.5, 1, 0.5]); the SVD of the stacked ξ and the eigenvalues of
M = Σ_i V_i S_i² V_iᵀ (eq. 9/10) computed here from the construction; rank facts of Lemma 4
on random instances with a known number of shared input directions (hypothesis).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasklens.linear.alignment import (
    alignment_regime,
    classify_overlaps,
    magnitude_ratios,
    overlap_singular_values,
    pairwise_alignment,
    rank_facts,
    shared_spectrum,
    task_rank,
)
from tests.reference import linear_part1_constructions as ref

FAST = settings(max_examples=30, deadline=None)


def test_figure3_aligned_spectrum_and_overlaps():
    rng = np.random.default_rng(0)
    s1, s2 = ref.task_pair("aligned", [4, 3], [2, 1.5], n_in=4, n_out=2, rng=rng)
    spec = shared_spectrum({"t1": s1, "t2": s2})
    np.testing.assert_allclose(spec.nonzero(), [4.472, 3.354], atol=1e-3)
    assert spec.rank == 2
    np.testing.assert_allclose(overlap_singular_values(s1, s2), [1, 1], atol=1e-12)
    reg = alignment_regime(s1, s2)
    assert reg.regime == "aligned" and reg.counts["aligned"] == 2
    # App. D.2 plot A: aligned eigenvalues [4, 1] and [3, 0.5] give S_ξ = [5, 1.118]
    s1, s2 = ref.task_pair("aligned", [4, 1], [3, 0.5], n_in=4, n_out=2, rng=rng)
    np.testing.assert_allclose(shared_spectrum([s1, s2]).nonzero(), [5, 1.118], atol=1e-3)


def test_appendix_d2_orthogonal_spectrum_is_union_of_task_spectra():
    rng = np.random.default_rng(1)
    s1, s2 = ref.task_pair("orthogonal", [4, 1.5], [1, 0.5], n_in=4, n_out=2, rng=rng)
    spec = shared_spectrum([s1, s2])
    np.testing.assert_allclose(spec.singular_values, [4, 1.5, 1, 0.5], atol=1e-12)
    np.testing.assert_allclose(overlap_singular_values(s1, s2), [0, 0], atol=1e-12)
    assert alignment_regime(s1, s2).regime == "orthogonal"
    facts = rank_facts([s1, s2])
    assert facts.orthogonal_rank and facts.xi_rank == 4


def test_conflicting_overlaps_lie_strictly_between():
    rng = np.random.default_rng(2)
    s1, s2 = ref.task_pair("conflicting", [4, 3], [2, 1.5], n_in=4, n_out=2, rng=rng)
    alphas = overlap_singular_values(s1, s2)
    assert np.all(alphas > 1e-3) and np.all(alphas < 1 - 1e-3)
    assert alignment_regime(s1, s2).regime == "conflicting"
    assert shared_spectrum([s1, s2]).rank == 4


def test_mixed_regime_has_per_mode_breakdown():
    rng = np.random.default_rng(3)
    q = ref.orthonormal(6, 4, rng)
    va = q[:, :2]
    # one direction shared, one at 45 degrees to task a's second direction, giving 1 and ~0.71
    vb = np.column_stack([q[:, 0], (q[:, 1] + q[:, 2]) / np.sqrt(2)])
    reg = alignment_regime(np.diag([3.0, 2.0]) @ va.T, np.diag([1.0, 0.5]) @ vb.T, tol=0.05)
    assert reg.regime == "mixed"
    assert reg.mode_regimes == ("aligned", "conflicting")
    np.testing.assert_allclose(reg.overlaps, [1, np.sqrt(0.5)], atol=1e-12)
    json.dumps(reg.to_dict())


@FAST
@given(seed=st.integers(0, 10_000), n_tasks=st.integers(2, 4), n_in=st.integers(3, 7))
def test_shared_spectrum_matches_stacked_svd_and_eigenvalues_of_M(seed, n_tasks, n_in):
    rng = np.random.default_rng(seed)
    sigmas, m = {}, np.zeros((n_in, n_in))
    for i in range(n_tasks):
        n_out = int(rng.integers(1, 4))
        r = min(n_out, n_in)
        u, v = ref.orthonormal(n_out, r, rng), ref.orthonormal(n_in, r, rng)
        s = rng.uniform(0.2, 5.0, size=r)
        sigmas[f"t{i}"] = (u * s) @ v.T
        m += (v * s**2) @ v.T  # eq. 10 with the square (eq. 82)
    xi = np.vstack(list(sigmas.values()))
    spec = shared_spectrum(sigmas)
    k = min(xi.shape)
    np.testing.assert_allclose(spec.singular_values, np.linalg.svd(xi, compute_uv=False),
                               atol=1e-10)
    eig = np.sort(np.clip(np.linalg.eigvalsh(m), 0, None))[::-1][:k]
    np.testing.assert_allclose(spec.singular_values, np.sqrt(eig), atol=1e-6)
    np.testing.assert_allclose((spec.u * spec.singular_values) @ spec.v.T, xi, atol=1e-10)
    for name, sig in sigmas.items():
        np.testing.assert_allclose(spec.u_task(name) @ np.diag(spec.singular_values)
                                   @ spec.v.T, sig, atol=1e-10)


@FAST
@given(seed=st.integers(0, 10_000), r_a=st.integers(1, 4), r_b=st.integers(1, 4),
       k=st.integers(0, 4))
def test_rank_facts_of_lemma4(seed, r_a, r_b, k):
    k = min(k, r_a, r_b)
    rng = np.random.default_rng(seed)
    n_in = r_a + r_b - k + int(rng.integers(0, 3))
    sa, sb = ref.pair_with_shared_dims(r_a, r_b, k, n_in, rng, n_out_a=r_a + 1, n_out_b=r_b)
    facts = rank_facts({"a": sa, "b": sb})
    assert facts.task_ranks == {"a": r_a, "b": r_b}
    assert facts.xi_rank == r_a + r_b - k  # eq. 87
    assert facts.shared_dimension == k
    assert facts.bounds_hold
    alphas = overlap_singular_values(sa, sb)
    assert int(np.sum(alphas > 1 - 1e-8)) == k
    if k == 0:
        assert facts.orthogonal_rank  # eq. 86
        assert alignment_regime(sa, sb).regime == "orthogonal"
    if k == r_a == r_b:
        assert facts.aligned_rank and facts.xi_rank <= max(r_a, r_b)  # eq. 85
        assert alignment_regime(sa, sb).regime == "aligned"


def test_magnitude_ratios_eq11():
    sa = np.array([[3.0, 4.0, 0.0]])  # row norm 5
    sb = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])  # row norms 1, 2
    np.testing.assert_allclose(magnitude_ratios(sa, sb), [[5.0, 2.5]])
    np.testing.assert_allclose(magnitude_ratios(sb, sa), [[0.2], [0.4]])
    # Figure 4 setting: task 2 four times stronger gives ΔM = 0.25 everywhere
    rng = np.random.default_rng(4)
    s = rng.normal(size=(1, 5))
    np.testing.assert_allclose(magnitude_ratios(s, 4 * s), [[0.25]])


def test_pairwise_matrices_agree_with_pair_functions():
    rng = np.random.default_rng(5)
    a, b = ref.task_pair("aligned", [4, 3], [2, 1], n_in=6, n_out=2, rng=rng)
    c = np.diag([1.0, 0.5]) @ ref.orthonormal(6, 2, rng).T
    pw = pairwise_alignment({"a": a, "b": b, "c": c})
    assert pw.task_names == ("a", "b", "c")
    assert pw.regimes[0, 1] == pw.regimes[1, 0] == "aligned"
    for (i, x), (j, y) in [((0, a), (2, c)), ((1, b), (2, c))]:
        alphas = overlap_singular_values(x, y)
        assert pw.mean_overlap[i, j] == pytest.approx(alphas.mean())
        assert pw.min_overlap[j, i] == pytest.approx(alphas.min())
        assert pw.regimes[i, j] == alignment_regime(x, y).regime
        assert pw.xi_rank[i, j] == rank_facts([x, y]).xi_rank
    np.testing.assert_allclose(pw.frobenius_ratio[0, 1], np.linalg.norm(a) / np.linalg.norm(b))
    np.testing.assert_allclose(pw.frobenius_ratio * pw.frobenius_ratio.T, 1.0)
    assert np.all(np.diag(pw.mean_overlap) == 1)
    assert pw.shared_dimension[0, 1] == 2
    np.testing.assert_allclose(pw.magnitudes["a|c"], magnitude_ratios(a, c))
    json.dumps(pw.to_dict())


def test_bad_input_raises_naming_the_argument():
    good = np.eye(2, 3)
    with pytest.raises(ValueError, match="sigma_b"):
        overlap_singular_values(good, np.eye(2, 4))
    nan = good.copy()
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="sigma_a"):
        overlap_singular_values(nan, good)
    with pytest.raises(ValueError, match="sigma_b"):
        alignment_regime(good, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="tol"):
        alignment_regime(good, good, tol=-0.1)
    with pytest.raises(ValueError, match="tol"):
        pairwise_alignment([good, good], tol=0.6)
    with pytest.raises(ValueError, match="rtol"):
        task_rank(good, rtol=-1.0)
    with pytest.raises(ValueError, match=r"sigmas\['task1'\]"):
        shared_spectrum([good, np.eye(2, 4)])
    with pytest.raises(ValueError, match="sigma_b"):
        magnitude_ratios(good, np.eye(2, 4))
    with pytest.raises(ValueError, match="alphas"):
        classify_overlaps([np.nan])
