"""CORE-MTL's dual-stream encoder (001 Section 3): CKA, streams, loss terms, gradients.

References: the kernel (HSIC) form of linear CKA in tests/reference/nn_losses.py, a second
formula independent of the feature-space one in the library; invariances of CKA
(orthogonal transforms, isotropic scaling); structural properties (heads ignore the
residual stream; a constant residual makes the counterfactual equal the reconstruction).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from tasklens.data import TaskSet
from tasklens.nn import (
    ConvDecoder,
    CoreMTLLosses,
    DualStreamModel,
    MLPEncoder,
    dual_stream_for,
    linear_cka,
    make_heads,
)
from tests.reference import nn_losses as ref

SMALL = {"feature_dim": 12, "semantic_dim": 6, "residual_dim": 3, "hidden": (16,),
         "head_hidden": 8, "head_depth": 2}


@given(n=st.integers(3, 12), p=st.integers(1, 5), q=st.integers(1, 5), seed=st.integers(0, 99))
@settings(max_examples=30, deadline=None)
def test_linear_cka_matches_kernel_form(n: int, p: int, q: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, p)), rng.normal(size=(n, q))
    got = float(linear_cka(torch.tensor(x), torch.tensor(y)))
    assert got == pytest.approx(ref.linear_cka_hsic(x, y), rel=1e-9, abs=1e-12)
    assert 0.0 <= got <= 1.0 + 1e-12


def test_linear_cka_invariances() -> None:
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(30, 4)))
    q, _ = torch.linalg.qr(torch.tensor(rng.normal(size=(4, 4))))
    assert float(linear_cka(x, 3.0 * x @ q + 5.0)) == pytest.approx(1.0, rel=1e-10)
    y = torch.tensor(rng.normal(size=(30, 2)))
    assert float(linear_cka(x, y)) == pytest.approx(float(linear_cka(y, x)), rel=1e-12)
    assert float(linear_cka(x, torch.ones(30, 3))) == 0.0  # constant stream: 0, not NaN
    with pytest.raises(ValueError, match="same N"):
        linear_cka(x, y[:5])
    with pytest.raises(ValueError, match="at least 2 samples"):
        linear_cka(x[:1], y[:1])


@pytest.fixture(params=["flat", "image"])
def ts(request, flat_taskset: TaskSet) -> TaskSet:
    if request.param == "flat":
        return flat_taskset
    from .conftest import make_taskset

    return make_taskset((1, 8, 8), n=24)


def test_streams_and_loss_terms(ts: TaskSet) -> None:
    model = dual_stream_for(ts, seed=0, **SMALL)
    assert model.shares_representation
    x, y = next(iter(ts.dataloader(10, shuffle=False)))
    z_s, z_r = model.encode_streams(x)
    assert z_s.shape == (10, 6) and z_r.shape == (10, 3)
    torch.testing.assert_close(model.encode(x), z_s)
    assert model.reconstruct(z_s, z_r).shape == x.shape
    out = model(x)
    assert out["cls"].shape == (10, 3) and out["reg"].shape == (10,)
    terms = model.core_losses(x, y, ts, seed=1)
    assert isinstance(terms, CoreMTLLosses)
    assert terms.task.shape == terms.cfa.shape == (5,)
    torch.testing.assert_close(terms.cka, linear_cka(z_s, z_r))
    torch.testing.assert_close(terms.rec, (model.reconstruct(z_s, z_r) - x).abs().mean())
    w = torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0])
    manual = (w * terms.task).sum() + 0.3 * terms.cka + 0.7 * (w * terms.cfa).sum() \
        + 2.0 * terms.rec
    torch.testing.assert_close(terms.total(w, lambda_cka=0.3, lambda_cfa=0.7, lambda_rec=2.0),
                               manual)
    with pytest.raises(ValueError, match=r"weights must have shape \(5,\)"):
        terms.total([1.0, 2.0])
    summed = model.core_losses(x, y, ts, seed=1, per_sample_sum=True).rec
    torch.testing.assert_close(summed, terms.rec * x[0].numel())


def test_every_parameter_gets_a_gradient_from_the_total(ts: TaskSet) -> None:
    model = dual_stream_for(ts, seed=0, **SMALL)
    x, y = next(iter(ts.dataloader(10, shuffle=False)))
    model.core_losses(x, y, ts, seed=0).total().backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []


def test_heads_ignore_the_residual_stream(flat_taskset: TaskSet) -> None:
    model = dual_stream_for(flat_taskset, seed=0, **SMALL)
    x, _ = next(iter(flat_taskset.dataloader(10, shuffle=False)))
    before = model(x)
    with torch.no_grad():
        for p in [*model.residual.parameters(), *model.decoder.parameters()]:
            p.add_(1.0)
    after = model(x)
    assert all(torch.equal(before[t], after[t]) for t in before)
    shared = {id(p) for p in model.shared_parameters()}
    heads = {id(p) for p in model.heads.parameters()}
    assert shared | heads == {id(p) for p in model.parameters()} and not shared & heads


def test_constant_residual_makes_counterfactual_the_reconstruction(flat_taskset: TaskSet
                                                                   ) -> None:
    model = dual_stream_for(flat_taskset, seed=0, **SMALL)
    with torch.no_grad():
        model.residual.weight.zero_()
    x, _ = next(iter(flat_taskset.dataloader(10, shuffle=False)))
    z_s, z_r = model.encode_streams(x)
    torch.testing.assert_close(model.counterfactual(z_s, z_r, seed=3), model.reconstruct(z_s, z_r))
    # with a varying residual the permutation changes the counterfactual, reproducibly
    model2 = dual_stream_for(flat_taskset, seed=0, **SMALL)
    z_s, z_r = model2.encode_streams(x)
    a, b = model2.counterfactual(z_s, z_r, seed=3), model2.counterfactual(z_s, z_r, seed=3)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, model2.reconstruct(z_s, z_r))


def test_counterfactual_pass_freezes_batch_norm(flat_taskset: TaskSet) -> None:
    backbone = nn.Sequential(nn.Linear(6, 12), nn.BatchNorm1d(12), nn.ReLU())
    backbone.out_features = 12
    model = DualStreamModel(backbone, make_heads(flat_taskset, 6, 8, 2),
                            MLPEncoder(9, (16,), 6), semantic_dim=6, residual_dim=3,
                            activation="relu")
    x, y = next(iter(flat_taskset.dataloader(10, shuffle=False)))
    model.core_losses(x, y, flat_taskset, seed=0)
    assert int(backbone[1].num_batches_tracked) == 1  # the main pass only
    assert backbone[1].training


def test_bad_parts_raise(flat_taskset: TaskSet) -> None:
    with pytest.raises(ValueError, match="out_features"):
        DualStreamModel(nn.Identity(),
                        make_heads(flat_taskset, 2, 4, 1), nn.Identity(), 2, 2)
    model = DualStreamModel(MLPEncoder(6, (), 8), make_heads(flat_taskset, 2, 4, 1),
                            MLPEncoder(4, (), 5), 2, 2)
    x, y = next(iter(flat_taskset.dataloader(10, shuffle=False)))
    with pytest.raises(ValueError, match="reconstruct the input shape"):
        model.core_losses(x, y, flat_taskset)
    with pytest.raises(ValueError, match="power of two"):
        dual_stream_for(TaskSet.from_arrays(np.random.default_rng(0).normal(size=(8, 1, 6, 6)),
                                            {"t": np.arange(8.0)}, {"t": "regression"}))
    assert isinstance(dual_stream_for(TaskSet.from_arrays(
        np.random.default_rng(0).normal(size=(8, 1, 8, 8)), {"t": np.arange(8.0)},
        {"t": "regression"})).decoder, ConvDecoder)


def test_soft_mlp_decoder_renders_any_image_size() -> None:
    rng = np.random.default_rng(0)
    ts = TaskSet.from_arrays(rng.normal(size=(8, 1, 6, 6)), {"t": np.arange(8.0)},
                             {"t": "regression"})
    model = dual_stream_for(ts, soft_decoder="mlp", hidden=(16,), seed=0)
    x = torch.from_numpy(np.asarray(ts.inputs, dtype=np.float32))
    z_s, z_r = model.encode_streams(x)
    assert model.reconstruct(z_s, z_r).shape == (8, 1, 6, 6)
    losses = model.core_losses(x, {"t": torch.arange(8.0)}, ts)
    assert torch.isfinite(losses.total())
    with pytest.raises(ValueError, match="soft_decoder"):
        dual_stream_for(ts, soft_decoder="deconv")
    with pytest.raises(ValueError, match="decoder_channels"):
        dual_stream_for(ts, soft_decoder="mlp", decoder_channels=[8, 8])
