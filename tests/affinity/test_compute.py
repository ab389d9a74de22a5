"""compute_affinities: every score in one call, models trained once and shared (counted),
GS/GT through the callback adapter against per-epoch explicit loops, saved files, errors."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch

from tasklens.affinity.compute import AFFINITY_SCORES, AffinityMonitorCallback, compute_affinities
from tasklens.affinity.gradients import GradientSimilarityMonitor
from tasklens.affinity.taxonomy import taxonomical_distance
from tasklens.data import TaskSet
from tasklens.nn import hps_for
from tasklens.train import Callback, Trainer
from tests.reference.affinity_reference import gs_per_task, gt_per_pair, plain_losses

KINDS = {"r": "regression", "s": "regression", "c": "binary"}
SMALL = {"hidden": (8,), "code_dim": 4, "head_hidden": 4, "head_depth": 1, "batch_size": 32}
TREE = "((r,s),c);"



def _taskset(n: int = 160) -> TaskSet:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    return TaskSet.from_arrays(
        x, {"r": x[:, 0] + x[:, 1], "s": x[:, 0] - 0.5 * x[:, 2],
            "c": (x[:, 3] > 0).astype(int)}, kinds=KINDS, name="tiny3")


@pytest.fixture
def fit_counter(monkeypatch):
    """Count Trainer.fit calls (one per trained model) and the task sets they train on."""
    seen: list[list[str]] = []
    real = Trainer.fit

    def counting(self, epochs, **kwargs):
        seen.append(list(self.task_names))
        return real(self, epochs, **kwargs)

    monkeypatch.setattr(Trainer, "fit", counting)
    return seen


def test_all_scores_train_each_model_once(tmp_path, fit_counter) -> None:
    report = compute_affinities(_taskset(), epochs=1, tree=TREE, out_dir=tmp_path,
                                probe_size=64, **SMALL)
    k = 3
    # K single-task models (shared by IAS, RSA and LI), K(K-1) label-injected, one MTL model
    assert len(fit_counter) == k + k * (k - 1) + 1
    assert sum(names == ["r", "s", "c"] for names in fit_counter) == 1
    assert report.epochs_used == len(fit_counter)
    assert list(report.scores) == list(AFFINITY_SCORES)
    for key, matrix in report.scores.items():
        assert matrix.task_names == ("r", "s", "c"), key
        off = matrix.values[~np.eye(3, dtype=bool)]
        assert np.all(np.isfinite(off)), key
    for key in ("gs", "rsa", "ias", "td", "alignment"):
        assert report[key].is_symmetric(1e-9), key
    np.testing.assert_array_equal(report["td"].values,
                                  taxonomical_distance(TREE, ["r", "s", "c"]).values)
    assert np.all(np.abs(report["gs"].values) <= 1 + 1e-12)
    # saved: one JSON (with the settings) and one CSV per score
    for key, matrix in report.scores.items():
        saved = json.loads((tmp_path / f"{key}.json").read_text())
        assert saved["settings"]["epochs"] == 1 and saved["settings"]["seed"] == 0
        frame = pd.read_csv(tmp_path / f"{key}.csv", index_col=0)
        np.testing.assert_allclose(frame.to_numpy(), matrix.values, equal_nan=True)
    assert json.loads((tmp_path / "affinities.json").read_text())["epochs_used"] == 10
    # reuse: passing the STL models skips their training
    fit_counter.clear()
    again = compute_affinities(_taskset(), ("rsa", "ias"), epochs=1, probe_size=64,
                               stl_models=report.stl_models, **SMALL)
    assert fit_counter == [] and again.epochs_used == 0
    np.testing.assert_allclose(again["rsa"].values, report["rsa"].values)


def test_training_free_scores_train_nothing(fit_counter) -> None:
    report = compute_affinities(_taskset(), ("td", "alignment"), tree=TREE)
    assert fit_counter == [] and report.epochs_used == 0


def test_gs_gt_equal_epoch_averages_of_explicit_loops() -> None:
    """GS and GT from the callback adapter = the mean over epochs of the per-task / per-pair
    loops of tests/reference applied to snapshots of the same training."""
    ts = _taskset()
    split = ts.split(0.25, seed=0)
    epochs, probe = 2, 48
    report = compute_affinities(split, ("gs", "gt"), epochs=epochs, probe_size=probe, lr=0.01,
                                **SMALL)
    snapshots = []

    class Snapshot(Callback):
        def on_epoch_end(self, trainer, row):
            snapshots.append((copy.deepcopy(trainer.model),
                              trainer.optimizer.param_groups[0]["lr"]))

    model = hps_for(split.train, seed=0, hidden=(8,), code_dim=4, head_hidden=4, head_depth=1)
    Trainer(model, split.train, "ew", lr=0.01, batch_size=32, seed=0, progress=False,
            callbacks=[Snapshot()]).fit(epochs)
    x = torch.as_tensor(split.train.inputs[:probe])
    y = {t: torch.as_tensor(split.train[t].targets[:probe]) for t in KINDS}
    shared = [n for n, _ in model.named_parameters() if n.startswith("encoder.")]
    losses = plain_losses(KINDS)
    gs = np.mean([gs_per_task(m, losses, x, y, list(KINDS), shared) for m, _ in snapshots], 0)
    gt = np.mean([gt_per_pair(m, losses, x, y, list(KINDS), shared, lr=lr)
                  for m, lr in snapshots], 0)
    np.testing.assert_allclose(report["gs"].values, gs, atol=1e-5)
    np.testing.assert_allclose(report["gt"].values, gt, rtol=1e-3, atol=1e-6)
    assert np.abs(gt).max() > 0  # a real signal, not zeros on both sides


def test_callback_every_steps_records_per_step() -> None:
    ts = _taskset(64)
    model = hps_for(ts, seed=0, hidden=(8,), code_dim=4, head_hidden=4, head_depth=1)
    monitor = GradientSimilarityMonitor(ts)
    batch = next(iter(ts.dataloader(16, shuffle=False)))
    Trainer(model, ts, "ew", batch_size=16, progress=False,
            callbacks=[AffinityMonitorCallback(monitor, batch, every_steps=2)]).fit(2)
    assert monitor.count == 4  # 8 steps, every 2nd
    with pytest.raises(TypeError, match="monitor"):
        AffinityMonitorCallback(object(), batch)


def test_errors_fail_before_training(fit_counter) -> None:
    ts = _taskset(60)
    with pytest.raises(ValueError, match=r"tree lacks task\(s\) \['c'\]"):
        compute_affinities(ts, ("gs", "td"), tree="(r,s);")
    with pytest.raises(ValueError, match="needs tree="):
        compute_affinities(ts, ("td",))
    with pytest.raises(ValueError, match="unknown score"):
        compute_affinities(ts, ("gs", "cka"))
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['zz'\]"):
        compute_affinities(ts, ("gs",), tasks=["r", "zz"])
    with pytest.raises(ValueError, match="at least 2 tasks"):
        compute_affinities(ts, ("gs",), tasks=["r"])
    with pytest.raises(ValueError, match="duplicates"):
        compute_affinities(ts, ("gs", "gs"))
    with pytest.raises(ValueError, match="epochs"):
        compute_affinities(ts, ("gs",), epochs=0)
    with pytest.raises(TypeError, match="TaskSet"):
        compute_affinities(ts.inputs, ("gs",))
    assert fit_counter == []


def test_affinity_report_load_round_trips_save(tmp_path):
    import json

    import numpy as np

    from tasklens.affinity import AffinityReport
    from tasklens.data import TaskMatrix

    names = ("a", "b", "c")
    asym = TaskMatrix(np.array([[np.nan, 0.25, -1.0], [3.0, np.nan, 0.5], [1e-9, 2.0, np.nan]]),
                      names, "gradient transference")
    sym = TaskMatrix(np.array([[1.0, 0.1, 0.2], [0.1, 1.0, 0.3], [0.2, 0.3, 1.0]]), names,
                     "rsa", higher_is_better=False)
    report = AffinityReport(scores={"gt": asym, "rsa": sym}, settings={"epochs": 2, "seed": 0},
                            timings={"gt": 1.5}, epochs_used=4)
    report.save(tmp_path)
    for path in (tmp_path, tmp_path / "affinities.json"):
        back = AffinityReport.load(path)
        assert back.to_dict().keys() == report.to_dict().keys()
        assert back.settings == report.settings and back.timings == report.timings
        assert back.epochs_used == 4 and back.version == report.version
        for key, m in report.scores.items():
            got = back[key]
            assert got.task_names == m.task_names and got.name == m.name
            assert got.higher_is_better == m.higher_is_better
            np.testing.assert_array_equal(got.values, m.values)  # JSON floats round-trip
    # one layout: the per-score file embeds the same matrix dict as affinities.json
    whole = json.loads((tmp_path / "affinities.json").read_text())
    single = json.loads((tmp_path / "gt.json").read_text())
    assert single["matrix"].keys() == whole["scores"]["gt"].keys()
    with pytest.raises(FileNotFoundError, match=r"affinities\.json"):
        AffinityReport.load(tmp_path / "missing")
    with pytest.raises(ValueError, match="scores"):
        AffinityReport.from_dict({"matrices": {}})
