"""Benchmark: time (and, on CUDA, peak memory) of one balanced training step vs K tasks.

An MLP encoder with about 1M shared parameters (128 → 1024 → 768 → 128, ReLU), one linear
regression head per task, batch 256, synthetic targets. For each method and K, one step =
forward, balancing, one backward and an Adam step (FAMO: plus its post-step re-forward),
measured these ways:

- ``engine/param``: :func:`tasklens.balance.engine.backward` at ``level="parameter"``;
- ``engine/kernel`` (methods that read only the Gramian and return weights): the same
  parameter-level step given a :class:`~tasklens.balance.LinearRecorder` of the encoder's
  forward, as the Trainer runs it — the Gramian comes from
  :func:`tasklens.balance.kernel_gramian.linear_kernel_gramian` (one batched backward to the
  layer outputs, no per-task weight gradients), then one backward of Σ w_k L_k;
- ``engine/repr``: representation level as the Trainer runs it — each head reads its own
  detached copy of z, so one backward through the heads gives every ∂L_k/∂z
  (:func:`tasklens.balance.engine.backward_split`);
- ``torchjd``: TorchJD's ``autojac.mtl_backward`` + ``jac_to_grad`` with TorchJD's own
  aggregator of the same name (methods both libraries implement; test extra ``torchjd``);
- ``torchjd/gram``: TorchJD's hook-based ``autogram.Engine`` on the encoder (created once, its
  hooks active during the forward): ``compute_gramian(losses)``, the weights of TorchJD's
  ``<Name>Weighting`` from that Gramian, then ``losses.backward(weights)``;
- ``loop``: a plain per-task loop (K ``autograd.grad`` calls to the shared parameters, the
  method's weights from the stacked Jacobian, then one backward of Σ w_k L_k) — the way
  older MTL libraries do it.

Ratios are against EW with the engine, measured in the same run at the same K. Loss-only
methods (EW, FAMO) compute no task gradients, so their three rows differ only by noise
(the loop row still computes the K gradients, as a naive loop would).

Run: ``.venv/bin/python benchmarks/balance_methods.py [--quick] [--device cuda] [--memory]
[--clock thread]`` (``--clock thread``: CPU time of the one thread instead of wall clock, for a
machine shared with other jobs; each K's load average is printed).

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` during the timed steps. On the CPU,
``--memory`` measures instead the peak resident memory one step adds after a warm-up step
(``benchmarks/peak_memory.py``: the kernel's high-water mark, reset before the step, with
glibc's mmap threshold pinned so that freed tensors leave the resident set); pinning slows
allocation, so the times of a ``--memory`` run are not comparable — time and memory are
separate runs. Each row ends with its time relative to the per-task loop of the same method
and K (``× loop``: below 1 is faster). ``--interleave`` times every method and mode of a K
round-robin (step s of each before step s + 1 of any), so that the ratios are not skewed by
load that drifts during the run.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from types import ModuleType

import numpy as np
import torch
from torch import nn

from tasklens import balance
from tasklens.balance import BalanceContext
from tasklens.balance.engine import backward, backward_split
from tasklens.balance.kernel_gramian import LinearRecorder

try:  # run as a script (benchmarks/ on sys.path) or imported as benchmarks.balance_methods
    from peak_memory import peak_rss, pin_mmap_threshold
except ModuleNotFoundError:
    from benchmarks.peak_memory import peak_rss, pin_mmap_threshold

METHODS = ("ew", "pcgrad", "mgda", "cagrad", "nash_mtl", "upgrad", "gradnorm", "famo")
# TorchJD aggregators for the methods both libraries implement (CAGrad and NashMTL need cvxpy
# in TorchJD, which is not installed).
TORCHJD = {"ew": "Sum", "pcgrad": "PCGrad", "mgda": "MGDA", "upgrad": "UPGrad"}
#: The timer of the timed steps: wall clock by default; ``--clock thread`` switches to the CPU
#: time of the calling thread (with one thread, what the step itself used, robust to a shared
#: machine whose other jobs take turns on the cores).
CLOCK: list[Callable[[], float]] = [time.perf_counter]


class Net(nn.Module):
    def __init__(self, k: int, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.encoder = nn.Sequential(nn.Linear(128, 1024), nn.ReLU(), nn.Linear(1024, 768),
                                     nn.ReLU(), nn.Linear(768, 128))
        self.heads = nn.ModuleList(nn.Linear(128, 1) for _ in range(k))
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) / max(1, p.shape[-1]) ** 0.5)

    def losses(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder(x)
        out = torch.cat([h(z) for h in self.heads], dim=1)
        return ((out - y) ** 2).mean(dim=0), z

    def split_losses(self, x: torch.Tensor, y: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Each head reads its own detached copy of z (what the Trainer does at
        representation level)."""
        z = self.encoder(x)
        leaves = [z.detach().requires_grad_() for _ in self.heads]
        out = torch.cat([h(leaf) for h, leaf in zip(self.heads, leaves)], dim=1)
        return ((out - y) ** 2).mean(dim=0), z, leaves


def one_step(mode: str, net: Net, method: balance.BalanceMethod, opt: torch.optim.Optimizer,
             x: torch.Tensor, y: torch.Tensor, step: int) -> None:
    opt.zero_grad(set_to_none=True)
    shared = list(net.encoder.parameters())
    if mode == "engine/kernel":
        recorder = LinearRecorder(net.encoder)
        with recorder:
            losses, z = net.losses(x, y)
    elif mode != "engine/repr":
        losses, z = net.losses(x, y)
    if mode == "engine/kernel":
        backward(losses, z, method, shared_params=shared, level="parameter", step=step,
                 recorder=recorder)
        recorder.clear()
    elif mode == "loop":
        rows = []
        for loss in losses:
            grads = torch.autograd.grad(loss, shared, retain_graph=True)
            rows.append(torch.cat([g.reshape(-1) for g in grads]))
        jac = torch.stack(rows)
        ctx = BalanceContext(losses=losses.detach(), jacobian=jac, step=step, level="parameter")
        if method.output == "weights":
            w = method.weights(ctx)
            (w.detach() * losses).sum().backward()
        if not method.post_step_update:
            method.update(ctx)
    elif mode == "torchjd/gram":
        gram = net.autogram.compute_gramian(losses)
        losses.backward(getattr(aggregation_module(), TORCHJD[method.name] + "Weighting")()(gram))
    elif mode == "torchjd":
        from torchjd import aggregation
        from torchjd.autojac import jac_to_grad, mtl_backward

        mtl_backward(list(losses), features=z, shared_params=shared, retain_graph=True)
        jac_to_grad(shared, getattr(aggregation, TORCHJD[method.name])())
    elif mode == "engine/repr":
        losses, z, leaves = net.split_losses(x, y)
        backward_split(losses, z, leaves, method, step=step)
    else:
        backward(losses, z, method, shared_params=shared, level="parameter", step=step)
    opt.step()
    if method.post_step_update:
        with torch.no_grad():
            after, _ = net.losses(x, y)
        method.update(BalanceContext(losses=after, step=step))


def aggregation_module() -> ModuleType:
    """``torchjd.aggregation`` (imported on use: TorchJD is an optional dependency)."""
    from torchjd import aggregation

    return aggregation


def make_net(k: int, mode: str, device: torch.device) -> Net:
    """A fresh model; for ``torchjd/gram`` with TorchJD's autogram engine hooked on the
    encoder (before any forward, as TorchJD requires)."""
    net = Net(k).to(device)
    if mode == "torchjd/gram":
        from torchjd.autogram import Engine

        net.autogram = Engine(net.encoder, batch_dim=None)
    return net


def _gramian_only(method: balance.BalanceMethod) -> bool:
    """Whether the kernel Gramian can feed ``method`` (weights from the Gramian alone)."""
    return (method.output == "weights" and "gramian" in method.requires
            and "jacobian" not in method.requires and "parameter" in method.levels)


def modes_of(name: str) -> list[str]:
    """The modes measured for a method, the per-task loop first."""
    modes = ["loop", "engine/param", "engine/repr"]
    if _gramian_only(balance.get(name)):
        modes.insert(2, "engine/kernel")
    if name in TORCHJD and _has_torchjd():
        modes.insert(3, "torchjd")
        modes.insert(4, "torchjd/gram")
    return modes


def interleaved(k: int, methods: tuple[str, ...], x: torch.Tensor, y: torch.Tensor,
                steps: int, device: torch.device) -> None:
    """Time every (method, mode) of one K round-robin: step s of every configuration runs
    before step s + 1 of any, so that load drifting on a shared machine hits all alike."""
    configs = []
    for name in methods:
        for mode in modes_of(name):
            net = make_net(k, mode, device)
            method = balance.get(name)
            opt = torch.optim.Adam(net.parameters(), lr=1e-4)
            configs.append((name, mode, lambda s, n=net, m=method, o=opt, md=mode:
                            one_step(md, n, m, o, x, y, s)))
    times: dict[tuple[str, str], list[float]] = {(n, md): [] for n, md, _ in configs}
    for _, _, fn in configs:
        fn(0)
    for s in range(1, steps + 1):
        for name, mode, fn in configs:
            start = CLOCK[0]()
            fn(s)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times[(name, mode)].append(CLOCK[0]() - start)
    med = {key: float(np.median(v)) for key, v in times.items()}
    ew = med[("ew", "engine/param")]
    for name, mode, _ in configs:
        sec = med[(name, mode)]
        print(f"{k:>3} {name:>9} {mode:>13} {1e3 * sec:>9.1f} {sec / ew:>7.2f} {'-':>9} "
              f"{sec / med[(name, 'loop')]:>7.2f}", flush=True)


def _has_torchjd() -> bool:
    try:
        import torchjd  # noqa: F401
    except ImportError:
        return False
    return True


def measure(fn: Callable[[int], None], steps: int, device: torch.device,
            cpu_memory: bool = False) -> tuple[float, float]:
    """Median seconds per step after one warm-up step, and peak MiB (CUDA, or the CPU's
    resident high-water mark of one step with ``cpu_memory``) or NaN."""
    fn(0)
    if cpu_memory and device.type == "cpu":
        start = time.perf_counter()
        with peak_rss() as peak:
            fn(1)
        return time.perf_counter() - start, peak.mib
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for s in range(1, steps + 1):
        start = CLOCK[0]()
        fn(s)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(CLOCK[0]() - start)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else np.nan
    return float(np.median(times)), peak


def _load() -> str:
    """The 1, 5 and 15 minute load averages (the machine may be shared)."""
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def _set_clock(parser: argparse.ArgumentParser, clock: str, device: torch.device) -> None:
    if clock == "thread":
        if torch.get_num_threads() != 1 or device.type != "cpu":
            parser.error("--clock thread needs the CPU and one thread (OMP_NUM_THREADS=1)")
        CLOCK[0] = time.thread_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="K in {2, 5}, 3 steps")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--ks", default=None, help="comma-separated K values (e.g. 40)")
    parser.add_argument("--methods", default=None, help="comma-separated subset of "
                        + ",".join(METHODS))
    parser.add_argument("--interleave", action="store_true",
                        help="time all methods and modes of a K round-robin (robust ratios "
                        "on a loaded machine)")
    parser.add_argument("--clock", choices=("wall", "thread"), default="wall",
                        help="wall clock, or this thread's CPU time (needs one thread; robust "
                        "when other jobs share the cores)")
    parser.add_argument("--memory", action="store_true",
                        help="CPU: peak resident memory of one step (times not comparable)")
    args = parser.parse_args()
    methods = tuple(args.methods.split(",")) if args.methods else METHODS
    if "ew" not in methods:
        methods = ("ew", *methods)
    if args.memory and not pin_mmap_threshold():
        print("# could not pin glibc's mmap threshold: CPU peaks may be under-counted")
    device = torch.device(args.device)
    _set_clock(parser, args.clock, device)
    ks = (2, 5) if args.quick else (2, 5, 10, 20, 40)
    if args.ks:
        ks = tuple(int(v) for v in args.ks.split(","))
    steps = args.steps or (3 if args.quick else 10)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"numpy {np.__version__}, threads {torch.get_num_threads()}, device {device}, "
          f"clock {args.clock}")
    shared_params = sum(p.numel() for p in Net(1).encoder.parameters())
    print(f"# shared parameters: {shared_params:,}; batch 256; median of {steps} steps")
    print(f"{'K':>3} {'method':>9} {'mode':>13} {'ms/step':>9} {'vs EW':>7} {'peak MiB':>9} "
          f"{'x loop':>7}")
    for k in ks:
        print(f"# K = {k}: load average {_load()}", flush=True)
        gen = torch.Generator().manual_seed(k)
        x = torch.randn(256, 128, generator=gen).to(device)
        y = torch.randn(256, k, generator=gen).to(device)
        if args.interleave:
            interleaved(k, methods, x, y, steps, device)
            continue
        ew_time = None
        for name in methods:
            modes = modes_of(name)
            loop_time = None
            for mode in modes:
                net = make_net(k, mode, device)
                method = balance.get(name)
                opt = torch.optim.Adam(net.parameters(), lr=1e-4)
                try:
                    sec, peak = measure(lambda s, n=net, m=method, o=opt, md=mode, xb=x, yb=y:
                                        one_step(md, n, m, o, xb, yb, s), steps, device,
                                        cpu_memory=args.memory)
                except (ValueError, RuntimeError) as exc:  # e.g. a solver failing at large K
                    print(f"{k:>3} {name:>9} {mode:>13}  failed: {exc}")
                    continue
                if name == "ew" and mode == "engine/param":
                    ew_time = sec
                if mode == "loop":
                    loop_time = sec
                ratio = sec / ew_time if ew_time else float("nan")
                vs_loop = sec / loop_time if loop_time else float("nan")
                peak_s = "-" if np.isnan(peak) else f"{peak:.0f}"
                print(f"{k:>3} {name:>9} {mode:>13} {1e3 * sec:>9.1f} {ratio:>7.2f} {peak_s:>9} "
                      f"{vs_loop:>7.2f}", flush=True)
    print(f"# end: load average {_load()}")


if __name__ == "__main__":
    main()
