"""``tasklens data``: list and inspect the built-in data sets."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..data.builtin import BUILTIN_DATASETS, load_builtin
from ..data.taskset import TaskSet
from ._common import check_output_dir, cli_errors

data_app = typer.Typer(help="List and inspect built-in data sets.", no_args_is_help=True)
console = Console()


@data_app.command("list")
def list_datasets() -> None:
    """List the built-in data sets."""
    table = Table(title="built-in data sets")
    table.add_column("name", style="bold")
    table.add_column("description")
    for entry in BUILTIN_DATASETS.values():
        table.add_row(entry.name, entry.description)
    console.print(table)


def print_summary(taskset: TaskSet) -> None:
    """Print a task set's summary as a rich table."""
    table = Table(
        title=f"{taskset.name}: {taskset.n_samples} samples, inputs {taskset.input_shape}"
    )
    rows = taskset.summary_rows()
    for col in rows[0]:
        table.add_column(col)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)
    if taskset.factors is not None:
        console.print("factors: " + ", ".join(
            f"{n} ({len(lv)} levels)" for n, lv in zip(taskset.factors.names,
                                                     taskset.factors.levels)))


@data_app.command("show")
@cli_errors
def show(
    name: str = typer.Argument(..., help="Name of a built-in data set (see `tasklens data list`)."),
    n: int = typer.Option(None, "--n", help="Number of samples to generate (generated sets)."),
    seed: int = typer.Option(None, "--seed", help="Seed (generated sets)."),
    out: Path = typer.Option(Path("."), "--out", help="Folder for the PNG of samples."),
) -> None:
    """Print a summary table of NAME and write a PNG grid of samples to OUT/NAME.png."""
    from ..report.figures import plot_taskset_overview, save_figure

    check_output_dir(out)
    kwargs = {k: v for k, v in (("n", n), ("seed", seed)) if v is not None}
    taskset = load_builtin(name, **kwargs)
    print_summary(taskset)
    path = save_figure(plot_taskset_overview(taskset), out / f"{name}.png")
    console.print(f"wrote {path}")
