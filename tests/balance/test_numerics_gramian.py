"""Every Gramian is exactly symmetric by construction, whatever BLAS path forms it.

``J Jᵀ`` from a matrix product is symmetric only up to round-off (the two triangles are summed
in different orders, depending on the CPU and thread count); these checks ask for bitwise
symmetry, which holds by construction in ``_gramian`` and nowhere else. Values are compared
against an independent float64 / exact-rational reference with tolerances.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from tasklens.balance import BalanceContext
from tasklens.balance._gramian import accumulate, gramian, symmetrize
from tasklens.balance.distributed import GradientReducer
from tasklens.balance.engine import parameter_gramian


def _exact_gram(jac: np.ndarray) -> np.ndarray:
    """J Jᵀ with exact rational arithmetic, rounded once to float64."""
    rows = [[Fraction(float(x)) for x in row] for row in jac]
    k = len(rows)
    return np.array([[float(sum(a * b for a, b in zip(rows[i], rows[j]))) for j in range(k)]
                     for i in range(k)])


def _assert_bitwise_symmetric(gram: torch.Tensor) -> None:
    assert torch.equal(gram, gram.mT), float((gram - gram.mT).abs().max())


@settings(max_examples=25, deadline=None)
@given(k=st.integers(1, 6), p=st.integers(1, 300), seed=st.integers(0, 10_000),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_gramian_is_bitwise_symmetric_and_close_to_exact(k, p, seed, dtype) -> None:
    gen = torch.Generator().manual_seed(seed)
    jac = torch.randn(k, p, generator=gen, dtype=torch.float64).to(dtype)
    got = gramian(jac)
    _assert_bitwise_symmetric(got)
    ref = _exact_gram(jac.double().numpy())
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(got.double().numpy(), ref, rtol=tol, atol=tol * np.abs(ref).max())


def test_gramian_widens_in_blocks_without_overflow(monkeypatch) -> None:
    import tasklens.balance._gramian as module

    monkeypatch.setattr(module, "BLOCK_ENTRIES", 8)  # force several column blocks
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(3, 50, generator=gen, dtype=torch.float64)
    for scale in (1e20, 1e-25):
        jac = (base * scale).to(torch.float32)
        got = gramian(jac, dtype=torch.float64)
        assert got.dtype == torch.float64
        _assert_bitwise_symmetric(got)
        ref = _exact_gram(jac.double().numpy())
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


def test_accumulate_stays_symmetric() -> None:
    gen = torch.Generator().manual_seed(1)
    jac = torch.randn(5, 97, generator=gen, dtype=torch.float64)
    gram = torch.zeros(5, 5, dtype=torch.float64)
    for start in range(0, 97, 13):
        accumulate(gram, jac[:, start:start + 13])
        _assert_bitwise_symmetric(gram)
    np.testing.assert_allclose(gram.numpy(), _exact_gram(jac.numpy()), rtol=1e-12)


def test_symmetrize_mirrors_the_upper_triangle() -> None:
    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert torch.equal(symmetrize(a), torch.tensor([[1.0, 2.0], [2.0, 4.0]]))


@pytest.mark.parametrize("params_per_chunk", [None, 1, 2])
def test_parameter_gramian_is_symmetric(params_per_chunk) -> None:
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6), nn.Linear(6, 3)).double()
    z = encoder(torch.randn(5, 4, dtype=torch.float64))
    losses = torch.stack([(z[:, i] ** 2).mean() for i in range(3)])
    params = list(encoder.parameters())
    got = parameter_gramian(losses, params, params_per_chunk=params_per_chunk)
    _assert_bitwise_symmetric(got)
    rows = []
    for loss in losses:
        grads = torch.autograd.grad(loss, params, retain_graph=True)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    ref = _exact_gram(torch.stack(rows).detach().numpy())
    np.testing.assert_allclose(got.detach().numpy(), ref, rtol=1e-10, atol=1e-12)


def test_context_gramian_is_float64_and_finite_for_extreme_float32() -> None:
    gen = torch.Generator().manual_seed(2)
    base = torch.randn(3, 40, generator=gen, dtype=torch.float64)
    jac = (base * 1e20).to(torch.float32)  # squares overflow float32
    gram = BalanceContext(jacobian=jac).gramian_or_compute(torch.float64)
    assert gram.dtype == torch.float64 and bool(torch.isfinite(gram).all())
    _assert_bitwise_symmetric(gram)
    ref = _exact_gram(jac.double().numpy())
    np.testing.assert_allclose(gram.numpy(), ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())


class _ShuffledSum(GradientReducer):
    """Two fake processes whose all-reduce sums (i, j) and (j, i) in different orders."""

    def __init__(self, other: torch.Tensor) -> None:
        self.other = other

    @property
    def world_size(self) -> int:
        return 2

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        if tensor.ndim != 2 or tensor.shape[0] != tensor.shape[1]:
            return tensor * 2
        out = tensor + self.other
        # the lower triangle one ulp off, as a different summation order may leave it
        low = torch.tril_indices(*tensor.shape, offset=-1)
        bumped = torch.nextafter(out[low[0], low[1]], torch.full_like(out[low[0], low[1]], 1e300))
        out[low[0], low[1]] = bumped
        return out


def test_representation_reduction_is_symmetric() -> None:
    gen = torch.Generator().manual_seed(3)
    jac = torch.randn(3, 20, generator=gen, dtype=torch.float64)
    other = gramian(torch.randn(3, 20, generator=gen, dtype=torch.float64))
    reducer = _ShuffledSum(other)
    _, _, reduced = reducer.reduce_step("representation", torch.ones(3), jac, None)
    assert reduced is not None
    _assert_bitwise_symmetric(reduced)
    ref = (_exact_gram(jac.numpy()) + other.numpy()) / 4
    np.testing.assert_allclose(reduced.numpy(), ref, rtol=1e-12)
