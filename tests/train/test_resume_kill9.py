"""Resume after ``kill -9`` continues bit-identically (CPU), for every balancing method.

A child process trains with mid-epoch checkpoints and SIGKILLs itself between two of them
(no handler, no flush: what a crash or the OOM killer does); a new trainer in this process
resumes from the file, and its parameters and loss curve must equal those of an
uninterrupted run exactly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from tasklens import balance
from tasklens.train import Trainer

from ._data import dropout_model, tiny_taskset

torch.set_num_threads(1)

_SRC = Path(__file__).resolve().parents[2] / "src"
_TESTS = Path(__file__).resolve().parents[2]


def _build(method: str, model_seed: int, **kw) -> Trainer:
    ts = tiny_taskset(n=160, seed=1)
    val = tiny_taskset(n=64, seed=2)
    return Trainer(dropout_model(ts, seed=model_seed), ts, balance.get(method), batch_size=32,
                   lr=5e-3, seed=7, val=val, **kw)


_CHILD = textwrap.dedent("""
    import os, signal, sys
    import torch
    torch.set_num_threads(1)
    from tasklens.train import Callback
    from tests.train.test_resume_kill9 import _build

    class Kill(Callback):
        def on_step_end(self, trainer, row):
            if row["step"] == 7:
                os.kill(os.getpid(), signal.SIGKILL)

    _build(sys.argv[1], 0, checkpoint_dir=sys.argv[2], checkpoint_every=3,
           callbacks=[Kill()]).fit(2)
""")


@pytest.mark.slow
@pytest.mark.parametrize("method", balance.available())
def test_resume_after_kill_9_is_bit_identical(method, tmp_path):
    if balance.METHODS[method].min_tasks > 2:  # the task set has two tasks (krum, trimmed_mean)
        pytest.skip(f"{method} needs at least {balance.METHODS[method].min_tasks} tasks")
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(_SRC), str(_TESTS),
                                          os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run([sys.executable, "-c", _CHILD, method, str(tmp_path)], env=env,
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]

    full = _build(method, 0)
    full_result = full.fit(2)
    resumed_trainer = _build(method, 5, checkpoint_dir=tmp_path, checkpoint_every=3)
    resumed = resumed_trainer.fit(2, resume=True)
    for (name, p), (_, q) in zip(full.model.named_parameters(),
                                 resumed_trainer.model.named_parameters()):
        assert torch.equal(p, q), f"{method}: parameter {name} differs after resume"
    assert resumed.metric_curve("train/loss") == full_result.metric_curve("train/loss")
