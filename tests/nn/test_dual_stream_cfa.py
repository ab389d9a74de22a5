"""Counterfactual augmentation (001 eq. 12) against 001 Algorithm 1, lines 24-28 and
Section 3.3: x̃ = D(z_s, z_r[π]) re-encoded through E and P_s, BatchNorm frozen in the
counterfactual pass. References are hand-written passes, not the library's own path."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from tasklens.data import TaskSet
from tasklens.nn import DualStreamModel, make_heads, task_losses


class _BNDecoder(nn.Module):
    """A generic decoder with its own BatchNorm (so the CF pass can disturb it)."""

    def __init__(self, code: int, out: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(code, 16), nn.BatchNorm1d(16), nn.ReLU(),
                                 nn.Linear(16, out))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def _model(ts: TaskSet, seed: int = 0) -> DualStreamModel:
    torch.manual_seed(seed)
    backbone = nn.Sequential(nn.Linear(6, 12), nn.BatchNorm1d(12), nn.ReLU())
    backbone.out_features = 12
    return DualStreamModel(backbone, make_heads(ts, 6, 8, 2), _BNDecoder(9, 6),
                           semantic_dim=6, residual_dim=3, tasks=ts)


def _bn_state(model: nn.Module) -> list[torch.Tensor]:
    return [b.clone() for m in model.modules() if isinstance(m, nn.BatchNorm1d)
            for b in (m.running_mean, m.running_var, m.num_batches_tracked)]


def test_identity_shuffle_gives_the_task_loss_on_the_reconstruction(flat_taskset: TaskSet
                                                                    ) -> None:
    model = _model(flat_taskset)
    x, y = next(iter(flat_taskset.dataloader(12, shuffle=False)))
    ref = copy.deepcopy(model)
    terms = model.core_losses(x, y, flat_taskset, perm=torch.arange(12))
    # by hand: main pass in train mode, then x̂ re-encoded with BN in eval mode
    h = ref.backbone(x)
    x_hat = ref.decoder(torch.cat([ref.semantic(h), ref.residual(h)], 1))
    x_hat_frozen_decoder = copy.deepcopy(ref.decoder).eval()(
        torch.cat([ref.semantic(h), ref.residual(h)], 1))
    ref.eval()
    expected = task_losses(flat_taskset, ref.decode(ref.semantic(ref.backbone(
        x_hat_frozen_decoder))), y)
    torch.testing.assert_close(terms.cfa, expected)
    assert not torch.allclose(x_hat, x_hat_frozen_decoder)  # the freeze matters here
    # a non-identity shuffle changes the counterfactual loss
    other = model.core_losses(x, y, flat_taskset, perm=torch.arange(12).roll(1))
    assert not torch.allclose(other.cfa, terms.cfa)


def test_counterfactual_pass_leaves_batch_norm_statistics_alone(flat_taskset: TaskSet
                                                                ) -> None:
    model, main_only = _model(flat_taskset), _model(flat_taskset)
    x, y = next(iter(flat_taskset.dataloader(12, shuffle=False)))
    model.core_losses(x, y, flat_taskset, seed=0)
    z_s, z_r = main_only.encode_streams(x)  # the main pass alone: encoder and decoder once
    main_only.reconstruct(z_s, z_r)
    for a, b in zip(_bn_state(model), _bn_state(main_only)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert all(m.training for m in model.modules())  # modes restored
    # the Trainer route (auxiliary_losses after encode) as well
    trained, main_only = _model(flat_taskset), _model(flat_taskset)
    z = trained.encode(x)
    trained.auxiliary_losses(x, z, trained.decode(z), y)
    main_only.reconstruct(*main_only.encode_streams(x))
    for a, b in zip(_bn_state(trained), _bn_state(main_only)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_counterfactual_loss_trains_decoder_encoder_and_semantic_projector(
        flat_taskset: TaskSet) -> None:
    model = _model(flat_taskset)
    x, y = next(iter(flat_taskset.dataloader(12, shuffle=False)))
    model.core_losses(x, y, flat_taskset, seed=1).cfa.sum().backward()
    for part in (model.decoder, model.backbone, model.semantic, model.residual, model.heads):
        assert all(p.grad is not None and bool(p.grad.abs().sum() > 0)
                   for p in part.parameters() if p.ndim > 1)


def test_bad_permutations_raise(flat_taskset: TaskSet) -> None:
    model = _model(flat_taskset)
    z_s, z_r = torch.zeros(4, 6), torch.zeros(4, 3)
    for perm in ([0, 0, 1, 2], [0, 1, 2], [1, 2, 3, 4]):
        with pytest.raises(ValueError, match=r"permutation of 0\.\.3"):
            model.counterfactual(z_s, z_r, perm=perm)
