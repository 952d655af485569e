"""What a release needs of its virtual hardware: osinfo-db's minimum and recommended RAM and
disk (``<resources arch=...><minimum>/<recommended>`` with ``<ram>`` and ``<storage>`` in bytes).

The entry for x86_64 is used, else the one for ``all``. Like devices and firmware
(``kumo.osinfo.osinfo_db``), a release without resources of its own inherits them from the
release it derives from. Releases newer than the installed osinfo-db get kumo's own figures,
each citing the vendor's published requirements (``NEWER_THAN_DB``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

from kumo.osinfo.osinfo_db import DbOS, OsinfoDb, default_db

MiB, GiB = 1 << 20, 1 << 30


@dataclass(frozen=True)
class Requirements:
    min_ram_mib: int | None
    min_disk_gib: int | None
    recommended_ram_mib: int | None
    recommended_disk_gib: int | None
    #: where the figures come from, for messages: "osinfo-db win-11.xml", "Microsoft ..."
    source: str


#: releases the packaged osinfo-db (0.20221130) predates
NEWER_THAN_DB: dict[str, Requirements] = {
    # Microsoft, "Hardware requirements for Windows Server" (2025): 512 MB RAM (2 GB with the
    # Desktop Experience), 32 GB of disk
    "win2k25": Requirements(512, 32, 2048, 32, "Microsoft's Windows Server 2025 requirements"),
}


def _figures(entry: DbOS, arch: str) -> dict[str, int] | None:
    """{'min_ram': bytes, ...} from the entry's own <resources> for ``arch`` (else 'all')."""
    try:
        os_el = ET.parse(entry.path).getroot().find("os")
    except (ET.ParseError, OSError):
        return None
    if os_el is None:
        return None
    by_arch = {r.get("arch"): r for r in os_el.findall("resources")}
    res = by_arch.get(arch) if arch in by_arch else by_arch.get("all")
    if res is None:
        return None
    out = {}
    for level in ("minimum", "recommended"):
        for what in ("ram", "storage"):
            text = res.findtext(f"{level}/{what}")
            if text and text.strip().isdigit():
                out[f"{level}_{what}"] = int(text.strip())
    return out or None


def _ceil(value: int | None, unit: int) -> int | None:
    return None if value is None else -(-value // unit)


def requirements(short_id: str | None, arch: str = "x86_64",
                 db: OsinfoDb | None = None) -> Requirements | None:
    """The release's requirements, or None when neither osinfo-db nor kumo knows them."""
    if not short_id:
        return None
    db = db or default_db()
    entry = db.lookup(short_id)
    if entry is None:
        return NEWER_THAN_DB.get(short_id)
    # the release itself first, then what it derives from; the ancestors are read only when
    # the release has no figures of its own (win10's chain is seven files back to Windows 2000)
    def lineage() -> Iterator[DbOS]:
        yield entry
        yield from (e for e in reversed(db.chain(entry)) if e is not entry)

    for e in lineage():
        figures = _figures(e, arch)
        if figures:
            return Requirements(
                _ceil(figures.get("minimum_ram"), MiB), _ceil(figures.get("minimum_storage"), GiB),
                _ceil(figures.get("recommended_ram"), MiB),
                _ceil(figures.get("recommended_storage"), GiB), f"osinfo-db {e.path.name}")
    return NEWER_THAN_DB.get(short_id)
