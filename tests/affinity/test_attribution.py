"""IAS: hand-computed x·∂L/∂x on linear models, symmetry, range, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from tasklens.affinity.attribution import input_attribution_similarity, input_x_gradient
from tasklens.data import TaskSet
from tasklens.nn import hps_for
from tests.reference.affinity_reference import linear_mse_input_x_gradient, mean_cosine


def _linear_models(rng: np.random.Generator, names, d: int):
    models, params = {}, {}
    for t in names:
        lin = nn.Linear(d, 1).double()
        w, c = rng.standard_normal(d), float(rng.standard_normal())
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w)[None, :])
            lin.bias.fill_(c)
        models[t] = nn.Sequential(lin, nn.Flatten(0))  # (N,) output, a plain tensor
        params[t] = (w, c)
    return models, params


def _regression_taskset(rng: np.random.Generator, names, n: int, d: int) -> TaskSet:
    x = rng.standard_normal((n, d))
    return TaskSet.from_arrays(x, {t: rng.standard_normal(n) for t in names},
                               kinds=dict.fromkeys(names, "regression"))


@given(seed=st.integers(0, 10_000), n=st.integers(2, 12), d=st.integers(2, 6))
@settings(max_examples=25, deadline=None)
def test_ias_equals_hand_computed_linear_case(seed: int, n: int, d: int) -> None:
    rng = np.random.default_rng(seed)
    names = ["a", "b", "c"]
    ts = _regression_taskset(rng, names, n, d)
    models, params = _linear_models(rng, names, d)
    x = ts.inputs.astype(np.float64)
    y = {t: ts.tasks[t].targets.astype(np.float64) for t in names}
    batch = (torch.from_numpy(x), {t: torch.from_numpy(v) for t, v in y.items()})
    got = input_attribution_similarity(models, ts, batch)
    maps = {t: linear_mse_input_x_gradient(*params[t], x, y[t]) for t in names}
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if np.all(np.linalg.norm(maps[a], axis=1) > 1e-12) and np.all(
                    np.linalg.norm(maps[b], axis=1) > 1e-12):
                assert got.values[i, j] == pytest.approx(mean_cosine(maps[a], maps[b]),
                                                         abs=1e-9)
    assert got.is_symmetric()
    assert np.all(np.abs(got.values) <= 1.0)


def test_input_x_gradient_hand_value() -> None:
    ts = TaskSet.from_arrays(np.array([[1.0, 2.0], [3.0, -1.0]]), {"r": [0.5, 1.0]},
                             kinds={"r": "regression"})
    lin = nn.Linear(2, 1).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[2.0, -1.0]]))
        lin.bias.fill_(0.0)
    model = nn.Sequential(lin, nn.Flatten(0))
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0]], dtype=torch.float64)
    y = torch.tensor([0.5, 1.0], dtype=torch.float64)
    # residuals: (2 - 2 - 0.5) = -0.5 and (6 + 1 - 1) = 6; map_i = x_i * 2 r_i w
    expected = torch.tensor([[1 * 2 * -0.5 * 2, 2 * 2 * -0.5 * -1],
                             [3 * 2 * 6 * 2, -1 * 2 * 6 * -1]], dtype=torch.float64)
    torch.testing.assert_close(input_x_gradient(model, ts["r"], x, y), expected)


def test_ias_on_mtl_style_models_and_images() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 1, 4, 4)).astype(np.float32)
    ts = TaskSet.from_arrays(x, {"c": rng.integers(0, 3, 6), "r": rng.standard_normal(6)},
                             kinds={"c": "classification", "r": "regression"})
    # the 003 conv encoder: on the default ResNet's code, these 4-unit heads leave some
    # samples' maps exactly 0 (dead ReLUs), and the diagonal below is then < 1 by definition
    models = {t: hps_for(ts.select([t]), channels=(4,), code_dim=5, head_hidden=4, head_depth=2,
                         image_encoder="beta_vae", seed=i) for i, t in enumerate(ts.task_names)}
    batch = next(iter(ts.dataloader(6, shuffle=False)))
    got = input_attribution_similarity(models, ts, batch)
    np.testing.assert_allclose(np.diag(got.values), 1.0, atol=1e-12)
    assert got.is_symmetric() and -1.0 <= got["c", "r"] <= 1.0
    # the same model on the same targets under two names gives identical maps
    twin = TaskSet.from_arrays(x, {"c": ts["c"].targets, "c2": ts["c"].targets},
                               kinds={"c": "classification", "c2": "classification"})
    x_b, y_b = batch
    same = input_attribution_similarity({"c": models["c"], "c2": _Rename(models["c"], "c2")},
                                        twin, (x_b, {"c": y_b["c"], "c2": y_b["c"]}))
    np.testing.assert_allclose(same.values, 1.0, atol=1e-12)


class _Rename(nn.Module):
    """Expose the output of ``model``'s only head under another task name."""

    def __init__(self, model: nn.Module, name: str) -> None:
        super().__init__()
        self.model, self.name = model, name

    def forward(self, x: torch.Tensor) -> dict:
        return {self.name: next(iter(self.model(x).values()))}


def test_ias_custom_callable_and_errors() -> None:
    rng = np.random.default_rng(1)
    names = ["a", "b"]
    ts = _regression_taskset(rng, names, 5, 3)
    models, _ = _linear_models(rng, names, 3)
    for m in models.values():
        m.float()
    batch = next(iter(ts.dataloader(5, shuffle=False)))
    ones = input_attribution_similarity(models, ts, batch,
                                        attribution=lambda m, t, x, y: torch.ones_like(x))
    np.testing.assert_allclose(ones.values, 1.0)
    with pytest.raises(ValueError, match="lacks a model"):
        input_attribution_similarity({"a": models["a"]}, ts, batch)
    with pytest.raises(ValueError, match="batch size mismatch"):
        x, y = batch
        input_attribution_similarity(models, ts, (x, {**y, "a": y["a"][:3]}))
    with pytest.raises(ValueError, match="at least 2"):
        input_attribution_similarity(models, ts.select(["a"]), batch)
    with pytest.raises(ValueError, match="NaN"):
        input_attribution_similarity(models, ts, batch,
                                     attribution=lambda m, t, x, y: x * float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        x, y = batch
        input_attribution_similarity(models, ts, (x * float("nan"), y))
    with pytest.raises((ImportError, ValueError)):
        input_attribution_similarity(models, ts, batch, attribution="NoSuchMethod")
