"""Progress bars (rich) on stderr for long work: image upload/download, waits, audits.

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


class Counter:
    """What ``counting`` yields: ``start(total)`` once the work is counted, ``advance(n)`` as
    it is done (from any thread: rich's Progress takes its own lock)."""

    def __init__(self, bar: object = None, task: object = None) -> None:
        self._bar, self._task = bar, task

    def start(self, total: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, total=total)  # type: ignore[attr-defined]

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)  # type: ignore[attr-defined]


@contextmanager
def counting(description: str) -> Iterator[Counter]:
    """A bar over a count of items (done/total, rate, time left); on a terminal only."""
    if not shown():
        yield Counter()
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeRemainingColumn)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=Console(file=sys.stderr),
                  transient=True) as bar:
        yield Counter(bar, bar.add_task(description, total=None))
