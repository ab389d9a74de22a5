"""Run under torchrun by tests/train/test_torchrun.py: one Trainer per case, each process
on its share of the batch; rank 0 saves the parameters and the history of every case."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from tasklens.train import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import tiny_model, tiny_taskset

# (method, level): parameter and representation level; FAMO's post-step update
CASES = (("ew", "parameter"), ("mgda", "parameter"), ("upgrad", "parameter"),
         ("pcgrad", "parameter"), ("pcgrad", "representation"),
         ("famo", "parameter"), ("gradnorm", "parameter"), ("gradnorm", "representation"),
         ("mgda", "representation"), ("upgrad", "representation"))
N, EPOCHS = 48, 2  # 48 samples, global batch 16: 3 steps per epoch
MAX_STEPS = 4  # a cap inside the second epoch: global steps, so every process stops at it


def build(method: str, level: str, batch_size: int, **kwargs: object) -> Trainer:
    ts = tiny_taskset(N, seed=3)
    return Trainer(tiny_model(ts, seed=1), ts, method, level=level, optimizer="sgd", lr=0.05,
                   batch_size=batch_size, seed=7, val=tiny_taskset(20, seed=4), **kwargs)


def snapshot(trainer: Trainer) -> dict[str, object]:
    return {"params": {k: v.detach().clone() for k, v in trainer.model.state_dict().items()},
            "history": [{k: v for k, v in row.items() if k != "time_s"}
                        for row in trainer.history]}


def main(out: Path) -> None:
    results = {}
    for method, level in CASES:
        trainer = build(method, level, batch_size=8)
        trainer.fit(EPOCHS)
        results[f"{method}/{level}"] = snapshot(trainer)
    capped = build("famo", "parameter", batch_size=8)
    capped.fit(EPOCHS, max_steps=MAX_STEPS)
    steps: list[object] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(steps, capped.step)
    results["capped"] = {**snapshot(capped), "steps": steps}
    # one epoch with a checkpoint (rank 0 writes it), resumed in one process by the test
    build("upgrad", "parameter", 8, checkpoint_dir=out / "ckpt", log_dir=out / "logs").fit(1)
    try:  # needs the representation Jacobian: refused before training
        build("graddrop", "representation", 8)
    except ValueError as exc:
        results["refused"] = str(exc)
    if trainer.is_main:
        torch.save(results, out / "results.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
