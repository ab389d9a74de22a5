"""The factored, task-chunked kernel Gramian (``strategy="auto"``) against autograd.

Reference: ``J Jᵀ`` with ``J``'s rows from one ``torch.autograd.grad(L_k, params)`` call per
task (float64 products), independent of the code under test. The sizes are chosen so that
every factor form is exercised: ``hᵀ`` (layer input narrower than the batch), the Cholesky
factor cut into triangular row blocks (wider than a batch of ≥ 128 rows), and the QR factor
(a singular kernel).
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from tasklens.balance import _kernel_factor as kf
from tasklens.balance._gramian import row_peaks
from tasklens.balance.kernel_gramian import LinearRecorder, linear_kernel_gramian

from ._gramian_reference import head_loss, loop_gramian


def _model(widths: list[int], bias: bool, dtype: torch.dtype, k: int,
           activation: type[nn.Module] = nn.ReLU) -> tuple[nn.Sequential, nn.ModuleList]:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for i in range(len(widths) - 1):
        if i:
            layers.append(activation())
        layers.append(nn.Linear(widths[i], widths[i + 1], bias=bias))
    heads = nn.ModuleList(nn.Linear(widths[-1], 2) for _ in range(k))
    return nn.Sequential(*layers).to(dtype), heads.to(dtype)


def _losses(encoder: nn.Module, heads: nn.ModuleList, x: Tensor,
            recorder: LinearRecorder) -> tuple[Tensor, Tensor]:
    with recorder:
        z = encoder(x)
    gen = torch.Generator().manual_seed(1)
    return torch.stack([head_loss(head(z), gen) for head in heads]), z


def _reference(losses: Tensor, params: list[Tensor]) -> Tensor:
    return loop_gramian(losses, params, double=True)


def _factor_inputs(recorder: LinearRecorder, params: list[Tensor], losses: Tensor, z: Tensor
                   ) -> tuple[list[kf.FactorLayer], Tensor]:
    """The recorded layers as :class:`FactorLayer` and the per-task ``∂L_k/∂z``, as
    :func:`linear_kernel_gramian` hands them to ``factored_gramian``."""
    layers = [kf.FactorLayer(t.call.inputs, t.call.output, t.call.module.out_features,
                             t.weight, t.bias) for t in recorder.terms_for(params)]
    upstream = torch.stack([torch.autograd.grad(loss, z, retain_graph=True)[0]
                            for loss in losses])
    return layers, upstream


def _assert_close(got: Tensor, ref: Tensor, tol: float) -> None:
    err = float((got.double() - ref).abs().max())
    assert err <= tol * float(ref.abs().max()), f"max error {err:.3e}"
    torch.testing.assert_close(got, got.T, rtol=0, atol=0)  # symmetric by construction


@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_factored_route_matches_autograd(k: int, bias: bool, dtype: torch.dtype,
                                         tol: float) -> None:
    # batch 130: layer 1 (70 or 71 inputs) its input hᵀ as the factor, layers 2 and 3 (200
    # or 201 and 150 or 151 inputs) the Cholesky factor in triangular row blocks (K = 5; at
    # K ≤ 2 the cost model keeps hᵀ for the narrower ones)
    encoder, heads = _model([70, 200, 150, 6], bias, dtype, k)
    recorder = LinearRecorder(encoder)
    x = torch.randn(130, 70, generator=torch.Generator().manual_seed(2), dtype=dtype)
    losses, z = _losses(encoder, heads, x, recorder)
    params = list(encoder.parameters())
    ref = _reference(losses, params)
    for features in (z, None):
        got = linear_kernel_gramian(losses, features, recorder, params)   # strategy "auto"
        assert got.dtype == dtype
        _assert_close(got, ref, tol)


@pytest.mark.parametrize("tasks_per_chunk", [1, 2, 3, 5])
def test_chunking_over_tasks_does_not_change_the_gramian(tasks_per_chunk: int) -> None:
    encoder, heads = _model([6, 40, 30, 4], True, torch.float64, 5, nn.Tanh)
    recorder = LinearRecorder(encoder)
    x = torch.randn(25, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    losses, z = _losses(encoder, heads, x, recorder)
    params = list(encoder.parameters())
    layers, upstream = _factor_inputs(recorder, params, losses, z)
    got = kf.factored_gramian(z, upstream, layers, tasks_per_chunk=tasks_per_chunk)
    assert got is not None
    _assert_close(got, _reference(losses, params), 1e-10)


def test_singular_kernel_uses_qr_factor() -> None:
    # a zero sample with no biases and tanh stays zero in every layer: h hᵀ has a zero row,
    # Cholesky fails (zero pivot) and the QR factor must take over
    encoder, heads = _model([4, 200, 30], False, torch.float64, 5, nn.Tanh)
    x = torch.randn(40, 4, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    x[2] = 0.0
    h = torch.tanh(encoder[0](x)).detach()
    assert int(torch.linalg.cholesky_ex(h @ h.T).info) != 0
    assert kf.factor_pays(40, 200, 5, 30)      # the route below does use the factor
    f = kf.factor(h)
    torch.testing.assert_close(f.T @ f, h @ h.T, rtol=0, atol=1e-11)
    recorder = LinearRecorder(encoder)
    losses, z = _losses(encoder, heads, x, recorder)
    params = list(encoder.parameters())
    _assert_close(linear_kernel_gramian(losses, z, recorder, params),
                  _reference(losses, params), 1e-10)


def test_factor_blocks_cover_the_triangle() -> None:
    h = torch.randn(150, 300, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    blocks = kf.factor_blocks(h, 40, 100)
    assert [start for start, _ in blocks] == [0, 38, 76, 114]
    # Σ_i F_iᵀ F_i (each block padded with its zero columns) = h hᵀ
    total = torch.zeros(150, 150, dtype=torch.float64)
    for start, f in blocks:
        total[start:, start:] += f.T @ f
    torch.testing.assert_close(total, h @ h.T, rtol=1e-10, atol=1e-9)
    # narrower than the batch, or too few tasks for the factorisation to pay: hᵀ itself
    for inputs, k in ((h[:, :100], 40), (h, 1)):
        (only,) = kf.factor_blocks(inputs, k, 100)
        assert only[0] == 0 and torch.equal(only[1], inputs.T)


def test_cost_model_of_the_benchmark_mlp() -> None:
    # 128 → 1024 → 768 → 128, batch 256 (inputs with the bias column): at K = 40 both wide
    # layers are factored; at K = 2 the last one (out = 128) is not worth a factorisation
    assert kf.factor_pays(256, 1025, 40, 768) and kf.factor_pays(256, 769, 40, 128)
    assert kf.factor_pays(256, 1025, 2, 768) and not kf.factor_pays(256, 769, 2, 128)


@pytest.mark.parametrize("scale", [1e-25, 1e20])
def test_extreme_scales_fall_back_to_the_rescaling_route(scale: float) -> None:
    encoder, heads = _model([4, 6, 5], True, torch.float32, 3, nn.Tanh)
    recorder = LinearRecorder(encoder)
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(6))
    losses, z = _losses(encoder, heads, x, recorder)
    losses = losses * scale
    params = list(encoder.parameters())
    layers, upstream = _factor_inputs(recorder, params, losses, z)
    assert kf.factored_gramian(z, upstream, layers) is None
    got = linear_kernel_gramian(losses, z, recorder, params)
    assert got.dtype == torch.float64   # rescaled by the per-layer route
    torch.testing.assert_close(got, _reference(losses, params), rtol=1e-4, atol=0)


def test_row_peaks_equals_abs_amax() -> None:
    rows = torch.tensor([[1.0, -3.0, 2.0], [0.0, -0.0, 0.0], [float("nan"), 1.0, 2.0],
                         [-float("inf"), 1.0, 0.0], [5.0, 4.0, -5.5]])
    torch.testing.assert_close(row_peaks(rows), rows.abs().amax(dim=1), equal_nan=True,
                               rtol=0, atol=0)


def test_chunk_tasks_respects_the_budget() -> None:
    cpu = torch.device("cpu")
    assert kf.chunk_tasks(40, 491_520, cpu) == 4
    assert kf.chunk_tasks(40, 10, cpu) == 40
    assert kf.chunk_tasks(3, 10**9, cpu) == 1
    assert kf.chunk_tasks(40, 491_520, cpu, max_entries=2**30) == 40


@pytest.mark.parametrize("scale", [2.0**70, 2.0**-70])
def test_products_out_of_range_are_redone_with_rescaling(scale: float) -> None:
    # Φ rows whose squares overflow / underflow float32: the plain sum is rejected and the
    # rescaled one (float64) matches the float64 product
    gen = torch.Generator().manual_seed(7)
    phis = [torch.randn(3, 50, generator=gen) * scale, torch.randn(3, 20, generator=gen) * scale]
    plain = kf._sum_of_grams(phis, torch.float32, rescale=False)
    assert not kf._plainly_representable(plain, torch.float32)
    got = kf._sum_of_grams(phis, torch.float32, rescale=True)
    ref = sum(p.double() @ p.double().T for p in phis)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=0)
    ordinary = [p / scale for p in phis]
    assert kf._plainly_representable(kf._sum_of_grams(ordinary, torch.float32, False),
                                     torch.float32)
