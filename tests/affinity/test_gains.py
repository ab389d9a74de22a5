"""Ground-truth gains: job enumeration, aggregation against hand numbers, the resumable
pipeline on a tiny task set (counted trainings), higher-order gains, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import tasklens.affinity.gains as gains_module
from tasklens.affinity.gains import (
    GainJob,
    GainSettings,
    GroundTruth,
    ground_truth_from_results,
    ground_truth_sweep,
    pairwise_gain_jobs,
)
from tasklens.data import TaskSet

TINY = GainSettings(epochs=1, batch_size=32, hidden=(8,), code_dim=4, head_hidden=4)



def _taskset(n: int = 200) -> TaskSet:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    return TaskSet.from_arrays(
        x, {"r": x[:, 0] + x[:, 1], "s": x[:, 0] - x[:, 2], "c": (x[:, 3] > 0).astype(int)},
        kinds={"r": "regression", "s": "regression", "c": "binary"}, name="tiny3")


# ----------------------------------------------------------------- jobs
def test_jobs_are_singletons_pairs_and_subsets() -> None:
    names = [f"Class{i}" for i in range(1, 15)]
    jobs = pairwise_gain_jobs(names)
    assert len(jobs) == 14 + math.comb(14, 2) == 105  # the Yeast sweep
    groups = {j.tasks for j in jobs}
    expected = {(t,) for t in names}
    for i in range(14):
        for j in range(i + 1, 14):
            expected.add((names[i], names[j]))
    assert groups == expected
    two_seeds = pairwise_gain_jobs(["a", "b", "c"], seeds=(0, 5),
                                   subsets=[("c", "a", "b"), ("a", "b")])
    assert len(two_seeds) == 2 * (3 + 3 + 1)
    assert GainJob(("a", "b", "c"), 5) in two_seeds  # canonical task order
    assert two_seeds[0].label == "a@seed0"


def test_job_errors() -> None:
    with pytest.raises(ValueError, match="at least 2 tasks"):
        pairwise_gain_jobs(["a"])
    with pytest.raises(ValueError, match="duplicates"):
        pairwise_gain_jobs(["a", "a"])
    with pytest.raises(ValueError, match="seeds is empty"):
        pairwise_gain_jobs(["a", "b"], seeds=())
    with pytest.raises(ValueError, match=">= 0"):
        pairwise_gain_jobs(["a", "b"], seeds=(-1,))
    with pytest.raises(ValueError, match="unknown task"):
        pairwise_gain_jobs(["a", "b"], subsets=[("a", "z")])
    with pytest.raises(TypeError, match="one string"):
        pairwise_gain_jobs("ab")


# ----------------------------------------------------------------- aggregation
def _result(tasks, seed, values, losses, metric="binary_accuracy", higher=True):
    return {"tasks": list(tasks), "seed": seed,
            "metrics": {t: {metric: v, "loss": lo} for t, v, lo in zip(tasks, values, losses)},
            "primary": dict.fromkeys(tasks, metric),
            "higher_is_better": dict.fromkeys(tasks, higher)}


def test_aggregation_matches_hand_numbers() -> None:
    results = [
        # seed 0: alone a 0.70 (loss 0.5), b 0.60 (loss 1.0), c 0.50 (loss 2.0)
        _result("a", 0, [0.70], [0.5]), _result("b", 0, [0.60], [1.0]),
        _result("c", 0, [0.50], [2.0]),
        _result("ab", 0, [0.80, 0.55], [0.4, 1.2]), _result("ac", 0, [0.60, 0.50], [0.6, 2.0]),
        _result("bc", 0, [0.60, 0.70], [1.0, 1.0]),
        # seed 1
        _result("a", 1, [0.72], [0.5]), _result("b", 1, [0.60], [1.0]),
        _result("c", 1, [0.52], [2.0]),
        _result("ab", 1, [0.76, 0.57], [0.45, 1.1]), _result("ac", 1, [0.70, 0.50], [0.5, 2.0]),
        _result("bc", 1, [0.62, 0.62], [0.9, 1.5]),
        _result("abc", 0, [0.9, 0.5, 0.6], [0.3, 1.0, 1.0]),
    ]
    truth = ground_truth_from_results(results, ["a", "b", "c"])
    # gain of a from b: seed 0 +0.10, seed 1 +0.04 -> mean 0.07, se = |0.10-0.04|/2
    assert truth.metric_gain["a", "b"] == pytest.approx(0.07)
    assert truth.metric_gain_se["a", "b"] == pytest.approx(0.03)
    assert truth.metric_gain["b", "a"] == pytest.approx((-0.05 - 0.03) / 2)
    assert truth.metric_gain["c", "b"] == pytest.approx((0.20 + 0.10) / 2)
    # loss gain: (L_alone - L_with) / L_alone: a from b: (0.5-0.4)/0.5 = .2, (0.5-.45)/.5 = .1
    assert truth.loss_gain["a", "b"] == pytest.approx(0.15)
    assert truth.loss_gain["b", "a"] == pytest.approx((-0.2 - 0.1) / 2)
    assert truth.loss_gain["c", "b"] == pytest.approx((0.5 + 0.25) / 2)
    np.testing.assert_array_equal(np.diag(truth.metric_gain.values), 0.0)
    np.testing.assert_array_equal(truth.n_seeds.values, 2 * (1 - np.eye(3)))
    # higher order: only seed 0 trained {a, b, c}
    sub = truth.subset_gain(["c", "b", "a"])
    assert sub["a"][0] == pytest.approx(0.2) and math.isnan(sub["a"][1]) and sub["a"][2] == 1
    assert truth.subset_gain(["a", "b", "c"], kind="loss")["c"][0] == pytest.approx(0.5)
    assert truth.subset_gain(["a", "b"])["a"][0] == pytest.approx(0.07)  # a pair is a subset
    with pytest.raises(ValueError, match="unknown task"):
        truth.subset_gain(["a", "z"])
    with pytest.raises(ValueError, match="kind"):
        truth.subset_gain(["a", "b"], kind="accuracy")
    assert len(truth.records) == 3 * 2 + 6 * 2 + 3


def test_lower_is_better_metric_flips_the_sign() -> None:
    results = [_result("a", 0, [2.0], [2.0], "mse", False), _result("b", 0, [1.0], [1.0],
                                                                    "mse", False),
               _result("ab", 0, [1.5, 1.2], [1.5, 1.2], "mse", False)]
    truth = ground_truth_from_results(results, ["a", "b"])
    assert truth.metric_gain["a", "b"] == pytest.approx(0.5)  # mse fell: b helps a
    assert truth.metric_gain["b", "a"] == pytest.approx(-0.2)
    assert math.isnan(truth.metric_gain_se["a", "b"])  # one seed: no standard error
    assert truth.metrics == {"a": "mse", "b": "mse"}


def test_missing_pair_is_nan() -> None:
    results = [_result("a", 0, [0.5], [1.0]), _result("b", 0, [0.5], [1.0]),
               _result("c", 0, [0.5], [1.0]), _result("ab", 0, [0.6, 0.6], [0.9, 0.9])]
    truth = ground_truth_from_results(results, ["a", "b", "c"])
    assert math.isnan(truth.metric_gain["a", "c"]) and truth.n_seeds["a", "c"] == 0
    with pytest.raises(ValueError, match="was not trained"):
        truth.subset_gain(["a", "c", "b"])


# ----------------------------------------------------------------- the pipeline
def test_sweep_resumes_without_redoing_finished_runs(tmp_path, monkeypatch) -> None:
    calls: list[tuple[tuple[str, ...], int]] = []
    real = gains_module.train_and_evaluate

    def counting(split, tasks, seed, settings):
        calls.append((tuple(tasks), seed))
        return real(split, tasks, seed, settings)

    monkeypatch.setattr(gains_module, "train_and_evaluate", counting)
    ts = _taskset()
    truth = ground_truth_sweep(ts, tmp_path, seeds=(0, 1), settings=TINY, backend="serial",
                               subsets=[("r", "s", "c")])
    assert len(calls) == 2 * (3 + 3 + 1)
    assert isinstance(truth, GroundTruth) and truth.task_names == ("r", "s", "c")
    job_files = sorted(p for p in tmp_path.glob("*.json") if p.name != "ground_truth.json")
    assert len(job_files) == 14
    # "kill" mid-sweep: lose three finished runs, then rerun
    lost = job_files[:3]
    lost_jobs = {(tuple(json.loads(p.read_text())["job"]["tasks"]),
                  json.loads(p.read_text())["job"]["seed"]) for p in lost}
    for p in lost:
        p.unlink()
    again = ground_truth_sweep(ts, tmp_path, seeds=(0, 1), settings=TINY, backend="serial",
                               subsets=[("r", "s", "c")])
    assert set(calls[14:]) == lost_jobs and len(calls) == 17
    # deterministic seeds: the rerun jobs reproduce the lost results exactly
    np.testing.assert_array_equal(again.metric_gain.values, truth.metric_gain.values)
    np.testing.assert_array_equal(again.loss_gain.values, truth.loss_gain.values)
    # other settings are other jobs: nothing reused
    ground_truth_sweep(ts, tmp_path, seeds=(0,), settings=GainSettings(
        epochs=2, batch_size=32, hidden=(8,), code_dim=4, head_hidden=4), backend="serial",
        tasks=["r", "c"])
    assert len(calls) == 17 + 3
    # saved tables agree with the result
    saved = pd.read_csv(tmp_path / "metric_gain.csv", index_col=0)
    assert list(saved.columns) == ["r", "c"]  # the last sweep wrote its own tables
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert set(runs.columns) >= {"group", "seed", "task", "metric", "value", "loss"}


def test_pipeline_gain_equals_difference_of_the_two_runs(tmp_path) -> None:
    """The gain is the paired difference of the runs' own test metrics (read back from the
    per-job files, independently of the aggregation code)."""
    ts = _taskset()
    truth = ground_truth_sweep(ts, tmp_path, settings=TINY, backend="serial",
                               tasks=["r", "c"])
    runs = {tuple(r["job"]["tasks"]): r["result"]["metrics"]
            for r in (json.loads(p.read_text()) for p in tmp_path.glob("*.json")
                      if p.name != "ground_truth.json")}
    # r is regression: primary metric mse, lower is better
    assert truth.metric_gain["r", "c"] == pytest.approx(runs[("r",)]["r"]["mse"]
                                                        - runs[("r", "c")]["r"]["mse"])
    assert truth.metric_gain["c", "r"] == pytest.approx(
        runs[("r", "c")]["c"]["binary_accuracy"] - runs[("c",)]["c"]["binary_accuracy"])
    alone, joint = runs[("c",)]["c"]["loss"], runs[("r", "c")]["c"]["loss"]
    assert truth.loss_gain["c", "r"] == pytest.approx((alone - joint) / alone)
    assert truth.metrics == {"r": "mse", "c": "binary_accuracy"}
    assert json.loads((tmp_path / "ground_truth.json").read_text())["settings"]["training"][
        "epochs"] == 1


def test_sweep_errors(tmp_path) -> None:
    ts = _taskset(60)
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['zz'\]"):
        ground_truth_sweep(ts, tmp_path, tasks=["r", "zz"], settings=TINY)
    with pytest.raises(ValueError, match="at least 2 tasks"):
        ground_truth_sweep(ts, tmp_path, tasks=["r"], settings=TINY)
    with pytest.raises(ValueError, match="at least 2 tasks"):
        ground_truth_sweep(ts.select(["c"]), tmp_path, settings=TINY)
    with pytest.raises(TypeError, match="TaskSet"):
        ground_truth_sweep(ts.inputs, tmp_path)
    with pytest.raises(TypeError, match="GainSettings"):
        ground_truth_sweep(ts, tmp_path, settings={"epochs": 1})
    with pytest.raises(ValueError, match="epochs"):
        GainSettings(epochs=0)
    with pytest.raises(ValueError, match="test_size"):
        GainSettings(test_size=1.5)
    assert GainSettings.from_dict(TINY.to_dict()) == TINY
    assert not list(tmp_path.iterdir())  # nothing ran
