"""Reading a file a user names (an image document, host capabilities, a public key, a scheduler
configuration, image data): one place that turns every way such a file can be wrong into a
one-line InvalidInput naming the option, the path and what is allowed.

A path must name a regular file: a directory, a FIFO (whose open would block forever), a device
(/dev/zero would be read until memory runs out) or a socket is refused before it is read, and the
check is made on the opened file (O_NONBLOCK, then fstat), so a path swapped in between cannot
slip past it. Text must be UTF-8; JSON must parse, and nesting deep enough to exhaust Python's
recursion or integers longer than Python converts are refused like any other malformed JSON.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

from kumo.errors import InvalidInput

#: documents and keys are small; a larger one is a mistake (or /dev/zero behind a symlink)
TEXT_LIMIT = 16 << 20

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _refused(what: str, path: str | Path, reason: str) -> InvalidInput:
    return InvalidInput(f"{what} {str(path)!r} {reason}")


def open_regular(path: str | Path, what: str) -> int:
    """An fd open for reading on the regular file ``path``; InvalidInput if it is not one or
    cannot be read. The caller closes it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        raise _refused(what, path, "does not exist") from None
    except IsADirectoryError:
        raise _refused(what, path, "is a directory: allowed a regular file") from None
    except PermissionError:
        raise _refused(what, path, "cannot be read: permission denied") from None
    except OSError as e:
        if e.errno == errno.ENXIO:  # a socket, or a FIFO with no writer on some systems
            raise _refused(what, path, "is not a regular file: allowed a regular file") from None
        raise _refused(what, path, f"cannot be read: {e.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise _refused(what, path, f"is {kind}: allowed a regular file")
    os.set_blocking(fd, True)
    return fd


def check_regular(path: str | Path, what: str) -> Path:
    """``path`` if it names a regular file that can be read (for data read by another program,
    e.g. qemu-img); else InvalidInput."""
    os.close(open_regular(path, what))
    return Path(path)


def read_bytes(path: str | Path, what: str, limit: int = TEXT_LIMIT) -> bytes:
    fd = open_regular(path, what)
    try:
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise _refused(what, path, f"cannot be read: {e.strerror}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise _refused(what, path, f"is larger than {limit} bytes: allowed at most {limit}")
    return data


def read_text(path: str | Path, what: str, limit: int = TEXT_LIMIT) -> str:
    data = read_bytes(path, what, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _refused(what, path, f"is not UTF-8 text (byte 0x{data[e.start]:02x} at offset "
                                   f"{e.start}): allowed UTF-8") from None


def parse_json(text: str, what: str, path: str | Path) -> Any:
    """``text`` parsed as JSON; InvalidInput naming what is wrong (kept to one line)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise _refused(what, path, f"is not valid JSON: {e}") from None
    except RecursionError:
        raise _refused(what, path, "is nested too deeply: allowed JSON nested at most a few "
                                   "hundred levels") from None
    except ValueError as e:  # an integer longer than sys.get_int_max_str_digits()
        raise _refused(what, path, f"is not valid JSON: {' '.join(str(e).split())}") from None


def read_json(path: str | Path, what: str, limit: int = TEXT_LIMIT) -> Any:
    return parse_json(read_text(path, what, limit), what, path)
