"""CORE-MTL's structural properties (issue 15, Tests): CKA against a brute-force double
sum, its invariances, and that no task gradient flows through the residual stream."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tasklens.data import TaskSet
from tasklens.nn import dual_stream_for, linear_cka, task_losses


def _cka_brute_force(x: np.ndarray, y: np.ndarray) -> float:
    """HSIC by explicit sums over sample pairs: Σ_ij Kc_ij Lc_ij, doubly centred kernels."""
    n = len(x)
    k = [[float(np.dot(x[i], x[j])) for j in range(n)] for i in range(n)]
    m = [[float(np.dot(y[i], y[j])) for j in range(n)] for i in range(n)]

    def centred(a):
        row = [sum(r) / n for r in a]
        tot = sum(row) / n
        return [[a[i][j] - row[i] - row[j] + tot for j in range(n)] for i in range(n)]

    kc, mc = centred(k), centred(m)

    def hsic(a, b):
        return sum(a[i][j] * b[i][j] for i in range(n) for j in range(n))

    return hsic(kc, mc) / np.sqrt(hsic(kc, kc) * hsic(mc, mc))


@given(n=st.integers(3, 10), p=st.integers(1, 4), q=st.integers(1, 4), seed=st.integers(0, 50))
@settings(max_examples=20, deadline=None)
def test_cka_equals_brute_force_and_is_invariant(n: int, p: int, q: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, p)), rng.normal(size=(n, q))
    got = float(linear_cka(torch.tensor(x), torch.tensor(y)))
    assert got == pytest.approx(_cka_brute_force(x, y), rel=1e-9, abs=1e-12)
    qx = np.linalg.qr(rng.normal(size=(p, p)))[0]
    qy = np.linalg.qr(rng.normal(size=(q, q)))[0]
    moved = float(linear_cka(torch.tensor(2.5 * x @ qx), torch.tensor(0.1 * y @ qy)))
    assert moved == pytest.approx(got, rel=1e-9, abs=1e-12)
    assert float(linear_cka(torch.tensor(x), torch.tensor(x))) == pytest.approx(1.0, rel=1e-12)


def test_no_task_gradient_reaches_the_residual_stream(flat_taskset: TaskSet) -> None:
    model = dual_stream_for(flat_taskset, seed=0, feature_dim=12, semantic_dim=6,
                            residual_dim=3, hidden=(16,), head_hidden=8, head_depth=2)
    x, y = next(iter(flat_taskset.dataloader(10, shuffle=False)))
    z_s, z_r = model.encode_streams(x)
    losses = task_losses(flat_taskset, model.decode(z_s), y)
    for loss in losses:
        g_r, g_s = torch.autograd.grad(loss, [z_r, z_s], retain_graph=True,
                                       allow_unused=True)
        assert g_r is None  # z_r is not in the graph of any task loss
        assert g_s is not None and float(g_s.abs().sum()) > 0
    losses.sum().backward()
    assert all(p.grad is None for p in model.residual.parameters())
    assert all(p.grad is None for p in model.decoder.parameters())
