"""Hard vs soft grounding under a photometric shift: a run equals a hand-built training,
the OOD set pairs with the ID set, and the stability numbers are those of
stability_under_intervention on the same model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tasklens.data import shaded_shapes
from tasklens.nn import dual_stream_for
from tasklens.studies import stability_under_intervention
from tasklens.studies.core_mtl_grounding import grounding_study, save_grounding
from tasklens.train import Trainer, evaluate

SETTINGS = {"seeds": (1,), "epochs": 1, "n_train": 48, "n_test": 24, "size": 8}


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("grounding")
    return out, grounding_study(out, models=("core_hard", "ew_hps"), progress=False,
                                **SETTINGS)


def test_hard_run_equals_a_direct_training(quick) -> None:
    _, result = quick
    train = shaded_shapes(48, size=8, seed=1, nuisance_levels="in")
    id_test = shaded_shapes(24, size=8, seed=10_001, nuisance_levels="in").encode_like(train)
    ood = shaded_shapes(24, size=8, seed=10_001, nuisance_levels="out").encode_like(train)
    np.testing.assert_array_equal(id_test.targets["shape"], ood.targets["shape"])
    model = dual_stream_for(train, grounding="hard", seed=1, feature_dim=32, semantic_dim=12,
                            residual_dim=8, decoder_channels=(32, 16, 8),
                            channels=(8, 16, 16, 32), head_hidden=32, head_depth=2)
    Trainer(model, train, "ew", batch_size=64, lr=3e-3, seed=1, progress=False).fit(1)
    run = result.per_seed["core_hard"][1]
    for split, ts in (("id", id_test), ("ood", ood)):
        m = evaluate(model, ts)
        assert run[split]["shape_acc"] == pytest.approx(m["shape"]["accuracy"], abs=1e-12)
        assert run[split]["scale_r2"] == pytest.approx(m["scale"]["r2"], rel=1e-9)
    stab = stability_under_intervention(model, id_test.inputs, ood.inputs, seed=1)
    cross = stab.row("cross-domain")
    assert run["stability"]["cross-domain"]["delta_semantic"] == pytest.approx(
        cross.delta_semantic, rel=1e-9)
    assert "stability" not in result.per_seed["ew_hps"][1]


def test_summary_table_and_files(quick) -> None:
    out, result = quick
    s = result.summary["core_hard"]
    run = result.per_seed["core_hard"][1]
    assert s["drop/shape_acc"][0] == pytest.approx(run["id"]["shape_acc"]
                                                   - run["ood"]["shape_acc"], abs=1e-12)
    assert "intra-domain/ratio" in s and "intra-domain/ratio" not in result.summary["ew_hps"]
    text = result.table()
    assert "| CORE-MTL hard | 1/1 |" in text and "ΔZ_s" in text
    saved = save_grounding(result, out)
    assert Path(saved.files["figure"]).read_bytes()[:4] == b"\x89PNG"
    assert json.loads(Path(saved.files["json"]).read_text())["models"] == ["core_hard",
                                                                          "ew_hps"]


def test_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="models"):
        grounding_study(tmp_path, models=("core_medium",))
    with pytest.raises(ValueError, match="size"):
        grounding_study(tmp_path, size=12)
