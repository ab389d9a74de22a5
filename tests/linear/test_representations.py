"""Convergence RSMs and the STL-vs-MTL comparison (Anon. 2025 (ICLR'26 sub.), Sec. 5, eq. 23-25).

References: matrix square roots (ξᵀξ)^{1/2} and (ξξᵀ)^{1/2} from an eigendecomposition;
closed forms derived by hand for a task and its scaled copy (Σ_2 = c Σ_1):
ΔUSUᵀ_1 = (1/√(1+c²) - 1) U_1S_1U_1ᵀ and ΔVSVᵀ = (√(1+c²) - 1 - c) V_1S_1V_1ᵀ; the exact zeros
the paper states for orthogonal tasks; the gradient-flow limit W_Sᵀ W_S from a numerical ODE.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasklens.linear.representations import convergence_rsms
from tests.reference import linear_part1_constructions as ref


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_tasks=st.integers(2, 4))
def test_rsms_are_matrix_square_roots(seed, n_tasks):
    rng = np.random.default_rng(seed)
    n_in = int(rng.integers(2, 7))
    sigmas = {f"t{i}": rng.normal(size=(int(rng.integers(1, 4)), n_in)) for i in range(n_tasks)}
    xi = np.vstack(list(sigmas.values()))
    rsm = convergence_rsms(sigmas)
    np.testing.assert_allclose(rsm.shared_input, ref.psd_sqrt(xi.T @ xi), atol=1e-8)
    np.testing.assert_allclose(rsm.output, ref.psd_sqrt(xi @ xi.T), atol=1e-8)
    total = np.zeros((n_in, n_in))
    for name, sig in sigmas.items():
        np.testing.assert_allclose(rsm.stl_input[name], ref.psd_sqrt(sig.T @ sig), atol=1e-8)
        np.testing.assert_allclose(rsm.stl_output[name], ref.psd_sqrt(sig @ sig.T), atol=1e-8)
        total += rsm.stl_input[name]
    np.testing.assert_allclose(rsm.delta_input, rsm.shared_input - total, atol=1e-12)


def test_orthogonal_tasks_match_single_task_learning_exactly():
    rng = np.random.default_rng(0)
    a, b = ref.task_pair("orthogonal", [4, 1.5], [1, 0.5], n_in=5, n_out=2, rng=rng)
    rsm = convergence_rsms({"a": a, "b": b})
    np.testing.assert_allclose(rsm.delta_input, 0, atol=1e-12)
    np.testing.assert_allclose(rsm.delta_output["a"], 0, atol=1e-12)
    np.testing.assert_allclose(rsm.delta_output["b"], 0, atol=1e-12)
    np.testing.assert_allclose(rsm.cross_task_output("a", "b"), 0, atol=1e-12)
    assert rsm.summary()["delta_input"] == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("c", [0.25, 1.0, 2.0])
def test_scaled_copy_has_the_hand_derived_differences(c):
    rng = np.random.default_rng(1)
    u, v = ref.orthonormal(3, 2, rng), ref.orthonormal(4, 2, rng)
    a = (u * [3.0, 1.0]) @ v.T
    rsm = convergence_rsms({"a": a, "b": c * a})
    usu = (u * [3.0, 1.0]) @ u.T
    vsv = (v * [3.0, 1.0]) @ v.T
    k = np.sqrt(1 + c**2)
    np.testing.assert_allclose(rsm.delta_output["a"], (1 / k - 1) * usu, atol=1e-12)
    np.testing.assert_allclose(rsm.delta_output["b"], (c**2 / k - c) * usu, atol=1e-12)
    np.testing.assert_allclose(rsm.delta_input, (k - 1 - c) * vsv, atol=1e-12)
    # aligned tasks: weaker task-specific structure than STL (Sec. 5, "ΔUSUᵀ < 0")
    assert rsm.summary()["delta_output_trace"]["a"] == pytest.approx(1 / k - 1)
    json.dumps(rsm.to_dict())


def test_gram_matrices_of_gradient_flow_converge_to_the_rsms():
    rng = np.random.default_rng(2)
    a, b = ref.task_pair("conflicting", [2, 1], [1.5, 0.5], n_in=4, n_out=2, rng=rng)
    # zero-balanced small start (N_s = N_i = N_1o + N_2o = 4): W_S W_Sᵀ = Σ_j W_jᵀ W_j = ε² I
    scale = 1e-3
    w_shared = scale * ref.orthonormal(4, 4, rng)
    heads_all = scale * ref.orthonormal(4, 4, rng)
    heads = [heads_all[:2], heads_all[2:]]
    maps, (ws, w1, w2) = ref.integrate_mtl_gradient_flow(
        [a, b], w_shared, heads, np.array([0.0, 200.0]), return_weights=True)
    np.testing.assert_allclose(maps[-1][0], a, atol=1e-6)
    rsm = convergence_rsms({"a": a, "b": b})
    # Theorem 3 / eq. 24
    np.testing.assert_allclose(ws.T @ ws, rsm.shared_input, atol=1e-5)
    np.testing.assert_allclose(w1 @ w1.T, rsm.task_output["a"], atol=1e-5)
    np.testing.assert_allclose(w2 @ w2.T, rsm.task_output["b"], atol=1e-5)
    np.testing.assert_allclose(w1 @ w2.T, rsm.cross_task_output("a", "b"), atol=1e-5)


def test_bad_input():
    with pytest.raises(ValueError, match=r"sigmas\['task1'\]"):
        convergence_rsms([np.eye(2), np.eye(3)])
    with pytest.raises(ValueError, match=r"sigmas\['x'\]"):
        convergence_rsms({"x": np.zeros((2, 2))})
