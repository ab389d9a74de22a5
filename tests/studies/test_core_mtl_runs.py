"""The shared run / summary scaffolding of the CORE-MTL studies (studies/_core_mtl_runs.py)."""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from pathlib import Path

import pytest

from tasklens.studies._core_mtl_runs import (
    check_names,
    check_seeds,
    markdown_table,
    mean_se,
    plain,
    pm,
    run_and_collect,
    runs_mean_se,
    save_study,
)

CALLS: list[dict] = []


def _job(job: dict, settings: dict) -> dict:
    CALLS.append(job)
    if job["seed"] == 2:
        raise ValueError(f"boom {job['method']}")
    return {"value": settings["scale"] * (10 * job["k"] + job["seed"])}


def test_mean_se_against_statistics() -> None:
    values = [0.3, 0.9, 0.4, 0.75]
    mean, se = mean_se(values)
    assert mean == pytest.approx(statistics.fmean(values), rel=1e-15)
    assert se == pytest.approx(statistics.stdev(values) / math.sqrt(4), rel=1e-12)
    assert mean_se([0.5]) == (0.5, 0.0)
    assert all(math.isnan(v) for v in runs_mean_se({}, lambda r: r))
    assert runs_mean_se({0: 1.0, 1: 3.0}, lambda r: 2 * r) == pytest.approx((4.0, 2.0))


def test_formatting_helpers() -> None:
    assert pm((0.12345, 0.01)) == "0.123 ± 0.010"
    assert pm((1.25, 0.5), 1) == "1.2 ± 0.5"
    assert pm(None) == pm((math.nan, math.nan)) == "—"
    assert markdown_table(["a", "b"], [["1", "2"]]) == ["| a | b |", "|---|---|", "| 1 | 2 |"]
    assert plain({1: (2, 3), "x": {0.5: [4]}}) == {"1": [2, 3], "x": {"0.5": [4]}}


def test_argument_checks() -> None:
    assert check_names("ew", ("ew", "pcgrad"), "methods") == ("ew",)
    for bad in ((), ("ew", "ew"), ("nope",)):
        with pytest.raises(ValueError, match="methods must be distinct names from ew, pcgrad"):
            check_names(bad, ("ew", "pcgrad"), "methods")
    assert check_seeds([3, 1]) == (3, 1)
    for bad in ([], [1, 1], [-1]):
        with pytest.raises(ValueError, match="seeds"):
            check_seeds(bad)


def test_run_and_collect_nests_results_and_errors_and_resumes(tmp_path: Path) -> None:
    jobs = [{"method": m, "k": k, "seed": s} for m in ("a", "b") for k in (1, 2)
            for s in (0, 2)]
    CALLS.clear()
    results, failed = run_and_collect(
        jobs, _job, tmp_path, {"scale": 2.0}, groups=("a", "b", "c"), progress=False,
        result_key=lambda j: (j["method"], j["k"], j["seed"]),
        error_key=lambda j: (j["method"], f"{j['k']}/{j['seed']}"))
    assert len(CALLS) == 8
    assert results == {m: {k: {0: {"value": 2.0 * 10 * k}} for k in (1, 2)} for m in "ab"} | {
        "c": {}}
    assert set(failed) == {"a", "b"} and set(failed["a"]) == {"1/2", "2/2"}
    assert "boom a" in failed["a"]["1/2"]
    CALLS.clear()
    again, _ = run_and_collect(jobs, _job, tmp_path, {"scale": 2.0}, progress=False,
                               result_key=lambda j: (j["method"], j["k"], j["seed"]))
    assert again["a"] == results["a"]
    # finished runs are read back; only the 4 failed ones are retried
    assert len(CALLS) == 4 and all(j["seed"] == 2 for j in CALLS)


@dataclasses.dataclass(frozen=True)
class _Result:
    value: float
    files: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"value": self.value, "files": self.files}


def test_save_study_writes_markdown_and_json(tmp_path: Path) -> None:
    saved = save_study(_Result(1.5), tmp_path / "out", "demo", "| a |")
    assert list(saved.files) == ["json", "markdown"]
    assert Path(saved.files["markdown"]).read_text() == "| a |\n"
    assert json.loads(Path(saved.files["json"]).read_text()) == saved.to_dict()
