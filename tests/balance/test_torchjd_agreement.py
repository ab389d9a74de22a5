"""Agreement with TorchJD (an independent implementation) on the same Jacobians.

TorchJD is a test-only dependency; the module is skipped without it. Intentional differences,
asserted here rather than hidden:

- scale: tasklens uses the *sum* convention, TorchJD the mean / simplex one for MGDA, UPGrad,
  IMTL-G, Aligned-MTL and ExcessMTL, so tasklens = K × TorchJD there;
- MGDA: tasklens solves the QP exactly by default; TorchJD runs Frank–Wolfe (compared with our
  ``solver="frank_wolfe"`` and the same iteration budget);
- UPGrad: TorchJD regularises the Gramian (``reg_eps=1e-4``) before its QP; tasklens solves
  the unregularised problem exactly (NNLS), so they agree to 1e-8 only with ``reg_eps≈0``;
- randomness: tasklens draws visiting orders from its own seeded generator, TorchJD from the
  global torch RNG, so PCGrad / GradVac are compared with two tasks (order irrelevant);
- ExcessMTL: tasklens' first call only sets the excess-risk baseline, which is TorchJD's
  ``n_warmup_steps=1``.
"""

from __future__ import annotations

import pytest
import torch

from tasklens import balance
from tests.reference import balance_reference as ref

tjd = pytest.importorskip("torchjd.aggregation", reason="torchjd (test-only extra) not installed")


def jac_t(k: int, p: int, *, rank: int | None = None, seed: int = 0) -> torch.Tensor:
    return torch.as_tensor(ref.random_jacobian(k, p, rank=rank, seed=seed))


SEEDS = range(4)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [2, 3, 5])
def test_upgrad(k, seed):
    pytest.importorskip("quadprog", reason="TorchJD's UPGrad needs quadprog")
    pytest.importorskip("qpsolvers", reason="TorchJD's UPGrad needs qpsolvers")
    from torchjd.linalg import QuadprogProjector

    jac = jac_t(k, 6, seed=seed)
    # TorchJD adds reg_eps = 1e-4 to the normalised Gramian by default (so quadprog sees a
    # positive-definite matrix); with full-rank Jacobians we can switch it almost off
    projector = QuadprogProjector(reg_eps=1e-12)
    torch.testing.assert_close(
        balance.get("upgrad").aggregate(jac),
        k * tjd.UPGrad(projector=projector)(jac),
        atol=1e-8,
        rtol=1e-7,
    )
    # with its default regularisation the difference is small but visible (≈ 1e-3 relative)
    default = k * tjd.UPGrad()(jac)
    torch.testing.assert_close(balance.get("upgrad").aggregate(jac), default, atol=0, rtol=2e-2)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [2, 3, 5])
def test_mgda(k, seed):
    jac = jac_t(k, 7, seed=seed)
    theirs = tjd.MGDA(epsilon=1e-6, max_iters=500)(jac)
    ours_fw = balance.get("mgda", solver="frank_wolfe", max_iter=500, tol=1e-6).aggregate(jac)
    torch.testing.assert_close(ours_fw, k * theirs, atol=1e-9, rtol=1e-9)
    exact = balance.get("mgda").aggregate(jac) / k
    assert float(exact @ exact) <= float(theirs @ theirs) + 1e-12


@pytest.mark.parametrize("seed", SEEDS)
def test_pcgrad_two_tasks(seed):
    jac = jac_t(2, 5, seed=seed)
    torch.testing.assert_close(balance.get("pcgrad").aggregate(jac), tjd.PCGrad()(jac))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [2, 3, 4])
def test_imtl_g(k, seed):
    jac = jac_t(k, 6, rank=min(k, 6) - seed % 2, seed=seed)
    torch.testing.assert_close(
        balance.get("imtl_g").aggregate(jac), k * tjd.IMTLG()(jac), atol=1e-7, rtol=1e-6
    )


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [2, 3, 4])
def test_aligned_mtl(k, seed):
    jac = jac_t(k, 6, rank=min(k, 6) - seed % 2, seed=seed)
    torch.testing.assert_close(
        balance.get("aligned_mtl").aggregate(jac), k * tjd.AlignedMTL()(jac), atol=1e-7, rtol=1e-6
    )


def test_ew_is_sum():
    jac = jac_t(3, 4)
    torch.testing.assert_close(balance.get("ew").aggregate(jac), tjd.Sum()(jac))


def test_graddrop_all_same_sign_and_full_leak():
    jac = jac_t(3, 6, seed=2).abs()
    torch.testing.assert_close(balance.get("graddrop").aggregate(jac), tjd.GradDrop()(jac))
    mixed = jac_t(3, 6, seed=3)
    leak = torch.ones(3, dtype=torch.float64)
    torch.testing.assert_close(
        balance.get("graddrop", leak=1.0).aggregate(mixed), tjd.GradDrop(leak=leak)(mixed)
    )


def test_gradvac_two_tasks_over_steps():
    ours, theirs = balance.get("gradvac", beta=0.5), tjd.GradVac(beta=0.5)
    for step in range(5):
        jac = jac_t(2, 5, seed=50 + step)
        torch.testing.assert_close(ours.aggregate(jac), theirs(jac), atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_fairgrad(alpha):
    pytest.importorskip("scipy")
    rng = torch.Generator().manual_seed(0)
    jac = torch.randn(3, 6, generator=rng, dtype=torch.float64) + 2 * torch.randn(
        6, generator=rng, dtype=torch.float64
    )
    torch.testing.assert_close(
        balance.get("fairgrad", alpha=alpha).aggregate(jac),
        tjd.FairGrad(alpha=alpha)(jac),
        atol=1e-5,
        rtol=1e-5,
    )


def test_excess_mtl_over_steps():
    k = 3
    ours = balance.get("excess_mtl", step_size=0.5)
    theirs = tjd.ExcessMTL(robust_step_size=0.5, n_warmup_steps=1)
    for step in range(6):
        jac = jac_t(k, 8, seed=70 + step)
        torch.testing.assert_close(ours.aggregate(jac), k * theirs(jac), atol=1e-9, rtol=1e-7)
