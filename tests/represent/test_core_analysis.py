"""001's analyses (Table 3, Fig. 2, Fig. 4-5) against hand-built models with known answers
and brute-force gradient loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tasklens.data import TaskSet
from tasklens.nn import DualStreamModel, dual_stream_for, make_heads, task_losses
from tasklens.studies.core_mtl_analysis import (
    GradientCosineRecorder,
    counterfactual_grid,
    gradient_cosines,
    last_shared_layer,
    reconstructions,
    stability_under_intervention,
)
from tasklens.train import Trainer
from tests.nn.conftest import make_taskset


@pytest.fixture(scope="module")
def flat_taskset() -> TaskSet:
    return make_taskset((6,))


class _Pick(nn.Module):
    def __init__(self, idx: list[int]) -> None:
        super().__init__()
        self.idx = idx
        self.scale = nn.Parameter(torch.ones(()))  # a parameter so the module is "a layer"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.idx] * self.scale


def _factorised_model(ts: TaskSet, psi: float = 0.0) -> DualStreamModel:
    """x = [a (2); b (2)]; identity backbone; P_s and P_r read a and b after a rotation by
    ψ in the planes (a_i, b_i); the decoder inverts the rotation: exact reconstruction."""
    backbone = nn.Linear(4, 4, bias=False)
    backbone.out_features = 4
    c, s = np.cos(psi), np.sin(psi)
    rot = torch.tensor([[c, 0, s, 0], [0, c, 0, s], [-s, 0, c, 0], [0, -s, 0, c]],
                       dtype=torch.float32)
    model = DualStreamModel(backbone, make_heads(ts, 2, 4, 1), nn.Linear(4, 4, bias=False),
                            semantic_dim=2, residual_dim=2, tasks=ts)
    with torch.no_grad():
        backbone.weight.copy_(rot)
        model.semantic.weight.copy_(torch.eye(4)[:2])
        model.residual.weight.copy_(torch.eye(4)[2:])
        model.semantic.bias.zero_()
        model.residual.bias.zero_()
        model.decoder.weight.copy_(rot.T)
    return model


@pytest.fixture(scope="module")
def ts4() -> TaskSet:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4)).astype(np.float32)
    return TaskSet.from_arrays(x, {"u": x[:, 0], "v": x[:, 1] > 0},
                               {"u": "regression", "v": "binary"})


def _rel_shift(a: np.ndarray, b: np.ndarray) -> float:
    """Brute force: mean distance over rows / RMS distance of a's rows to their mean."""
    mean = a.mean(0)
    spread = np.sqrt(np.mean([np.sum((r - mean) ** 2) for r in a]))
    return float(np.mean([np.linalg.norm(q - p) for p, q in zip(a, b)]) / spread)


def test_perfect_factorisation_keeps_semantics_under_both_interventions(ts4: TaskSet) -> None:
    model = _factorised_model(ts4)
    x = ts4.inputs
    target = x.copy()
    target[:, 2:] = 3.0 * x[::-1, 2:] + 1.0  # same content, another nuisance
    res = stability_under_intervention(model, ts4, target, seed=0)
    intra, cross = res.row("intra-domain"), res.row("cross-domain")
    perm = np.random.default_rng(0).permutation(50)
    assert intra.delta_semantic == pytest.approx(0.0, abs=1e-6)
    assert intra.delta_residual == pytest.approx(_rel_shift(x[:, 2:], x[perm, 2:]), rel=1e-5)
    assert cross.delta_semantic == pytest.approx(0.0, abs=1e-6)
    assert cross.delta_residual == pytest.approx(_rel_shift(x[:, 2:], target[:, 2:]), rel=1e-5)
    assert intra.ratio > 1e3 and res.to_dict()["rows"][0]["setting"] == "intra-domain"


def test_entangled_encoder_moves_the_semantic_stream(ts4: TaskSet) -> None:
    psi = 0.5
    model = _factorised_model(ts4, psi)
    res = stability_under_intervention(model, ts4, seed=0, reference="input")
    x = ts4.inputs.astype(np.float64)
    c, s = np.cos(psi), np.sin(psi)
    z_s = c * x[:, :2] + s * x[:, 2:]
    z_r = -s * x[:, :2] + c * x[:, 2:]
    perm = np.random.default_rng(0).permutation(50)
    # decoder inverts the rotation: x̃ = Rᵀ[z_s; z_r[π]], re-encoded: R x̃ = [z_s; z_r[π]]
    assert res.rows[0].delta_semantic == pytest.approx(0.0, abs=1e-5)  # exact inverse
    # with a decoder that does not invert the mixing, the semantic code moves
    with torch.no_grad():
        model.decoder.weight.copy_(torch.eye(4))
    res = stability_under_intervention(model, ts4, seed=0, reference="input")
    x_cf = np.concatenate([z_s, z_r[perm]], 1)
    zs_cf = c * x_cf[:, :2] + s * x_cf[:, 2:]
    assert res.rows[0].delta_semantic == pytest.approx(_rel_shift(z_s, zs_cf), rel=1e-4)
    assert res.rows[0].delta_semantic > 0.1


def test_gradient_cosines_match_separate_backward_passes(flat_taskset: TaskSet) -> None:
    model = dual_stream_for(flat_taskset, seed=0, feature_dim=12, semantic_dim=6,
                            residual_dim=3, hidden=(16,), head_hidden=8, head_depth=2)
    x, y = next(iter(flat_taskset.dataloader(16, shuffle=False)))
    got = gradient_cosines(model, x, y, flat_taskset)
    layer = last_shared_layer(model)
    assert isinstance(layer, nn.Linear)
    model.eval()
    grads = []
    losses = [*task_losses(flat_taskset, model(x), y).unbind(),
              (model.reconstruct(*model.encode_streams(x)) - x).abs().mean()]
    for loss in losses:
        model.zero_grad()
        loss.backward(retain_graph=True)
        grads.append(np.concatenate([p.grad.numpy().ravel() for p in layer.parameters()]))
    g = np.array(grads, dtype=np.float64)
    cos = (g @ g.T) / np.outer(np.linalg.norm(g, axis=1), np.linalg.norm(g, axis=1))
    np.testing.assert_allclose(got.task_vs_reconstruction, cos[:-1, -1], atol=1e-6)
    np.testing.assert_allclose(got.task_task, cos[:-1, :-1], atol=1e-6)
    assert got.tasks == tuple(flat_taskset.task_names)


def test_recorder_follows_training_without_changing_it(flat_taskset: TaskSet) -> None:
    def run(callbacks):
        model = dual_stream_for(flat_taskset, seed=0, feature_dim=12, semantic_dim=6,
                                residual_dim=3, hidden=(16,), head_hidden=8, head_depth=2)
        Trainer(model, flat_taskset, "ew", batch_size=8, lr=1e-2, seed=0,
                callbacks=callbacks).fit(2)
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    rec = GradientCosineRecorder(every=3)
    assert torch.equal(run([]), run([rec]))
    assert rec.steps().tolist() == [0, 3, 6, 9]  # 40 samples / 8 = 5 steps per epoch
    assert rec.task_vs_reconstruction().shape == (4, 5)


def test_counterfactual_grid_is_the_pairwise_decoding(flat_taskset: TaskSet) -> None:
    model = dual_stream_for(flat_taskset, seed=0, feature_dim=12, semantic_dim=6,
                            residual_dim=3, hidden=(16,), head_hidden=8, head_depth=2)
    x = torch.as_tensor(flat_taskset.inputs[:5])
    grid = counterfactual_grid(model, x[:3], x[3:])
    assert grid.shape == (3, 2, 6)
    model.eval()
    with torch.no_grad():
        z_s, z_r = model.encode_streams(x)
        for i in range(3):
            for j in range(2):
                expected = model.reconstruct(z_s[i:i + 1], z_r[3 + j:4 + j])[0]
                np.testing.assert_allclose(grid[i, j], expected.numpy(), rtol=1e-5, atol=1e-6)
    # the reconstructions are the diagonal of the grid of the inputs with themselves
    diagonal = counterfactual_grid(model, x, x)[np.arange(5), np.arange(5)]
    np.testing.assert_allclose(reconstructions(model, x), diagonal, rtol=1e-5, atol=1e-6)
    model.train()
    rec = reconstructions(model, flat_taskset.subset(np.arange(5)))
    assert model.training  # the mode is restored
    np.testing.assert_allclose(rec, diagonal, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="differ in shape"):
        counterfactual_grid(model, x, x[:, :3])
    with pytest.raises(TypeError, match="DualStreamModel"):
        counterfactual_grid(nn.Linear(2, 2), x, x)


def test_stream_probe_finds_the_factor_where_it_lives() -> None:
    from tasklens.studies import stream_probe

    rng = np.random.default_rng(0)
    n = 400
    nuisance = rng.integers(0, 4, n)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    x[:, 2] = 3.0 * nuisance + 0.1 * x[:, 2]  # the nuisance lives in b = x[:, 2:] only
    ts = TaskSet.from_arrays(x, {"u": x[:, 0]}, {"u": "regression"},
                             factors=np.column_stack([nuisance]).astype(float),
                             factor_names=["nuisance"])
    model = _factorised_model(ts)
    probe = stream_probe(model, ts, "nuisance", seed=0)
    assert probe.residual > 0.95
    assert probe.semantic < probe.chance + 0.1  # a ≈ independent of the nuisance
    assert 0.2 < probe.chance < 0.35
    mixed = stream_probe(_factorised_model(ts, psi=0.7), ts, "nuisance", seed=0)
    assert mixed.semantic > 0.8  # entangled: the semantic stream carries it too
    with pytest.raises(ValueError, match="not a factor"):
        stream_probe(model, ts, "hue")
