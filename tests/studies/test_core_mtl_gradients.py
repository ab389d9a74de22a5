"""Gradient orthogonality driver (Wu et al. 2026 Fig. 4-5): the end-of-training cosines are
those of the trained model, the summaries are the stated averages of the recorded arrays,
the figures render cleanly, and the SCM grid agrees with eq. 27 (App. A)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from tasklens.nn import dual_stream_for
from tasklens.report.core_mtl_figures import plot_gradient_cosine_bands
from tasklens.studies.core_mtl_analysis import gradient_cosines, paired_batches
from tasklens.studies.core_mtl_gradients import (
    OrthogonalityResult,
    gradient_orthogonality,
    record_run,
    save_orthogonality,
)
from tasklens.studies.core_mtl_scm import ood_gap_eq27, scm_gap_grid
from tasklens.studies.core_mtl_shortcut import ARCH, DUAL, shortcut_data
from tasklens.train import Trainer

SETTINGS = {"epochs": 2, "n": 40, "every": 1, "batch_size": 16, "lr": 3e-3, "n_final": 8,
            "dataset": "colored_digits"}


def test_final_cosines_are_those_of_the_trained_model() -> None:
    model, rec, final = record_run("no_cka", 0, SETTINGS)
    _, src_test, _ = shortcut_data(40, 0)
    x, y = paired_batches(src_test, range(8))
    again = gradient_cosines(model, x, y, src_test)
    np.testing.assert_allclose(final.task_vs_reconstruction, again.task_vs_reconstruction,
                               atol=1e-6)
    np.testing.assert_allclose(final.task_task, again.task_task, atol=1e-6)
    # 30 training digits / 16 = 2 steps per epoch, recorded at every step
    assert rec.steps().tolist() == [0, 1, 2, 3]
    # the recorder leaves training unchanged: same weights as a plain run of the protocol
    train = shortcut_data(40, 0)[0]
    plain = dual_stream_for(train, seed=0, **{**DUAL, "lambda_cka": 0.0}, **ARCH)
    Trainer(plain, train, "ew", batch_size=16, lr=3e-3, seed=0, progress=False).fit(2)
    for p, q in zip(model.parameters(), plain.parameters()):
        assert torch.equal(p, q)


@pytest.fixture(scope="module")
def small() -> OrthogonalityResult:
    return gradient_orthogonality(seeds=(0, 1), epochs=2, n=40, variants=("core_mtl",),
                                  every=1, batch_size=16, n_final=8)


def test_driver_summary_is_the_stated_average(small: OrthogonalityResult) -> None:
    cos = small.task_vs_rec["core_mtl"]
    assert cos.shape == (2, 4, 3) and small.steps_per_epoch == 2
    _, rec, final = record_run("core_mtl", 1, SETTINGS)
    np.testing.assert_array_equal(cos[1], rec.task_vs_reconstruction())
    np.testing.assert_array_equal(small.final_task_task["core_mtl"][1], final.task_task)
    s = small.summary()["core_mtl"]
    per_seed_early = np.abs(cos[:, :2]).mean(axis=(1, 2))   # steps 0, 1 = epoch 1
    per_seed_late = np.abs(cos[:, 2:]).mean(axis=(1, 2))    # steps 2, 3 = epoch 2
    for got, values in ((s["early"], per_seed_early), (s["late"], per_seed_late)):
        assert got[0] == pytest.approx(values.mean())
        assert got[1] == pytest.approx(abs(values[0] - values[1]) / 2)  # SE of two values
    tt = small.final_task_task["core_mtl"]
    assert s["task_task"]["digit–ink"][0] == pytest.approx(tt[:, 0, 2].mean())
    assert small.layer_size == 128 * 64 + 64
    assert "CORE-MTL" in small.table()
    assert small.to_dict()["summary"]["core_mtl"]["early"][0] == pytest.approx(s["early"][0])


def test_random_reference_is_the_mean_abs_cosine_of_random_directions(
        small: OrthogonalityResult) -> None:
    d = 400
    g = np.random.default_rng(0).normal(size=(2, 4000, d))
    cos = (g[0] * g[1]).sum(1) / np.linalg.norm(g[0], axis=1) / np.linalg.norm(g[1], axis=1)
    import dataclasses

    ref = dataclasses.replace(small, layer_size=d).random_reference
    assert ref == pytest.approx(np.abs(cos).mean(), rel=0.05)
    assert ref == pytest.approx(math.sqrt(2 / (math.pi * d)))


def test_figures_render_without_warnings(small: OrthogonalityResult, tmp_path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        saved = save_orthogonality(small, tmp_path)
    for key in ("json", "markdown", "figure", "task_gradients_core_mtl"):
        assert (tmp_path / saved.files[key].split("/")[-1]).stat().st_size > 0
    with pytest.raises(ValueError, match="panels"):
        plot_gradient_cosine_bands(small.steps, {"x": np.zeros((2, 3, 3))}, small.tasks)


@pytest.mark.parametrize("kwargs, match", [({"variants": ("nope",)}, "variants"),
                                           ({"every": 0}, "every"), ({"n": 10}, "n"),
                                           ({"dataset": "mnist"}, "dataset")])
def test_bad_arguments_are_named(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        gradient_orthogonality(**kwargs)


def test_hard_grounding_on_shaded_shapes_runs() -> None:
    res = gradient_orthogonality(seeds=(0,), epochs=1, n=40, variants=("core_mtl",), every=1,
                                 batch_size=16, n_final=8, dataset="shaded_shapes")
    assert res.tasks == ("shape", "orientation", "scale") and res.steps_per_epoch == 3
    cos = res.task_vs_rec["core_mtl"]
    assert cos.shape == (1, 3, 3) and np.all(np.abs(cos) <= 1)
    tt = res.final_task_task["core_mtl"][0]
    np.testing.assert_allclose(np.diag(tt), 1.0, atol=1e-6)  # unit cosine with itself
    np.testing.assert_allclose(tt, tt.T, atol=1e-12)


def test_scm_grid_agrees_with_eq27() -> None:
    grid = scm_gap_grid(n=40_000, seed=3)
    assert len(grid.rows) == 8
    for r in grid.rows:
        closed = ood_gap_eq27(r["psi"], 1.0, r["var_r_source"], r["var_r_target"])
        assert r["eq27"] == pytest.approx(closed)
        assert r["population"] == pytest.approx(closed, abs=1e-12)
        assert r["z"] == pytest.approx((r["gap"] - closed) / r["se"])
        assert abs(r["z"]) < 5  # Monte Carlo against the independent closed form
    # at 45° the gap has the sign of the residual shift and equals eq. 27's 2/3 and -1/6
    at45 = [r for r in grid.rows if r["psi"] == pytest.approx(np.pi / 4)]
    assert [round(r["eq27"], 6) for r in at45] == [round(2 / 3, 6), round(-1 / 6, 6)]
    assert "| z |" in grid.table() and grid.to_dict()["max_abs_z"] == grid.max_abs_z()
    with pytest.raises(ValueError, match="shifts"):
        scm_gap_grid(shifts=((1.0,),))
