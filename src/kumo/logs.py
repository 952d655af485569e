"""kumo's logging: the standard ``logging`` module, one line per event, plain or JSON.

Every line carries the request id and the instance and host it concerns, when known, from
context variables set with ``log_context`` (so a periodic task or a journal step only sets them
once; they follow the code down through threads started with ``contextvars.copy_context``):

    2026-11-28T18:50:00.123Z INFO kumo.compute.journal [req-5c1... instance=0f3... host=local] create: step define

JSON (``log_format = "json"``): one object per line with the keys time, level, logger,
message, request_id, instance, host, controller, plus any ``extra={...}`` fields given to the
call -- what log shippers (journald, Loki, Elasticsearch) index without a parser.

``setup`` is called once per process: by ``kumo serve`` with the configured level, and by
every other command with ``error`` (the command's own output and error line are its answer) unless ``-v``
(info) or ``--debug`` (debug) is given. Only the ``kumo`` logger tree is configured; libraries
keep their own.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kumo.config import Settings

ROOT = "kumo"
_FIELDS = ("request_id", "instance", "host")
_context: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"kumo_log_{name}", default=None) for name in _FIELDS}
#: the controller name every line of this process carries (set by setup)
_controller: str | None = None
#: LogRecord attributes that are not "extra" fields
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", *_FIELDS, "controller"}


def get(name: str) -> logging.Logger:
    return logging.getLogger(name)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Within the block, log lines carry these of request_id, instance, host (None: unset)."""
    unknown = set(fields) - set(_FIELDS)
    if unknown:
        raise TypeError(f"log_context takes {', '.join(_FIELDS)}, not {', '.join(unknown)}")
    tokens = [(_context[k], _context[k].set(None if v is None else str(v)))
              for k, v in fields.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name in _FIELDS:
            if getattr(record, name, None) is None:
                setattr(record, name, _context[name].get())
        record.controller = _controller
        return True


def _timestamp(record: logging.LogRecord) -> str:
    at = datetime.fromtimestamp(record.created, timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        tags = [getattr(record, "request_id", None) or ""]
        tags += [f"{k}={getattr(record, k)}" for k in ("instance", "host")
                 if getattr(record, k, None)]
        ctx = " ".join(t for t in tags if t)
        line = (f"{_timestamp(record)} {record.levelname} {record.name} "
                f"{'[' + ctx + '] ' if ctx else ''}{record.getMessage()}")
        if record.exc_info:
            # one event, one line: the traceback's lines joined
            line += " | " + self.formatException(record.exc_info).replace("\n", " | ")
        return line


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _timestamp(record), "level": record.levelname, "logger": record.name,
            "message": record.getMessage(), "controller": getattr(record, "controller", None)}
        for name in _FIELDS:
            out[name] = getattr(record, name, None)
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


_handler: logging.Handler | None = None
#: the level the command line asked for (setup's last level)
_level = "warning"


def setup(level: str = "warning", fmt: str = "plain", file: Path | None = None,
          controller: str | None = None) -> None:
    """Configure the ``kumo`` logger tree (replacing an earlier setup of this process)."""
    global _handler, _controller, _level
    _controller, _level = controller, level
    logger = logging.getLogger(ROOT)
    if _handler is not None:
        logger.removeHandler(_handler)
        _handler.close()
    handler: logging.Handler = (logging.FileHandler(file, encoding="utf-8") if file
                                else logging.StreamHandler(sys.stderr))
    handler.setFormatter(JSONFormatter() if fmt == "json" else PlainFormatter())
    handler.addFilter(_ContextFilter())
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    _handler = handler


def apply_settings(settings: "Settings") -> None:
    """Keep the level the command line set; take log_format, log_file and the controller
    name from the configuration (a CLI command, once it has read it)."""
    setup(_level, settings.log_format, settings.log_file, settings.controller_name)
