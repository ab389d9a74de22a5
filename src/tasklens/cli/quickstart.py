"""``tasklens quickstart``: the main job on a built-in data set, end to end."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ..data.builtin import BUILTIN_DATASETS, load_builtin
from ._common import check_output_dir, cli_errors
from .data import print_summary
from .linear import run_linear_analysis

console = Console()


@cli_errors
def quickstart(
    out: Path = typer.Option(Path("quickstart-output"), "--out", help="Output folder."),
    dataset: str = typer.Option("multi_digits", "--data", help="Built-in data set to analyse."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Load a built-in task set, summarize its tasks, forecast how they interact with the
    linear theory of Anon. 2025, and write figures to OUT."""
    from ..report.figures import plot_taskset_overview, save_figure

    check_output_dir(out)
    if dataset not in BUILTIN_DATASETS:
        load_builtin(dataset)  # raises the error listing the available sets
    kwargs = {"seed": seed} if "seed" in BUILTIN_DATASETS[dataset].demo_kwargs else {}
    taskset = load_builtin(dataset, **kwargs)
    print_summary(taskset)
    path = save_figure(plot_taskset_overview(taskset, seed=seed), out / f"{dataset}_samples.png")
    console.print(f"wrote {path}")
    run_linear_analysis(taskset, out, dataset)
