"""Every registered method against the properties it declares (tests/balance/properties.py).

The parametrisation runs over the registry, so a method added later is checked too.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tasklens import balance
from tests.balance import properties as prop
from tests.reference import golden_balance as golden
from tests.reference.new_methods_reference import permutations

NAMES = balance.available()


def declaring(flag: str) -> list[str]:
    return [n for n in NAMES if getattr(balance.METHODS[n], flag)]


def test_declarations_are_booleans_and_the_known_claims_are_made():
    for name in NAMES:
        cls = balance.METHODS[name]
        for flag in ("non_conflicting", "linear_under_scaling", "permutation_invariant"):
            assert isinstance(getattr(cls, flag), bool), (name, flag)
    assert {"upgrad", "mgda", "dualproj", "config"} <= set(declaring("non_conflicting"))
    assert {"ew", "upgrad", "config"} <= set(declaring("linear_under_scaling"))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("k", "p"), [(2, 5), (3, 6), (5, 8)])
@pytest.mark.parametrize("name", declaring("non_conflicting"))
def test_non_conflicting(name, k, p, seed):
    jac, losses = prop.problem(k, p, seed=seed)
    prop.check_non_conflicting(name, jac, losses)


@pytest.mark.parametrize("name", declaring("non_conflicting"))
def test_non_conflicting_on_strongly_conflicting_gradients(name):
    jac = torch.tensor([[1.0, 0.0, 0.0, 0.0], [-0.95, 0.1, 0.0, 0.0], [0.0, -1.0, 0.05, 0.0]],
                       dtype=torch.float64)  # fmt: skip
    prop.check_non_conflicting(name, jac, torch.ones(3, dtype=torch.float64))


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("name", declaring("permutation_invariant"))
def test_permutation_invariance(name, seed):
    jac, losses = prop.problem(4, 7, seed=10 + seed)
    for perm in permutations(4, 3, seed=seed):
        prop.check_permutation(name, jac, losses, perm)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("name", declaring("linear_under_scaling"))
def test_linear_under_scaling(name, seed):
    jac, losses = prop.problem(3, 6, seed=20 + seed)
    prop.check_linear_under_scaling(name, jac, losses, seed=seed)


FINITE_XFAIL: dict[tuple[str, float], str] = {}
"""(method, scale) pairs known to fail the float32 finiteness check (fixed elsewhere)."""


@pytest.mark.parametrize("scale", [1e-30, 1e-20, 1e-15, 1e-6, 1e6, 1e15, 1e18])
@pytest.mark.parametrize("name", NAMES)
def test_finite_at_extreme_scales(name, scale, request):
    reason = FINITE_XFAIL.get((name, scale))
    if reason:
        request.applymarker(pytest.mark.xfail(strict=False, reason=reason))
    jac, losses = prop.problem(3, 6, seed=30)
    prop.check_finite(name, jac, losses, scale)


# ------------------------------------------------------------------------ golden table
@pytest.mark.parametrize("key", sorted(golden.GOLDEN), ids=lambda k: f"{k[0]}-{k[1]}")
def test_golden_table(key):
    name, jname = key
    jac = torch.as_tensor(golden.JACOBIANS[jname])
    d, _ = prop.step(name, jac, torch.ones(len(jac), dtype=jac.dtype))
    expected = torch.as_tensor(golden.GOLDEN[key], dtype=jac.dtype)
    torch.testing.assert_close(d, expected, rtol=1e-6, atol=1e-7 * float(expected.abs().max()))


def test_golden_table_is_what_the_references_compute():
    fresh = golden.compute_golden()
    assert set(fresh) == set(golden.GOLDEN)
    # the references include iterative solvers (CAGrad's primal) whose last digits depend on
    # the BLAS and thread count: 1e-6 is far below any difference a wrong formula makes
    for key, values in fresh.items():
        np.testing.assert_allclose(values, golden.GOLDEN[key], rtol=1e-6, atol=1e-8, err_msg=key)


def _torchjd_aggregators(k: int) -> dict[str, tuple[object, float]]:
    """TorchJD 0.18 counterparts: ``name -> (aggregator on J, factor to the sum scale)``."""
    tjd = pytest.importorskip("torchjd.aggregation")
    pytest.importorskip("quadprog")
    from torchjd.linalg import QuadprogProjector

    def gram(weighting):
        return lambda jac: weighting(jac @ jac.T) @ jac

    proj = QuadprogProjector(reg_eps=1e-12)
    return {
        "ew": (tjd.Sum(), 1.0), "constant": (tjd.Sum(), 1.0),
        "upgrad": (tjd.UPGrad(projector=proj), k), "dualproj": (tjd.DualProj(projector=proj), k),
        "imtl_g": (tjd.IMTLG(), k), "aligned_mtl": (tjd.AlignedMTL(), k),
        "config": (tjd.ConFIG(), 1.0), "pcgrad": (tjd.PCGrad(), 1.0),
        "krum": (tjd.Krum(n_byzantine=0), k), "trimmed_mean": (tjd.TrimmedMean(1), k),
        "modo": (gram(tjd.MoDoWeighting()), k), "sdmgrad": (gram(tjd.SDMGradWeighting()), k),
        "pcd": (gram(tjd.PCDWeighting()), 1.0),
        "mgda": (tjd.MGDA(epsilon=1e-9, max_iters=20000), k),
    }  # fmt: skip


@pytest.mark.parametrize("key", sorted(golden.GOLDEN), ids=lambda k: f"{k[0]}-{k[1]}")
def test_golden_table_agrees_with_torchjd(key):
    name, jname = key
    jac = torch.as_tensor(golden.JACOBIANS[jname])
    aggregators = _torchjd_aggregators(len(jac))
    if name not in aggregators:
        # imtl / moco: not in TorchJD; cagrad: TorchJD's CAGrad needs cvxpy (not installed)
        pytest.skip(f"no TorchJD 0.18 counterpart of {name!r} available here")
    aggregator, factor = aggregators[name]
    expected = torch.as_tensor(golden.GOLDEN[key], dtype=jac.dtype)
    tol = 1e-4 if name == "mgda" else 1e-6  # TorchJD's MGDA is Frank–Wolfe (approximate)
    torch.testing.assert_close(factor * aggregator(jac), expected, rtol=tol,
                               atol=tol * float(expected.abs().max()))  # fmt: skip
