"""The analysis's step cap is exact: every training of ``tasklens analyze`` takes
``min(epochs × steps per epoch, max_steps)`` optimizer steps, on data in memory and on disk
(before, the cap was rounded up to whole epochs)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tasklens.analysis import AnalysisSettings, load_data, run_analysis
from tasklens.analysis.training import fit
from tasklens.train import Trainer

N = 400  # 320 training rows: 20 steps per epoch at batch 16


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stepcap")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 5)).astype(np.float32)
    np.save(folder / "x.npy", x)
    np.save(folder / "c.npy", (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5))
    np.save(folder / "r.npy", (x[:, 2] + 0.1 * rng.normal(size=N)).astype(np.float32))
    np.savez(folder / "same.npz", inputs=x, c=np.load(folder / "c.npy"),
             r=np.load(folder / "r.npy"))
    return folder


def _settings(**kw: Any) -> AnalysisSettings:
    return AnalysisSettings.for_budget("fast", epochs=3, n_seeds=1, batch_size=16,
                                       methods=("ew", "famo"), probe_size=32, **kw)


@pytest.mark.parametrize("max_steps, steps", [(7, 7), (20, 20), (45, 45), (400, 60), (None, 60)])
def test_steps_for(max_steps: int | None, steps: int) -> None:
    st = _settings(max_steps=max_steps) if max_steps else _settings().replace(max_steps=None)
    assert st.steps_for(320) == steps
    assert st.epochs_for(320) == steps / 20


class _Counted:
    """Wraps ``Trainer._train_step``: counts the steps each trainer really takes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counts: dict[int, int] = {}
        step = Trainer._train_step

        def counted(trainer: Trainer, x: Any, y: Any) -> None:
            self.counts[id(trainer)] = self.counts.get(id(trainer), 0) + 1
            step(trainer, x, y)

        monkeypatch.setattr(Trainer, "_train_step", counted)


@pytest.mark.parametrize("source", ["x.npy", "same.npz"])
def test_one_training_takes_the_capped_steps(files: Path, source: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    data = load_data(str(files / source), ["c:classification", "r"])
    assert data.taskset.storage == ("npy" if source == "x.npy" else "memory")
    st = _settings(max_steps=7)
    split = data.split(st.test_size, st.seed)
    assert math.ceil(len(split.train) / st.batch_size) == 20  # the cap falls in epoch 1
    counter = _Counted(monkeypatch)
    _, metrics, result = fit(split, ["c", "r"], 0, st, method="famo")
    assert list(counter.counts.values()) == [7] and result.steps == 7
    assert len(result.history) == 1 and result.history[-1]["partial"]
    assert result.history[-1]["batches"] == 7
    assert set(metrics) == {"c", "r"}


def test_every_training_of_an_analysis_takes_the_capped_steps(
        files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = load_data(str(files / "x.npy"), ["c:classification", "r"])
    st = _settings(max_steps=23)  # one epoch and three batches
    counter = _Counted(monkeypatch)
    res = run_analysis(data, st, tmp_path / "out", progress=False)
    assert all(s["status"] == "done" for s in res["stages"].values()), res["stages"]
    # multitask (1), single-task baselines (2), balancing: famo (ew is the multitask run)
    assert len(counter.counts) >= 4
    assert set(counter.counts.values()) == {23}
    summary = res["stages"]["summary"]["result"]
    assert summary["steps_per_training"] == 23
    assert summary["epochs_per_training"] == pytest.approx(23 / 20)
    assert max(res["stages"]["multitask"]["result"]["steps"]) == 22  # step indices 0…22
