"""MTLModel.predict on a trained tiny model, loaded from its checkpoint as docs/train.md says."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tasklens.data import TaskSet
from tasklens.nn import TaskPrediction, hps_for
from tasklens.train import Trainer, load_checkpoint


def _toy(n: int = 240, seed: int = 0) -> TaskSet:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    colour = np.array(["red", "green", "blue"])[np.argmax(x[:, :3], axis=1)]
    return TaskSet.from_arrays(
        x,
        {"y": 2.0 * x[:, 0] - x[:, 1],
         "colour": colour,
         "big": np.where(x[:, 3] > 0, "yes", "no"),
         "tags": (x[:, :2] > 0).astype(np.float32)},
        kinds={"y": "regression", "colour": "classification", "big": "binary",
               "tags": "multilabel"})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    ts = _toy()
    folder = tmp_path_factory.mktemp("run")
    model = hps_for(ts, hidden=(32,), code_dim=16, head_hidden=16, head_depth=2, seed=0)
    Trainer(model, ts, "ew", lr=1e-2, batch_size=32, seed=0, checkpoint_dir=folder).fit(15)
    return ts, folder


def test_predict_after_loading_the_checkpoint(trained):
    ts, folder = trained
    # inference as documented: rebuild the same architecture, load the weights
    model = hps_for(ts, hidden=(32,), code_dim=16, head_hidden=16, head_depth=2, seed=1)
    model.load_state_dict(load_checkpoint(folder / "last.pt")["model"])
    test = _toy(120, seed=1)
    model.train()
    pred = model.predict(test.inputs, ts, batch_size=50)
    assert model.training  # mode restored
    assert list(pred) == ["y", "colour", "big", "tags"]
    assert all(isinstance(p, TaskPrediction) for p in pred.values())

    # independent decoding of the raw outputs with torch's own functions
    model.eval()
    with torch.no_grad():
        raw = model(torch.as_tensor(test.inputs))
    np.testing.assert_allclose(pred["y"].values, raw["y"].numpy(), rtol=1e-6, atol=1e-6)
    assert pred["y"].probabilities is None
    soft = torch.softmax(raw["colour"].double(), dim=1).numpy()
    np.testing.assert_allclose(pred["colour"].probabilities, soft, rtol=1e-10, atol=1e-12)
    classes = ts.tasks["colour"].classes
    assert list(pred["colour"].classes) == list(classes)
    assert (pred["colour"].values == classes[soft.argmax(axis=1)]).all()
    sig = torch.sigmoid(raw["big"].double()).numpy()
    np.testing.assert_allclose(pred["big"].probabilities, sig, rtol=1e-10, atol=1e-12)
    big_classes = ts.tasks["big"].classes
    assert (pred["big"].values == big_classes[(sig > 0.5).astype(int)]).all()
    assert pred["tags"].values.shape == (120, 2)
    assert set(np.unique(pred["tags"].values)) <= {0, 1}

    # the trained model learned the tasks: labels in the original label values
    assert set(pred["colour"].values) <= {"red", "green", "blue"}
    truth = test.tasks["colour"].labels()
    assert np.mean(pred["colour"].values == truth) > 0.8  # chance is 1/3
    assert np.mean(pred["big"].values == test.tasks["big"].labels()) > 0.8  # chance 1/2
    assert pred["tags"].to_dict()["kind"] == "multilabel"

    # a TaskSet as input, and the batch size does not change the decision
    again = model.predict(test, ts, batch_size=7)
    assert (again["colour"].values == pred["colour"].values).all()


def test_predict_refuses_unknown_tasks_and_bad_batch(trained):
    ts, _ = trained
    model = hps_for(ts.select(["y"]), hidden=(8,), code_dim=4, head_depth=1, seed=0)
    with pytest.raises(KeyError, match="no head for task"):
        model.predict(ts.inputs, ts)
    with pytest.raises(ValueError, match="batch_size"):
        model.predict(ts.inputs, ts.select(["y"]), batch_size=0)


@pytest.mark.parametrize("kind", ["mmoe", "ple", "mtan", "dual_stream"])
def test_predict_works_for_every_model_family(kind):
    from tasklens.nn import MTAN, PLE, MMoE, dual_stream_for

    ts = _toy(30)
    model = {"mmoe": lambda: MMoE((4,), ts, seed=0), "ple": lambda: PLE((4,), ts, seed=0),
             "mtan": lambda: MTAN((4,), ts, seed=0),
             "dual_stream": lambda: dual_stream_for(ts, hidden=(16,), seed=0)}[kind]()
    pred = model.predict(ts.inputs, ts)
    assert pred["y"].values.shape == (30,) and pred["colour"].probabilities.shape == (30, 3)
    np.testing.assert_allclose(pred["colour"].probabilities.sum(axis=1), 1.0, rtol=1e-12)
    assert pred["big"].probabilities.shape == (30,) and pred["tags"].values.shape == (30, 2)
