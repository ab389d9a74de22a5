"""``tasklens analyze`` end to end (tiny sizes): results.json, report.html, resume."""

from __future__ import annotations

import itertools
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ._report_check import check_report_matches_results
from .conftest import TINY, invoke, write_mixed_csv

DEFAULT_TASKS = ["left", "right", "left_odd", "right_ge5", "sum"]


def _signed_relative(mtl: float, stl: float, higher: bool) -> float:
    return (1 if higher else -1) * (mtl - stl) / abs(stl) * 100


def _check_numbers(results: dict[str, Any], tasks: list[str]) -> None:
    k = len(tasks)
    st = {n: e for n, e in results["stages"].items()}
    assert all(e["status"] == "done" for e in st.values()), {
        n: e["reason"] for n, e in st.items()}
    assert results["data"]["tasks"] == tasks
    assert [t["name"] for t in st["summary"]["result"]["tasks"]] == tasks
    theory = st["theory"]["result"]
    overlap = np.array(theory["mean_overlap"], dtype=float)
    assert overlap.shape == (k, k) and np.all((overlap >= 0) & (overlap <= 1 + 1e-9))
    mtl = st["multitask"]["result"]
    for key in ("gs", "gt"):
        assert np.array(mtl[key], dtype=float).shape == (k, k)
    assert np.allclose(np.diag(np.array(mtl["gs"], dtype=float)), 1.0)
    cos = np.array([v for vals in mtl["cosines"].values() for v in vals], dtype=float)
    assert cos.size and np.all(np.abs(cos[np.isfinite(cos)]) <= 1 + 1e-9)
    assert len(mtl["cosines"]) == k * (k - 1) // 2
    # Δm and per-task gains, recomputed here from the stored metrics
    base = st["baselines"]["result"]
    for s, dm in zip(base["stl_metrics"], base["delta_m"]["per_seed"]):
        terms = [_signed_relative(base["all_metrics"][s][t][base["primary_metric"][t]],
                                  base["stl_metrics"][s][t][base["primary_metric"][t]],
                                  base["higher_is_better"][t]) for t in tasks]
        assert dm == pytest.approx(np.mean(terms), rel=1e-9, abs=1e-9)
    for t in tasks:
        m = base["primary_metric"][t]
        per_seed = [_signed_relative(base["all_metrics"][s][t][m], base["stl_metrics"][s][t][m],
                                     base["higher_is_better"][t]) for s in base["stl_metrics"]]
        assert base["per_task_gain"][t]["mean"] == pytest.approx(np.mean(per_seed))
        assert base["per_task_gain"][t]["se"] == pytest.approx(
            np.std(per_seed, ddof=1) / math.sqrt(len(per_seed)))
    group = st["grouping"]["result"]
    assert 1 <= len(group["groups"]) <= group["budget"]
    assert sorted(t for g in group["groups"] for t in g) == sorted(tasks)
    bal = st["balancing"]["result"]
    assert bal["methods"][0] == "ew" and set(bal["table"]) == set(bal["methods"])
    assert bal["recommendation"]["method"] in bal["methods"]
    assert "hypothesis" in bal["recommendation"]["hypothesis"] or \
        "likely" in bal["recommendation"]["hypothesis"]
    rep = st["representation"]["result"]
    assert all(0 <= rep["cka"][t] <= 1 + 1e-9 and -1 <= rep["rsa"][t] <= 1 for t in tasks)


def _check_checkpoint(out: Path, tasks: list[str]) -> None:
    import torch

    from tasklens.analysis import load_data
    from tasklens.nn import hps_for

    meta = json.loads((out / "model.json").read_text())
    assert meta["tasks"] == tasks
    data = load_data(None, max_rows=240)
    model = hps_for(data.taskset, **meta["builder_kwargs"])
    model.load_state_dict(torch.load(out / "model.pt", weights_only=True))  # strict


def test_default_set_end_to_end(default_run: Path) -> None:
    results = check_report_matches_results(default_run)
    assert results["schema"] == "tasklens.analyze.results"
    assert results["settings"]["budget"] == "fast" and results["settings"]["pairs"] is False
    _check_numbers(results, DEFAULT_TASKS)
    grouping = results["stages"]["grouping"]["result"]
    assert grouping["method"].startswith("TAG")  # fast: no pairs measured
    _check_checkpoint(default_run, DEFAULT_TASKS)


def test_csv_with_three_kinds_and_measured_pairs(tmp_path: Path) -> None:
    csv = write_mixed_csv(tmp_path / "d.csv", n=200, nan_rows=5)
    out = tmp_path / "out"
    invoke(["analyze", str(csv), "--task", "reg", "--task", "bin", "--task", "cls",
             "--budget", "standard", "--epochs", "1", "--seeds", "2", "--methods", "ew,uw",
             "--max-networks", "2", "--out", str(out)])
    results = check_report_matches_results(out)
    _check_numbers(results, ["reg", "bin", "cls"])
    summary = results["stages"]["summary"]["result"]
    assert summary["rows_dropped"] == {"reg": 5} and summary["n_samples"] == 195
    assert [t["kind"] for t in summary["tasks"]] == ["regression", "binary", "classification"]
    assert all(t["kind_inferred"] for t in summary["tasks"])
    base = results["stages"]["baselines"]["result"]
    assert np.array(base["pairs"]["gain"], dtype=float).shape == (3, 3)
    grouping = results["stages"]["grouping"]["result"]
    assert grouping["method"].startswith("select_networks")
    # brute force over the measured networks (singles, pairs, all), relative test losses
    tasks = ["reg", "bin", "cls"]
    seeds = list(base["stl_metrics"])
    alone = {t: np.mean([base["stl_metrics"][s][t]["loss"] for s in seeds]) for t in tasks}
    nets = [({t}, {t: 1.0}) for t in tasks]
    nets += [(set(k.split("+")), {t: v / alone[t] for t, v in losses.items()})
             for k, losses in base["pairs"]["losses"].items()]
    nets.append((set(tasks), {t: np.mean([base["all_metrics"][s][t]["loss"] for s in seeds])
                              / alone[t] for t in tasks}))
    best = math.inf
    for r in (1, 2):
        for chosen in itertools.combinations(nets, r):
            if set().union(*(c[0] for c in chosen)) == set(tasks):
                best = min(best, sum(min(c[1][t] for c in chosen if t in c[0]) for t in tasks))
    assert grouping["best_measured"]["total"] == pytest.approx(best, rel=1e-9)
    assert grouping["predicted_total"] == pytest.approx(best, rel=1e-9)  # K = 3: all measured


def _strip_times(results: dict[str, Any]) -> dict[str, Any]:
    out = dict(results)
    out.pop("run")
    out["stages"] = {n: {k: v for k, v in e.items() if k != "seconds"}
                     for n, e in results["stages"].items()}
    return out


def test_resume_after_a_kill_equals_an_uninterrupted_run(default_run: Path, tmp_path: Path
                                                         ) -> None:
    from tasklens.cli.analyze import Options, prepare
    from tasklens.report.html import run_and_report

    out = tmp_path / "out"
    data, settings, _ = prepare(Options(None, None, None, out, "fast", 0, None, None, False,
                                        1, 2, 240, "serial", None, None))

    def kill_after_baselines(results: dict[str, Any]) -> None:
        if results["stages"]["baselines"]["status"] == "done":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_and_report(data, settings, out, on_stage_end=kill_after_baselines)
    partial = check_report_matches_results(out)
    assert [n for n, e in partial["stages"].items() if e["status"] == "missing"] == [
        "grouping", "balancing", "representation"]
    assert 'id="not-done"' in (out / "report.html").read_text()
    invoke(["analyze", "--out", str(out), "--resume", *TINY])
    resumed = json.loads((out / "results.json").read_text())
    assert resumed["run"]["reused"] == ["summary", "theory", "multitask", "baselines"]
    full = json.loads((default_run / "results.json").read_text())
    assert _strip_times(resumed) == _strip_times(full)
    assert (out / "model.pt").read_bytes() == (default_run / "model.pt").read_bytes()


def test_stage_subcommand_runs_only_what_it_needs(default_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(default_run / "stages", out / "stages")
    invoke(["group", "--out", str(out), *TINY, "--max-networks", "3", "--resume"])
    results = check_report_matches_results(out)
    status = {n: e["status"] for n, e in results["stages"].items()}
    assert status == {"summary": "done", "theory": "done", "multitask": "done",
                      "baselines": "done", "grouping": "done", "balancing": "missing",
                      "representation": "missing"}
    # another budget of networks: the grouping is recomputed, earlier stages are reused
    assert results["run"]["reused"] == ["summary", "theory", "multitask", "baselines"]
    assert results["stages"]["grouping"]["result"]["budget"] == 3
