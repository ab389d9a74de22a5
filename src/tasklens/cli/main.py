"""Entry point of the ``tasklens`` command."""

from __future__ import annotations

import logging

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from .. import __version__
from ._common import VERBOSE, one_line
from .analyze import register as register_analyze
from .core_mtl import core_mtl
from .data import data_app
from .disentangle import disentangle_app
from .linear import linear_app
from .quickstart import quickstart
from .sweep import sweep

app = typer.Typer(
    name="tasklens",
    help="Measure, predict and steer how tasks interact in multi-task learning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data_app, name="data")
app.add_typer(linear_app, name="linear")
app.add_typer(disentangle_app, name="disentangle")
register_analyze(app)  # the main job first in --help
app.command("sweep")(sweep)
app.command("quickstart")(quickstart)
app.command("core-mtl")(core_mtl)

console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tasklens {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log details (kind inference…)."),
) -> None:
    VERBOSE["on"] = verbose
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )


def main() -> None:
    """Run the CLI; library errors (ValueError/TypeError/ImportError/OSError) print one
    line and exit with code 2 (commands do this themselves; this is the safety net)."""
    try:
        app()
    except (ValueError, TypeError, ImportError, OSError) as exc:
        if VERBOSE["on"]:
            raise
        console.print(f"[bold red]error:[/] {escape(one_line(exc))}", highlight=False)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
