"""FactorVAE and BetaVAE scores and the ground-truth sources they sample from."""

from __future__ import annotations

import numpy as np
import pytest

from tasklens.represent import (
    GridDataSource,
    GroundTruthSource,
    beta_vae_score,
    factor_vae_score,
    linear_code_source,
    mig,
    sample_codes,
)

LEVELS = (3, 4, 5)
SMALL = {"num_train": 300, "num_eval": 200}


def _identity_source():
    return linear_code_source(LEVELS, 3, noise=0.01, mixing="identity")


def _random_representation(seed: int):
    rng = np.random.default_rng(seed)
    return lambda obs: rng.standard_normal((len(obs), 3))


def _rotation(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def test_factor_vae_orders_constructed_codes():
    src, fn = _identity_source()
    scale = np.array([3.0, 0.2, 5.0])
    perm = [2, 0, 1]
    good = factor_vae_score(lambda x: fn(x)[:, perm] * scale, src, 0, **SMALL,
                            num_variance_estimate=1000)
    random = factor_vae_score(_random_representation(1), src, 0, **SMALL,
                              num_variance_estimate=1000)
    rot = _rotation(np.pi / 4)
    rotated = factor_vae_score(lambda x: fn(x) @ rot.T, src, 0, **SMALL,
                               num_variance_estimate=1000)
    assert good["eval_accuracy"] == 1.0 and good["num_active_dims"] == 3
    # random votes: the majority classifier is right about 1 / F of the time, plus luck
    assert random["eval_accuracy"] < 0.5
    # two factors share two mixed codes: one of them is misattributed
    assert random["eval_accuracy"] + 0.1 < rotated["eval_accuracy"] < 0.9


def test_factor_vae_seed_reproducible_and_generator_accepted():
    src, fn = _identity_source()
    rep = lambda x: fn(x) @ _rotation(0.6).T  # noqa: E731
    a = factor_vae_score(rep, src, 5, **SMALL, num_variance_estimate=500)
    assert factor_vae_score(rep, src, 5, **SMALL, num_variance_estimate=500) == a
    b = factor_vae_score(rep, src, np.random.default_rng(5), **SMALL, num_variance_estimate=500)
    assert b == a


def test_factor_vae_prunes_collapsed_codes():
    src, fn = _identity_source()
    # a collapsed (tiny-variance) code first: pruned, the others still vote correctly
    rep = lambda x: np.hstack([1e-3 * fn(x)[:, :1], fn(x)])  # noqa: E731
    out = factor_vae_score(rep, src, 0, **SMALL, num_variance_estimate=500)
    assert out["eval_accuracy"] == 1.0 and out["num_active_dims"] == 3
    # without pruning the collapsed copy of factor 0 is as good a voter as the real one
    kept = factor_vae_score(rep, src, 0, **SMALL, num_variance_estimate=500,
                            prune_threshold=0.0)
    assert kept["num_active_dims"] == 4 and kept["eval_accuracy"] == 1.0
    with pytest.warns(RuntimeWarning, match="prune_threshold"):
        out = factor_vae_score(lambda x: 1e-3 * fn(x), src, 0, **SMALL,
                               num_variance_estimate=500)
    assert out.to_dict() == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}


def test_beta_vae_orders_constructed_codes():
    src, fn = _identity_source()
    good = beta_vae_score(lambda x: fn(x)[:, [1, 2, 0]] * 4.0, src, 0, **SMALL)
    random = beta_vae_score(_random_representation(2), src, 0, **SMALL)
    assert good["eval_accuracy"] > 0.95
    assert random["eval_accuracy"] < 0.6
    assert beta_vae_score(lambda x: fn(x) * 4.0, src, 3, **SMALL) == beta_vae_score(
        lambda x: fn(x) * 4.0, src, 3, **SMALL)
    legacy = beta_vae_score(lambda x: fn(x)[:, [1, 2, 0]] * 4.0, src, 0, **SMALL,
                            logistic="liblinear-ovr")
    assert legacy["eval_accuracy"] > 0.9


def test_intervention_metrics_reject_bad_arguments():
    src, fn = _identity_source()
    with pytest.raises(TypeError, match="source must be a ground-truth source"):
        factor_vae_score(fn, np.zeros((3, 3)))
    with pytest.raises(TypeError, match="representation_fn must be callable"):
        beta_vae_score("encoder", src, 0, **SMALL)
    with pytest.raises(ValueError, match="NaN"):
        factor_vae_score(lambda x: np.full((len(x), 2), np.nan), src, 0, **SMALL)
    with pytest.raises(ValueError, match="batch_size must be >= 2"):
        factor_vae_score(fn, src, 0, batch_size=1)


# --- sources --------------------------------------------------------------------------------

def test_grid_source_table_matches_function():
    grid = np.stack(np.meshgrid(*[np.arange(v) for v in LEVELS], indexing="ij"), -1)
    table = grid.reshape(-1, len(LEVELS)) * 10.0
    by_table = GridDataSource(table, LEVELS)
    by_fn = GridDataSource(lambda f: f * 10.0, LEVELS)
    assert isinstance(by_table, GroundTruthSource)
    f = by_table.sample_factors(50, np.random.default_rng(0))
    assert f.shape == (50, 3) and np.all(f < np.array(LEVELS)) and np.all(f >= 0)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(by_table.sample_observations_from_factors(f, rng),
                                  by_fn.sample_observations_from_factors(f, rng))
    with pytest.raises(ValueError, match="60 cells"):
        GridDataSource(table[:-1], LEVELS)


def test_grid_source_from_arrays_covers_grid_and_scores_precomputed_codes():
    grid = np.stack(np.meshgrid(*[np.arange(v) for v in LEVELS], indexing="ij"), -1)
    factors = np.repeat(grid.reshape(-1, 3), 2, axis=0)  # two samples per cell
    codes = factors + 0.01 * np.random.default_rng(0).standard_normal(factors.shape)
    src = GridDataSource.from_arrays(codes, factors)
    assert src.factor_levels == LEVELS
    out = factor_vae_score(lambda x: x, src, 0, **SMALL, num_variance_estimate=500)
    assert out["eval_accuracy"] == 1.0
    obs = src.sample_observations_from_factors(factors[:10], np.random.default_rng(1))
    np.testing.assert_allclose(np.round(obs), factors[:10])
    with pytest.raises(ValueError, match="do not cover the grid"):
        GridDataSource.from_arrays(codes[2:], factors[2:])


def test_sample_codes_feeds_array_metrics():
    src, fn = linear_code_source((4, 5), 4, noise=0.05, seed=3)
    codes, factors = sample_codes(fn, src, 700, seed=1, batch_size=128)
    assert codes.shape == (700, 4) and factors.shape == (700, 2)
    again, _ = sample_codes(fn, src, 700, seed=1, batch_size=128)
    np.testing.assert_array_equal(codes, again)
    assert 0.0 <= mig(codes, factors) <= 1.0


def test_evaluate_representation_runs_every_metric():
    from tasklens.represent import DISENTANGLEMENT_METRICS, evaluate_representation

    src, fn = _identity_source()
    out = evaluate_representation(fn, src, seed=0, num_train=300, num_test=200,
                                  metrics=[m for m in DISENTANGLEMENT_METRICS if m != "dci"])
    assert out["mig"] > 0.9
    assert out["factor_vae"]["eval_accuracy"] == 1.0
    assert out["settings"]["num_train"] == 300
    with pytest.raises(ValueError, match="unknown metric 'dcI'"):
        evaluate_representation(fn, src, metrics=["dcI"])


def test_grid_source_from_taskset():
    from tasklens.data import TaskSet

    grid = np.stack(np.meshgrid(*[np.arange(v) for v in LEVELS], indexing="ij"), -1)
    codes = grid.reshape(-1, 3)
    values = codes * np.array([0.5, 1.0, 2.0])  # factor values, not codes
    ts = TaskSet.from_arrays(values.astype(np.float32), {"t": codes[:, 0]},
                             kinds={"t": "classification"}, factors=values)
    src = GridDataSource.from_taskset(ts)
    assert src.factor_levels == LEVELS
    obs = src.sample_observations_from_factors(codes[:7], np.random.default_rng(0))
    np.testing.assert_allclose(obs, values[:7])
