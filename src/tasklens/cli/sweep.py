"""``tasklens sweep``: the ground-truth pairwise gains (every task alone, every pair), as
resumable jobs on a process pool or Ray (thin: parse, check, call, print)."""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape

from ._common import check_output_dir, cli_errors, fail
from .analyze import Data, Executor, Inputs, MaxRows, RayAddress, Tasks, Workers

console = Console(stderr=True)

SweepOut = Annotated[Path, typer.Option("--out", help="Output folder (job files, "
                                        "ground_truth.json, CSVs, gains.png).")]
SplitSeed = Annotated[int, typer.Option("--seed", help="Split seed and first training seed.")]
NSeeds = Annotated[int, typer.Option("--seeds", help="Replicates of every training.")]
SweepEpochs = Annotated[int, typer.Option("--epochs", help="Epochs of every training.")]


def prepare(data: str | None, task: list[str] | None, inputs: str | None, out: Path,
            seed: int, seeds: int, epochs: int, max_rows: int | None, executor: str | None,
            workers: int | None, ray_address: str | None) -> tuple[Any, Any, Any]:
    """Check every option and load the data; nothing is written. Returns (data, gain
    settings, executor settings)."""
    from .._common.validation import check_scalar
    from ..affinity.gains import GainSettings
    from ..analysis import load_data
    from ..analysis.executor import ExecutorSettings

    ex = ExecutorSettings.resolve(executor, workers, ray_address)
    check_scalar(seed, "--seed", numbers.Integral, low=0)
    check_scalar(seeds, "--seeds", numbers.Integral, low=1, high=20)
    check_scalar(epochs, "--epochs", numbers.Integral, low=1, high=10_000)
    check_scalar(max_rows, "--max-rows", numbers.Integral, low=20, allow_none=True)
    settings = GainSettings(epochs=epochs, split_seed=seed)
    check_output_dir(out)
    loaded = load_data(data, task, inputs, max_rows=max_rows, seed=seed)
    return loaded, settings, ex


def gains_figure(truth: Any, path: Path) -> Path:
    """Metric and loss gains side by side (row: target task, column: partner)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..report.affinity_figures import plot_task_matrix

    k = len(truth.task_names)
    fig, axes = plt.subplots(1, 2, figsize=(2 * max(4.0, 0.9 * k + 2), max(3.5, 0.8 * k + 1.5)))
    plot_task_matrix(truth.metric_gain, ax=axes[0], center=0.0, symmetric=False,
                     title="metric gain (a with b − a alone)")
    plot_task_matrix(truth.loss_gain, ax=axes[1], center=0.0, symmetric=False,
                     title="relative loss decrease")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
    return path


@cli_errors
def sweep(data: Data = None, task: Tasks = None, inputs: Inputs = None,
          out: SweepOut = Path("tasklens-sweep"), seed: SplitSeed = 0, seeds: NSeeds = 1,
          epochs: SweepEpochs = 5, max_rows: MaxRows = None, executor: Executor = None,
          workers: Workers = None, ray_address: RayAddress = None) -> None:
    """Measured pairwise gains: every task alone and every pair, per seed (resumable: a
    rerun with the same options runs only the missing trainings)."""
    from ..affinity.gains import SweepError, ground_truth_sweep

    loaded, settings, ex = prepare(data, task, inputs, out, seed, seeds, epochs, max_rows,
                                   executor, workers, ray_address)
    ts = loaded.taskset
    k = ts.n_tasks
    n_jobs = seeds * (k + k * (k - 1) // 2)
    console.print(f"[bold]tasklens sweep[/] {escape(ts.name)}: {ts.n_samples:,} rows, {k} "
                  f"tasks, {n_jobs} trainings; executor {ex.executor}"
                  + (f" ({ex.workers} workers)" if ex.executor != "serial" else ""))
    for note in loaded.notes:
        console.print(f"  note: {escape(note)}")
    try:
        truth = ground_truth_sweep(loaded.split(settings.test_size, settings.split_seed),
                                   out, seeds=range(seed, seed + seeds), settings=settings,
                                   workers=min(ex.workers, n_jobs), backend=ex.executor,
                                   worker_threads=None if ex.executor == "serial" else 1,
                                   ray_address=ex.ray_address)
    except SweepError as exc:
        raise fail(str(exc), 1) from None
    except KeyboardInterrupt:
        raise fail(f"interrupted; finished trainings are kept in {out}; rerun the same "
                   "command to run only the missing ones", 130) from None
    figure = gains_figure(truth, out / "gains.png")
    values = np.array(truth.metric_gain.values, dtype=float)
    np.fill_diagonal(values, np.nan)
    if np.isfinite(values).any():
        i, j = np.unravel_index(np.nanargmax(values), values.shape)
        a, b = truth.task_names[i], truth.task_names[j]
        console.print(f"  largest gain: {escape(a)} with {escape(b)} ({values[i, j]:+.3g} "
                      f"in {escape(truth.metrics[a])})")
    console.print(f"wrote {escape(str(out / 'ground_truth.json'))}, "
                  f"{escape(str(figure))}, CSVs in {escape(str(out))}")
