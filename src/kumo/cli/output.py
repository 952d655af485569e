"""Table output shared by the CLI commands (rich, wrapped to the terminal)."""

from __future__ import annotations

import sys
from typing import Any, Iterable, Sequence

from rich.console import Console
from rich.table import Table


def _console() -> Console:
    """A console on the current stdout; wide when piped, so tables stay greppable."""
    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 200)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    t = Table(title=title, show_lines=False, header_style="bold")
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    _console().print(t)


def decisions_table(decisions) -> None:
    table("decisions", ("field", "value", "rule", "source", "reason"),
          ((d.field, d.value, d.rule,
            d.source if d.source_value is None else f"{d.source}={d.source_value}", d.reason)
           for d in decisions))


def findings_table(findings) -> None:
    if not findings:
        _console().print("no findings")
        return
    table("findings", ("id", "severity", "message", "fix"),
          ((f.id, f.severity, f.message, f.fix) for f in findings))
