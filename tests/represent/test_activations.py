"""capture_activations against a hand-written forward hook; layer_cka_matrix against the
feature-space linear_cka (an independent formula) and CKA's invariances."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tasklens.data import TaskSet
from tasklens.nn import hps_for
from tasklens.represent import capture_activations, layer_cka_matrix, linear_cka


def _model_and_data(n: int = 70):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 1, 8, 8)).astype(np.float32)
    ts = TaskSet.from_arrays(x, {"c": rng.integers(0, 3, n)}, {"c": "classification"})
    model = hps_for(ts, code_dim=6, channels=(4, 8), head_hidden=8, head_depth=2, seed=0)
    return model, ts


def _hand_hooked(model: nn.Module, x: torch.Tensor, name: str) -> np.ndarray:
    """The hand-written way: one hook, one forward pass in eval mode."""
    store = []
    handle = dict(model.named_modules())[name].register_forward_hook(
        lambda _m, _i, out: store.append(out.detach().clone()))
    model.eval()
    with torch.no_grad():
        model(x)
    handle.remove()
    return store[0].reshape(len(x), -1).numpy()


def test_capture_matches_a_hand_written_hook_for_every_data_form() -> None:
    model, ts = _model_and_data()
    layers = ["encoder.stem", "encoder.blocks.1", "encoder"]
    x = torch.from_numpy(ts.inputs)
    ref = {name: _hand_hooked(model, x, name) for name in layers}
    model.train()
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, torch.zeros(len(x))), batch_size=16)
    for data in (ts, ts.inputs, x, loader):
        got = capture_activations(model, data, layers, batch_size=32)
        assert list(got) == layers
        for name in layers:
            np.testing.assert_allclose(got[name], ref[name], rtol=1e-5, atol=1e-6)
    assert model.training  # the mode is restored
    assert not any(m._forward_hooks for m in model.modules())  # hooks removed
    assert got["encoder.stem"].shape == (70, 4 * 8 * 8) and got["encoder"].shape == (70, 6)


def test_capture_is_bounded_by_max_samples_and_can_pool_space() -> None:
    model, ts = _model_and_data()
    x = torch.from_numpy(ts.inputs)
    got = capture_activations(model, ts, ["encoder.stem"], max_samples=20, batch_size=16)
    assert got["encoder.stem"].shape == (20, 256)  # 16 + 4 of the second batch
    np.testing.assert_allclose(got["encoder.stem"],
                               _hand_hooked(model, x[:20], "encoder.stem"), rtol=1e-5,
                               atol=1e-6)
    pooled = capture_activations(model, ts, ["encoder.stem"], spatial="mean")
    full = _hand_hooked(model, x, "encoder.stem").reshape(70, 4, 64)
    np.testing.assert_allclose(pooled["encoder.stem"], full.mean(axis=2), rtol=1e-5, atol=1e-6)


def test_capture_bad_input() -> None:
    model, ts = _model_and_data(8)
    with pytest.raises(ValueError, match=r"unknown layer\(s\) \['encoder.nope'\]"):
        capture_activations(model, ts, ["encoder.nope"])
    with pytest.raises(TypeError, match="non-empty sequence of module names"):
        capture_activations(model, ts, "encoder")
    with pytest.raises(ValueError, match="max_samples"):
        capture_activations(model, ts, ["encoder"], max_samples=0)
    with pytest.raises(ValueError, match="unknown spatial"):
        capture_activations(model, ts, ["encoder"], spatial="max")
    with pytest.raises(TypeError, match="returns dict, not a tensor"):
        capture_activations(model, ts, [""])  # the whole model returns {task: output}
    assert not any(m._forward_hooks for m in model.modules())
    with pytest.raises(TypeError, match="data must be a TaskSet"):
        capture_activations(model, 3.0, ["encoder"])


def test_layer_cka_matrix_matches_feature_space_cka_and_invariances() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(40, 7))
    acts = {"a": a, "b": np.tanh(a @ rng.normal(size=(7, 30))), "c": rng.normal(size=(40, 3)),
            # an orthogonal rotation and a scaling of a: CKA 1 with a
            "rot": 3.0 * a @ np.linalg.qr(rng.normal(size=(7, 7)))[0]}
    result = layer_cka_matrix(acts)
    names = list(acts)
    assert result.layers == tuple(names) and result.n_samples == 40
    for i, p in enumerate(names):
        for j, q in enumerate(names):
            assert result.matrix[i, j] == pytest.approx(linear_cka(acts[p], acts[q]), abs=1e-9)
    assert result.matrix[0, 3] == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(result.matrix, result.matrix.T, atol=1e-12)
    assert result.to_dict()["layers"] == names
    with pytest.raises(ValueError, match="has 5 rows"):
        layer_cka_matrix({"a": a, "b": a[:5]})
    with pytest.raises(ValueError, match="constant"):
        layer_cka_matrix({"a": a, "z": np.ones((40, 2))})
