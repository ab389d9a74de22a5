"""LI: hand numbers, label-injected input shapes, a least-squares experiment, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tasklens.affinity.label_injection import (
    encode_label,
    evaluate_task_loss,
    inject_label,
    label_injected_taskset,
    label_injection,
    label_injection_experiment,
    train_label_injected,
)
from tasklens.data import TaskSet
from tasklens.data.matrix import TaskMatrix


def test_score_from_hand_numbers() -> None:
    stl = {"a": 2.0, "b": 1.0, "c": 0.5}
    injected = {("a", "b"): 1.0, ("a", "c"): 4.0, ("b", "a"): 0.8, ("b", "c"): 1.0,
                ("c", "a"): 0.25, ("c", "b"): 1.0}
    li = label_injection(stl, injected)
    # (2 - 1) / 1 = 1; (2 - 4) / 4 = -0.5; (1 - 0.8) / 0.8 = 0.25; 0; (0.5 - 0.25)/0.25 = 1
    expected = np.array([[np.nan, 1.0, -0.5], [0.25, np.nan, 0.0], [1.0, -0.5, np.nan]])
    np.testing.assert_allclose(li.values, expected)
    assert li["a", "b"] == 1.0 and li["b", "a"] == pytest.approx(0.25)  # [target, source]
    as_array = label_injection(stl, np.array([[9, 1.0, 4.0], [0.8, 9, 1.0], [0.25, 1.0, 9]]))
    np.testing.assert_allclose(as_array.values, expected)
    as_matrix = label_injection(stl, TaskMatrix(np.array([[9, 1.0, 4.0], [0.8, 9, 1.0],
                                                          [0.25, 1.0, 9]]), ("a", "b", "c")),
                                task_names=["c", "a", "b"])
    assert as_matrix["a", "c"] == -0.5 and as_matrix.task_names == ("c", "a", "b")


def test_score_errors() -> None:
    stl = {"a": 1.0, "b": 1.0}
    with pytest.raises(ValueError, match="finite"):
        label_injection({"a": float("nan"), "b": 1.0}, {("a", "b"): 1.0, ("b", "a"): 1.0})
    with pytest.raises(ValueError, match="finite"):
        label_injection(stl, {("a", "b"): float("nan"), ("b", "a"): 1.0})
    with pytest.raises(ValueError, match="> 0"):
        label_injection(stl, {("a", "b"): 0.0, ("b", "a"): 1.0})
    with pytest.raises(ValueError, match="lacks the pair"):
        label_injection(stl, {("a", "b"): 1.0})
    with pytest.raises(ValueError, match="at least 2"):
        label_injection({"a": 1.0}, {})
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        label_injection(stl, np.ones((3, 3)))


def _mixed_taskset(n: int = 8, image: bool = False) -> TaskSet:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 2, 3, 3) if image else (n, 4))
    return TaskSet.from_arrays(
        x, {"cls": np.arange(n) % 3, "reg": rng.standard_normal(n),
            "vec": rng.standard_normal((n, 2)), "bin": np.arange(n) % 2},
        kinds={"cls": "classification", "reg": "regression", "vec": "regression",
               "bin": "binary"})


def test_label_encodings_and_injected_shapes() -> None:
    ts = _mixed_taskset()
    one_hot = encode_label(ts["cls"], ts["cls"].targets)
    assert one_hot.shape == (8, 3) and torch.equal(one_hot.argmax(1),
                                                   torch.as_tensor(ts["cls"].targets))
    assert encode_label(ts["reg"], ts["reg"].targets).shape == (8, 1)
    assert encode_label(ts["vec"], ts["vec"].targets).shape == (8, 2)
    assert encode_label(ts["bin"], ts["bin"].targets).shape == (8, 1)
    flat = label_injected_taskset(ts, "reg", "cls")
    assert flat.input_shape == (4 + 3,) and flat.task_names == ["reg"]
    np.testing.assert_array_equal(flat.inputs[:, :4], ts.inputs)
    np.testing.assert_array_equal(flat.inputs[:, 4:], one_hot.numpy())

    img = _mixed_taskset(image=True)
    injected = label_injected_taskset(img, "cls", "vec")
    assert injected.input_shape == (2 + 2, 3, 3)
    np.testing.assert_array_equal(injected.inputs[:, :2], img.inputs)
    # each label entry is one constant channel
    for c in range(2):
        plane = injected.inputs[:, 2 + c]
        np.testing.assert_allclose(plane, np.broadcast_to(
            img["vec"].targets[:, c, None, None], plane.shape))
    out = inject_label(torch.zeros(5, 1, 2, 2), torch.arange(10.0).reshape(5, 2))
    assert out.shape == (5, 3, 2, 2) and float(out[4, 2, 1, 1]) == 9.0


def test_injection_errors() -> None:
    ts = _mixed_taskset()
    with pytest.raises(ValueError, match="unknown source"):
        label_injected_taskset(ts, "reg", "nope")
    with pytest.raises(ValueError, match="own"):
        label_injected_taskset(ts, "reg", "reg")
    with pytest.raises(ValueError, match="batch size mismatch"):
        inject_label(np.zeros((4, 3)), np.zeros((5, 1)))
    with pytest.raises(ValueError, match="NaN"):
        encode_label(ts["reg"], np.array([1.0, np.nan]))


class _LeastSquares(nn.Module):
    def __init__(self, coef: np.ndarray) -> None:
        super().__init__()
        self.lin = nn.Linear(len(coef) - 1, 1)
        with torch.no_grad():
            self.lin.weight.copy_(torch.from_numpy(coef[:-1])[None, :])
            self.lin.bias.fill_(float(coef[-1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)[:, 0]


def _design(x: np.ndarray) -> np.ndarray:
    return np.hstack([x.astype(np.float64), np.ones((len(x), 1))])


def _fit(taskset: TaskSet) -> nn.Module:
    (task,) = taskset.task_names
    coef = np.linalg.lstsq(_design(taskset.inputs), taskset[task].targets.astype(np.float64),
                           rcond=None)[0]
    return _LeastSquares(coef)


def test_experiment_with_least_squares_train_fn() -> None:
    rng = np.random.default_rng(4)
    n = 400
    x = rng.standard_normal((n, 3))
    hidden = rng.standard_normal(n)  # not in the inputs; task b's label reveals it
    targets = {"a": x[:, 0] + hidden + 0.05 * rng.standard_normal(n), "b": hidden,
               "c": rng.standard_normal(n)}
    ts = TaskSet.from_arrays(x, targets, kinds=dict.fromkeys(targets, "regression"))
    split = ts.split(test_size=0.5, seed=0)
    result = label_injection_experiment(split.train, split.test, _fit, batch_size=64)
    li = result.matrix
    assert li["a", "b"] > 10.0  # b's label explains a's residual
    assert abs(li["a", "c"]) < 0.05 and abs(li["c", "a"]) < 0.05
    assert np.all(np.isnan(np.diag(li.values)))
    # independent check of one loss: numpy least squares, test MSE
    tr, te = split.train, split.test
    design_tr = _design(np.hstack([tr.inputs, tr["b"].targets[:, None]]))
    coef = np.linalg.lstsq(design_tr, tr["a"].targets.astype(np.float64), rcond=None)[0]
    pred = _design(np.hstack([te.inputs, te["b"].targets[:, None]])) @ coef
    mse = float(np.mean((pred - te["a"].targets) ** 2))
    assert result.injected_losses[("a", "b")] == pytest.approx(mse, rel=1e-4)
    assert set(result.to_dict()) == {"matrix", "stl_losses", "injected_losses"}


def test_train_and_evaluate_helpers() -> None:
    ts = _mixed_taskset(n=10)
    reg = ts.select(["reg", "vec", "cls"])
    seen = []

    def train_fn(taskset: TaskSet) -> nn.Module:
        seen.append((taskset.task_names[0], taskset.input_shape))
        return nn.Linear(taskset.input_shape[0], 1)

    models = train_label_injected(reg, train_fn, pairs=[("reg", "vec"), ("reg", "cls")])
    assert seen == [("reg", (6,)), ("reg", (7,))] and set(models) == {("reg", "vec"),
                                                                      ("reg", "cls")}
    with pytest.raises(TypeError, match=r"nn\.Module"):
        train_label_injected(reg, lambda t: "model", pairs=[("reg", "vec")])
    with pytest.raises(ValueError, match="unknown task"):
        evaluate_task_loss(nn.Linear(4, 1), ts, "nope")
    model = nn.Sequential(nn.Linear(4, 1), nn.Flatten(0))
    x = torch.from_numpy(ts.inputs)
    with torch.no_grad():
        full = torch.mean((model(x) - torch.from_numpy(ts["reg"].targets)) ** 2)
    assert evaluate_task_loss(model, ts, "reg", batch_size=3) == pytest.approx(float(full),
                                                                               rel=1e-5)
