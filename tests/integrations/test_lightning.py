"""tasklens balancing inside PyTorch Lightning (skipped without Lightning).

The reference is the tasklens Trainer (its own loop, and at representation level its own
gradient route, ``backward_split``): on the same model init and the same batches, the
parameters after a Lightning epoch must equal the Trainer's. Under Lightning's DDP strategy
(2 CPU processes, gloo), each process gets half of every batch; the parameters must equal
a single-process Trainer's on the whole batches.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pl = pytest.importorskip("lightning.pytorch")

from tasklens import balance  # noqa: E402
from tasklens.data import TaskSet  # noqa: E402
from tasklens.integrations.lightning import BalancedModule, ShardedBatches  # noqa: E402
from tasklens.nn import hps_for  # noqa: E402
from tasklens.train import Trainer, epoch_seed  # noqa: E402

LR, SEED = 0.1, 0


def make_taskset(n: int = 96) -> TaskSet:
    """Three tasks, two of them in conflict (s pulls against r), so methods differ."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    return TaskSet.from_arrays(
        x, {"r": x[:, 0] + x[:, 1], "s": -x[:, 0] - x[:, 1] + 0.5 * x[:, 2],
            "c": (x[:, 3] > 0).astype(int)},
        kinds={"r": "regression", "s": "regression", "c": "binary"}, name="conflict3")


def make_model(ts: TaskSet) -> torch.nn.Module:
    return hps_for(ts, hidden=(8,), code_dim=4, head_hidden=4, head_depth=1, seed=SEED)


def lightning_trainer(tmp_path: Path, max_epochs: int = 1, **kwargs) -> pl.Trainer:
    return pl.Trainer(max_epochs=max_epochs, accelerator="cpu", devices=1, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, use_distributed_sampler=False,
                      default_root_dir=tmp_path, **kwargs)


def tasklens_params(ts: TaskSet, method: str, batch_size: int, level: str | None = None,
                    epochs: int = 1) -> dict[str, torch.Tensor]:
    model = make_model(ts)
    Trainer(model, ts, method, optimizer="sgd", lr=LR, batch_size=batch_size, seed=SEED,
            level=level, progress=False).fit(epochs)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


# ----------------------------------------------------------------- one process
@pytest.mark.parametrize("method,level", [
    ("ew", None), ("pcgrad", None), ("upgrad", None),
    ("mgda", "representation"),  # the Trainer takes its split route there
    ("famo", None),  # learns after the step from the same batch's losses
])
def test_lightning_updates_equal_the_tasklens_trainers(tmp_path, method, level) -> None:
    ts = make_taskset()
    expected = tasklens_params(ts, method, batch_size=32, level=level)
    model = make_model(ts)
    module = BalancedModule(model, ts, method, level=level, optimizer="sgd", lr=LR)
    trainer = lightning_trainer(tmp_path)
    # the Trainer's first epoch, batch for batch
    trainer.fit(module, train_dataloaders=ts.dataloader(32, shuffle=True,
                                                        seed=epoch_seed(SEED, 0)))
    assert trainer.global_step == 3
    got = {k: v.detach() for k, v in model.state_dict().items()}
    assert max_diff(got, expected) < 1e-6
    initial = make_model(ts).state_dict()
    assert max_diff(got, initial) > 1e-2  # the parameters did move
    if method != "ew":  # and the method mattered: this is not the plain sum's update
        assert max_diff(got, tasklens_params(ts, "ew", batch_size=32)) > 1e-4
    logged = trainer.logged_metrics
    assert {"train/loss/r", "train/loss/s", "train/loss/c"} <= set(logged)
    assert ("train/weight/r" in logged) == (balance.get(method).output == "weights")


def test_two_epochs_follow_the_trainers_data_order(tmp_path) -> None:
    ts = make_taskset(64)
    model = make_model(ts)
    trainer = lightning_trainer(tmp_path, max_epochs=2)
    trainer.fit(BalancedModule(model, ts, "upgrad", optimizer="sgd", lr=LR),
                train_dataloaders=ShardedBatches(ts, 32, seed=SEED))
    assert trainer.global_step == 4
    expected = tasklens_params(ts, "upgrad", batch_size=32, epochs=2)
    assert max_diff(model.state_dict(), expected) < 1e-6
    # a different epoch order gives a different result (the order is really followed)
    shuffled = make_model(ts)
    lightning_trainer(tmp_path, max_epochs=2).fit(
        BalancedModule(shuffled, ts, "upgrad", optimizer="sgd", lr=LR),
        train_dataloaders=ShardedBatches(ts, 32, seed=SEED + 1))
    assert max_diff(shuffled.state_dict(), expected) > 1e-4


def test_sharded_batches_split_every_global_batch() -> None:
    ts = make_taskset(70)  # global batches of 32: 32, 32, 6 rows
    full = list(ts.dataloader(32, shuffle=True, seed=epoch_seed(SEED, 0)))
    parts = [list(ShardedBatches(ts, 16, seed=SEED, rank=r, world_size=2)) for r in (0, 1)]
    assert len(ShardedBatches(ts, 16, rank=0, world_size=2)) == 3 == len(parts[0])
    for (x, y), (x0, y0), (x1, y1) in zip(full, *parts):
        torch.testing.assert_close(torch.cat([x0, x1]), x, rtol=0, atol=0)
        torch.testing.assert_close(torch.cat([y0["c"], y1["c"]]), y["c"], rtol=0, atol=0)
    assert [len(x) for x, _ in parts[1]] == [16, 16, 3]
    with pytest.raises(ValueError, match="batch_size"):
        ShardedBatches(ts, 0)
    with pytest.raises(ValueError, match="rank 2"):
        list(ShardedBatches(ts, 8, rank=2, world_size=2))


def test_validation_losses_are_logged(tmp_path) -> None:
    ts = make_taskset(64)
    module = BalancedModule(make_model(ts), ts, "upgrad", lr=1e-3)
    trainer = lightning_trainer(tmp_path, limit_train_batches=1)
    trainer.fit(module, train_dataloaders=ts.dataloader(32, seed=0),
                val_dataloaders=ts.dataloader(64, shuffle=False))
    metrics = trainer.callback_metrics
    x, y = next(iter(ts.dataloader(64, shuffle=False)))
    from tasklens.nn.losses import task_losses  # an independent recomputation

    with torch.no_grad():
        expected = task_losses(ts, module.model(x), y)
    assert float(metrics["val/loss/s"]) == pytest.approx(float(expected[1]), rel=1e-5)
    assert float(metrics["val/loss"]) == pytest.approx(float(expected.sum()), rel=1e-5)


def test_bad_arguments_are_refused() -> None:
    ts = make_taskset(32)
    model = make_model(ts)
    with pytest.raises(ValueError, match="held-out batch"):
        BalancedModule(model, ts, "moml")
    with pytest.raises(ValueError, match="unknown optimizer"):
        BalancedModule(model, ts, "ew", optimizer="lbfgs")
    with pytest.raises(ValueError, match="unknown level"):
        BalancedModule(model, ts, "upgrad", level="layer")
    with pytest.raises(ValueError, match="lr"):
        BalancedModule(model, ts, "ew", lr=0.0)
    with pytest.raises(TypeError, match="encode"):
        BalancedModule(torch.nn.Linear(2, 2), ts, "ew")
    with pytest.raises(TypeError, match="BalanceMethod"):
        BalancedModule(model, ts, 3)
    model.auxiliary_losses = lambda x, z, outputs: {}  # terms it would silently drop
    with pytest.raises(ValueError, match="auxiliary_losses"):
        BalancedModule(model, ts, "ew")


# ----------------------------------------------------------------- DDP (2 processes)
DDP_SCRIPT = """
import os, sys
sys.path.insert(0, {tests_root!r})
import torch
import lightning.pytorch as pl
from tests.integrations.test_lightning import LR, SEED, make_model, make_taskset
from tasklens.integrations.lightning import BalancedModule, ShardedBatches

if __name__ == "__main__":
    torch.set_num_threads(1)
    ts = make_taskset(128)
    for method, level in {cases!r}:
        model = make_model(ts)
        module = BalancedModule(model, ts, method, level=level, optimizer="sgd", lr=LR)
        trainer = pl.Trainer(max_epochs=1, accelerator="cpu", devices=2, strategy="ddp",
                             logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False,
                             use_distributed_sampler=False, default_root_dir=sys.argv[1])
        # 32 per process: this process's half of each of the single-process batches of 64
        trainer.fit(module, train_dataloaders=ShardedBatches(ts, 32, seed=SEED))
        name = f"{{method}}-{{trainer.global_rank}}.pt"
        torch.save(model.state_dict(), os.path.join(sys.argv[1], name))
"""
DDP_CASES = (("ew", None), ("pcgrad", None), ("upgrad", None), ("mgda", "representation"))


def test_lightning_ddp_equals_one_process_on_the_whole_batch(tmp_path) -> None:
    """Lightning's own DDP strategy (it relaunches the script for rank 1) on 2 CPU processes
    with gloo: ~30 s on the shared 2-core machine, all cases in one launch."""
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available in this torch build")
    root = str(Path(__file__).resolve().parents[2])
    script = tmp_path / "ddp_run.py"
    script.write_text(DDP_SCRIPT.format(tests_root=root, cases=DDP_CASES))
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(root) / "src"), root,
                                          os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ts = make_taskset(128)
    for method, level in DDP_CASES:
        expected = tasklens_params(ts, method, batch_size=64, level=level)
        for rank in (0, 1):
            got = torch.load(tmp_path / f"{method}-{rank}.pt", weights_only=True)
            assert max_diff(got, expected) < 1e-6, (method, rank)
