"""What every command shares: one-line errors (exit 2) and output paths checked first."""

from __future__ import annotations

import functools
import logging
import os
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])
logger = logging.getLogger("tasklens")

#: set by ``tasklens -v``: errors then also print their traceback
VERBOSE = {"on": False}
#: what a command turns into "error: <one line>" and exit code 2
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, ImportError, OSError)


class OutputPathError(ValueError):
    """An output path that is a file or cannot be written."""


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (first line, whitespace collapsed)."""
    text = str(exc).strip() or type(exc).__name__
    first = text.splitlines()[0]
    return " ".join(first.split())


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr; return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def cli_errors(func: F) -> F:
    """Turn user errors of a command into one line on stderr and exit code 2 (with ``-v``,
    the traceback too)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except USER_ERRORS as exc:
            if VERBOSE["on"]:
                typer.echo("".join(traceback.format_exception(exc)), err=True)
            raise fail(one_line(exc)) from None

    return wrapper  # type: ignore[return-value]


def check_output_dir(path: str | os.PathLike[str], option: str = "--out") -> Path:
    """Check, before any work, that ``path`` is (or can become) a writable folder.

    Nothing is created: the nearest existing ancestor must be a folder in which a file can
    be created (tried with a temporary file that is removed at once, which also catches
    read-only file systems and runs as root correctly).

    Raises
    ------
    OutputPathError
        Naming ``option``, the path and what is wrong.
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise OutputPathError(f"{option} {str(out)!r} is a file, not a folder; pick a folder")
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise OutputPathError(f"{option} {str(out)!r}: {str(probe)!r} is a file, so the "
                              "folder cannot be created there")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        raise OutputPathError(f"{option} {str(out)!r} is not writable ({str(probe)!r}: "
                              f"{exc.strerror or exc}); pick another folder") from None
    return out


def check_output_file(path: str | os.PathLike[str], option: str = "--out") -> Path:
    """Like :func:`check_output_dir` for a file path: its folder must be writable and the
    path itself must not be a folder."""
    out = Path(path)
    if out.is_dir():
        raise OutputPathError(f"{option} {str(out)!r} is a folder; give a file name")
    check_output_dir(out.parent, option)
    return out
