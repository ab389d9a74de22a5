"""NumPy scalars are accepted wherever Python numbers are (issue 14, item 19).

``np.float32(0.01)`` is a ``numbers.Real`` but not a ``float``; hand-written
``isinstance(x, (int, float))`` checks refused it with a TypeError. Every public scalar check
now goes through ``check_scalar``; these tests call the entry points with NumPy scalars and
compare the stored value with the Python one.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from tasklens import balance
from tasklens._common.validation import check_positive_int, check_seed


def _float_hparams(name: str) -> dict[str, float]:
    """Float hyper-parameters of a method: its ``hparams()`` plus float constructor defaults."""
    method = balance.get(name)
    out = {k: v for k, v in method.hparams().items()
           if isinstance(v, float) and not isinstance(v, bool)}
    for p in inspect.signature(type(method).__init__).parameters.values():
        if isinstance(p.default, float) and p.name not in out:
            out[p.name] = p.default
    return out


@pytest.mark.parametrize("name", balance.available())
def test_every_float_hparam_accepts_numpy_float32(name: str) -> None:
    hparams = _float_hparams(name)
    for key, value in hparams.items():
        py = balance.get(name, **{key: value}).hparams()
        np32 = balance.get(name, **{key: np.float32(value)}).hparams()
        if key in py:
            # same value as with the Python float, up to float32 rounding
            assert np32[key] == pytest.approx(py[key], rel=1e-6), (name, key)
            assert not isinstance(np32[key], np.floating), (name, key)


def test_some_methods_have_float_hparams() -> None:
    # guards the parametrised test above against silently checking nothing
    assert sum(bool(_float_hparams(n)) for n in balance.available()) >= 10


def test_famo_lr_float32_regression() -> None:
    famo = balance.get("famo", lr=np.float32(0.01))
    assert famo.hparams()["lr"] == pytest.approx(0.01, rel=1e-6)
    with pytest.raises(TypeError, match="lr must be a real number"):
        balance.get("famo", lr="0.01")
    with pytest.raises(ValueError, match="lr must be"):
        balance.get("famo", lr=np.float32(-1.0))


def test_check_positive_int_and_seed_accept_numpy() -> None:
    assert check_positive_int(np.int32(3), "n") == 3
    with pytest.raises(TypeError, match="n must be an integer"):
        check_positive_int(np.float64(3.0), "n")
    with pytest.raises(TypeError, match="n must be an integer"):
        check_positive_int(True, "n")
    assert check_seed(np.int64(5)).integers(1000) == np.random.default_rng(5).integers(1000)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        check_seed(-1)


def test_nn_and_train_scalars_accept_numpy() -> None:
    from tasklens.nn.autoencoders import check_nonnegative
    from tasklens.nn.encoders import MLPEncoder
    from tasklens.train.callbacks import EarlyStopping

    assert check_nonnegative(np.float32(0.5), "beta") == 0.5
    with pytest.raises(TypeError, match="beta must be a real number"):
        check_nonnegative("0.5", "beta")
    with pytest.raises(ValueError, match="beta must be >= 0"):
        check_nonnegative(np.float64(-1.0), "beta")
    with pytest.raises(ValueError, match="beta must be finite"):
        check_nonnegative(np.inf, "beta")
    enc = MLPEncoder(4, (8,), 2, dropout=np.float32(0.25))
    assert any(getattr(m, "p", None) == 0.25 for m in enc.modules())
    with pytest.raises(ValueError, match=r"dropout must be < 1"):
        MLPEncoder(4, (8,), 2, dropout=1.0)
    with pytest.raises(TypeError, match="dropout must be a real number"):
        MLPEncoder(4, (8,), 2, dropout="0.1")
    stop = EarlyStopping(3, min_delta=np.float32(0.5))
    assert stop.min_delta == 0.5 and type(stop.min_delta) is float
    with pytest.raises(TypeError, match="min_delta must be a real number"):
        EarlyStopping(3, min_delta="0.1")
    assert EarlyStopping(np.int64(3)).patience == 3


def test_affinity_scalars_accept_numpy() -> None:
    from tasklens.affinity._models import check_positive_float
    from tasklens.affinity.gains import GainSettings

    assert check_positive_float(np.float32(0.5), "lr") == 0.5
    with pytest.raises(TypeError, match="lr must be a real number"):
        check_positive_float("0.5", "lr")
    with pytest.raises(ValueError, match="lr must be > 0"):
        check_positive_float(0.0, "lr")
    assert GainSettings(lr=np.float32(0.01)).lr == pytest.approx(0.01, rel=1e-6)
    with pytest.raises(TypeError, match="lr must be a real number"):
        GainSettings(lr="0.01")


def test_trainer_lr_and_seed() -> None:
    from tasklens.data import TaskSet
    from tasklens.nn import hps_for
    from tasklens.train import Trainer

    rng = np.random.default_rng(0)
    ts = TaskSet.from_arrays(rng.normal(size=(16, 3)), {"a": rng.normal(size=16),
                                                        "b": np.arange(16) % 2})
    model = hps_for(ts, seed=0, hidden=(4,), code_dim=4, head_hidden=4, head_depth=1)
    tr = Trainer(model, ts, lr=np.float32(0.5), seed=np.int64(2), progress=False)
    assert tr.lr == 0.5 and type(tr.lr) is float and tr.seed == 2
    with pytest.raises(TypeError, match="lr must be a real number"):
        Trainer(model, ts, lr="0.01")  # was float("0.01"): silently accepted
    with pytest.raises(ValueError, match="seed must be >= 0"):
        Trainer(model, ts, seed=-1)


def test_colored_digits_and_gamma_accept_numpy() -> None:
    from tasklens.data import colored_digits, gamma_mtl_family

    ts = colored_digits(n=20, color_correlation=np.float32(0.5), seed=np.int64(1))
    assert ts.info["seed"] == 1 and type(ts.info["seed"]) is int
    gamma_mtl_family(6, 3, np.float32(0.5))
    with pytest.raises(TypeError, match="gamma must be a real number"):
        gamma_mtl_family(6, 3, "0.5")


def test_score_center_accepts_numpy_float() -> None:
    from tasklens.affinity.evaluation import evaluate_scores
    from tasklens.data.matrix import TaskMatrix

    gain = TaskMatrix(np.array([[0.0, 0.3, -0.1], [-0.2, 0.0, 0.5], [0.4, -0.3, 0.0]]),
                      ("a", "b", "c"), "gain")
    py = evaluate_scores({"x": gain}, gain, centers={"x": 0.1}).overall["x"]
    np32 = evaluate_scores({"x": gain}, gain, centers={"x": np.float32(0.1)}).overall["x"]
    assert np32["center"] == pytest.approx(py["center"], rel=1e-6)
    assert np32["sign_agreement"] == py["sign_agreement"]


def test_dual_stream_lambdas_checked() -> None:
    from torch import nn

    from tasklens.nn.dual_stream import DualStreamModel
    from tasklens.nn.encoders import MLPEncoder

    def build(**kw):
        return DualStreamModel(MLPEncoder(4, (8,), 6), {"a": nn.Linear(2, 1)}, nn.Identity(),
                               2, 2, **kw)

    assert build(lambda_cka=np.float32(0.5)).lambdas["cka"] == 0.5
    with pytest.raises(TypeError, match="lambda_cka must be a real number"):
        build(lambda_cka="1")
    with pytest.raises(ValueError, match="lambda_rec must be >= 0"):
        build(lambda_rec=-1.0)


@pytest.mark.parametrize(
    ("call", "arg"),
    [
        ("mode_strength", "tau"), ("time_to_fraction", "fraction"),
        ("right_modes", "rtol"), ("random_mlp_tasks", "weight_std"),
    ],
)
def test_linear_and_random_mlp_scalars(call: str, arg: str) -> None:
    # a string gave numpy's "ufunc 'isfinite' not supported"; a NumPy float is a number
    from tasklens.data.random_mlp import random_mlp_tasks
    from tasklens.linear.alignment import right_modes
    from tasklens.linear.learning_order import time_to_fraction
    from tasklens.linear.tabula_rasa import mode_strength

    calls = {
        "mode_strength": lambda v: mode_strength(np.linspace(0, 5, 6), [1.0, 2.0], tau=v),
        "time_to_fraction": lambda v: time_to_fraction(np.arange(5.0), np.linspace(1, 0, 5),
                                                       fraction=v),
        "right_modes": lambda v: right_modes(np.eye(3), rtol=v),
        "random_mlp_tasks": lambda v: random_mlp_tasks(np.arange(8.0).reshape(4, 2), 2,
                                                       hidden=4, depth=1, weight_std=v),
    }
    # weight_std also takes the name "fan_in", so another string is an unknown choice
    with pytest.raises((TypeError, ValueError), match=f"{arg}"):
        calls[call]("0.5")
    with pytest.raises(ValueError, match=f"{arg} must be"):
        calls[call](np.float64(-0.5))
    calls[call](np.float32(0.5))


def test_train_linear_mtl_integer_arguments() -> None:
    from tasklens.linear.simulate import train_linear_mtl

    x = np.random.default_rng(0).normal(size=(8, 3))
    res = train_linear_mtl(x, [x[:, :1]], np.int64(2), epochs=np.int64(3))
    assert res is not None
    with pytest.raises(TypeError, match="epochs must be an integer"):
        train_linear_mtl(x, [x[:, :1]], 2, epochs=3.0)
    with pytest.raises(TypeError, match="record_every must be an integer"):
        train_linear_mtl(x, [x[:, :1]], 2, epochs=3, record_every="1")


def test_linear_dynamics_tau_and_tol() -> None:
    from tasklens.linear.dynamics import MTLDynamics
    from tasklens.linear.lambda_balanced import lambda_of
    from tests.linear.test_dynamics import closed_form_problem

    sigmas, ws, heads, _ = closed_form_problem(5, [2, 1], 3)
    dyn = MTLDynamics(sigmas, ws, heads, tau=np.float32(2.0), max_step=np.int64(2))
    assert dyn.tau == 2.0 and type(dyn.tau) is float
    with pytest.raises(TypeError, match="tau must be a real number"):
        MTLDynamics(sigmas, ws, heads, tau="2")
    with pytest.raises(TypeError, match="max_step must be a real number"):
        MTLDynamics(sigmas, ws, heads, max_step="2")
    with pytest.raises(TypeError, match="tol must be a real number"):
        lambda_of(ws, heads, tol="0.1")
    assert lambda_of(ws, heads, tol=np.float32(1e-6)) == pytest.approx(
        lambda_of(ws, heads, tol=1e-6))


@pytest.mark.parametrize("arg", ["tol", "scale", "lam", "tau", "learning_rate"])
def test_more_linear_scalars(arg: str) -> None:
    from tasklens.linear.alignment import classify_overlaps
    from tasklens.linear.lambda_balanced import lambda_balanced_init
    from tasklens.linear.simulate import gradient_flow, train_linear_mtl
    from tests.linear.test_dynamics import closed_form_problem

    x = np.random.default_rng(0).normal(size=(8, 3))
    sigmas, ws, heads, _ = closed_form_problem(5, [2, 1], 3)
    calls = {
        "tol": lambda v: classify_overlaps([0.0, 0.5, 1.0], tol=v),
        "scale": lambda v: lambda_balanced_init(n_inputs=3, n_hidden=2, n_outputs=2, lam=0.1,
                                                scale=v),
        "lam": lambda v: lambda_balanced_init(n_inputs=3, n_hidden=2, n_outputs=2, lam=v),
        "tau": lambda v: gradient_flow(sigmas, ws, heads, [0.0, 1.0], tau=v),
        "learning_rate": lambda v: train_linear_mtl(x, [x[:, :1]], 2, epochs=2,
                                                    learning_rate=v),
    }
    with pytest.raises(TypeError, match=f"{arg} must be a real number"):
        calls[arg]("0.1")
    calls[arg](np.float32(0.1))
