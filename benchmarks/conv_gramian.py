"""Benchmark: the parameter-level step on a convolutional encoder through the exact kernel
route (``nn.Conv2d`` / batch-norm terms, :mod:`tasklens.balance._conv_gramian`) against the
per-task Jacobian route and EW, at K tasks.

Data: :func:`tasklens.data.multi_mnist` images ``(1, 36, 36)``. Model: the default image
encoder that :func:`tasklens.nn.hps_for` builds for them (:class:`~tasklens.nn.SmallResNet`:
3×3 convolutions without bias, batch norm, a final linear layer; ``--encoder lenet`` /
``beta_vae`` for the other two), and K linear heads on its code ``z``: task ``k`` classifies
the left digit for even ``k`` and the right digit for odd ``k`` (the two real tasks replicated,
each head with its own weights).

One step = forward, balancing, one backward and an Adam step, measured three ways:

- ``kernel``: :func:`tasklens.balance.engine.backward` at ``level="parameter"`` with UPGrad,
  given a recorder of the encoder's forward (the exact Gramian from the recorded layers);
- ``jacobian``: the same without the recorder (K task gradients of the shared parameters,
  then ``G = J Jᵀ``) — what every convolutional encoder used before;
- ``repr``: UPGrad at ``level="representation"`` (the K gradients ``∂L_k/∂z`` through the
  heads only, then one backward through the encoder) — for comparison;
- ``ew``: EW (one backward of the summed losses; no task gradient).

The three modes of one K are interleaved (step s of each before step s + 1 of any), so that
load drifting on the shared machine hits them alike; medians of ``--steps`` timed steps after
one warm-up step each. The first step's Gramians of the two UPGrad routes are compared
(largest difference relative to ``max |G|``).

Run::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/conv_gramian.py [--ks 2 10 40] [--batch 32]
        [--steps 5] [--encoder resnet]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch
from torch import nn

from tasklens import balance
from tasklens.balance.engine import backward
from tasklens.balance.kernel_gramian import LinearRecorder
from tasklens.data import multi_mnist
from tasklens.nn import hps_for

MODES = ("kernel", "jacobian", "repr", "ew")


class Setup:
    """Encoder, K heads, one batch, Adam, and the recorder of one mode."""

    def __init__(self, encoder_name: str, k: int, batch: int, seed: int = 0) -> None:
        ts = multi_mnist(n=batch, seed=seed)
        self.x = torch.as_tensor(ts.inputs)
        left, right = (torch.as_tensor(ts.targets[t]).long() for t in ("left", "right"))
        self.targets = [left if i % 2 == 0 else right for i in range(k)]
        self.encoder = hps_for(ts, image_encoder=encoder_name, seed=seed).encoder
        gen = torch.Generator().manual_seed(seed)
        d = self.encoder.out_features
        self.heads = nn.ModuleList(nn.Linear(d, 10) for _ in range(k))
        with torch.no_grad():
            for head in self.heads:
                head.weight.copy_(torch.randn(head.weight.shape, generator=gen) / d ** 0.5)
                head.bias.zero_()
        self.shared = list(self.encoder.parameters())
        self.optimizer = torch.optim.Adam([*self.shared, *self.heads.parameters()], lr=1e-4)
        self.recorder = LinearRecorder(self.encoder)

    def step(self, mode: str) -> torch.Tensor | None:
        self.optimizer.zero_grad(set_to_none=True)
        use_recorder = mode == "kernel"
        with self.recorder if use_recorder else torch.enable_grad():
            z = self.encoder(self.x)
        losses = torch.stack([nn.functional.cross_entropy(h(z), y)
                              for h, y in zip(self.heads, self.targets)])
        method = balance.get("ew" if mode == "ew" else "upgrad")
        level = "representation" if mode == "repr" else "parameter"
        result = backward(losses, z, method, shared_params=self.shared, level=level,
                          recorder=self.recorder if use_recorder else None)
        self.optimizer.step()
        self.recorder.clear()
        return None if result.gramian is None else result.gramian.detach()


def run_k(encoder: str, k: int, batch: int, steps: int) -> dict[str, object]:
    setups = {mode: Setup(encoder, k, batch) for mode in MODES}
    gramians = {mode: setups[mode].step(mode) for mode in MODES}          # warm-up
    ref = gramians["jacobian"]
    assert ref is not None and gramians["kernel"] is not None
    rel = float((gramians["kernel"] - ref).abs().max() / ref.abs().max())
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(steps):
        for mode in MODES:
            start = time.perf_counter()
            setups[mode].step(mode)
            times[mode].append(1e3 * (time.perf_counter() - start))
    med = {mode: statistics.median(v) for mode, v in times.items()}
    return {"k": k, "median_ms": med, "gramian_rel_diff": rel,
            "params": sum(p.numel() for p in setups["ew"].shared)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", type=int, nargs="+", default=[2, 10, 40])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--encoder", default="resnet", choices=["resnet", "lenet", "beta_vae"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"# torch {torch.__version__}, Python {platform.python_version()}, one thread; "
          f"load average at start {os.getloadavg()[0]:.1f}")
    print(f"# encoder {args.encoder}, batch {args.batch}, medians of {args.steps} steps")
    print("| K | UPGrad kernel ms | UPGrad Jacobian ms | UPGrad repr. ms | EW ms "
          "| Jacobian / kernel | kernel / EW | Jacobian / EW | repr. / EW | Gramian rel. diff |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for k in args.ks:
        row = run_k(args.encoder, k, args.batch, args.steps)
        m = row["median_ms"]
        assert isinstance(m, dict)
        print(f"| {k} | {m['kernel']:.0f} | {m['jacobian']:.0f} | {m['repr']:.0f} | "
              f"{m['ew']:.0f} | {m['jacobian'] / m['kernel']:.2f} | {m['kernel'] / m['ew']:.2f} | "
              f"{m['jacobian'] / m['ew']:.2f} | {m['repr'] / m['ew']:.2f} | "
              f"{row['gramian_rel_diff']:.1e} |", flush=True)
    print(f"# shared parameters {row['params']}; load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
