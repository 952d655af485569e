"""Small helpers for the version strings operators write into image properties.

A version is a tuple of ints, compared lexicographically: ``(22, 4) < (22, 10) < (24, 4)``.
"""

from __future__ import annotations

import re

Version = tuple[int, ...]

#: Stand-in for rolling / development releases ("rolling", "tumbleweed", "sid"): newer than any
#: numbered release, so every "since" threshold holds.
LATEST: Version = (9999,)

_ROLLING_WORDS = frozenset({"rolling", "tumbleweed", "rawhide", "sid", "testing", "unstable", "latest"})

#: words that mean "nobody wrote a version down" (CERN's real images carry os_version=UNKNOWN)
_UNKNOWN_WORDS = frozenset({"", "unknown", "none", "null", "n/a", "na", "-", "?", "other", "any"})

# "11 SP4", "11sp4", "15-SP4", "15.SP4" -> (11, 4): SUSE writes service packs this way
_SP = re.compile(r"^\s*(\d+)\s*[-._ ]?\s*sp\s*(\d+)", re.IGNORECASE)
_NUMBERS = re.compile(r"\d+(?:\.\d+)*")


def is_unknown(text: str | None) -> bool:
    """True when the value is absent or one of the placeholder words for "not known"."""
    return text is None or text.strip().lower() in _UNKNOWN_WORDS


def parse_version(text: str | None) -> Version | None:
    """The first dotted number in ``text`` as a tuple (``"22.04.3 LTS"`` -> ``(22, 4, 3)``).

    SUSE service packs become the minor number; rolling-release words give :data:`LATEST`;
    None when no number is present.
    """
    if is_unknown(text):
        return None
    assert text is not None
    if text.strip().lower() in _ROLLING_WORDS:
        return LATEST
    sp = _SP.match(text)
    if sp:
        return (int(sp.group(1)), int(sp.group(2)))
    m = _NUMBERS.search(text)
    if m is None:
        return None
    return tuple(int(part) for part in m.group(0).split("."))


def version_text(text: str | None) -> str | None:
    """The first dotted number in ``text`` as written ("2009.06" stays "2009.06")."""
    m = _NUMBERS.search(text or "")
    return m.group(0) if m else None


def at_least(version: Version | None, since: Version | None) -> bool:
    """``version >= since``; False when either is unknown (facts are never guessed upwards)."""
    if version is None or since is None:
        return False
    return version >= since


def floor_lookup(version: Version, milestones: tuple[tuple[Version, Version], ...]) -> Version | None:
    """The value of the newest milestone at or below ``version`` (milestones sorted ascending)."""
    found: Version | None = None
    for since, value in milestones:
        if version >= since:
            found = value
    return found


def dotted(version: Version) -> str:
    return ".".join(str(part) for part in version)
