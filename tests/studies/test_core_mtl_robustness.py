"""CORE-MTL corruption / ablation / sensitivity drivers (Wu et al. 2026, App. J, Table 5,
App. G/H): numbers equal a hand-built Trainer run evaluated on hand-corrupted images, the
summaries equal means over the per-seed records, runs are shared between experiments,
and bad arguments are clear errors."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from tasklens.data import CORRUPTIONS, colored_digits, corrupt
from tasklens.nn import dual_stream_for
from tasklens.studies.core_mtl_robustness import (
    ABLATION,
    component_ablation,
    corruption_robustness,
    lambda_sensitivity,
    save_robustness,
)
from tasklens.train import Trainer, evaluate

N, EPOCHS, SEED = 120, 1, 1
QUICK = {"seeds": (SEED,), "epochs": EPOCHS, "n": N, "progress": False}


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("robust")


@pytest.fixture(scope="module")
def ablation(out: Path):
    return component_ablation(out, variants=("ds_grounding_cka", "full"), **QUICK)


def _direct_core(lambdas: dict[str, float]) -> tuple[object, object]:
    """The documented protocol written out: N digits (data seed 0), a 75/25 split drawn
    with the run's seed, the dual-stream model with the given λ, EW, Adam 3e-3, batch 64."""
    src = colored_digits(N, domain="source", seed=0)
    split = src.split(0.25, seed=SEED)
    model = dual_stream_for(split.train, feature_dim=64, semantic_dim=32, residual_dim=8,
                            grounding="soft", channels=(16, 32), head_hidden=32,
                            head_depth=2, seed=SEED,
                            **{f"lambda_{k}": v for k, v in lambdas.items()})
    Trainer(model, split.train, "ew", batch_size=64, lr=3e-3, seed=SEED,
            progress=False).fit(EPOCHS)
    return model, split.test


def test_ablation_numbers_equal_a_direct_run_on_hand_corrupted_digits(ablation) -> None:
    model, test = _direct_core({"cka": 1.0, "cfa": 0.0, "rec": 1.0})
    run = ablation.per_seed["ds_grounding_cka"][SEED]
    assert run["source"]["digit"] == pytest.approx(
        evaluate(model, test)["digit"]["accuracy"], abs=1e-9)
    for ci, name in enumerate(CORRUPTIONS):
        sev = 3
        xc = corrupt(np.asarray(test.inputs), name, sev, np.random.default_rng((SEED, ci, sev)))
        acc = evaluate(model, dataclasses.replace(test, inputs=xc.astype(np.float32)))
        assert run["corrupted"][name][str(sev)]["digit"] == pytest.approx(
            acc["digit"]["accuracy"], abs=1e-9), name


def test_ablation_summary_and_table(ablation) -> None:
    run = ablation.per_seed["full"][SEED]
    s = ablation.summary["full"]
    assert s["gap"][0] == pytest.approx(run["source"]["digit"] - run["target"]["digit"])
    manual = np.mean([run["corrupted"][c][str(k)]["digit"] for c in CORRUPTIONS
                      for k in range(1, 6)])
    assert s["corrupted"] == (pytest.approx(manual, abs=1e-12), 0.0)
    lines = ablation.table().splitlines()
    assert len(lines) == 4 and "| ✓ | ✓ | ✓ |  |" in lines[2] and "| ✓ | ✓ | ✓ | ✓ |" in lines[3]
    json.dumps(ablation.to_dict())


def test_experiments_share_runs_and_resume(out: Path, ablation) -> None:
    files = sorted((out / "runs").glob("*.json"))
    assert len(files) == 2
    # λ_CFA = 0 and 1 (others 1) are exactly the ablation's last two variants: no training
    sens = lambda_sensitivity(out, grid={"cfa": (0.0, 1.0)}, **QUICK)
    assert sorted((out / "runs").glob("*.json")) == files
    assert sens.per_seed["cfa"][0.0][SEED] == ablation.per_seed["ds_grounding_cka"][SEED]
    assert sens.per_seed["cfa"][1.0][SEED] == ablation.per_seed["full"][SEED]
    assert sens.best("cfa", "gap") in (0.0, 1.0)
    saved = save_robustness(sens, out)
    assert Path(saved.files["figure"]).read_bytes()[:4] == b"\x89PNG"
    assert json.loads(Path(saved.files["json"]).read_text())["grid"] == {"cfa": [0.0, 1.0]}


def test_corruption_summary_is_the_mean_over_severities(out: Path, ablation) -> None:
    res = corruption_robustness(out, methods=("core_mtl",), severity=2, **QUICK)
    assert len(list((out / "runs").glob("*.json"))) == 2  # full CORE-MTL reused
    run = res.per_seed["core_mtl"][SEED]
    s = res.summary["core_mtl"]
    for c in CORRUPTIONS:
        per = [run["corrupted"][c][str(k)]["digit"] for k in range(1, 6)]
        assert s["per_corruption"][c][0] == pytest.approx(np.mean(per), abs=1e-12)
        assert s["at_severity"][c][0] == run["corrupted"][c]["2"]["digit"]
    assert s["mean"][0] == pytest.approx(np.mean([s["per_corruption"][c][0]
                                                  for c in CORRUPTIONS]), abs=1e-12)
    assert s["clean"][0] == run["source"]["digit"]
    assert res.best() == "core_mtl"
    saved = save_robustness(res, out)
    text = Path(saved.files["markdown"]).read_text()
    assert "At severity 2" in text and text.count("| CORE-MTL (soft) | 1/1 |") == 2


def test_missing_runs_summarise_as_nan() -> None:
    from tasklens.studies.core_mtl_robustness import _domain_summary

    s = _domain_summary({}, "digit")
    assert all(math.isnan(v[0]) for v in s.values())


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="variants"):
        component_ablation(tmp_path, variants=("hps", "cka"))
    with pytest.raises(ValueError, match="grid"):
        lambda_sensitivity(tmp_path, grid={"rec": (1.0,)})
    with pytest.raises(ValueError, match="grid"):
        lambda_sensitivity(tmp_path, grid={"cka": (-1.0,)})
    with pytest.raises(ValueError, match="severity"):
        corruption_robustness(tmp_path, severity=6)
    with pytest.raises(ValueError, match="methods"):
        corruption_robustness(tmp_path, methods=("famo",))
    with pytest.raises(ValueError, match="seeds"):
        component_ablation(tmp_path, seeds=())
    with pytest.raises(TypeError, match="AblationResult"):
        save_robustness(object(), tmp_path)  # type: ignore[arg-type]
    from tasklens.studies.core_mtl_robustness import _build

    with pytest.raises(ValueError, match="core_mtl only"):
        _build("ew", colored_digits(40, seed=0), 0, {"cka": 0.0})
    assert set(ABLATION) == {"hps", "ds", "ds_grounding", "ds_grounding_cka", "full"}
