"""Pieces of the stages: the recommendation rule, stage planning, settings, statistics."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tasklens.analysis import AnalysisSettings, resolve_stages
from tasklens.analysis.settings import check_against_data
from tasklens.analysis.stages_select import _recommend
from tasklens.analysis.training import mean_se, relative_gain


def _table(ew: tuple[float, float], other: tuple[float, float]) -> dict:
    return {"ew": {"delta_m": ew[0], "delta_m_se": ew[1]},
            "uw": {"delta_m": other[0], "delta_m_se": other[1]}}


MTL = {"conflict_fraction": 0.1, "losses": {"a": [2.0, 1.0], "b": [0.5, 0.2]}}
CTX = SimpleNamespace(settings=SimpleNamespace(seed=0))


def test_recommendation_needs_more_than_two_standard_errors() -> None:
    # difference 3.0, SE of the difference sqrt(1^2 + 1^2) = 1.414: 3.0 > 2.83 → uw
    rec = _recommend(_table((0.0, 1.0), (3.0, 1.0)), MTL, CTX)
    assert rec["method"] == "uw" and rec["significant"]
    assert rec["difference_se"] == pytest.approx(math.sqrt(2))
    assert "hypothesis" in rec["hypothesis"]
    # difference 2.5 < 2.83 → EW, and the reason says the tasks are mostly aligned
    rec = _recommend(_table((0.0, 1.0), (2.5, 1.0)), MTL, CTX)
    assert rec["method"] == "ew" and not rec["significant"]
    assert rec["best_measured"] == "uw" and "mostly aligned" in rec["hypothesis"]
    # one seed: no SE, so nothing is called significant
    rec = _recommend(_table((0.0, None), (9.0, None)), MTL, CTX)
    assert rec["method"] == "ew" and rec["difference_se"] is None
    assert any("factor 4.0" in e for e in rec["evidence"])  # initial losses 2.0 vs 0.5


def test_stage_plan_adds_what_a_stage_reads() -> None:
    assert resolve_stages(["grouping"]) == ["summary", "theory", "multitask", "baselines",
                                            "grouping"]
    assert resolve_stages(["theory"]) == ["summary", "theory"]
    with pytest.raises(ValueError, match="unknown stage 'nope'"):
        resolve_stages(["nope"])


def test_settings_presets_and_checks() -> None:
    fast = AnalysisSettings.for_budget("fast")
    std = AnalysisSettings.for_budget("standard", epochs=3)
    assert not fast.pairs and std.pairs and std.epochs == 3 and std.n_seeds == 3
    assert std.methods[0] == "ew" and "upgrad" in std.methods
    assert AnalysisSettings.for_budget("fast", methods=("uw",)).methods == ("ew", "uw")
    assert fast.seeds == (0, 1)
    with pytest.raises(ValueError, match="--budget"):
        AnalysisSettings.for_budget("huge")
    with pytest.raises(ValueError, match="--max-networks 6 exceeds the 5 tasks"):
        check_against_data(fast.replace(max_networks=6), 5)
    with pytest.raises(ValueError, match="held-out batch"):
        check_against_data(fast.replace(methods=("moml",)), 5)


def test_mean_se_and_relative_gain_by_hand() -> None:
    m, se = mean_se([1.0, 2.0, 4.0])
    assert m == pytest.approx(7 / 3)
    assert se == pytest.approx(np.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2)
                                       / 2 / 3))
    assert math.isnan(mean_se([1.0])[1]) and math.isnan(mean_se([])[0])
    assert relative_gain(0.9, 0.8, True) == pytest.approx(12.5)
    assert relative_gain(0.9, 0.8, False) == pytest.approx(-12.5)  # a loss went up
    assert math.isnan(relative_gain(1.0, 0.0, True))


def test_stage_cache_key_ignores_settings_a_stage_does_not_read(tmp_path: Path) -> None:
    from tasklens.analysis.run import _BY_NAME, _key

    s = AnalysisSettings.for_budget("fast")
    theory, grouping = _BY_NAME["theory"], _BY_NAME["grouping"]
    assert _key(theory, s, "f", {}) == _key(theory, s.replace(max_networks=3), "f", {})
    assert _key(grouping, s, "f", {}) != _key(grouping, s.replace(max_networks=3), "f", {})
    assert _key(theory, s, "f", {}) != _key(theory, s, "g", {})  # other data
    assert _key(grouping, s, "f", {"baselines": "1"}) != _key(grouping, s, "f",
                                                             {"baselines": "2"})


def test_a_failing_stage_is_reported_and_dependents_are_skipped(tmp_path: Path,
                                                               monkeypatch) -> None:
    import dataclasses

    from tasklens.analysis import load_data, run_analysis
    from tasklens.analysis import run as run_module

    def broken(ctx):
        raise KeyError("boom")

    stages = dict(run_module._BY_NAME)
    stages["multitask"] = dataclasses.replace(stages["multitask"], run=broken)
    monkeypatch.setattr(run_module, "_BY_NAME", stages)
    data = load_data(None, max_rows=60)
    results = run_analysis(data, AnalysisSettings.for_budget("fast", epochs=1), tmp_path,
                           stages=["baselines"])
    st = results["stages"]
    assert st["theory"]["status"] == "done"
    assert st["multitask"]["status"] == "failed" and "KeyError" in st["multitask"]["reason"]
    assert st["baselines"]["status"] == "skipped" and "multitask" in st["baselines"]["reason"]
    assert st["grouping"]["status"] == "missing"  # not requested
