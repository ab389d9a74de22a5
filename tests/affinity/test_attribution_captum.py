"""IAS with a Captum attribution: the linear model's output attribution is x ⊙ w."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tasklens.affinity.attribution import captum_attribution, input_attribution_similarity
from tasklens.data import TaskSet

pytest.importorskip("captum")


def test_captum_input_x_gradient_matches_x_times_w() -> None:
    rng = np.random.default_rng(0)
    n, d = 10, 4
    x = rng.standard_normal((n, d))
    ts = TaskSet.from_arrays(x, {"a": rng.standard_normal(n), "b": rng.standard_normal(n)},
                             kinds={"a": "regression", "b": "regression"})
    weights = {t: rng.standard_normal(d) for t in ("a", "b")}
    models = {}
    for t, w in weights.items():
        lin = nn.Linear(d, 1).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w)[None, :])
            lin.bias.fill_(0.3)
        models[t] = nn.Sequential(lin, nn.Flatten(0))
    batch = (torch.from_numpy(x), {t: torch.from_numpy(ts[t].targets.astype(np.float64))
                                   for t in ("a", "b")})
    got = input_attribution_similarity(models, ts, batch,
                                       attribution=captum_attribution("InputXGradient"))
    # output attribution of a linear model: x ⊙ w (independent of the targets)
    ma, mb = x * weights["a"], x * weights["b"]
    cos = np.sum(ma * mb, axis=1) / (np.linalg.norm(ma, axis=1) * np.linalg.norm(mb, axis=1))
    assert got["a", "b"] == pytest.approx(float(cos.mean()), abs=1e-9)
    assert got["a", "a"] == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="no attribution method 'Nope'"):
        captum_attribution("Nope")
