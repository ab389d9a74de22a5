"""Benchmark: CORE-MTL's inference and training cost against the plain model.

001 (Wu, Zou, Wu and Wang 2026, arXiv:2606.02221, Section 3.1 and App. E) states that the
decoder and the counterfactual pathway are training-only, so inference costs what the
plain model costs. Measured here on one CPU thread, in one process:

- ``plain``: hard parameter sharing (:func:`tasklens.nn.hps_for`) with the same encoder,
  its code of size ``semantic_dim`` read by the same heads (the baseline);
- ``CORE-MTL soft`` / ``hard``: :func:`tasklens.nn.dual_stream_for` with the generic
  decoder (eq. 15) or the Lambertian decoder (eq. 13), with the default (Maziarka et al. 2022 Table
  2)
  decoder channels and with light ones.

Columns: parameters used at inference / in total, seconds per inference batch
(``model(x)`` under ``torch.no_grad`` in eval mode, best of ``--repeats``), seconds per
training step (forward, every loss of eq. 16 or the task losses, backward, Adam step) and
the ratios to the plain model.

With ``--probe``: where does a perfect shortcut go? Each model (plain, soft, hard) is
trained with equal weighting on ``shaded_shapes(shortcut=1)`` (object hue fixed by shape),
then evaluated on the target domain (hue map permuted) and on shortcut-free data
(``shortcut=0``), where :func:`tasklens.studies.stream_probe` reads the hue from each stream.

Run: ``.venv/bin/python benchmarks/core_mtl.py`` (``--quick`` for a short run;
``--probe --epochs 20 --seed 0`` for the probe).
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from tasklens.data import shaded_shapes
from tasklens.nn import DualStreamModel, dual_stream_for, hps_for, task_losses
from tasklens.studies import stream_probe
from tasklens.train import Trainer, evaluate


def _interleaved(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Best time of each function over ``repeats`` rounds that run every function once."""
    for fn in fns.values():
        fn()  # warm-up
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def _inference(model: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        model.eval()
        with torch.no_grad():
            model(x)

    return run


def _inference_params(model: torch.nn.Module) -> int:
    if isinstance(model, DualStreamModel):
        parts = [model.backbone, model.semantic, model.heads]
        return sum(p.numel() for m in parts for p in m.parameters())
    return sum(p.numel() for p in model.parameters())


def _train_step(model: torch.nn.Module, ts: Any, x: torch.Tensor, y: dict,
                opt: torch.optim.Optimizer) -> Callable[[], None]:
    def step() -> None:
        model.train()
        opt.zero_grad()
        if isinstance(model, DualStreamModel):
            loss = model.core_losses(x, y, ts, seed=0).total()
        else:
            loss = task_losses(ts, model(x), y).sum()
        loss.backward()
        opt.step()

    return step


def probe(epochs: int, seed: int) -> None:
    """Train plain / soft / hard on the shortcut; target accuracy and hue probes."""
    src = shaded_shapes(1024, size=16, shortcut=1.0, seed=seed)
    tgt = shaded_shapes(512, size=16, domain="target", shortcut=1.0,
                        seed=100 + seed).encode_like(src)
    free = shaded_shapes(1024, size=16, shortcut=0.0, seed=200 + seed).encode_like(src)
    common = {"channels": (8, 16, 16, 32), "head_hidden": 32, "head_depth": 2, "seed": seed}
    dual = {"feature_dim": 32, "semantic_dim": 12, "residual_dim": 8,
            "decoder_channels": (32, 16, 8, 8)}
    models = {"plain (HPS)": hps_for(src, code_dim=12, **common),
              "CORE-MTL soft": dual_stream_for(src, grounding="soft", **dual, **common),
              "CORE-MTL hard": dual_stream_for(src, grounding="hard", **dual, **common)}
    print(f"# probe: shaded_shapes 16x16, shortcut 1 (hue by shape), EW, Adam lr 3e-3, "
          f"batch 64, {epochs} epochs, seed {seed}")
    print("| model | source shape acc | target shape acc | shortcut-free shape acc | "
          "hue probe z_s | hue probe z_r | chance |")
    print("|---|---|---|---|---|---|---|")
    for name, model in models.items():
        Trainer(model, src, "ew", batch_size=64, lr=3e-3, seed=seed).fit(epochs)
        acc = {k: evaluate(model, ts)["shape"]["accuracy"] for k, ts in
               (("src", src), ("tgt", tgt), ("free", free))}
        if isinstance(model, DualStreamModel):
            p = stream_probe(model, free, "object_hue", seed=seed)
            zs, zr, chance = f"{p.semantic:.3f}", f"{p.residual:.3f}", f"{p.chance:.3f}"
        else:
            zs, zr, chance = "—", "—", "—"
        print(f"| {name} | {acc['src']:.3f} | {acc['tgt']:.3f} | {acc['free']:.3f} | {zs} | "
              f"{zr} | {chance} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.probe:
        probe(args.epochs, args.seed)
        return
    if args.quick:
        args.size, args.batch, args.repeats = 16, 64, 6
    torch.set_num_threads(1)
    ts = shaded_shapes(args.batch, size=args.size, seed=0)
    x, y = next(iter(ts.dataloader(args.batch, shuffle=False)))
    common = {"head_hidden": 64, "head_depth": 2, "seed": 0}
    models = {
        "plain (HPS)": hps_for(ts, code_dim=32, **common),
        "CORE-MTL soft": dual_stream_for(ts, feature_dim=32, semantic_dim=32,
                                         residual_dim=16, **common),
        "CORE-MTL hard": dual_stream_for(ts, feature_dim=32, semantic_dim=32,
                                         residual_dim=16, grounding="hard", **common),
    }
    light = tuple(max(8, 64 >> i) for i in range(int(np.log2(args.size))))
    for grounding in ("soft", "hard"):
        models[f"CORE-MTL {grounding}, decoder {light}"] = dual_stream_for(
            ts, feature_dim=32, semantic_dim=32, residual_dim=16, grounding=grounding,
            decoder_channels=light, **common)
    # interleaved: every repeat times each model once, so machine load hits all alike
    infer_fns, train_fns = {}, {}
    for name, model in models.items():
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        infer_fns[name] = _inference(model, x)
        train_fns[name] = _train_step(model, ts, x, y, opt)
    infer = _interleaved(infer_fns, args.repeats)
    train = _interleaved(train_fns, max(2, args.repeats // 3))
    rows = [(name, _inference_params(m), sum(p.numel() for p in m.parameters()),
             infer[name], train[name]) for name, m in models.items()]
    base_inf, base_train = rows[0][3], rows[0][4]
    print(f"# core_mtl benchmark — {platform.processor() or platform.machine()}, torch "
          f"{torch.__version__}, numpy {np.__version__}, 1 thread; shaded_shapes "
          f"{args.size}×{args.size}, batch {args.batch}, best of {args.repeats} (inference), "
          f"{max(2, args.repeats // 3)} (training), interleaved")
    print("| model | params at inference | params in total | inference s/batch | ratio | "
          "train s/step | ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, p_inf, p_tot, inf, tr in rows:
        print(f"| {name} | {p_inf:,} | {p_tot:,} | {inf:.4f} | {inf / base_inf:.2f} | "
              f"{tr:.4f} | {tr / base_train:.2f} |")


if __name__ == "__main__":
    main()
