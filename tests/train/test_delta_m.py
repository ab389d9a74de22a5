"""Δm against a hand computation, its sign convention, and its error messages."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasklens.train import Trainer, delta_m, single_task_baselines

from ._data import tiny_model, tiny_taskset

TS = tiny_taskset(n=120)  # a: regression (mse ↓, r2 ↑); b: classification (accuracy ↑, macro_f1 ↑)


def test_hand_example_with_mixed_directions():
    stl = {"a": {"mse": 1.0, "r2": 0.6}, "b": {"accuracy": 0.8, "macro_f1": 0.5}}
    mtl = {"a": {"mse": 0.9, "r2": 0.66}, "b": {"accuracy": 0.72, "macro_f1": 0.5}}
    # by hand: a: mse −10 % (lower is better, so +10), r2 +10 % -> task mean +10;
    #          b: accuracy −10 %, macro_f1 0 -> task mean −5;  Δm = (10 − 5) / 2 = 2.5
    assert delta_m(mtl, stl, TS) == pytest.approx(2.5)
    # restricting to the primary metrics: a +10, b −10 -> 0
    assert delta_m(mtl, stl, TS, metrics={"a": ["mse"], "b": ["accuracy"]}) == pytest.approx(0)
    # without a task set: every known metric reported is used (same here)
    assert delta_m(mtl, stl) == pytest.approx(2.5)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.1, 10.0), st.floats(0.1, 10.0), st.floats(-0.5, 0.5))
def test_uniform_relative_gain_gives_that_gain(mse, acc, gain):
    stl = {"a": {"mse": mse, "r2": acc}, "b": {"accuracy": acc, "macro_f1": mse}}
    better = {"a": {"mse": mse * (1 - gain), "r2": acc * (1 + gain)},
              "b": {"accuracy": acc * (1 + gain), "macro_f1": mse * (1 + gain)}}
    assert delta_m(better, stl, TS) == pytest.approx(100 * gain, abs=1e-9)
    assert delta_m(stl, stl, TS) == 0.0


def test_errors_name_what_is_wrong():
    stl = {"a": {"mse": 0.0, "r2": 0.5}, "b": {"accuracy": 0.8, "macro_f1": 0.5}}
    with pytest.raises(ValueError, match="'a'/'mse' is 0"):
        delta_m(stl, stl, TS)
    good = {"a": {"mse": 1.0, "r2": 0.5}, "b": {"accuracy": 0.8, "macro_f1": 0.5}}
    with pytest.raises(ValueError, match="mtl_metrics has no task 'b'"):
        delta_m({"a": good["a"]}, good, TS)
    with pytest.raises(ValueError, match="no metric 'r2'"):
        delta_m(good, {"a": {"mse": 1.0}, "b": good["b"]}, TS)
    with pytest.raises(ValueError, match="finite"):
        delta_m({**good, "a": {"mse": float("nan"), "r2": 0.5}}, good, TS)


def test_single_task_baselines_train_one_model_per_task():
    sp = TS.split(0.25, 0.25, seed=0)
    kwargs = {"batch_size": 32, "seed": 3, "lr": 1e-2}
    stl = single_task_baselines(lambda ts: tiny_model(ts, seed=1), sp.train, 2, val=sp.val,
                                **kwargs)
    assert list(stl) == ["a", "b"]
    # the same run by hand for task a
    sub = sp.train.select(["a"])
    by_hand = Trainer(tiny_model(sub, seed=1), sub, "ew", val=sp.val.select(["a"]),
                      **kwargs).fit(2)
    assert stl["a"] == by_hand.averaged_metrics["val"]["a"]
    mtl = Trainer(tiny_model(sp.train, seed=1), sp.train, "ew", val=sp.val, **kwargs).fit(2)
    assert isinstance(delta_m(mtl.averaged_metrics["val"], stl, sp.train), float)


def test_loss_column_ignored_unless_named():
    stl = {"a": {"mse": 1.0, "r2": 0.5, "loss": 1.0}, "b": {"accuracy": 0.5, "loss": 2.0}}
    mtl = {"a": {"mse": 1.0, "r2": 0.5, "loss": 0.5}, "b": {"accuracy": 0.5, "loss": 1.0}}
    assert delta_m(mtl, stl) == 0.0
    # naming the loss: both losses halve (lower is better) -> +50 %
    assert delta_m(mtl, stl, metrics={"a": ["loss"], "b": ["loss"]}) == pytest.approx(50.0)


def test_single_task_baselines_refuse_a_balancing_method():
    with pytest.raises(ValueError, match="method='ew'"):
        single_task_baselines(tiny_model, TS, 1, val=TS, method="mgda")
