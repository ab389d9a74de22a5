"""Tests of the linear task families of 000 App. D.1–D.4 (tasklens.data.linear_families).

References: plain-NumPy SVD helpers in tests/reference/linear_families_overlap.py (overlap
singular values two ways, shared spectrum, eq. 11 magnitude ratios), published numbers of
000 (Figure 3 / App. E, Figure 10 plots A–B), closed forms derived in the test docstrings.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasklens.data.builtin import load_builtin
from tasklens.data.linear_families import (
    LinearTaskFamily,
    correlated_family,
    correlated_pair_family,
    gamma_mtl,
    gamma_mtl_family,
    random_regression,
    random_regression_family,
    teacher_student_family,
    whitened_inputs,
)
from tests.reference import linear_families_overlap as ref

FAST = settings(max_examples=25, deadline=None)


def _svals(a: np.ndarray, r: int) -> np.ndarray:
    return np.linalg.svd(a, compute_uv=False)[:r]


# ---------------------------------------------------------------- D.1: shapes and spectra
@st.composite
def pair_configs(draw):
    regime = draw(st.sampled_from(["aligned", "conflicting", "orthogonal"]))
    r1 = draw(st.integers(1, 3))
    r2 = r1 if regime == "aligned" else draw(st.integers(1, 3))
    n_in = draw(st.integers(r1 + r2, 8))
    n_out = (draw(st.integers(r1, 6)), draw(st.integers(r2, 6)))
    values = st.floats(0.05, 20.0, allow_nan=False)
    s1 = draw(st.lists(values, min_size=r1, max_size=r1))
    s2 = draw(st.lists(values, min_size=r2, max_size=r2))
    seed = draw(st.integers(0, 2**31 - 1))
    return regime, n_in, n_out, s1, s2, seed


@FAST
@given(pair_configs())
def test_requested_singular_values_come_out_exactly(cfg):
    regime, n_in, n_out, s1, s2, seed = cfg
    fam = correlated_pair_family(regime, n_in, n_out, s1, s2, seed=seed)
    assert [s.shape for s in fam.sigmas] == [(n_out[0], n_in), (n_out[1], n_in)]
    for sigma, want in zip(fam.sigmas, (s1, s2), strict=True):
        got = np.linalg.svd(sigma, compute_uv=False)
        want = np.sort(want)[::-1]
        np.testing.assert_allclose(got[: len(want)], want, rtol=1e-10, atol=1e-12)
        assert np.all(got[len(want):] < 1e-10 * want[0])  # no extra modes


@FAST
@given(pair_configs())
def test_overlap_singular_values_match_the_regime(cfg):
    regime, n_in, n_out, s1, s2, seed = cfg
    fam = correlated_pair_family(regime, n_in, n_out, s1, s2, seed=seed)
    ov = ref.overlap_singular_values(*fam.sigmas)
    np.testing.assert_allclose(ov, ref.principal_cosines(*fam.sigmas), atol=1e-7)
    if regime == "aligned":
        np.testing.assert_allclose(ov, 1.0, atol=1e-10)
    elif regime == "orthogonal":
        np.testing.assert_allclose(ov, 0.0, atol=1e-10)
    else:
        assert np.all(ov > 1e-9) and np.all(ov < 1 - 1e-9), ov


@FAST
@given(pair_configs())
def test_factors_reconstruct_sigmas_with_orthonormal_bases(cfg):
    regime, n_in, n_out, s1, s2, seed = cfg
    fam = correlated_pair_family(regime, n_in, n_out, s1, s2, seed=seed)
    for (u, s, v), sigma in zip(fam.factors, fam.sigmas, strict=True):
        np.testing.assert_allclose((u * s) @ v.T, sigma, atol=1e-12)
        np.testing.assert_allclose(u.T @ u, np.eye(len(s)), atol=1e-12)
        np.testing.assert_allclose(v.T @ v, np.eye(len(s)), atol=1e-12)
        assert np.all(np.diff(s) <= 0)


def test_aligned_square_tasks_use_the_papers_symmetric_construction():
    """eq. 160: Σ_io = U diag(λ) Uᵀ when N_io = N_i, hence symmetric."""
    fam = correlated_pair_family("aligned", 5, 5, [3, 2, 1], [1, 0.5, 0.2], seed=1)
    for sigma in fam.sigmas:
        np.testing.assert_allclose(sigma, sigma.T, atol=1e-12)
    assert fam.params["left_bases"] == ["equal_to_right", "equal_to_right"]


def test_aligned_tasks_of_different_rank_share_their_common_modes():
    fam = correlated_pair_family("aligned", 5, (3, 2), [3, 2, 1], [4, 1], seed=6)
    ov = ref.overlap_singular_values(*fam.sigmas)
    assert ov.shape == (2,)
    np.testing.assert_allclose(ov, 1.0, atol=1e-10)


def test_orthogonal_left_bases_are_disjoint_when_they_fit():
    fam = correlated_pair_family("orthogonal", 6, 6, [3, 2], [1, 0.5], seed=2)
    assert fam.params["left_bases"] == ["disjoint", "disjoint"]
    u1, u2 = fam.factors[0].U, fam.factors[1].U
    np.testing.assert_allclose(u1.T @ u2, 0.0, atol=1e-12)


# ---------------------------------------------------------------- published numbers
def test_figure3_aligned_shared_spectrum():
    """App. E, Figure 3: S_1 = (4, 3), S_2 = (2, 1.5) aligned → S_ξ = (4.472, 3.354), rank 2."""
    fam = correlated_pair_family("aligned", 4, 2, [4, 3], [2, 1.5], seed=0)
    s_xi = ref.shared_spectrum(fam.sigmas)
    np.testing.assert_allclose(s_xi[:2], [4.472, 3.354], atol=5e-4)
    np.testing.assert_allclose(s_xi[:2], [np.sqrt(20), np.sqrt(11.25)], rtol=1e-12)
    assert np.all(s_xi[2:] < 1e-12)


def test_figure3_conflicting_and_orthogonal_have_rank_four():
    for regime in ("conflicting", "orthogonal"):
        fam = correlated_pair_family(regime, 4, 2, [4, 3], [2, 1.5], seed=0)
        assert np.linalg.matrix_rank(fam.xi, tol=1e-10) == 4


def test_figure3_conflicting_overlap_can_be_prescribed():
    """App. E: overlap eigenvalues (0.923, 0.277) for the conflicting pair of Figure 3."""
    fam = correlated_pair_family("conflicting", 4, 2, [4, 3], [2, 1.5], seed=0,
                               overlap=[0.923, 0.277])
    np.testing.assert_allclose(ref.overlap_singular_values(*fam.sigmas), [0.923, 0.277],
                               atol=1e-12)
    np.testing.assert_allclose(_svals(fam.sigmas[0], 2), [4, 3], rtol=1e-12)
    np.testing.assert_allclose(_svals(fam.sigmas[1], 2), [2, 1.5], rtol=1e-12)


def test_eq10_needs_squared_singular_values():
    """S_ξ² are the eigenvalues of V_1 S_1² V_1ᵀ + V_2 S_2² V_2ᵀ = ξᵀξ (eq. 10 prints S, not S²)."""
    fam = correlated_pair_family("conflicting", 5, 2, [4, 3], [2, 1.5], seed=8)
    m2 = sum((v * s**2) @ v.T for _, s, v in fam.factors)
    m1 = sum((v * s) @ v.T for _, s, v in fam.factors)
    s_xi = ref.shared_spectrum(fam.sigmas)
    np.testing.assert_allclose(np.sqrt(np.linalg.eigvalsh(m2)[::-1][:4]), s_xi, rtol=1e-10)
    assert not np.allclose(np.sqrt(np.clip(np.linalg.eigvalsh(m1)[::-1][:4], 0, None)), s_xi)


def test_figure10_plots_a_and_b_shared_spectra():
    """App. D.2: aligned (4, 1) & (3, 0.5) → S_ξ ≈ (5, 1.118); orthogonal (4, 1.5) & (1, 0.5)
    → S_ξ = (4, 1.5, 1, 0.5), the ordered union."""
    aligned = correlated_pair_family("aligned", 4, 4, [4, 1], [3, 0.5], seed=3)
    np.testing.assert_allclose(ref.shared_spectrum(aligned.sigmas)[:2], [5.0, 1.118], atol=5e-4)
    ortho = correlated_pair_family("orthogonal", 4, 2, [4, 1.5], [1, 0.5], seed=3)
    np.testing.assert_allclose(ref.shared_spectrum(ortho.sigmas), [4, 1.5, 1, 0.5], rtol=1e-12)


# ---------------------------------------------------------------- normalization
def test_normalize_rows_balances_every_output_dimension():
    """eq. 11: ΔM^(i,j) = 1 for all rows; row spaces (overlaps) and ||ξ||_F unchanged."""
    for regime in ("aligned", "conflicting", "orthogonal"):
        raw = correlated_pair_family(regime, 4, 2, [4, 3], [2, 1.5], seed=5)
        fam = correlated_pair_family(regime, 4, 2, [4, 3], [2, 1.5], seed=5, normalize=True)
        np.testing.assert_allclose(ref.row_magnitude_ratios(*fam.sigmas), 1.0, rtol=1e-12)
        np.testing.assert_allclose(ref.row_magnitude_ratios(fam.sigmas[0], fam.sigmas[0]), 1.0,
                                   rtol=1e-12)
        np.testing.assert_allclose(ref.overlap_singular_values(*fam.sigmas),
                                   ref.overlap_singular_values(*raw.sigmas), atol=1e-10)
        np.testing.assert_allclose(np.linalg.norm(fam.xi), np.linalg.norm(raw.xi), rtol=1e-12)
        for (u, s, v), sigma in zip(fam.factors, fam.sigmas, strict=True):
            np.testing.assert_allclose((u * s) @ v.T, sigma, atol=1e-12)
        assert fam.params["normalize"] == "rows"
        assert fam.params["singular_values"] == [[4.0, 3.0], [2.0, 1.5]]


def test_normalize_tasks_gives_equal_frobenius_norms_and_spectra():
    fam = correlated_pair_family("aligned", 4, 2, [4, 3], [2, 1.5], seed=0, normalize="tasks")
    n1, n2 = (np.linalg.norm(s) for s in fam.sigmas)
    np.testing.assert_allclose(n1, n2, rtol=1e-12)
    np.testing.assert_allclose(_svals(fam.sigmas[0], 2), _svals(fam.sigmas[1], 2), rtol=1e-12)
    np.testing.assert_allclose(_svals(fam.sigmas[0], 2), np.array([4, 3]) * np.sqrt(15.625) / 5,
                               rtol=1e-12)


# ---------------------------------------------------------------- sampling
@FAST
@given(st.integers(1, 12), st.integers(0, 30), st.integers(0, 2**31 - 1))
def test_whitened_inputs_are_exactly_white(n_in, extra, seed):
    x = whitened_inputs(n_in + extra, n_in, seed)
    np.testing.assert_allclose(x.T @ x / len(x), np.eye(n_in), atol=1e-10)


@FAST
@given(pair_configs(), st.integers(0, 20))
def test_samples_realize_the_sigmas(cfg, extra):
    regime, n_in, n_out, s1, s2, seed = cfg
    fam = correlated_pair_family(regime, n_in, n_out, s1, s2, seed=seed)
    n = n_in + extra
    x, ys = fam.sample(n, seed=seed + 1)
    assert x.shape == (n, n_in)
    np.testing.assert_allclose(x.T @ x / n, np.eye(n_in), atol=1e-10)
    for y, sigma in zip(ys, fam.sigmas, strict=True):
        assert y.shape == (n, sigma.shape[0])
        np.testing.assert_allclose(y.T @ x / n, sigma, atol=1e-10)


def test_to_taskset_regression_tasks_and_info():
    fam = correlated_pair_family("conflicting", 6, (2, 3), [3, 1], [2, 1], seed=4)
    ts = fam.to_taskset(50, seed=9)
    assert ts.task_names == ["task_1", "task_2"]
    assert ts.inputs.shape == (50, 6)
    x = ts.inputs.astype(np.float64)
    for name, sigma in zip(ts.task_names, fam.sigmas, strict=True):
        task = ts[name]
        assert task.kind == "regression" and task.targets.shape == (50, sigma.shape[0])
        np.testing.assert_allclose(task.targets.astype(np.float64).T @ x / 50, sigma, atol=1e-5)
    assert ts.info["generator"].endswith("correlated_pair_family")
    assert ts.info["sample_seed"] == 9 and ts.info["family_params"]["seed"] == 4
    assert ts.info["family_params"]["regime"] == "conflicting"


def test_seeds_reproduce_and_differ():
    a = correlated_pair_family("conflicting", 5, 2, [2, 1], [1, 0.5], seed=11)
    b = correlated_pair_family("conflicting", 5, 2, [2, 1], [1, 0.5], seed=11)
    c = correlated_pair_family("conflicting", 5, 2, [2, 1], [1, 0.5], seed=12)
    for sa, sb, sc in zip(a.sigmas, b.sigmas, c.sigmas, strict=True):
        np.testing.assert_array_equal(sa, sb)
        assert not np.allclose(sa, sc)
    np.testing.assert_array_equal(a.sample(10, 3)[0], b.sample(10, 3)[0])
    g1 = gamma_mtl_family(8, 2, 0.3, seed=np.random.default_rng(7))
    g2 = gamma_mtl_family(8, 2, 0.3, seed=np.random.default_rng(7))
    np.testing.assert_array_equal(g1.sigmas[1], g2.sigmas[1])
    t1, t2 = teacher_student_family(10, 5, seed=1), teacher_student_family(10, 5, seed=1)
    np.testing.assert_array_equal(t1.sigmas[0], t2.sigmas[0])


def test_family_is_frozen_and_read_only():
    fam = correlated_pair_family("aligned", 3, 3, [1], [2], seed=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fam.name = "x"  # type: ignore[misc]
    with pytest.raises(ValueError):
        fam.sigmas[0][0, 0] = 1.0
    assert fam.to_dict()["task_names"] == ["task_1", "task_2"]


# ---------------------------------------------------------------- N_T > 2
def test_three_tasks_pairwise_regimes():
    svs = [[3, 1], [2, 1], [1.5, 0.5]]
    aligned = correlated_family("aligned", 6, 2, svs, seed=0)
    ortho = correlated_family("orthogonal", 6, 2, svs, seed=0)
    for a in range(3):
        for b in range(a + 1, 3):
            np.testing.assert_allclose(
                ref.overlap_singular_values(aligned.sigmas[a], aligned.sigmas[b]), 1.0,
                atol=1e-10)
            np.testing.assert_allclose(
                ref.overlap_singular_values(ortho.sigmas[a], ortho.sigmas[b]), 0.0, atol=1e-10)
    # orthogonal: the shared spectrum is the ordered union of the task spectra (Sec. 2.2)
    union = sorted((v for s in svs for v in s), reverse=True)
    np.testing.assert_allclose(ref.shared_spectrum(ortho.sigmas), union, rtol=1e-12)


# ---------------------------------------------------------------- D.2 teacher–student
def test_teacher_student_is_zero_balanced_and_realized():
    fam = teacher_student_family(10, 5, (2, 2), (0.025, 0.025), seed=0)
    ws = fam.arrays["W_S"]
    heads = [fam.arrays["W_task_1"], fam.arrays["W_task_2"]]
    assert ws.shape == (5, 10) and heads[0].shape == (2, 5)
    gram = sum(w.T @ w for w in heads)
    np.testing.assert_allclose(ws @ ws.T, gram, atol=1e-14, rtol=1e-10)
    x, ys = fam.sample(40, seed=1)
    for y, w in zip(ys, heads, strict=True):
        np.testing.assert_allclose(y, x @ (w @ ws).T, atol=1e-12)  # Y_i = W_i W_S x, eq. 165


@FAST
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 8), st.integers(0, 6),
       st.integers(0, 10_000))
def test_teacher_student_zero_balanced_for_any_shape(o1, o2, n_hidden, extra, seed):
    n_in = min(o1 + o2, n_hidden) + extra
    fam = teacher_student_family(n_in, n_hidden, (o1, o2), (0.5, 2.0), seed=seed)
    ws = fam.arrays["W_S"]
    gram = fam.arrays["W_task_1"].T @ fam.arrays["W_task_1"] + \
        fam.arrays["W_task_2"].T @ fam.arrays["W_task_2"]
    np.testing.assert_allclose(ws @ ws.T, gram, atol=1e-10 * max(1.0, np.abs(gram).max()))


# ---------------------------------------------------------------- D.3 random regression
def test_random_regression_sigmas_are_empirical_correlations():
    fam = random_regression_family(20, 3, 100, scales=(1.0, 2.0), noise=(0.1, 0.3), seed=0)
    x = fam.arrays["inputs"]
    np.testing.assert_allclose(x.T @ x / 100, np.eye(20), atol=1e-10)
    b = fam.arrays["shared_signal"]
    for name, alpha, sigma in zip(fam.task_names, (1.0, 2.0), fam.sigmas, strict=True):
        y = fam.arrays[f"targets_{name}"]
        np.testing.assert_allclose(sigma, sum(np.outer(y[n], x[n]) for n in range(100)) / 100,
                                   atol=1e-12)
        # the task-specific noise ε = Y/α − B has about the requested spread
        eps_std = np.std(y / alpha - b)
        assert 0.5 * fam.params["noise"][fam.task_names.index(name)] < eps_std
    ts = random_regression(seed=0)
    assert ts.inputs.shape == (100, 20) and ts["task_1"].targets.shape == (100, 3)


def test_random_regression_without_noise_is_aligned_and_scaled():
    fam = random_regression_family(10, 2, 30, scales=(1.0, 4.0), noise=(0.0, 0.0), seed=1)
    np.testing.assert_allclose(fam.sigmas[1], 4.0 * fam.sigmas[0], atol=1e-12)
    np.testing.assert_allclose(ref.overlap_singular_values(*fam.sigmas), 1.0, atol=1e-10)


# ---------------------------------------------------------------- D.4 γ-MTL
@FAST
@given(st.floats(0.0, 1.0), st.integers(1, 4), st.integers(0, 6), st.integers(0, 10_000))
def test_gamma_overlap_closed_form(gamma, n_out, extra, seed):
    """Rows γ b_k + (1−γ) b⊥_k are orthogonal with norm sqrt(γ² + (1−γ)²), so every
    overlap singular value is γ / sqrt(γ² + (1−γ)²)."""
    fam = gamma_mtl_family(2 * n_out + extra, n_out, gamma, scales=(1.0, 4.0), seed=seed)
    want = gamma / np.hypot(gamma, 1 - gamma)
    ov = ref.overlap_singular_values(fam.sigmas[0], fam.sigmas[1])
    np.testing.assert_allclose(ov, want, atol=1e-10)
    np.testing.assert_allclose(_svals(fam.sigmas[1], n_out), 4.0 * np.hypot(gamma, 1 - gamma),
                               rtol=1e-12)
    for (u, s, v), sigma in zip(fam.factors, fam.sigmas, strict=True):
        np.testing.assert_allclose((u * s) @ v.T, sigma, atol=1e-12)


def test_gamma_claims_aligned_orthogonal_and_half():
    ov = {g: ref.overlap_singular_values(*gamma_mtl_family(20, 1, g, seed=0).sigmas)
          for g in (0.0, 0.5, 1.0)}
    np.testing.assert_allclose(ov[1.0], 1.0, atol=1e-10)
    np.testing.assert_allclose(ov[0.0], 0.0, atol=1e-10)
    np.testing.assert_allclose(ov[0.5], 1 / np.sqrt(2), atol=1e-10)
    # magnitude ratio of eq. 11 at γ = 0.5 with α = (1, 4): 1 / (4 / sqrt(2))
    fam = gamma_mtl_family(20, 1, 0.5, seed=0)
    np.testing.assert_allclose(ref.row_magnitude_ratios(*fam.sigmas), np.sqrt(2) / 4, rtol=1e-12)


def test_gamma_mtl_and_builtin_registry():
    ts = gamma_mtl()
    assert ts.inputs.shape == (200, 20) and ts.task_names == ["task_1", "task_2"]
    assert ts["task_2"].targets.shape == (200, 1) and ts["task_2"].kind == "regression"
    assert ts.info["seed"] == 0 and ts.info["family_params"]["gamma"] == 0.5
    x = ts.inputs.astype(np.float64)
    np.testing.assert_allclose(x.T @ x / 200, np.eye(20), atol=1e-5)
    same = load_builtin("gamma_mtl")
    np.testing.assert_array_equal(same.inputs, ts.inputs)
    np.testing.assert_array_equal(same["task_1"].targets, ts["task_1"].targets)
    fam = gamma_mtl_family(20, 1, 0.5, seed=np.random.default_rng(0))
    y1 = ts["task_1"].targets.astype(np.float64)
    np.testing.assert_allclose(y1.T @ x / 200, fam.sigmas[0], atol=1e-5)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: correlated_pair_family("aligend", 4, 2, [1], [1]), "regime"),
        (lambda: correlated_pair_family("aligned", 4, 2, [1, 2, 3], [1, 2, 3]),
         "singular_values_1"),
        (lambda: correlated_pair_family("aligned", 4, 2, [1, -2], [1, 2]), "singular_values_1"),
        (lambda: correlated_pair_family("aligned", 4, 2, [1, 2], [0, 2]), "singular_values_2"),
        (lambda: correlated_pair_family("aligned", 4, 2, [1, np.nan], [1, 2]), "singular_values_1"),
        (lambda: correlated_pair_family("orthogonal", 3, 2, [1, 2], [1, 2]), "n_inputs"),
        (lambda: correlated_pair_family("conflicting", 3, 2, [1, 2], [1, 2]), "n_inputs"),
        (lambda: correlated_pair_family("aligned", 4, (2, 2, 2), [1], [1]), "n_outputs"),
        (lambda: correlated_pair_family("aligned", 4, 2, [1], [1], normalize="max"), "normalize"),
        (lambda: correlated_pair_family("aligned", 4, 2, [1], [1], overlap=[0.5]), "overlap"),
        (lambda: correlated_pair_family("conflicting", 4, 2, [2, 1], [2, 1], overlap=[0.5]),
         "overlap"),
        (lambda: correlated_pair_family("conflicting", 4, 2, [2, 1], [2, 1], overlap=[1, 0.5]),
         "overlap"),
        (lambda: correlated_pair_family("aligned", 4, 2, [1], [1]).sample(3), "n_samples"),
        (lambda: whitened_inputs(2, 5), "n_samples"),
        (lambda: teacher_student_family(2, 5, (2, 2)), "n_inputs"),
        (lambda: teacher_student_family(10, 5, (2, 2), (0.1, -0.1)), "teacher_scales"),
        (lambda: teacher_student_family(10, 5, (2, 2), (0.1,)), "n_outputs"),
        (lambda: random_regression_family(10, 2, 5), "n_samples"),
        (lambda: random_regression_family(10, 2, 20, noise=(0.1,)), "noise"),
        (lambda: random_regression_family(10, 2, 20, noise=(0.1, -1)), "noise"),
        (lambda: gamma_mtl_family(3, 2, 0.5), "n_inputs"),
        (lambda: gamma_mtl_family(4, 2, 1.5), "gamma"),
        (lambda: gamma_mtl_family(4, 2, 0.5, scales=(1, 2, 3)), "scales"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_bad_types_raise_type_error():
    with pytest.raises(TypeError, match="n_inputs"):
        correlated_pair_family("aligned", 4.0, 2, [1], [1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="gamma"):
        gamma_mtl_family(4, 1, "half")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="seed"):
        correlated_pair_family("aligned", 4, 2, [1], [1], seed="0")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="task_names"):
        LinearTaskFamily([np.eye(2), np.eye(2)], ["a", "a"])
    with pytest.raises(ValueError, match="N_i"):
        LinearTaskFamily([np.eye(2), np.eye(3)], ["a", "b"])
