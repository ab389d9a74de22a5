"""CORE-MTL as a new user meets it: loss weights as arguments and attributes, clear errors,
and runs that do not depend on what is evaluated (issue 15, usability)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tasklens.data import TaskSet
from tasklens.nn import (
    DualStreamModel,
    MLPEncoder,
    UnknownAttributeError,
    dual_stream_for,
    linear_cka,
    make_heads,
)
from tasklens.train import Trainer

from .conftest import make_taskset

SMALL = {"feature_dim": 12, "semantic_dim": 6, "residual_dim": 3, "hidden": (16,),
         "head_hidden": 8, "head_depth": 2}


def test_lambdas_are_arguments_and_validated_attributes(flat_taskset: TaskSet) -> None:
    model = dual_stream_for(flat_taskset, seed=0, lambda_cka=0.1, lambda_cfa=0.5,
                            lambda_rec=2.0, **SMALL)
    assert dict(model.lambdas) == {"cka": 0.1, "cfa": 0.5, "rec": 2.0}
    model.lambda_cka = 10
    model.set_lambdas(cfa=0.0)
    assert (model.lambda_cka, model.lambda_cfa) == (10.0, 0.0)
    assert dict(model.lambdas) == {"cka": 10.0, "cfa": 0.0, "rec": 2.0}
    with pytest.raises(TypeError):
        model.lambdas["cka"] = 3.0  # read-only view: set the attribute instead
    with pytest.raises(ValueError, match="lambda_rec"):
        model.lambda_rec = -1.0
    with pytest.raises(ValueError, match="unknown loss weight"):
        model.set_lambdas(lpips=1.0)
    # core_losses(...).total() uses the model's weights unless told otherwise
    x, y = next(iter(flat_taskset.dataloader(10, shuffle=False)))
    terms = model.core_losses(x, y, flat_taskset, seed=0)
    expected = terms.task.sum() + 10.0 * terms.cka + 0.0 * terms.cfa.sum() + 2.0 * terms.rec
    torch.testing.assert_close(terms.total(), expected)
    torch.testing.assert_close(terms.total(lambda_rec=0.0), expected - 2.0 * terms.rec)
    with pytest.raises(ValueError, match="lambda_cfa"):
        terms.total(lambda_cfa=-1.0)


def test_unknown_attributes_are_refused_with_the_right_way(flat_taskset: TaskSet) -> None:
    model = dual_stream_for(flat_taskset, seed=0, **SMALL)
    with pytest.raises(UnknownAttributeError, match=r"lambda_cka.*set_lambdas"):
        model.lambda_independence = 1.0
    with pytest.raises(TypeError, match="no attribute 'temperature'"):
        model.temperature = 2.0
    # modules, private names and existing attributes stay settable
    model.extra = nn.Linear(2, 2)
    model._note = "ok"
    model.tasks = model.tasks
    model.train(False)


@pytest.mark.parametrize("kwargs, match", [
    ({"lambda_cka": -0.1}, "lambda_cka"),
    ({"lambda_cfa": float("nan")}, "lambda_cfa"),
    ({"lambda_rec": "1"}, "lambda_rec"),
    ({"residual_dim": 0}, "residual_dim must be >= 1"),
    ({"grounding": "medium"}, "grounding"),
])
def test_bad_arguments_raise_clear_errors(flat_taskset: TaskSet, kwargs, match) -> None:
    args = {**SMALL, **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        dual_stream_for(flat_taskset, seed=0, **args)


def test_decoder_channels(flat_taskset: TaskSet) -> None:
    ts = make_taskset((3, 8, 8), n=8)
    for grounding in ("soft", "hard"):
        model = dual_stream_for(ts, grounding=grounding, decoder_channels=(4, 5, 6), seed=0,
                                channels=(4, 4, 4), **{k: v for k, v in SMALL.items()
                                                       if k != "hidden"})
        nets = ([model.decoder] if grounding == "soft"
                else [model.decoder.normal_net, model.decoder.albedo_net])
        assert all(net.channels == (4, 5, 6) for net in nets)
    with pytest.raises(ValueError, match="decoder_channels applies to image inputs"):
        dual_stream_for(flat_taskset, decoder_channels=(4,), **SMALL)


def test_hard_grounding_needs_images(flat_taskset: TaskSet) -> None:
    with pytest.raises(ValueError, match="renders images"):
        dual_stream_for(flat_taskset, grounding="hard", **SMALL)
    with pytest.raises(ValueError, match="residual_dim must be >= 1"):
        DualStreamModel(MLPEncoder(6, (), 8), make_heads(flat_taskset, 2, 4, 1),
                        MLPEncoder(2, (), 6), 2, 0)


def test_auxiliary_terms_follow_the_weights_and_one_backbone_pass(flat_taskset: TaskSet
                                                                   ) -> None:
    backbone = nn.Sequential(nn.Linear(6, 12), nn.BatchNorm1d(12), nn.ReLU())
    backbone.out_features = 12
    model = DualStreamModel(backbone, make_heads(flat_taskset, 6, 8, 2),
                            MLPEncoder(9, (16,), 6), semantic_dim=6, residual_dim=3,
                            tasks=flat_taskset, lambda_cka=0.5, lambda_cfa=0.0,
                            lambda_rec=3.0)
    x, y = next(iter(flat_taskset.dataloader(10, shuffle=False)))
    z = model.encode(x)
    terms = model.auxiliary_losses(x, z, model.decode(z), y)
    # Algorithm 1, lines 6-8: z_s and z_r from the same backbone pass (one BN update)
    assert int(backbone[1].num_batches_tracked) == 1
    assert set(terms) == {"cka", "rec"}  # λ_CFA = 0: the counterfactual pass is skipped
    with torch.no_grad():
        h = backbone[0](x)  # recompute the pass by hand, with the batch's statistics
        h = torch.relu((h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + 1e-5)
                       * backbone[1].weight + backbone[1].bias)
        z_s, z_r = model.semantic(h), model.residual(h)
        rec = (model.decoder(torch.cat([z_s, z_r], 1)) - x).abs().mean()
    torch.testing.assert_close(terms["cka"].detach(), 0.5 * linear_cka(z_s, z_r))
    torch.testing.assert_close(terms["rec"].detach(), 3.0 * rec)


def _trained_parameters(ts: TaskSet, evaluated: TaskSet | None, dropout: bool) -> torch.Tensor:
    model = dual_stream_for(ts, seed=0, **SMALL)
    if dropout:  # torch randomness in training besides the counterfactual shuffles
        model.semantic = nn.Sequential(model.semantic, nn.Dropout(0.3))
    kw = {} if evaluated is None else {"val": evaluated, "test": evaluated}
    Trainer(model, ts, "ew", batch_size=8, lr=1e-2, seed=0, **kw).fit(2)
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("dropout", [False, True])
def test_training_does_not_depend_on_what_is_evaluated(dropout: bool) -> None:
    ts = make_taskset((6,), n=24, seed=0)
    other = make_taskset((6,), n=10, seed=1).encode_like(ts)
    plain = _trained_parameters(ts, None, dropout)
    evaluated = _trained_parameters(ts, other, dropout)
    assert torch.equal(plain, evaluated)
    # and the run does depend on its own randomness (the comparison can fail)
    model = dual_stream_for(ts, seed=0, **SMALL)
    Trainer(model, ts, "ew", batch_size=8, lr=1e-2, seed=1).fit(2)
    assert not torch.equal(plain, torch.cat([p.detach().flatten()
                                             for p in model.parameters()]))


def test_constant_inputs_give_finite_losses() -> None:
    ts = TaskSet.from_arrays(np.full((8, 3, 8, 8), 0.5, np.float32),
                             {"a": np.arange(8.0), "b": np.arange(8) % 2},  # constant inputs only
                             {"a": "regression", "b": "classification"})
    for grounding in ("soft", "hard"):
        model = dual_stream_for(ts, seed=0, grounding=grounding, channels=(4, 4, 4), **{
            k: v for k, v in SMALL.items() if k != "hidden"})
        x, y = next(iter(ts.dataloader(8, shuffle=False)))
        terms = model.core_losses(x, y, ts, seed=0)
        total = terms.total()
        total.backward()
        assert all(bool(torch.isfinite(t).all()) for t in
                   (terms.task, terms.cka, terms.rec, terms.cfa, total)), grounding
        assert all(bool(torch.isfinite(p.grad).all()) for p in model.parameters()
                   if p.grad is not None), grounding
        aux = model.auxiliary_losses(x, model.encode(x), model(x), y)
        assert all(bool(torch.isfinite(v)) for v in aux.values()), grounding
