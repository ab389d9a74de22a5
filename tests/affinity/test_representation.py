"""RSA / CKA between single-task backbones: properties and agreement with tasklens.represent."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from tasklens.affinity.representation import (
    backbone_features,
    representation_similarity,
    representation_similarity_from_features,
)
from tasklens.data import TaskSet
from tasklens.nn import hps_for
from tasklens.represent import linear_cka, rsa


def _stl_models(n: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    ts = TaskSet.from_arrays(x, {"a": x[:, 0], "b": x[:, 1] > 0, "c": x[:, 2] * x[:, 3]},
                             kinds={"a": "regression", "b": "binary", "c": "regression"})
    models = {t: hps_for(ts.select([t]), hidden=(8,), code_dim=4, head_hidden=3,
                         head_depth=1, seed=i) for i, t in enumerate(ts.task_names)}
    return ts, models, torch.from_numpy(x)


def _rsa_by_hand(u: np.ndarray, v: np.ndarray) -> float:
    """Spearman correlation of the upper triangles of 1 − Pearson-between-samples."""
    iu = np.triu_indices(len(u), 1)
    return float(spearmanr((1 - np.corrcoef(u))[iu], (1 - np.corrcoef(v))[iu])[0])


def test_rsa_matrix_properties_and_shared_implementation() -> None:
    _ts, models, x = _stl_models()
    got = representation_similarity(models, x)
    assert got.task_names == ("a", "b", "c") and got.is_symmetric()
    np.testing.assert_allclose(np.diag(got.values), 1.0)
    assert np.all(np.abs(got.values) <= 1.0)
    with torch.no_grad():
        feats = {t: m.encode(x).double().numpy() for t, m in models.items()}
    assert got["a", "b"] == pytest.approx(rsa(feats["a"], feats["b"]), abs=1e-12)
    assert got["b", "c"] == pytest.approx(_rsa_by_hand(feats["b"], feats["c"]), abs=1e-9)


def test_cka_option_and_plain_backbones() -> None:
    _ts, models, x = _stl_models(seed=1)
    backbones = {t: m.encoder for t, m in models.items()}  # plain nn.Modules
    got = representation_similarity(backbones, x, method="cka")
    with torch.no_grad():
        feats = {t: m(x).double().numpy() for t, m in backbones.items()}
    assert got["a", "c"] == pytest.approx(linear_cka(feats["a"], feats["c"]), abs=1e-12)
    np.testing.assert_allclose(np.diag(got.values), 1.0, atol=1e-12)
    assert np.all((got.values >= 0) & (got.values <= 1 + 1e-12))


def test_invariance_to_rotation_and_scaling_of_one_backbone() -> None:
    rng = np.random.default_rng(3)
    f = rng.standard_normal((15, 5))
    q = np.linalg.qr(rng.standard_normal((5, 5)))[0]
    got = representation_similarity_from_features({"a": f, "b": 3.0 * f @ q}, method="cka")
    assert got["a", "b"] == pytest.approx(1.0, abs=1e-10)


def test_image_backbones_flattened() -> None:
    class Conv(nn.Module):
        def __init__(self, seed: int) -> None:
            super().__init__()
            torch.manual_seed(seed)
            self.conv = nn.Conv2d(1, 2, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x)  # (N, 2, 2, 2) feature maps

    x = torch.randn(7, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    feats = backbone_features({"p": Conv(0), "q": Conv(1)}, x)
    assert feats["p"].shape == (7, 8)


def test_errors() -> None:
    _ts, models, x = _stl_models()
    with pytest.raises(ValueError, match="unknown method"):
        representation_similarity(models, x, method="pearson")
    with pytest.raises(ValueError, match="at least 2"):
        representation_similarity({"a": models["a"]}, x)
    with pytest.raises(ValueError, match="batch size mismatch"):
        representation_similarity_from_features({"a": np.ones((4, 3)), "b": np.ones((5, 3))})
    with pytest.raises(ValueError, match="NaN"):
        representation_similarity_from_features(
            {"a": np.full((4, 3), np.nan), "b": np.random.default_rng(0).random((4, 3))})
    with pytest.raises(TypeError, match=r"nn\.Module"):
        representation_similarity({"a": models["a"], "b": "not a model"}, x)
