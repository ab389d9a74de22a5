"""CSV / JSONL logs parse and carry the expected columns; optional loggers name their extra."""

from __future__ import annotations

import csv
import importlib.util
import json

import pytest

from tasklens.train import MLflowLogger, TensorBoardLogger, Trainer

from ._data import tiny_model, tiny_taskset


def test_csv_and_jsonl_logs(tmp_path):
    sp = tiny_taskset(n=160).split(0.2, 0.2, seed=0)  # 96 train rows, batch 32 -> 3 steps
    result = Trainer(tiny_model(sp.train), sp.train, "pcgrad", val=sp.val, batch_size=32,
                     monitor_every=2, log_dir=tmp_path).fit(2)
    with open(tmp_path / "epochs.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2
    expected = {"epoch", "step", "train/loss", "train/loss/a", "train/loss/b", "weight/a",
                "weight/b", "val/a/mse", "val/a/r2", "val/b/accuracy", "val/b/macro_f1",
                "val/a/loss", "val/b/loss", "val/loss", "time_s"}
    assert expected <= set(rows[0])
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert float(rows[1]["train/loss/a"]) == pytest.approx(result.history[1]["train/loss/a"])

    with open(tmp_path / "monitor.csv", newline="") as fh:
        mon = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in mon] == [0, 2, 4]  # 6 steps, every 2nd
    assert {"cos/a/b", "conflicts", "grad_norm/a", "grad_norm/b", "weight/a"} <= set(mon[0])

    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    kinds = [r["kind"] for r in records]
    assert kinds.count("epoch") == 2 and kinds.count("monitor") == 3
    assert records[-1]["kind"] == "epoch" and records[-1]["epoch"] == 1


def test_logs_after_resume_hold_each_row_once(tmp_path):
    sp = tiny_taskset(n=160).split(0.2, 0.2, seed=0)
    kw = {"batch_size": 32, "monitor_every": 2, "log_dir": tmp_path / "log",
          "checkpoint_dir": tmp_path / "ck"}
    Trainer(tiny_model(sp.train), sp.train, "ew", **kw).fit(1)
    Trainer(tiny_model(sp.train), sp.train, "ew", **kw).fit(2, resume=True)
    records = [json.loads(x) for x in (tmp_path / "log" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records if r["kind"] == "epoch"] == [0, 1]
    assert [r["step"] for r in records if r["kind"] == "monitor"] == [0, 2, 4]


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is not None,
                    reason="tensorboard is installed")
def test_tensorboard_logger_names_the_extra(tmp_path):
    with pytest.raises(ImportError, match=r"tasklens\[tensorboard\]"):
        TensorBoardLogger(tmp_path)


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is not None, reason="mlflow is installed")
def test_mlflow_logger_names_the_extra():
    with pytest.raises(ImportError, match=r"tasklens\[mlflow\]"):
        MLflowLogger()


class _FakeMlflow:
    """Records the calls MLflowLogger makes (stands in for the optional mlflow package)."""

    def __init__(self):
        self.calls = []
        self._active = None

    def set_tracking_uri(self, uri):
        self.calls.append(("uri", uri))

    def active_run(self):
        return self._active

    def start_run(self, run_name=None):
        self._active = object()
        self.calls.append(("start", run_name))

    def end_run(self):
        self._active = None
        self.calls.append(("end",))

    def log_params(self, params):
        self.calls.append(("params", params))

    def log_metrics(self, metrics, step):
        self.calls.append(("metrics", metrics, step))


def test_mlflow_logger_with_a_stand_in_module(monkeypatch):
    import sys

    fake = _FakeMlflow()
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    sp = tiny_taskset(n=160).split(0.2, 0.2, seed=0)
    Trainer(tiny_model(sp.train), sp.train, "ew", val=sp.val, batch_size=32, monitor_every=3,
            callbacks=[MLflowLogger(run_name="r", tracking_uri="file:/x")]).fit(2)
    kinds = [c[0] for c in fake.calls]
    assert kinds[:3] == ["uri", "start", "params"] and kinds[-1] == "end"
    epochs = [c for c in fake.calls if c[0] == "metrics" and "val/loss" in c[1]]
    assert [c[2] for c in epochs] == [0, 1]
    monitors = [c for c in fake.calls if c[0] == "metrics" and "monitor/cos/a/b" in c[1]]
    assert [c[2] for c in monitors] == [0, 3]


def test_tensorboard_logger_with_a_stand_in_writer(monkeypatch, tmp_path):
    import sys
    import types

    scalars = []

    class Writer:
        def __init__(self, log_dir):
            self.log_dir = log_dir

        def add_scalar(self, tag, value, global_step):
            scalars.append((tag, value, global_step))

        def flush(self):
            pass

    module = types.ModuleType("torch.utils.tensorboard")
    module.SummaryWriter = Writer
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", module)
    sp = tiny_taskset(n=160).split(0.2, 0.2, seed=0)
    Trainer(tiny_model(sp.train), sp.train, "ew", val=sp.val, batch_size=32,
            callbacks=[TensorBoardLogger(tmp_path)]).fit(2)
    assert [s for s in scalars if s[0] == "val/loss"][1][2] == 1
    assert any(tag == "train/loss/a" for tag, _, _ in scalars)
