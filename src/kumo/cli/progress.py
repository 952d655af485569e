"""Progress bars (rich) on stderr for long work: image upload/download and waits.

Shown only when stderr is a terminal, so pipes, scripts and logs get the result alone; rich is
imported only then. ``transfer`` is a byte bar (size, speed, time left); ``waiting`` a spinner
with the elapsed time and a status line the caller updates.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def shown() -> bool:
    return sys.stderr.isatty()


@contextmanager
def transfer(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Yields ``advance(nbytes)``."""
    if not shown():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                               TimeRemainingColumn, TransferSpeedColumn)
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(),
                  console=Console(file=sys.stderr)) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


@contextmanager
def waiting(description: str) -> Iterator[Callable[[str], None]]:
    """Yields ``status(text)``: what is being waited for now."""
    if not shown():
        yield lambda text: None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  TextColumn("{task.fields[status]}"), console=Console(file=sys.stderr),
                  transient=False) as bar:
        task = bar.add_task(description, total=None, status="")
        yield lambda text: bar.update(task, status=text)
