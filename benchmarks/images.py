"""Benchmark: image models on Multi-MNIST with unseen test digits, and MTAN vs HPS step cost.

Data: :func:`tasklens.data.multi_mnist` images ``(1, 36, 36)``; training images from the
"train" part of the digit pool, test images from the held-out "test" part
(``pool_part``), so no test digit instance was seen in training.

Part 1 (accuracy): per configuration and seed, a model is trained with
:class:`tasklens.train.Trainer` (Adam, lr 1e-3, batch 128) and evaluated on the test set
(:func:`tasklens.train.evaluate`, eval mode). Configurations: HPS with the default image
encoder (:class:`~tasklens.nn.SmallResNet`), with the 003 disentanglement encoder
(``image_encoder="beta_vae"``), with a LeNet (``"lenet"``), all with the default heads, and
MTAN (default widths) — with EW, and the ResNet-HPS and MTAN also with UPGrad. The table
gives test accuracy per task (mean ± std over seeds) and the mean time per epoch (training
steps plus the Trainer's bookkeeping), with its ratio to ResNet-HPS + EW (or to the first
configuration run when that one is left out).

Part 2 (step cost): the median time of one forward + backward of the summed task losses of
128 images (no optimiser), per model, with its ratio to the ResNet HPS. Part 1 also gives
the time per training step of each (model, method) (time per epoch / steps per epoch, so it
includes the balancing method's own cost: UPGrad's Gramian and solve).

Part 2b (``--paired-steps R``): the time per training step of HPS (ResNet) and MTAN under
EW and UPGrad, measured in R interleaved rounds (each round times one 4-step epoch of
every (model, method) in turn, so that a change of machine load hits all of them alike);
the table gives the median ms per step and the median over rounds of the per-round ratio
UPGrad / EW of the same model.

Part 3 (colour shortcut, ``--colored``): the default image model (``hps_for``, SmallResNet)
against the small conv HPS of the CORE-MTL stress test
(:mod:`tasklens.studies.core_mtl_shortcut`), both EW, trained on the source domain of
:func:`tasklens.data.colored_digits` (a seeded 75/25 split, Adam lr 3e-3, batch 64) and
tested on the held-out digits in the source and the target (class → colour map permuted)
domains.

Mean ± standard error over seeds.

Run::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/images.py [--quick] [--seeds 0 1 2]
        [--n-train 3000] [--n-test 1000] [--epochs 3] [--colored] [--colored-epochs 10]
        [--paired-steps 3] [--only {paired-steps,colored}]

The script sets ``torch.set_num_threads(1)``: the test machine is shared.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from tasklens.data import TaskSet, multi_mnist
from tasklens.nn import MTAN, hps_for, task_losses
from tasklens.train import Trainer, evaluate

TASKS = ("left", "right")
Builder = Callable[[TaskSet, int], torch.nn.Module]

MODELS: dict[str, Builder] = {
    "hps-resnet": lambda ts, s: hps_for(ts, seed=s),
    "hps-beta_vae": lambda ts, s: hps_for(ts, image_encoder="beta_vae", seed=s),
    "hps-lenet": lambda ts, s: hps_for(ts, image_encoder="lenet", seed=s),
    "mtan": lambda ts, s: MTAN(ts.input_shape, ts, seed=s),
}
CONFIGS: tuple[tuple[str, str], ...] = (
    ("hps-resnet", "ew"), ("hps-beta_vae", "ew"), ("hps-lenet", "ew"), ("mtan", "ew"),
    ("hps-resnet", "upgrad"), ("mtan", "upgrad"),
)


def _data(n_train: int, n_test: int, seed: int) -> tuple[TaskSet, TaskSet]:
    train = multi_mnist(n=n_train, seed=seed, pool_part="train")
    test = multi_mnist(n=n_test, seed=10_000 + seed, pool_part="test")
    return train, test


def _fit(model_name: str, method: str, train: TaskSet, test: TaskSet, epochs: int,
         seed: int) -> dict[str, Any]:
    model = MODELS[model_name](train, seed)
    result = Trainer(model, train, method, lr=1e-3, batch_size=128, seed=seed,
                     progress=False).fit(epochs)
    metrics = evaluate(model, test)
    times = [float(row["time_s"]) for row in result.history if "time_s" in row]
    epoch_s = float(np.mean(times)) if times else float("nan")
    return {"acc": [metrics[t]["accuracy"] for t in TASKS], "epoch_s": epoch_s,
            "step_ms": 1e3 * epoch_s / -(-len(train) // 128)}


COLORED_TASKS = {"digit": "accuracy", "parity": "binary_accuracy"}


def _fit_colored(model_name: str, seed: int, epochs: int) -> dict[str, Any]:
    from tasklens.studies.core_mtl_shortcut import build_model, shortcut_data

    train, src_test, tgt_test = shortcut_data(None, seed)
    model = (hps_for(train, seed=seed) if model_name == "hps-resnet"
             else build_model("ew", train, seed))
    result = Trainer(model, train, "ew", lr=3e-3, batch_size=64, seed=seed,
                     progress=False).fit(epochs)
    out: dict[str, Any] = {"epoch_s": float(np.mean(
        [float(r["time_s"]) for r in result.history if "time_s" in r]))}
    for domain, ts in (("source", src_test), ("target", tgt_test)):
        metrics = evaluate(model, ts)
        for task, key in COLORED_TASKS.items():
            out[f"{task} {domain}"] = float(metrics[task][key])
    return out


def _colored(seeds: list[int], epochs: int) -> None:
    names = {"hps-resnet": "HPS, SmallResNet (default)", "hps-conv": "HPS, conv (16, 32)"}
    print(f"\ncolored_digits, source -> target, EW, {epochs} epochs, seeds {seeds}")
    cols = [f"{t} {d}" for t in COLORED_TASKS for d in ("source", "target")]
    print("| model | " + " | ".join(cols) + " | digit gap | s / epoch |")
    print("|---" * (len(cols) + 3) + "|")
    for name, label in names.items():
        rows = [_fit_colored(name, s, epochs) for s in seeds]
        gap = [r["digit source"] - r["digit target"] for r in rows]
        print(f"| {label} | " + " | ".join(_pm([r[c] for r in rows]) for c in cols)
              + f" | {_pm(gap)} | {np.mean([r['epoch_s'] for r in rows]):.2f} |", flush=True)


def _step_ms(model: torch.nn.Module, ts: TaskSet, repeats: int) -> float:
    x = torch.from_numpy(ts.inputs[:128])
    y = {t: torch.from_numpy(np.asarray(ts[t].targets[:128])) for t in TASKS}
    model.train()
    out = []
    for i in range(repeats + 1):
        start = time.perf_counter()
        model.zero_grad()
        task_losses(ts, model(x), y).sum().backward()
        if i:  # the first is a warm-up
            out.append(1e3 * (time.perf_counter() - start))
    return statistics.median(out)


def _paired_steps(rounds: int) -> None:
    ts = _data(4 * 128, 16, 0)[0]
    pairs = [(m, meth) for m in ("hps-resnet", "mtan") for meth in ("ew", "upgrad")]
    ms: dict[tuple[str, str], list[float]] = {p: [] for p in pairs}
    for _ in range(rounds + 1):
        for name, method in pairs:
            model = MODELS[name](ts, 0)
            start = time.perf_counter()
            Trainer(model, ts, method, batch_size=128, seed=0, progress=False).fit(1)
            ms[(name, method)].append(1e3 * (time.perf_counter() - start) / 4)
    print(f"\n| model | method | ms per step (median of {rounds} rounds) | UPGrad / EW "
          "(median of per-round ratios) |")
    print("|---|---|---|---|")
    for name, method in pairs:
        times = ms[(name, method)][1:]  # the first round is a warm-up
        ratio = statistics.median(u / e for u, e in zip(times, ms[(name, "ew")][1:]))
        print(f"| {name} | {method} | {statistics.median(times):.0f} | "
              f"{ratio:.2f}× |", flush=True)


def _pm(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    se = np.std(values, ddof=1) / np.sqrt(len(values))
    return f"{np.mean(values):.3f} ± {se:.3f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--methods", nargs="+", default=["ew", "upgrad"],
                        help="balancing methods of the configurations to run")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS),
                        help="models of the configurations to run")
    parser.add_argument("--no-step-times", action="store_true")
    parser.add_argument("--colored", action="store_true",
                        help="also run part 3 (colored digits, source vs target)")
    parser.add_argument("--colored-epochs", type=int, default=10)
    parser.add_argument("--paired-steps", type=int, default=0, metavar="R",
                        help="part 2b: R interleaved rounds of EW/UPGrad step timings")
    parser.add_argument("--only", choices=["paired-steps", "colored"],
                        help="run only that part")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check it runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test, args.epochs, args.repeats = 256, 128, 1, 2
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, numpy {np.__version__}, Python "
          f"{platform.python_version()}, 1 thread; n_train={args.n_train}, "
          f"n_test={args.n_test} (unseen digits), epochs={args.epochs}, seeds={args.seeds}")

    if args.only == "paired-steps":
        _paired_steps(args.paired_steps or 3)
        return
    if args.only == "colored":
        _colored(args.seeds, args.colored_epochs)
        return
    configs = [c for c in CONFIGS if c[1] in args.methods and c[0] in args.models]
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {c: [] for c in configs}
    for seed in args.seeds:
        train, test = _data(args.n_train, args.n_test, seed)
        for model_name, method in configs:
            runs[(model_name, method)].append(
                _fit(model_name, method, train, test, args.epochs, seed))
            print(f"seed {seed} {model_name} {method}: {runs[(model_name, method)][-1]}",
                  flush=True)
    base_rows = runs.get(("hps-resnet", "ew")) or next(iter(runs.values()))
    base = np.mean([r["epoch_s"] for r in base_rows])
    print("\n| model | method | test acc left | test acc right | s / epoch (× first row) "
          "| ms / step |")
    print("|---|---|---|---|---|---|")
    for (model_name, method), rows in runs.items():
        epoch = np.mean([r["epoch_s"] for r in rows])
        step = np.mean([r["step_ms"] for r in rows])
        print(f"| {model_name} | {method} | {_pm([r['acc'][0] for r in rows])} | "
              f"{_pm([r['acc'][1] for r in rows])} | {epoch:.2f} ({epoch / base:.2f}×) "
              f"| {step:.0f} |", flush=True)
    if args.paired_steps:
        _paired_steps(args.paired_steps)
    if args.colored:
        _colored(args.seeds, args.colored_epochs)

    if args.no_step_times:
        return
    ts = _data(128, 16, 0)[0]
    times = {name: _step_ms(build(ts, 0), ts, args.repeats) for name, build in MODELS.items()}
    print("\n| model | ms per forward+backward of 128 images (× ResNet-HPS) |")
    print("|---|---|")
    for name, ms in times.items():
        print(f"| {name} | {ms:.0f} ({ms / times['hps-resnet']:.2f}×) |")


if __name__ == "__main__":
    main()
