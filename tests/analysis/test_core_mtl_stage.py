"""``tasklens analyze`` compares CORE-MTL in stage 6 when the data are images (on by
default there, off for tabular data, switchable either way)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tasklens.analysis import AnalysisSettings, load_data
from tasklens.analysis.settings import core_mtl_enabled, is_image_data


def _balancing(data, settings, out: Path) -> dict:
    from tasklens.report.html import run_and_report

    results = run_and_report(data, settings, out, stages=["balancing"])
    entry = results["stages"]["balancing"]
    assert entry["status"] == "done", entry
    return entry["result"]


def _settings(**kw) -> AnalysisSettings:
    return AnalysisSettings.for_budget("fast", **{"epochs": 1, "n_seeds": 1,
                                                  "methods": ("ew",), **kw})


def test_image_data_get_a_core_mtl_row_that_equals_a_direct_training(tmp_path: Path) -> None:
    from torch import nn

    from tasklens.analysis.training import fit
    from tasklens.nn import ConvDecoder, DualStreamModel, FlatImageEncoder, LeNetEncoder

    data = load_data("colored_digits", max_rows=60, seed=0)
    assert data.taskset.info["image_shape"] == (3, 8, 8)  # flattened by the loader
    st = _settings()
    res = _balancing(data, st, tmp_path)
    assert res["methods"] == ["ew", "core_mtl"]
    row = res["table"]["core_mtl"]
    assert len(row["per_seed"]) == 1 and all(math.isfinite(v) for v in row["per_seed"])
    # the row's seed-0 metrics are those of the documented model trained directly
    split = data.split(st.test_size, st.seed)  # what the analysis trains on (standardized)
    model, metrics, _ = fit(split, split.train.task_names, 0, st, method="core_mtl")
    assert isinstance(model, DualStreamModel)
    # image data: a conv backbone fed the flat rows, a conv decoder rendering the images
    assert isinstance(model.backbone, FlatImageEncoder)
    assert isinstance(model.backbone.encoder, LeNetEncoder)
    assert isinstance(model.decoder[0], ConvDecoder) and isinstance(model.decoder[1], nn.Flatten)
    assert row["metrics"]["0"]["digit"]["accuracy"] == pytest.approx(
        metrics["digit"]["accuracy"], abs=1e-12)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "core_mtl" in html and "models: conv (LeNet) on 3×8×8 images" in html


def test_mlp_image_model_keeps_the_flat_core_mtl_row(tmp_path: Path) -> None:
    from tasklens.analysis.training import build_model
    from tasklens.nn import MLPEncoder

    data = load_data("colored_digits", max_rows=60, seed=0)
    st = _settings(image_model="mlp")
    res = _balancing(data, st, tmp_path)
    assert res["methods"] == ["ew", "core_mtl"]
    model = build_model(data.taskset, st, 0, "core_mtl")
    assert isinstance(model.backbone, MLPEncoder) and isinstance(model.decoder, MLPEncoder)


def test_tabular_data_have_no_core_mtl_row_unless_asked(tmp_path: Path) -> None:
    data = load_data(None, max_rows=60, seed=0)  # multi_digits_mixed: flat vectors
    assert not is_image_data(data.taskset.input_shape, data.taskset.info)
    res = _balancing(data, _settings(), tmp_path / "auto")
    assert res["methods"] == ["ew"] and "core_mtl" not in res["table"]


@pytest.mark.slow
def test_core_mtl_can_be_forced_on_tabular_data(tmp_path: Path) -> None:
    data = load_data(None, max_rows=60, seed=0)
    forced = _balancing(data, _settings(core_mtl=True), tmp_path)
    assert forced["methods"] == ["ew", "core_mtl"] and "core_mtl" in forced["table"]


def test_switch_and_bad_values() -> None:
    off = _settings(core_mtl=False)
    assert not core_mtl_enabled(off, (192,), {"image_shape": (3, 8, 8)})
    assert core_mtl_enabled(_settings(), (3, 8, 8))
    assert not core_mtl_enabled(_settings(), (10,), {})
    with pytest.raises(TypeError, match="core_mtl"):
        _settings(core_mtl="yes")
    with pytest.raises(ValueError, match="--core-mtl"):
        _settings(methods=("ew", "core_mtl"))
