"""The disentanglement study (003 §4) end to end at toy size, its table, resuming, wiring."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from tasklens.studies import disentanglement as study_module
from tasklens.studies.disentanglement import (
    METRIC_COLUMNS,
    StudyConfig,
    StudyResult,
    aggregate,
    run_study,
    table_markdown,
)
from tests.reference.represent_reference import mig_loops

TOY_PARTS = ("encoders", "decoders", "autoencoders")


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StudyResult]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the test machine is shared; one thread is fastest there
    out = tmp_path_factory.mktemp("study")
    yield run_study(StudyConfig.quick(parts=TOY_PARTS), out)
    torch.set_num_threads(before)


def test_toy_study_writes_one_unit_per_model_and_a_table(toy: StudyResult) -> None:
    expected_units = {"random_seed0", "multi_head_seed0", "one_head_seed0",
                      "single_task_t0_seed0", "ae_seed0", "beta_vae_seed0",
                      "factor_vae_seed0"}
    assert set(toy.ran) == expected_units and toy.skipped == ()
    assert {p.stem for p in (toy.out_dir / "units").glob("*.json")} == expected_units
    models = [r["model"] for r in toy.table]
    assert models == ["random", "single_task", "single_task_best", "multi_head", "one_head",
                      "ae", "beta_vae", "factor_vae"]
    with open(toy.files["csv"]) as fh:
        rows = list(csv.DictReader(fh))
    assert [r["model"] for r in rows] == models
    assert set(rows[0]) == {"model", "n_runs"} | {f"{m}_{s}" for m in METRIC_COLUMNS
                                                  for s in ("mean", "std")}
    md = Path(toy.files["markdown"]).read_text().splitlines()
    assert len(md) == 2 + len(models) and md[0].startswith("| model | runs | mig |")


def test_toy_study_metrics_are_in_their_ranges(toy: StudyResult) -> None:
    bounded = [m for m in METRIC_COLUMNS if m not in ("retrieved", "task_mse", "recon_mse",
                                                      "recon_bce", "heads_rmse")]
    for unit in toy.units:
        m = unit["metrics"]
        for name in bounded:
            assert 0.0 <= m[name] <= 1.0 + 1e-9, (unit["unit"], name, m[name])
        assert 0 <= m["retrieved"] <= 5  # five dSprites factors
        # every encoder got a decoder (own or trained on its frozen codes)
        assert 0.0 < m["recon_mse"] < 1.0 and m["recon_bce"] > 0.0
    supervised = {u["model"]: u for u in toy.units if "task_mse" in u["metrics"]}
    assert set(supervised) == {"random", "single_task", "multi_head", "one_head"}
    heads = [u for u in toy.units if u["model"] in ("ae", "beta_vae", "factor_vae")]
    assert all(math.isfinite(u["metrics"]["heads_rmse"]) for u in heads)


def test_rerun_skips_finished_units(toy: StudyResult, monkeypatch: pytest.MonkeyPatch
                                    ) -> None:
    mtimes = {p: p.stat().st_mtime_ns for p in (toy.out_dir / "units").glob("*.json")}

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished unit was run again")

    monkeypatch.setattr(study_module, "_run_unit", must_not_run)
    again = run_study(toy.config, toy.out_dir)
    assert again.ran == () and set(again.skipped) == set(toy.ran)
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    assert json.dumps(again.table) == json.dumps(toy.table)


def test_resume_runs_only_the_missing_unit(toy: StudyResult, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """An interrupted study (one unit file missing) reruns exactly that unit."""
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(toy.out_dir, out)
    (out / "units" / "one_head_seed0.json").unlink()
    calls: list[str] = []
    real = study_module._run_unit

    def counting(unit, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(unit.name)
        return real(unit, *args, **kwargs)

    monkeypatch.setattr(study_module, "_run_unit", counting)
    again = run_study(toy.config, out)
    assert calls == ["one_head_seed0"] and again.ran == ("one_head_seed0",)


def test_changed_settings_in_the_same_folder_are_refused(toy: StudyResult) -> None:
    with pytest.raises(ValueError, match="different settings"):
        run_study(StudyConfig.quick(parts=TOY_PARTS, code_dim=3), toy.out_dir)


def test_ground_truth_code_scores_about_one(tmp_path: Path) -> None:
    """The true factors as a code: an independent check of the study's wiring.

    With one histogram bin per level (40 bins >= the 40 orientations) the top code carries
    all of its factor's entropy, so MIG = 1 - (plug-in MI of the runner-up) / H, close to 1
    on 1,500 samples; each factor is a function of exactly one code, so DCI D, C and I are
    ≈ 1 (I a little lower: 20 boosting stages for 40 orientations); and a fixed factor has
    zero variance in its own code, so the FactorVAE score is 1.
    """
    config = StudyConfig.quick(parts=("ground_truth",), n_train=600, n_test=1500,
                               n_metric=1500, num_bins=40, dci_estimators=20,
                               dci_backend="hist")
    result = run_study(config, tmp_path)
    m = result.units[0]["metrics"]
    assert m["mig"] > 0.88  # ≈ 0.906 at this size: the runner-up's plug-in MI is biased up
    assert m["dci_disentanglement"] > 0.9 and m["dci_completeness"] > 0.9
    assert m["dci_informativeness"] > 0.85  # 20 stages, 600 samples, 40 classes
    assert m["factor_vae"] == 1.0 and m["retrieved"] == 5
    # the study's MIG equals a plain-loop MIG on the same code (tests/reference)
    test = study_module.study_data("sprites", 600, 1500, 2, 32, 0).test
    codes = test.factors.codes()
    z = study_module.standardized_factors(codes, tuple(len(v) for v in test.factors.levels))
    assert m["mig"] == pytest.approx(mig_loops(z, codes, 40), abs=1e-9)


def test_aggregate_mean_std_and_best_single_task() -> None:
    units = [
        {"model": "multi_head", "task": None, "metrics": {"mig": 0.2, "task_mse": 1.0}},
        {"model": "multi_head", "task": None, "metrics": {"mig": 0.4, "task_mse": 3.0}},
        {"model": "single_task", "task": "a", "metrics": {"mig": 0.1, "task_mse": 2.0}},
        {"model": "single_task", "task": "a", "metrics": {"mig": 0.3, "task_mse": 2.0}},
        {"model": "single_task", "task": "b", "metrics": {"mig": 0.05, "task_mse": 0.5}},
    ]
    rows = {r["model"]: r for r in aggregate(units)}
    assert rows["multi_head"]["mig_mean"] == pytest.approx(0.3)
    assert rows["multi_head"]["mig_std"] == pytest.approx(0.1)  # population std of {.2, .4}
    assert rows["single_task"]["mig_mean"] == pytest.approx(0.15)
    assert rows["single_task_best"]["mig_mean"] == pytest.approx(0.2)  # task a's mean
    assert rows["single_task_best"]["task_mse_mean"] == pytest.approx(0.5)  # lower is better
    assert math.isnan(rows["multi_head"]["sap_mean"])
    md = table_markdown(list(rows.values()))
    assert "0.300 ± 0.100" in md and "sap" not in md.splitlines()[0]


@pytest.mark.parametrize("bad, match", [
    ({"data": "cifar"}, "data"), ({"image_size": 48}, "image_size"),
    ({"parts": ("encoders", "nope")}, "unknown parts"), ({"seeds": (0, 0)}, "seeds"),
    ({"code_dim": 1}, "code_dim"),
])
def test_bad_config_is_a_clear_error(bad: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        StudyConfig(**bad)


def test_pool_images_averages_blocks() -> None:
    from tasklens.studies.disentanglement_models import pool_images

    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    pooled = pool_images(x, 2)
    loops = [[np.mean([x[0, 0, 2 * i + a, 2 * j + b] for a in (0, 1) for b in (0, 1)])
              for j in range(2)] for i in range(2)]
    np.testing.assert_allclose(pooled[0, 0], loops)


def test_unit_figures_with_a_decoder_include_a_reconstruction_grid(tmp_path: Path) -> None:
    import warnings
    from types import SimpleNamespace

    from tasklens.data import TaskSet

    rng = np.random.default_rng(0)
    x = (rng.random((20, 1, 8, 8)) > 0.7).astype(np.float32)
    test = TaskSet.from_arrays(x, {"t": rng.normal(size=20)}, {"t": "regression"},
                               factors=rng.integers(0, 3, (20, 2)).astype(float),
                               factor_names=["shape", "scale"])
    decoder = torch.nn.Sequential(torch.nn.Linear(4, 64), torch.nn.Unflatten(1, (1, 8, 8)))
    unit = study_module._Unit("ae_seed0", "ae", 0, figures=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths = study_module._unit_figures(unit, rng.normal(size=(20, 4)).astype(np.float32),
                                           SimpleNamespace(test=test), decoder, tmp_path)
    assert [Path(p).name for p in paths] == ["embedding_ae_seed0.png", "traversal_ae_seed0.png",
                                             "reconstruction_ae_seed0.png"]
    assert (tmp_path / "reconstruction_ae_seed0.png").read_bytes()[:4] == b"\x89PNG"
