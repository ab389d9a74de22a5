"""Smoke test of ``benchmarks/balance_multidigits.py`` at toy size (tiny model, 2 epochs).

The reference for the bookkeeping is the Δm formula written out by hand here (Maninis et al.
2019 eq. 5 on accuracy: mean over tasks of ``(a_mtl − a_stl) / a_stl × 100``) and the
standard library's ``statistics.mean`` / ``statistics.stdev`` for the summaries.
"""

from __future__ import annotations

import csv
import statistics

import pytest
import torch
from benchmarks.balance_multidigits import STL, make_splits, run_sweep, write_csv

TINY_MODEL = {"hidden": (16,), "code_dim": 8, "head_hidden": 8, "head_depth": 1}
TASKS = ("left", "right")


@pytest.fixture(scope="module")
def sweep():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train, test = make_splits(240, "baseline")
        yield run_sweep(train, test, ["ew", "mgda", "moml"], seeds=[0, 1], epochs=2,
                        batch_size=32, average_last_k=2, model_kwargs=TINY_MODEL,
                        val_fraction=0.0)
    finally:
        torch.set_num_threads(threads)


def test_every_run_is_present_and_moml_is_skipped_without_a_val_split(sweep):
    methods_seeds = sorted((r.method, r.seed) for r in sweep.runs)
    assert methods_seeds == sorted((m, s) for m in ("ew", "mgda", STL) for s in (0, 1))
    assert set(sweep.skipped) == {"moml"}
    assert "held_out" in sweep.skipped["moml"]
    for r in sweep.runs:
        assert all(0.0 <= r.accuracy[t] <= 1.0 for t in TASKS)
        assert r.time_per_epoch > 0


def test_delta_m_matches_the_hand_written_formula(sweep):
    stl = {r.seed: r.accuracy for r in sweep.runs if r.method == STL}
    for r in sweep.runs:
        base = stl[r.seed]
        expected = 100.0 * statistics.mean((r.accuracy[t] - base[t]) / base[t] for t in TASKS)
        assert r.delta_m == pytest.approx(expected, rel=1e-12, abs=1e-12)
        left = 100.0 * (r.accuracy["left"] - base["left"]) / base["left"]
        assert r.delta_left == pytest.approx(left, rel=1e-12, abs=1e-12)
        if r.method == STL:
            assert r.delta_m == 0.0


def test_summaries_are_seed_statistics_sorted_by_delta_m(sweep):
    assert [s.delta_m_mean for s in sweep.summaries] == sorted(
        (s.delta_m_mean for s in sweep.summaries), reverse=True)
    ew_time = statistics.mean(r.time_per_epoch for r in sweep.runs if r.method == "ew")
    for s in sweep.summaries:
        runs = [r for r in sweep.runs if r.method == s.method]
        assert s.n_seeds == len(runs) == 2
        assert s.delta_m_mean == pytest.approx(statistics.mean(r.delta_m for r in runs))
        assert s.delta_m_std == pytest.approx(statistics.stdev(r.delta_m for r in runs),
                                              abs=1e-12)
        for t in TASKS:
            assert s.accuracy_std[t] == pytest.approx(
                statistics.stdev(r.accuracy[t] for r in runs), abs=1e-12)
        assert s.time_ratio_to_ew == pytest.approx(s.time_per_epoch / ew_time)
    assert next(s for s in sweep.summaries if s.method == "ew").time_ratio_to_ew == 1.0


def test_csv_holds_one_row_per_method_and_per_run(sweep, tmp_path):
    paths = write_csv(sweep, tmp_path / "sweep.csv")
    with open(paths[0], newline="") as fh:
        summary = list(csv.DictReader(fh))
    with open(paths[1], newline="") as fh:
        runs = list(csv.DictReader(fh))
    assert [row["method"] for row in summary] == [s.method for s in sweep.summaries] + ["moml"]
    assert summary[-1]["time_ratio_to_ew"].startswith("skipped")
    assert len(runs) == len(sweep.runs)


def test_bad_method_lists_are_refused_with_a_clear_message():
    train, test = make_splits(60, "baseline")
    with pytest.raises(ValueError, match="unknown method"):
        run_sweep(train, test, ["ew", "nope"], seeds=[0], epochs=1)
    with pytest.raises(ValueError, match="must include 'ew'"):
        run_sweep(train, test, ["mgda"], seeds=[0], epochs=1)
    with pytest.raises(ValueError, match="at least one seed"):
        run_sweep(train, test, ["ew"], seeds=[], epochs=1)


def test_moml_trains_on_a_held_out_share_of_the_training_split(monkeypatch):
    """With val_fraction > 0, MOML's Trainer gets val= carved from train (disjoint, sizes add
    up) and every other method keeps the whole training split."""
    import benchmarks.balance_multidigits as bench

    seen = {}
    real_trainer = bench.Trainer

    def spy(model, taskset, method, **kwargs):
        seen[method] = (len(taskset), None if kwargs.get("val") is None else len(kwargs["val"]))
        return real_trainer(model, taskset, method, **kwargs)

    monkeypatch.setattr(bench, "Trainer", spy)
    train, test = make_splits(200, "baseline")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = run_sweep(train, test, ["ew", "moml"], seeds=[0], epochs=1, batch_size=32,
                           average_last_k=1, model_kwargs=TINY_MODEL, val_fraction=0.25)
    finally:
        torch.set_num_threads(threads)
    assert not result.skipped
    assert seen["ew"] == (len(train), None)
    n_fit, n_val = seen["moml"]
    assert n_fit + n_val == len(train) and n_val == pytest.approx(0.25 * len(train), abs=1)
    with pytest.raises(ValueError, match="val_fraction"):
        run_sweep(train, test, ["ew"], seeds=[0], epochs=1, val_fraction=1.0)
