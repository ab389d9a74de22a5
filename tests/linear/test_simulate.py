"""gradient_flow and train_linear_mtl against independent references: the test-only ODE of
eq. 5 (tests/reference/linear_ode.py), the closed form (itself checked against that ODE),
numpy gradient formulas written from eq. 5, and first-order convergence of GD in the step."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from tasklens.linear.dynamics import MTLDynamics, zero_balanced_init
from tasklens.linear.simulate import _balanced_chain, gradient_flow, train_linear_mtl
from tests.reference.linear_ode import integrate_mtl_ode


def rel_err(a, b):
    return float(np.abs(np.asarray(a) - np.asarray(b)).max() / np.abs(np.asarray(b)).max())


def whitened_data(n, n_in, seed):
    """Inputs with exactly identity covariance (assumption A1) and linear targets."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, n_in))
    w, q = np.linalg.eigh(z.T @ z / n)
    return z @ (q / np.sqrt(w)) @ q.T, rng


def test_gradient_flow_matches_reference_general():
    """Non-whitened inputs, loss weights and a non-balanced init."""
    rng = np.random.default_rng(0)
    sigmas = [rng.standard_normal((2, 4)), rng.standard_normal((3, 4))]
    a = rng.standard_normal((4, 4))
    cov = a @ a.T / 4 + 0.5 * np.eye(4)
    ws = 0.1 * rng.standard_normal((3, 4))
    heads = [0.1 * rng.standard_normal((2, 3)), 0.1 * rng.standard_normal((3, 3))]
    weights = np.array([0.3, 1.7])
    t = np.linspace(0, 5, 6)
    res = gradient_flow(sigmas, ws, heads, t, input_cov=cov, loss_weights=weights)
    ws_t, heads_t, funcs = integrate_mtl_ode(sigmas, ws, heads, t, input_cov=cov, weights=weights)
    assert rel_err(res.shared, ws_t) < 1e-6
    for got, want in zip(res.heads, heads_t):
        assert rel_err(got, want) < 1e-6
    for i, (s, f) in enumerate(zip(sigmas, funcs)):
        want = (
            np.sum(s**2) - 2 * np.einsum("ij,tij->t", s, f) + np.einsum("tij,jk,tik->t", f, cov, f)
        )
        assert rel_err(res.losses[:, i], want) < 1e-6
    json.dumps(res.to_dict())


def test_gradient_flow_matches_closed_form():
    rng = np.random.default_rng(1)
    sigmas = [rng.standard_normal((2, 5)), rng.standard_normal((2, 5))]
    ws, heads = zero_balanced_init(5, 4, [2, 2], 1e-2, seed=1)
    dyn = MTLDynamics(sigmas, ws, heads, tau=2.0)
    assert dyn.method == "closed_form"
    t = np.linspace(0, 16.0 / dyn.basis.S.min(), 7)
    res = gradient_flow(sigmas, ws, heads, t, tau=2.0)
    assert (
        rel_err(
            np.concatenate(res.network_functions(), 1), np.concatenate(dyn.network_functions(t), 1)
        )
        < 1e-6
    )
    assert rel_err(res.losses, dyn.losses(t)) < 1e-6
    assert res.settings["nfev"] > 0


def test_gradient_flow_at_time_zero_is_the_init():
    ws, heads = zero_balanced_init(3, 2, [1, 2], 0.1, seed=0)
    res = gradient_flow([np.ones((1, 3)), np.eye(2, 3)], ws, heads, [0.0])
    assert np.array_equal(res.shared[0], ws)


def _setup_gd(seed=0):
    x, rng = whitened_data(200, 6, seed)
    sigmas = [rng.standard_normal((2, 6)), rng.standard_normal((1, 6))]
    return x, [x @ s.T for s in sigmas], sigmas


def test_gd_converges_to_the_closed_form_at_first_order():
    """t = epochs * lr: the GD loss curve approaches Theorem 2 with error O(lr)."""
    x, ys, sigmas = _setup_gd()
    ws, heads = zero_balanced_init(6, 4, [2, 1], 1e-2, seed=3)
    errors = []
    for lr in (1e-2, 5e-3):
        res = train_linear_mtl(
            x,
            ys,
            4,
            learning_rate=lr,
            epochs=int(6 / lr),
            record_every=int(0.5 / lr),
            weights=([ws], heads),
        )
        dyn = MTLDynamics(sigmas, ws, heads)
        errors.append(rel_err(res.losses, dyn.losses(res.t)))
        got = np.concatenate(res.network_functions, axis=1)
        assert rel_err(got, np.concatenate(dyn.network_functions(res.t), 1)) < 0.05
    assert errors[0] < 0.05
    assert 1.6 < errors[0] / errors[1] < 2.4  # first order in the step size


def test_gd_loss_weights_and_input_covariance_match_gradient_flow():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, 4)) @ (np.eye(4) + 0.3 * rng.standard_normal((4, 4)))
    ys = [x @ rng.standard_normal((4, 2)), x @ rng.standard_normal((4, 2))]
    ws = 0.1 * rng.standard_normal((3, 4))
    heads = [0.1 * rng.standard_normal((2, 3)), 0.1 * rng.standard_normal((2, 3))]
    weights = [2.0, 0.5]
    lr, epochs = 2e-3, 1000
    res = train_linear_mtl(
        x,
        {"a": ys[0], "b": ys[1]},
        3,
        learning_rate=lr,
        epochs=epochs,
        record_every=250,
        loss_weights=weights,
        weights=([ws], heads),
    )
    n = x.shape[0]
    flow = gradient_flow(
        [y.T @ x / n for y in ys],
        ws,
        heads,
        res.t,
        input_cov=x.T @ x / n,
        loss_weights=weights,
        target_variance=[np.sum(y**2) / n for y in ys],
    )
    assert res.task_names == ("a", "b")
    assert rel_err(res.losses, flow.losses) < 2e-2
    assert (
        rel_err(
            np.concatenate(res.network_functions, 1), np.concatenate(flow.network_functions(), 1)
        )
        < 2e-2
    )


def test_gradient_cosines_match_numpy_formulas():
    """At the init: grad_{W_S} (L_i/2) = -W_i^T E_i, grad_{W_i} (L_i/2) = -E_i W_S^T,
    E_i = Sigma_io - W_i W_S Sigma_ii (eq. 5)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((50, 5))
    ys = [rng.standard_normal((50, 2)) for _ in range(3)]
    ws = rng.standard_normal((4, 5))
    heads = [rng.standard_normal((2, 4)) for _ in range(3)]
    res = train_linear_mtl(x, ys, 4, epochs=0, weights=([ws], heads))
    n = x.shape[0]
    errs = [y.T @ x / n - h @ ws @ (x.T @ x / n) for y, h in zip(ys, heads)]
    g_s = [-(h.T @ e).ravel() for h, e in zip(heads, errs)]
    g_h = [-(e @ ws.T).ravel() for e in errs]

    def cos(a, b):
        return a @ b / np.linalg.norm(a) / np.linalg.norm(b)

    for i in range(3):
        for j in range(3):
            assert np.isclose(res.cosine_shared[0, i, j], cos(g_s[i], g_s[j]), atol=1e-10)
            assert np.isclose(res.cosine_heads[0, i, j], cos(g_h[i], g_h[j]), atol=1e-10)


def test_deep_relu_network_trains_and_records():
    x, ys, _ = _setup_gd(seed=4)
    ys = [ys[0], ys[1][:, 0]]  # a 1-d target is one output
    res = train_linear_mtl(
        x,
        ys,
        8,
        depth=2,
        activation="relu",
        learning_rate=0.05,
        epochs=300,
        record_every=100,
        init="gaussian",
        init_scale=0.3,
        n_probe=10,
        seed=0,
    )
    assert res.network_functions is None
    assert res.epochs.tolist() == [0, 100, 200, 300]
    assert res.representations.shape == (4, 10, 8)
    assert np.all(res.representations >= 0)
    assert np.all(res.losses[-1] < 0.5 * res.losses[0])
    assert np.isnan(res.cosine_heads[0, 0, 1])  # heads of different shapes
    json.dumps(res.to_dict())


def test_deep_linear_zero_balanced_init_is_balanced_per_layer():
    shared, heads = _balanced_chain(6, 5, 3, [2, 1], 0.1, seed=2)
    chain = [*shared, np.concatenate(heads)]
    for lower, upper in itertools.pairwise(chain):
        assert np.allclose(lower @ lower.T, upper.T @ upper, atol=1e-15)
    x, ys, _ = _setup_gd()
    res = train_linear_mtl(x, ys, 5, depth=3, epochs=0, init_scale=0.1, seed=2)
    prod = shared[2] @ shared[1] @ shared[0]
    assert np.allclose(res.network_functions[0][0], heads[0] @ prod, atol=1e-15)


def test_train_bad_input():
    x, ys, _ = _setup_gd()
    with pytest.raises(ValueError, match="rows"):
        train_linear_mtl(x[:10], ys, 3)
    with pytest.raises(ValueError, match="activation"):
        train_linear_mtl(x, ys, 3, activation="tanh")
    with pytest.raises(ValueError, match="loss_weights"):
        train_linear_mtl(x, ys, 3, loss_weights=[1.0])
    with pytest.raises(ValueError, match="init"):
        train_linear_mtl(x, ys, 3, init="orthogonal")
    with pytest.raises(ValueError, match="input_cov"):
        gradient_flow(
            [np.ones((1, 3))], np.ones((2, 3)), [np.ones((1, 2))], [1.0], input_cov=np.eye(2)
        )


def test_gradient_flow_unsorted_and_repeated_times():
    ws, heads = zero_balanced_init(3, 2, [1, 2], 0.1, seed=0)
    sigmas = [np.ones((1, 3)), np.eye(2, 3)]
    res = gradient_flow(sigmas, ws, heads, [2.0, 0.0, 2.0, 1.0])
    ref = gradient_flow(sigmas, ws, heads, [0.0, 1.0, 2.0])
    assert np.allclose(res.shared, ref.shared[[2, 0, 2, 1]], rtol=1e-12, atol=0)
