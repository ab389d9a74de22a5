"""Scaling with the number of tasks (Wu et al. 2026 Table 4): the data are pooled sprites
with the first K random-MLP tasks, a run equals a hand-built Trainer run, and Δm is the
per-task relative MSE change against EW, recomputed here by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tasklens.data import sprites
from tasklens.nn import hps_for
from tasklens.studies.core_mtl_scaling import (
    epoch_seconds,
    save_scaling,
    scaling_data,
    scaling_study,
)
from tasklens.train import Trainer, evaluate

SETTINGS = {"task_counts": (2, 3), "seeds": (0,), "epochs": 2, "n_train": 32, "n_test": 16,
            "size": 8}


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("scaling")
    return out, scaling_study(out, methods=("ew", "stch"), progress=False, **SETTINGS)


def test_data_are_block_means_of_the_sprites_with_the_same_tasks() -> None:
    train, test = scaling_data(32, 16, 5, 8, seed=0)
    full = sprites(48, seed=0, tasks="random_mlp", n_tasks=5, weight_std="fan_in")
    pooled = torch.nn.functional.avg_pool2d(torch.as_tensor(np.asarray(full.inputs)), 8)
    # rows of train + test are a permutation of the sprites' rows: match by target vector
    both = np.concatenate([np.asarray(train.inputs), np.asarray(test.inputs)])
    y_both = np.stack([np.concatenate([train.targets[t], test.targets[t]])
                       for t in full.task_names], axis=1)
    y_full = np.stack([np.asarray(full.targets[t]) for t in full.task_names], axis=1)
    order = [int(np.argmin(np.abs(y_full - row).sum(axis=1))) for row in y_both]
    assert sorted(order) == list(range(48))
    np.testing.assert_allclose(both, pooled.numpy()[order], atol=1e-6)


def test_a_run_equals_a_direct_trainer_run(quick) -> None:
    _, result = quick
    train, test = scaling_data(32, 16, 40, 8, seed=0)
    names = ["mlp_0", "mlp_1", "mlp_2"]
    train, test = train.select(names), test.select(names)
    model = hps_for(train, code_dim=24, channels=(8, 16, 16, 32), head_hidden=32,
                    head_depth=2, seed=0)
    Trainer(model, train, "stch", batch_size=64, lr=3e-3, seed=0, progress=False).fit(2)
    metrics = evaluate(model, test)
    got = result.per_run["stch"][3][0]["metrics"]
    for t in names:
        assert got[t]["mse"] == pytest.approx(metrics[t]["mse"], rel=1e-9)
    assert len(result.per_run["stch"][3][0]["epoch_s"]) == 2


def test_delta_m_against_ew_by_hand(quick) -> None:
    _, result = quick
    for k in (2, 3):
        ew = result.per_run["ew"][k][0]["metrics"]
        st = result.per_run["stch"][k][0]["metrics"]
        hand = np.mean([-(st[t]["mse"] - ew[t]["mse"]) / ew[t]["mse"] * 100 for t in ew])
        assert result.summary["stch"][k]["delta_m"][0] == pytest.approx(hand, rel=1e-12)
        assert result.summary["ew"][k]["delta_m"][0] == 0.0
        r2 = np.mean([v["r2"] for v in st.values()])
        assert result.summary["stch"][k]["r2"][0] == pytest.approx(r2, rel=1e-12)


def test_table_json_figure_and_resume(quick) -> None:
    out, result = quick
    lines = result.table().splitlines()
    assert len(lines) == 2 + 2 * 2 and lines[2].startswith("| 2 | EW | 1/1 |")
    saved = save_scaling(result, out)
    assert Path(saved.files["figure"]).read_bytes()[:4] == b"\x89PNG"
    assert json.loads(Path(saved.files["json"]).read_text())["task_counts"] == [2, 3]
    again = scaling_study(out, methods=("ew", "stch"), progress=False, **SETTINGS)
    assert again.per_run == result.per_run


def test_epoch_seconds_and_bad_input(tmp_path: Path) -> None:
    assert epoch_seconds([9.0, 1.0, 3.0, 2.0]) == 2.0  # first epoch left out
    assert epoch_seconds([4.0]) == 4.0
    for kwargs, match in (({"methods": ("stch",)}, "ew"), ({"task_counts": (41,)}, "task_counts"),
                          ({"size": 12}, "size"), ({"methods": ("nash",)}, "methods")):
        with pytest.raises(ValueError, match=match):
            scaling_study(tmp_path, **kwargs)


def test_interleaved_timing_has_every_method_and_k_and_is_positive() -> None:
    from tasklens.studies.core_mtl_scaling import interleaved_epoch_times

    times = interleaved_epoch_times(("ew", "pcgrad"), (2, 3), repeats=1, n_train=32, size=8)
    assert set(times) == {"ew", "pcgrad"}
    assert all(set(d) == {2, 3} and all(v > 0 for v in d.values()) for d in times.values())
