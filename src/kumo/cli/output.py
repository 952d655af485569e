"""Every command's output, in the shapes python-openstackclient's cliff prints, so what people
script against ``openstack`` works on ``kumo``.

A listing (``list_options``) takes ``-f table|csv|json|value|yaml``, a single resource
(``show_options``) ``-f table|json|shell|value|yaml`` -- cliff's Lister and ShowOne formatter
sets -- and both take ``-c COLUMN`` (repeatable), ``--max-width``, ``--fit-width`` and
``--noindent``; listings also ``--sort-column``/``--sort-ascending``/``--sort-descending`` and
``--quote``; shows ``--prefix``. The shapes follow cliff's formatters (cliff/formatters/):

- value: a listing prints each row's cells joined by one space, a show one value per line;
- csv: a header row of column names, then the rows (``--quote``, default nonnumeric);
- shell: ``PREFIXname="value"`` per field, ``-``/``:``/space in names made ``_``;
- json/yaml: a list of objects, or one object. Without ``-c`` these carry every field of the
  resource (kumo's JSON always has; scripts read e.g. a listed server's fault); the text formats
  show the command's default columns.

Tables are drawn by rich, as wide as the terminal (``COLUMNS`` when set, else the terminal's
width, else -- piped -- as wide as the content, never wrapped). Columns holding ids (UUIDs, lint
ids, any ``*_id``) are never folded: they keep their full width and the other columns wrap;
when even that cannot fit, the table is drawn wider than the terminal rather than split an id.

Text from records is inert in every text format (table, value, csv, shell): control and format
characters are escaped (ESC as ``\x1b``, a newline as ``\n``, a right-to-left override as
``\u202e``), and rich never reads a cell, header or title as markup (``[red]``, ``[link=...]``),
so a value cannot recolour, move the cursor, hide or fake a row in an operator's terminal. Names
cannot hold such characters at all (kumo.catalog.names); property values may, and are escaped
here, once (``escape``). JSON and YAML carry them exactly, escaped by their own syntax. Error
messages are printed as one inert line (``error_line``).

rich and PyYAML are imported only when a table or YAML is printed, so the CLI starts fast.
(cliff itself is not used: it pulls in stevedore, cmd2 and autopage and is built on argparse,
while kumo's commands are click's.)
"""

from __future__ import annotations

import csv
import functools
import json
import os
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import click

from kumo.errors import InvalidInput

LIST_FORMATS = ("table", "csv", "json", "value", "yaml")
SHOW_FORMATS = ("table", "json", "shell", "value", "yaml")
_QUOTE = {"all": csv.QUOTE_ALL, "minimal": csv.QUOTE_MINIMAL,
          "nonnumeric": csv.QUOTE_NONNUMERIC, "none": csv.QUOTE_NONE}
#: categories shown escaped: control (C0, DEL, C1), format (bidi, zero-width), surrogates
_ESCAPED = {"Cc", "Cf", "Cs"}
_ID_VALUE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


@dataclass(frozen=True)
class Output:
    """How one command invocation prints: the output flags, parsed."""

    fmt: str = "table"
    columns: tuple[str, ...] = ()
    sort_columns: tuple[str, ...] = ()
    sort_descending: bool = False
    max_width: int = 0
    fit_width: bool = False
    noindent: bool = False
    quote: str = "nonnumeric"
    prefix: str = ""

    @property
    def is_table(self) -> bool:
        return self.fmt == "table"

    # --- a listing -------------------------------------------------------------------------

    def many(self, rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
             title: str | None = None, document: Any = None) -> None:
        """Print ``rows`` (one mapping each); ``columns`` are the default text columns. A
        ``document`` is what -f json/yaml print without -c (e.g. rows plus a summary)."""
        known = _known(columns, rows)
        chosen = self._chosen(columns, known)
        rows = self._sorted(rows, known)
        if self.fmt in ("json", "yaml"):
            if self.columns:
                self._structured([{c: r.get(c) for c in chosen} for r in rows])
            else:
                self._structured([dict(r) for r in rows] if document is None else document)
        elif self.fmt == "value":
            for r in rows:
                click.echo(" ".join(_line(r.get(c)) for c in chosen))
        elif self.fmt == "csv":
            writer = csv.writer(_Echo(), quoting=_QUOTE[self.quote], lineterminator="\n",
                                escapechar="\\")
            writer.writerow(chosen)
            for r in rows:
                writer.writerow([_csv_cell(r.get(c)) for c in chosen])
        else:
            self._table(title, chosen, [[r.get(c) for c in chosen] for r in rows])

    # --- one resource ----------------------------------------------------------------------

    def one(self, view: Mapping[str, Any], title: str | None = None) -> None:
        fields = list(view)
        chosen = self._chosen(fields, fields)
        if self.fmt in ("json", "yaml"):
            self._structured({k: view[k] for k in chosen})
        elif self.fmt == "value":
            for k in chosen:
                click.echo(_line(view[k]))
        elif self.fmt == "shell":
            for k in chosen:
                name = re.sub(r"[-: ]", "_", k.lower())
                click.echo(f'{self.prefix}{name}="{_shell_quoted(_line(view[k]))}"')
        else:
            self._table(title, ("field", "value"), [[k, view[k]] for k in chosen])

    # --- shared ----------------------------------------------------------------------------

    def _chosen(self, default: Sequence[str], known: Sequence[str]) -> list[str]:
        if not self.columns:
            return list(default)
        unknown = [c for c in self.columns if c not in known]
        if unknown:
            raise InvalidInput(f"-c {unknown[0]!r} is invalid: allowed {', '.join(known)}")
        return list(dict.fromkeys(self.columns))

    def _sorted(self, rows: Sequence[Mapping[str, Any]],
                known: Sequence[str]) -> list[Mapping[str, Any]]:
        for c in self.sort_columns:
            if c not in known:
                raise InvalidInput(f"--sort-column {c!r} is invalid: allowed "
                                   f"{', '.join(known)}")
        if not self.sort_columns:
            return list(rows)
        # None sorts first (as cliff's sort does), numbers as numbers, the rest as text
        def key(r: Mapping[str, Any]) -> tuple:
            return tuple((r.get(c) is not None, _sort_value(r.get(c))) for c in self.sort_columns)
        return sorted(rows, key=key, reverse=self.sort_descending)

    def _structured(self, data: Any) -> None:
        if self.fmt == "json":
            click.echo(json.dumps(data, indent=None if self.noindent else 2, default=str))
        else:
            import yaml  # only here: the CLI starts without it
            click.echo(yaml.safe_dump(_plain(data), default_flow_style=False, sort_keys=False,
                                      allow_unicode=True), nl=False)

    def _table(self, title: str | None, columns: Sequence[str],
               rows: Sequence[Sequence[Any]]) -> None:
        render_table(title, columns, rows, width=self.width())

    def width(self) -> int | None:
        """The width tables are fitted to; None: as wide as their content (piped output)."""
        if self.max_width > 0:
            return self.max_width
        if self.fit_width or "COLUMNS" in os.environ or sys.stdout.isatty():
            return terminal_width()
        return None


def terminal_width() -> int:
    """COLUMNS when set, else the terminal's width (stdout, else stderr), else 80."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    for stream in (sys.stdout, sys.stderr):
        try:
            return os.get_terminal_size(stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            continue
    return 80  # (shutil.get_terminal_size's fallback too; shutil itself is slow to import)


# --- cells ---------------------------------------------------------------------------------------

def escape(text: str) -> str:
    """``text`` with every control, format and surrogate character written as a Python escape."""
    if all(unicodedata.category(ch) not in _ESCAPED for ch in text):
        return text
    return "".join(ch.encode("unicode_escape", "backslashreplace").decode("ascii")
                   if unicodedata.category(ch) in _ESCAPED else ch for ch in text)


def error_line(message: str) -> str:
    """An error message as one inert line (a message quoting a value cannot break it)."""
    return escape(" ".join(str(message).splitlines()))


def _line(value: Any) -> str:
    """A value on one line, for value/shell/csv (dicts as key='value', as openstackclient's
    format_dict does; lists comma-separated)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{escape(str(k))}='{_line(v)}'" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_line(v) for v in value)
    return escape(str(value))


def _cell(value: Any) -> str:
    """A value in a table cell: a mapping one key=value per line, a list of mappings one
    mapping per line (the line breaks are the table's, never data's: data is escaped)."""
    if isinstance(value, Mapping):
        return "\n".join(f"{escape(str(k))}={_line(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], Mapping):
        return "\n".join(" ".join(_line(v) for v in item.values()) for item in value)
    return _line(value)


def _csv_cell(value: Any) -> Any:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else _line(value)


def _shell_quoted(text: str) -> str:
    # cliff escapes only '"'; inside double quotes a shell also expands $, ` and \, so those
    # are escaped too: `eval "$(kumo server show X -f shell)"` must never run a name's text
    return re.sub(r'(["$`\\])', r"\\\1", text)


def _sort_value(value: Any) -> tuple:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, _line(value))


def _plain(data: Any) -> Any:
    """JSON-shaped data for yaml.safe_dump (which refuses other types, e.g. datetimes)."""
    return json.loads(json.dumps(data, default=str))


def _known(default: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> list[str]:
    known = list(default)
    for r in rows:
        known += [k for k in r if k not in known]
    return known


class _Echo:
    """A file-like writer for csv that goes through click.echo (captured like all output)."""

    def write(self, text: str) -> None:
        click.echo(text, nl=False)


# --- tables (rich) --------------------------------------------------------------------------------

def is_id_column(name: str, cells: Sequence[str]) -> bool:
    """A column never to fold: an id by name, or every cell a UUID."""
    if name in ("id", "uuid", "request_id", "instance_uuid") or name.endswith("_id"):
        return True
    filled = [c for c in cells if c]
    return bool(filled) and all(_ID_VALUE.match(c) for c in filled)


def render_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                 width: int | None, err: bool = False) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    texts = [[_cell(v) for v in row] for row in rows]
    ids = [is_id_column(col, [row[i] for row in texts]) for i, col in enumerate(columns)]
    id_widths = [max([len(col), *(len(line) for row in texts for line in row[i].splitlines())])
                 if is_id else 0 for i, (col, is_id) in enumerate(zip(columns, ids))]
    padding = 1
    if width is not None:
        # room for every id column whole, four characters for each other column, and the
        # ASCII box ("| " + " | " between + " |"); when that does not fit, the cells lose their
        # padding ("|" between); below even that, the table overflows rather than fold an id
        others = ids.count(False)
        if sum(id_widths) + 4 * others + 3 * len(columns) + 1 > width:
            padding = 0
            width = max(width, sum(id_widths) + 3 * others + len(columns) + 1)
    table = Table(title=None if title is None else Text(escape(title)), box=box.ASCII, header_style="bold", title_justify="left",
                  padding=(0, padding))
    for col, is_id, id_width in zip(columns, ids, id_widths):
        header = Text(escape(str(col)))  # never markup
        if is_id:
            table.add_column(header, no_wrap=True, min_width=id_width, overflow="ignore")
        else:
            table.add_column(header, overflow="fold")
    for row in texts:
        table.add_row(*(Text(cell) for cell in row))
    # no width: as wide as the content (piped output stays one line per row, greppable)
    console = Console(width=width or 100_000, soft_wrap=False, highlight=False,
                      force_terminal=False if width is None else None,
                      file=sys.stderr if err else sys.stdout)
    console.print(table)


DECISION_COLUMNS = ("field", "value", "rule", "source", "reason")
FINDING_COLUMNS = ("id", "severity", "message", "fix")


def decision_rows(decisions: Iterable[Any]) -> list[dict[str, Any]]:
    """A guest plan's decisions as rows (source shown as property=value)."""
    return [{"field": d.field, "value": d.value, "rule": d.rule,
             "source": d.source if d.source_value is None else f"{d.source}={d.source_value}",
             "source_property": d.source, "source_value": d.source_value, "reason": d.reason}
            for d in decisions]


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A table in the default output (for commands with no -f, e.g. kumo demo)."""
    render_table(title, columns, list(rows), width=Output().width())


def decisions_table(decisions: Iterable[Any]) -> None:
    Output().many(decision_rows(decisions), DECISION_COLUMNS, "decisions")


def findings_table(findings: Sequence[Any]) -> None:
    if not findings:
        click.echo("no findings")
        return
    Output().many([f.as_dict() for f in findings], FINDING_COLUMNS, "findings")


def stderr_table(title: str | None, columns: Sequence[str],
                 rows: Sequence[Sequence[Any]]) -> None:
    """A table on stderr (e.g. the errors that stopped a command), fitted to the terminal."""
    isatty = sys.stderr.isatty() or "COLUMNS" in os.environ
    render_table(title, columns, rows, width=terminal_width() if isatty else None, err=True)


# --- the click options ---------------------------------------------------------------------------

def _common(formats: Sequence[str]) -> list[Callable]:
    return [
        click.option("-f", "--format", "_out_fmt", type=click.Choice(formats),
                     default="table", show_default=True, help="Output format."),
        click.option("-c", "--column", "_out_columns", multiple=True, metavar="COLUMN",
                     help="A column (field) to include; repeatable; default: all."),
        click.option("--max-width", "_out_max_width", type=int, default=0, metavar="INTEGER",
                     help="Table width at most this many characters (0: the terminal's)."),
        click.option("--fit-width", "_out_fit_width", is_flag=True,
                     help="Fit the table to the terminal even when piped."),
        click.option("--noindent", "_out_noindent", is_flag=True,
                     help="JSON on one line."),
    ]


_LIST_OPTIONS = _common(LIST_FORMATS) + [
    click.option("--sort-column", "_out_sort_columns", multiple=True, metavar="COLUMN",
                 help="Sort the rows on this column; repeatable."),
    click.option("--sort-ascending/--sort-descending", "_out_sort_ascending", default=True,
                 help="Direction of --sort-column (default ascending)."),
    click.option("--quote", "_out_quote", type=click.Choice(tuple(_QUOTE)),
                 default="nonnumeric", show_default=True, help="When CSV quotes a cell."),
]
_SHOW_OPTIONS = _common(SHOW_FORMATS) + [
    click.option("--prefix", "_out_prefix", default="", metavar="PREFIX",
                 help="With -f shell: prefix every variable name."),
]


def _with_output(options: list[Callable], f: Callable) -> Callable:
    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        out = Output(fmt=kwargs.pop("_out_fmt"), columns=tuple(kwargs.pop("_out_columns")),
                     max_width=kwargs.pop("_out_max_width"),
                     fit_width=kwargs.pop("_out_fit_width"),
                     noindent=kwargs.pop("_out_noindent"),
                     sort_columns=tuple(kwargs.pop("_out_sort_columns", ())),
                     sort_descending=not kwargs.pop("_out_sort_ascending", True),
                     quote=kwargs.pop("_out_quote", "nonnumeric"),
                     prefix=kwargs.pop("_out_prefix", ""))
        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            ctx.meta[_KEY] = out
        return f(*args, out=out, **kwargs)
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def list_options(f: Callable) -> Callable:
    """The listing output flags; the command receives them as ``out: Output``."""
    return _with_output(_LIST_OPTIONS, f)


def show_options(f: Callable) -> Callable:
    """The single-resource output flags; the command receives them as ``out: Output``."""
    return _with_output(_SHOW_OPTIONS, f)


# --- for commands written against the first CLI's helpers ----------------------------------------

_KEY = "kumo.output"


def format_option(f: Callable) -> Callable:
    """Every output flag (the union of the listing and show formats), for a command that
    prints through ``emit_one``/``emit_many``; the command still receives ``fmt``."""
    formats = tuple(dict.fromkeys(LIST_FORMATS + SHOW_FORMATS))
    options = _common(formats) + _LIST_OPTIONS[len(_common(formats)):] + \
        _SHOW_OPTIONS[len(_common(formats)):]

    @functools.wraps(f)
    def command(*args: Any, out: Output, **kwargs: Any) -> Any:
        return f(*args, fmt=out.fmt, **kwargs)
    return _with_output(options, command)


def current(fmt: str | None = None) -> Output:
    ctx = click.get_current_context(silent=True)
    out = ctx.meta.get(_KEY) if ctx is not None else None
    return out if out is not None else Output(fmt=fmt or "table")


def emit_one(view: Mapping[str, Any], fmt: str | None = None, title: str | None = None) -> None:
    out = current(fmt)
    if out.fmt == "csv":
        raise InvalidInput("-f csv is invalid for a single resource: allowed "
                           f"{', '.join(SHOW_FORMATS)}")
    out.one(view, title)


def emit_many(views: Sequence[Mapping[str, Any]], fmt: str | None, columns: Sequence[str],
              title: str | None = None) -> None:
    out = current(fmt)
    if out.fmt == "shell":
        raise InvalidInput("-f shell is invalid for a listing: allowed "
                           f"{', '.join(LIST_FORMATS)}")
    out.many(views, columns, title)
