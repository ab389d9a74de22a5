"""The linear-Gaussian SCM of 001 (Assumption 2.2): the simulator against App. A eq. 27."""

from __future__ import annotations

import numpy as np
import pytest

from tasklens.studies.core_mtl_scm import ood_gap_eq27, ood_gap_population, simulate_scm_gap


@pytest.mark.parametrize("psi, s2, t2, w", [(0.4, 1.0, 2.0, 1.0), (1.0, 0.5, 3.0, -2.0),
                                             (0.0, 1.0, 4.0, 1.0), (0.8, 2.0, 1.0, 1.5)])
def test_simulation_matches_eq27_within_sampling_error(psi, s2, t2, w) -> None:
    sim = simulate_scm_gap(psi, w, var_r_source=s2, var_r_target=t2, n=60_000, seed=1)
    expected = ood_gap_eq27(psi, w, s2, t2)
    assert sim.population == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # 4 standard errors, plus the O(1/n) bias of the fitted head
    assert abs(sim.gap - expected) < 4 * sim.se + 1e-3, (sim.gap, expected, sim.se)
    if psi == 0.0:  # disentangled: the head ignores Z_r, no gap at all
        assert expected == 0.0 and abs(sim.gap) < 4 * sim.se + 1e-3


def test_eq27_closed_form_by_hand_and_the_sin2_scaling() -> None:
    # ψ = π/4, σ²_S = 1: β* = w cos ψ / 1, gap = β*² sin²ψ (σ²_T − 1) = w² /4 · (σ²_T − 1)
    assert ood_gap_eq27(np.pi / 4, 2.0, 1.0, 3.0) == pytest.approx(4 / 4 * 2.0)
    # vector case: independent planes add up
    one = ood_gap_population(0.5, [1.0], var_r_source=1.0, var_r_target=2.0)
    two = ood_gap_population(0.5, [1.0, 1.0], var_r_source=1.0, var_r_target=2.0)
    assert two == pytest.approx(2 * one)
    # a target with less residual variance gives a negative gap (the bound needs σ²_T > σ²_S)
    assert ood_gap_eq27(0.5, 1.0, 2.0, 1.0) < 0


def test_vector_simulation_matches_population() -> None:
    w = np.array([1.0, -0.5, 2.0])
    sim = simulate_scm_gap(0.6, w, var_r_source=[1.0, 0.5, 1.0], var_r_target=[3.0, 0.5, 1.0],
                           n=60_000, seed=2)
    assert abs(sim.gap - sim.population) < 4 * sim.se + 2e-3
    assert sim.to_dict()["beta"] == sim.beta.tolist()


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="var_r_target"):
        ood_gap_population(0.1, [1.0], var_r_target=-1.0)
    with pytest.raises((ValueError, TypeError), match="psi"):
        simulate_scm_gap(float("nan"))
    with pytest.raises((ValueError, TypeError), match="sigma_r_source2"):
        ood_gap_eq27(0.1, 1.0, -1.0, 1.0)
