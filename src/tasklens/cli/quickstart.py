"""``tasklens quickstart``: the main job on a built-in data set, end to end."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ..data.builtin import load_builtin
from .data import print_summary

console = Console()


def quickstart(
    out: Path = typer.Option(Path("quickstart-output"), "--out", help="Output folder."),
    dataset: str = typer.Option("multi_digits", "--data", help="Built-in data set to analyse."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Load a built-in task set, summarize its tasks and write figures to OUT."""
    from ..report.figures import plot_taskset_overview, save_figure

    taskset = load_builtin(dataset, seed=seed) if dataset != "yeast" else load_builtin(dataset)
    print_summary(taskset)
    path = save_figure(plot_taskset_overview(taskset, seed=seed), out / f"{dataset}_samples.png")
    console.print(f"wrote {path}")
