"""The methods added in this release against TorchJD 0.18 (an independent implementation).

Skipped without torchjd. See test_new_methods.py for the intentional differences (scale,
Krum's squared distances, TorchJD's Gramian regularisation).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tasklens import balance
from tests.reference import balance_reference as bref

tjd = pytest.importorskip("torchjd.aggregation", reason="torchjd (test-only extra) not installed")


def jac_t(k: int, p: int, *, rank: int | None = None, seed: int = 0) -> torch.Tensor:
    return torch.as_tensor(bref.random_jacobian(k, p, rank=rank, seed=seed))


def ctx(jac: torch.Tensor) -> balance.BalanceContext:
    return balance.BalanceContext(gramian=jac @ jac.T)


def projector():
    pytest.importorskip("quadprog", reason="TorchJD's dual-cone projector needs quadprog")
    pytest.importorskip("qpsolvers", reason="TorchJD's dual-cone projector needs qpsolvers")
    from torchjd.linalg import QuadprogProjector

    return QuadprogProjector(reg_eps=1e-12)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [2, 3, 5])
def test_dualproj(k, seed):
    jac = jac_t(k, 6, seed=seed)
    theirs = tjd.DualProj(projector=projector())(jac)
    torch.testing.assert_close(balance.get("dualproj").aggregate(jac), k * theirs,
                               atol=1e-8, rtol=1e-7)  # fmt: skip


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("k", "rank"), [(2, None), (4, None), (5, 3), (6, 6)])
def test_config(k, rank, seed):
    jac = jac_t(k, 6, rank=rank, seed=seed)
    torch.testing.assert_close(balance.get("config").aggregate(jac), tjd.ConFIG()(jac),
                               atol=1e-8, rtol=1e-7)  # fmt: skip
    pref = torch.tensor([float(i + 1) for i in range(k)], dtype=torch.float64)
    torch.testing.assert_close(
        balance.get("config", pref=tuple(pref.tolist())).aggregate(jac),
        tjd.ConFIG(pref_vector=pref)(jac), atol=1e-8, rtol=1e-7,
    )  # fmt: skip


def test_config_with_a_zero_gradient():
    jac = jac_t(3, 5, seed=1)
    jac[1] = 0.0
    torch.testing.assert_close(balance.get("config").aggregate(jac), tjd.ConFIG()(jac))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("f", "m"), [(1, 6), (2, 5), (3, 4)])
def test_krum_on_clear_cut_selections(f, m, seed):
    """A tight cluster plus f far outliers, Multi-Krum keeping the m = K − f others: squared
    and plain distances select the same rows (the whole cluster)."""
    rng = np.random.default_rng(seed)
    jac = 1.0 + 0.01 * rng.standard_normal((7, 5))
    jac[rng.choice(7, size=f, replace=False)] += 20.0 * rng.standard_normal((f, 5))
    jac = torch.as_tensor(jac)
    torch.testing.assert_close(balance.get("krum", n_byzantine=f, n_selected=m).aggregate(jac),
                               7 * tjd.Krum(n_byzantine=f, n_selected=m)(jac))  # fmt: skip


def test_krum_squared_distances_can_select_differently():
    jac = torch.tensor([[1.3, -2.0], [1.4, -1.9], [0.9, -1.3], [1.5, 0.2], [-0.8, -0.3]],
                       dtype=torch.float64)  # fmt: skip
    # scores over the 3 nearest others: squared 5.55, 5.05, 3.87, ... (row 2 wins);
    # plain 3.16, 3.02, 3.20, ... (row 1 wins) — margins far above round-off
    dist = torch.cdist(jac, jac) + torch.diag(torch.full((5,), float("inf"), dtype=jac.dtype))
    nearest = torch.sort(dist, dim=1).values[:, :3]
    assert int(torch.argmin((nearest**2).sum(1))) == 2 and int(torch.argmin(nearest.sum(1))) == 1
    assert int(torch.argmax(balance.get("krum").weights(ctx(jac)))) == 2
    assert int(torch.argmax(tjd.KrumWeighting(n_byzantine=0)(jac @ jac.T))) == 1


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("k", "b"), [(3, 1), (6, 2), (4, 0)])
def test_trimmed_mean(k, b, seed):
    jac = jac_t(k, 8, seed=seed)
    torch.testing.assert_close(balance.get("trimmed_mean", trim=b).aggregate(jac),
                               k * tjd.TrimmedMean(trim_number=b)(jac))  # fmt: skip


@pytest.mark.parametrize("hp", [{}, {"gamma": 0.5, "rho": 0.0}])
def test_modo_over_steps(hp):
    ours, theirs = balance.get("modo", **hp), tjd.MoDoWeighting(**hp)
    for step in range(6):
        jac = jac_t(4, 6, seed=80 + step)
        torch.testing.assert_close(ours.weights(ctx(jac)), 4 * theirs(jac @ jac.T),
                                   atol=1e-10, rtol=1e-9)  # fmt: skip


@pytest.mark.parametrize("hp", [{}, {"lambda_": 0.0, "n_iter": 5, "lr": 1.0}])
def test_sdmgrad_over_steps(hp):
    ours, theirs = balance.get("sdmgrad", **hp), tjd.SDMGradWeighting(**hp)
    for step in range(5):
        jac = jac_t(3, 6, seed=90 + step)
        # TorchJD divides by s² + 1e-8 (s: mean gradient norm ≈ 1–10 here), we by s²
        torch.testing.assert_close(ours.weights(ctx(jac)), 3 * theirs(jac @ jac.T),
                                   atol=1e-6, rtol=1e-6)  # fmt: skip


@pytest.mark.parametrize("name", ["modo", "sdmgrad"])
def test_exact_double_sampling_step_on_a_cross_gramian(name):
    """J₁ J₂ᵀ of two independent batches (not symmetric): the paper's exact update."""
    ours = balance.get(name)
    theirs = tjd.MoDoWeighting() if name == "modo" else tjd.SDMGradWeighting()
    for step in range(4):
        cross = jac_t(3, 6, seed=140 + step) @ jac_t(3, 6, seed=150 + step).T
        assert not torch.allclose(cross, cross.T)
        torch.testing.assert_close(ours.weights_from_cross_gramian(cross), 3 * theirs(cross),
                                   atol=1e-6, rtol=1e-6)  # fmt: skip
    with pytest.raises(ValueError, match="square"):
        ours.weights_from_cross_gramian(torch.ones(3, 2, dtype=torch.float64))
    with pytest.raises(TypeError, match="floating-point"):
        ours.weights_from_cross_gramian(torch.ones(3, 3, dtype=torch.int64))


@pytest.mark.parametrize("base", ["mgda", "upgrad"])
def test_cr_mogm_over_steps(base):
    if base == "mgda":
        ours = balance.get("cr_mogm", base="mgda", alpha=0.8,
                           base_hparams={"solver": "frank_wolfe", "max_iter": 500, "tol": 1e-6})
        inner = tjd.MGDAWeighting(epsilon=1e-6, max_iters=500)
    else:
        ours = balance.get("cr_mogm", base="upgrad", alpha=0.8)
        inner = tjd.UPGradWeighting(projector=projector())
    theirs = tjd.CRMOGMWeighting(inner, alpha=0.8)
    for step in range(5):
        jac = jac_t(3, 5, seed=100 + step)
        torch.testing.assert_close(ours.weights(ctx(jac)), 3 * theirs(jac @ jac.T),
                                   atol=1e-8, rtol=1e-7)  # fmt: skip


@pytest.mark.parametrize("tau", [0.0, 0.02, 0.5, 1.0])
@pytest.mark.parametrize("k", [2, 3, 5])
def test_pcd_over_steps(k, tau):
    ours, theirs = balance.get("pcd", tau=tau, beta=0.9), tjd.PCDWeighting(tau=tau, beta=0.9)
    for step in range(4):
        jac = jac_t(k, 6, rank=min(k, 6) - step % 2, seed=110 + step)
        torch.testing.assert_close(ours.weights(ctx(jac)), theirs(jac @ jac.T),
                                   atol=1e-8, rtol=1e-7)  # fmt: skip


def test_pcd_with_one_tau_per_secondary_task():
    taus = (0.1, 0.6, 0.0)
    ours = balance.get("pcd", tau=taus, beta=0.5)
    theirs = tjd.PCDWeighting(tau=torch.tensor(taus, dtype=torch.float64), beta=0.5)
    for step in range(3):
        jac = jac_t(4, 6, seed=130 + step)
        torch.testing.assert_close(ours.weights(ctx(jac)), theirs(jac @ jac.T),
                                   atol=1e-8, rtol=1e-7)  # fmt: skip
    with pytest.raises(ValueError, match="tau has 3 entries but there are 4 secondary"):
        ours.weights(ctx(jac_t(5, 6)))


def test_constant():
    jac = jac_t(3, 4)
    w = torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(balance.get("constant", weights=(0.5, 2.0, 1.0)).aggregate(jac),
                               tjd.Constant(w)(jac))  # fmt: skip
