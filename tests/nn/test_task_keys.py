"""Task names that torch refuses as module keys (``y.1``, ``training``) work in every model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tasklens.data import TaskSet
from tasklens.nn import CGC, MTAN, PLE, MMoE, hps_for
from tasklens.nn._taskdict import TaskModuleDict, module_key, task_name_of
from tasklens.train import Trainer

ODD_NAMES = ["y.1", "a b", "training", "50%", "%2E", "%_x", "", "a.b.c", "keys"]


@pytest.mark.parametrize("name", ODD_NAMES + ["plain", "y_1"])
def test_module_key_round_trip_and_accepted_by_torch(name: str) -> None:
    key = module_key(name)
    assert task_name_of(key) == name
    assert "." not in key
    torch.nn.Module().add_module(key, torch.nn.Identity())  # torch accepts it


def test_ordinary_names_keep_their_state_dict_keys() -> None:
    # an identity mapping for plain names: checkpoints of existing models still load
    for name in ("y", "y_1", "a b", "task-2"):
        assert module_key(name) == name


def test_keys_are_distinct_for_distinct_names() -> None:
    assert len({module_key(n) for n in ODD_NAMES}) == len(ODD_NAMES)


def test_task_module_dict_speaks_task_names() -> None:
    d = TaskModuleDict({n: torch.nn.Linear(1, 1) for n in ODD_NAMES})
    assert list(d) == ODD_NAMES and d.keys() == ODD_NAMES
    assert [k for k, _ in d.items()] == ODD_NAMES
    assert all(n in d for n in ODD_NAMES) and "y_1" not in d
    assert d["y.1"] is dict(d.items())["y.1"]
    d.pop("y.1")
    assert "y.1" not in d and len(d) == len(ODD_NAMES) - 1


def _odd_taskset(n: int = 64) -> TaskSet:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return TaskSet.from_arrays(x, {"y.1": x @ np.array([1.0, -1.0, 0.5, 0.0]),
                                   "a b": (x[:, 0] > 0).astype(np.int64) + 2 * (x[:, 1] > 0)},
                               kinds={"y.1": "regression", "a b": "classification"})


@pytest.mark.parametrize("method", ["ew", "upgrad"])
def test_model_with_odd_task_names_trains_predicts_and_reloads(method: str) -> None:
    ts = _odd_taskset()
    model = hps_for(ts, hidden=(8,), code_dim=4, head_hidden=8, head_depth=1, seed=0)
    assert model.task_names == ("y.1", "a b")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    Trainer(model, ts, method, batch_size=32, lr=1e-2, progress=False).fit(2)
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert any(k.startswith("heads.y%2E1.") for k in model.state_dict())
    pred = model.predict(ts, ts)
    assert list(pred) == ["y.1", "a b"]
    assert pred["y.1"].values.shape == (len(ts),)
    assert set(np.unique(pred["a b"].values)) <= {0, 1, 2, 3}
    assert pred["a b"].probabilities.shape == (len(ts), 4)
    clone = hps_for(ts, hidden=(8,), code_dim=4, head_hidden=8, head_depth=1, seed=1)
    clone.load_state_dict(model.state_dict())
    x = torch.as_tensor(ts.inputs[:5])
    for name, out in model.eval()(x).items():
        torch.testing.assert_close(clone.eval()(x)[name], out)


@pytest.mark.parametrize("cls", [MMoE, PLE, CGC, MTAN])
def test_other_architectures_accept_odd_names(cls: type) -> None:
    ts = _odd_taskset(8)
    model = cls((4,), ts, seed=0)
    out = model(torch.as_tensor(ts.inputs))
    assert list(out) == ["y.1", "a b"]
    assert out["a b"].shape == (8, 4)
