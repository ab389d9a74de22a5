"""Progress bars (rich) that stay silent when output is not a terminal or when asked."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def track(
    iterable: Iterable[T],
    description: str,
    *,
    total: int | None = None,
    enabled: bool | None = None,
) -> Iterator[T]:
    """Iterate with a rich progress bar.

    Parameters
    ----------
    enabled : bool, optional
        Force the bar on or off; by default it shows only when stderr is a terminal.
    """
    show = sys.stderr.isatty() if enabled is None else enabled
    if not show:
        yield from iterable
        return
    from rich.progress import track as rich_track

    yield from rich_track(iterable, description=description, total=total, transient=True)
