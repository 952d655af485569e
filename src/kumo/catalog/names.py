"""What a name may be: one rule for images, flavors, servers, hosts and property keys.

``check_name``: 1 to 255 characters, no surrounding whitespace, and no control, format or
surrogate characters -- a name is shown in an operator's listings, and an escape sequence or a
right-to-left override in it could disguise it there (or hide another row; issue: a tenant's
image name in an admin's ``image list``). Values that may legitimately carry such characters
(property values) are kept and escaped on output (kumo.cli.output); ``check_text`` refuses only
what no database column can hold (NUL: a PostgreSQL text value cannot contain it; lone
surrogates, from bytes that are not UTF-8: no encoding can store them).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from kumo.errors import InvalidInput

NAME_MAX = 255
#: Unicode categories a name may not contain: control (C0, DEL, C1: terminal escapes), format
#: (bidi overrides, zero-width characters) and surrogates (undecodable bytes in argv)
_FORBIDDEN_CATEGORIES = {"Cc": "control", "Cf": "format", "Cs": "surrogate"}


def check_name(kind: str, name: Any, what: str = "name") -> str:
    """``name`` if it may name a ``kind`` (image, flavor, server, host, property); else
    InvalidInput saying what is wrong with it and what is allowed. ``what``: "name", or "id"
    for ids a user chooses (flavor ids)."""
    allowed = (f"allowed 1 to {NAME_MAX} characters, no surrounding spaces, no control "
               "characters")
    if not isinstance(name, str) or not name or len(name) > NAME_MAX:
        size = f"{len(name)} characters" if isinstance(name, str) else type(name).__name__
        raise InvalidInput(f"{kind} {what} {short(name)} is invalid ({size}): {allowed}")
    bad = forbidden_character(name)
    if bad is not None:
        raise InvalidInput(f"{kind} {what} {short(name)} is invalid ({bad}): {allowed}")
    if name != name.strip():
        raise InvalidInput(f"{kind} {what} {short(name)} is invalid (surrounding spaces): "
                           f"{allowed}")
    return name


def check_text(what: str, value: str) -> str:
    """``value`` if a database can store it (no NUL, valid Unicode); else InvalidInput."""
    for i, ch in enumerate(value):
        if ch == "\x00" or unicodedata.category(ch) == "Cs":
            raise InvalidInput(f"{what} {short(value)} is invalid (U+{ord(ch):04X} at "
                               f"position {i}): allowed any text without NUL characters, "
                               "in UTF-8")
    return value


def forbidden_character(name: str) -> str | None:
    """What makes ``name`` unfit to be a name (the first forbidden character), or None."""
    for i, ch in enumerate(name):
        category = _FORBIDDEN_CATEGORIES.get(unicodedata.category(ch))
        if category:
            return f"{category} character U+{ord(ch):04X} at position {i}"
    return None


def short(value: Any, limit: int = 60) -> str:
    """repr() of a value in an error message, cut to ``limit`` characters (repr escapes
    control characters, so the message stays one line)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 4]}...{text[-1]}"


def check_pairs(kind: str, pairs: Mapping[Any, Any]) -> None:
    """Every key a name (``kind``: "property", "extra spec"), every value storable text."""
    for key, value in pairs.items():
        check_name(kind, key)
        check_text(f"{kind} {key}", str(value))
