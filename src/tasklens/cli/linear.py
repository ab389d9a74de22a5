"""``tasklens linear``: the training-free linear-theory analysis of a task set."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ..data.builtin import load_builtin
from ._common import check_output_dir, cli_errors
from .linear_figures import figures

linear_app = typer.Typer(help="Linear theory of multi-task learning (Anon. 2025).",
                         no_args_is_help=True)
console = Console()
linear_app.command("figures")(cli_errors(figures))


def run_linear_analysis(taskset, out: Path, prefix: str, tasks: list[str] | None = None,
                        whiten: str = "pca") -> None:
    """Analyze ``taskset``, print the findings and write figures + JSON under ``out``."""
    from .._common.io import write_json
    from ..linear.analysis import analyze_tasks
    from ..report import plot_alignment, plot_predicted_losses, save_figure

    analysis = analyze_tasks(taskset, tasks, whiten=whiten)
    console.print("[bold]linear-theory forecast[/] (whitened inputs, no training):")
    for line in analysis.summary_lines():
        console.print(f"  {line}")
    written = [
        save_figure(plot_alignment(analysis), out / f"{prefix}_alignment.png"),
        save_figure(plot_predicted_losses(analysis), out / f"{prefix}_predicted_losses.png"),
        write_json(out / f"{prefix}_linear_analysis.json", analysis.to_dict()),
    ]
    for path in written:
        console.print(f"wrote {path}")


@linear_app.command("analyze")
@cli_errors
def analyze(
    data: str = typer.Option("multi_digits", "--data", help="Built-in data set."),
    tasks: str = typer.Option(None, "--tasks", help="Comma-separated task names (default all)."),
    whiten: str = typer.Option("pca", "--whiten", help="pca, zca or none."),
    out: Path = typer.Option(Path("tasklens-output"), "--out", help="Output folder."),
) -> None:
    """Alignment, shared spectrum and predicted learning curves of a data set's tasks."""
    check_output_dir(out)
    taskset = load_builtin(data)
    names = [t.strip() for t in tasks.split(",")] if tasks else None
    run_linear_analysis(taskset, out, data, names, whiten)
