"""``resolve``: image properties (os_distro, os_version, os_type) -> :class:`OSIdentity`.

Order of reading, first match wins:

1. os_distro ``windows`` (any case) with os_version in any operator spelling -> Windows table;
2. a libosinfo short id kumo's tables list (``win2k12r2``, ``centos7.0``, ``sle15sp4``, ...);
3. a Glance os_distro (``ubuntu``, ``rhel``, ``freebsd``, ...) with os_version -> distro tables;
4. any other short id found in osinfo-db: a release of a distro kumo knows (``ubuntujammy``) gets
   kumo's facts for that release; anything else gets the facts the db itself records;
5. otherwise os_type (``windows``/``linux``) gives the family with the release unknown;
6. otherwise family ``unknown``. Never an exception: catalog lint reports odd values elsewhere.
"""

from __future__ import annotations

import dataclasses
import re

from kumo.osinfo import bsd, linux, windows
from kumo.osinfo.identity import OSIdentity
from kumo.osinfo.osinfo_db import FAMILIES, Q35, DbOS, OsinfoDb, default_db
from kumo.osinfo.versions import LATEST, is_unknown, parse_version, version_text

_WINDOWS_DISTROS = frozenset({"windows", "microsoft windows", "windows server", "mswindows", "win"})
# libosinfo short ids that embed the version: prefix + version ("sle15sp4", "centos-stream9")
_VERSIONED_ID = re.compile(r"^([a-z]+(?:-stream)?)(\d+(?:\.\d+)*(?:sp\d+)?)$")
_ID_PREFIXES = {"sle": "sles", "centos-stream": "centos"}
_X86 = frozenset({"x86_64", "i386", "i486", "i586", "i686", "all"})


def resolve(os_distro: str | None, os_version: str | None, os_type: str | None = None, *,
            db: OsinfoDb | None = None) -> OSIdentity:
    """What kumo knows about the guest OS an image's properties describe. ``db`` overrides the
    osinfo-db location (default: $OSINFO_SYSTEM_DIR or /usr/share/osinfo, read on first need)."""
    ident = _resolve(os_distro, os_version, os_type, db)
    kind = (os_type or "").strip().lower()
    if kind in ("windows", "linux") and ident.family in ("windows", "linux") and kind != ident.family \
            and not is_unknown(os_distro):
        ident = dataclasses.replace(
            ident, matched_by=f"{ident.matched_by}; os_type={os_type!r} disagrees, os_distro decides")
    return ident


def _resolve(os_distro: str | None, os_version: str | None, os_type: str | None,
             db: OsinfoDb | None) -> OSIdentity:
    if is_unknown(os_distro):
        return _from_os_type(os_version, os_type, "no os_distro")
    assert os_distro is not None
    raw = os_distro.strip()
    d = " ".join(raw.lower().split())
    given = f"os_distro={raw!r}" + ("" if os_version is None else f", os_version={os_version!r}")

    if d in _WINDOWS_DISTROS:
        return _windows(os_version, given)
    if d in windows.BY_SHORT_ID:
        return windows.identity(windows.BY_SHORT_ID[d], _short_id_note(raw, os_version))
    key = linux.ALIASES.get(d, d)
    if key in linux.DISTROS:
        return _linux(linux.DISTROS[key], os_version, given)
    if key in bsd.SYSTEMS:
        return _bsd(bsd.SYSTEMS[key], os_version, given)
    m = _VERSIONED_ID.match(d)
    if m:
        prefix = _ID_PREFIXES.get(m.group(1), m.group(1))
        version = parse_version(m.group(2))
        if prefix in linux.DISTROS:
            return linux.identity(linux.DISTROS[prefix], version, _short_id_note(raw, os_version))
        if prefix in bsd.SYSTEMS:
            return bsd.identity(bsd.SYSTEMS[prefix], version, _short_id_note(raw, os_version),
                                version_text(m.group(2)))

    db = db if db is not None else default_db()
    entry = db.lookup(d)
    if entry is not None:
        return _from_db(db, entry, raw)
    why = f"os_distro={raw!r} not recognised" + ("" if db.available else f" (no osinfo-db at {db.root})")
    return _from_os_type(os_version, os_type, why)


def _short_id_note(raw: str, os_version: str | None) -> str:
    note = f"os_distro={raw!r} (libosinfo short id)"
    if not is_unknown(os_version):
        note += f"; os_version={os_version!r} ignored, the short id names the release"
    return note


def _windows(os_version: str | None, given: str) -> OSIdentity:
    if is_unknown(os_version):
        return windows.unknown_identity(f"{given}: release unknown")
    assert os_version is not None
    release, note = windows.parse_version(os_version)
    if release is None:
        return windows.unknown_identity(f"{given}: os_version not recognised, release unknown")
    return windows.identity(release, f"{given} -> {release.short_id}" + (f" ({note})" if note else ""))


def _linux(distro: linux.Distro, os_version: str | None, given: str) -> OSIdentity:
    if distro.rolling:
        return linux.identity(distro, LATEST, f"{given} -> rolling release")
    version = linux.parse_release(distro, os_version)
    if version is None:
        why = "release unknown" if is_unknown(os_version) else "os_version not recognised, release unknown"
        return linux.unknown_identity(f"{given}: {why}", distro)
    label = os_version.strip().lower() if version == LATEST and os_version else None
    ident = linux.identity(distro, version, "", label=label)
    return dataclasses.replace(ident, matched_by=f"{given} -> {ident.short_id or ident.name}")


def _bsd(system: bsd.System, os_version: str | None, given: str) -> OSIdentity:
    version = parse_version(os_version)
    if version is None:
        why = "release unknown" if is_unknown(os_version) else "os_version not recognised, release unknown"
        return bsd.identity(system, None, f"{given}: {why}")
    assert os_version is not None
    label = os_version.strip().lower() if version == LATEST else version_text(os_version)
    return bsd.identity(system, version, f"{given} -> {system.key} {label}", label)


def _from_os_type(os_version: str | None, os_type: str | None, why: str) -> OSIdentity:
    kind = (os_type or "").strip().lower()
    if kind == "windows":
        if not is_unknown(os_version):
            assert os_version is not None
            release, note = windows.parse_version(os_version)
            if release is not None:
                extra = f" ({note})" if note else ""
                return windows.identity(release, f"{why}; os_type={os_type!r}, os_version={os_version!r}"
                                                 f" -> {release.short_id}{extra}")
        return windows.unknown_identity(f"{why}; os_type={os_type!r}: release unknown", distro=None)
    if kind == "linux":
        return linux.unknown_identity(f"{why}; os_type={os_type!r}: release unknown")
    if os_type is not None and kind:
        why += f"; os_type={os_type!r} not recognised"
    elif why == "no os_distro":
        why = "no os_distro and no os_type"
    return OSIdentity(
        family="unknown", distro=None, short_id=None, name="unknown OS", version=None,
        release_known=False, bits64=False, requires_64bit=False, q35=False, uefi=False,
        requires_uefi=False, secure_boot=False, requires_secure_boot=False, requires_tpm2=False,
        inbox_drivers=frozenset({"ide"}), hyperv_gen2=False, xen_pv=False, source="kumo table",
        matched_by=why,
    )


def _from_db(db: OsinfoDb, entry: DbOS, raw: str) -> OSIdentity:
    where = f"osinfo-db {entry.path}"
    matched = f"os_distro={raw!r} (libosinfo short id) -> {where}"
    key = linux.ALIASES.get(entry.distro or "", entry.distro or "")
    version = parse_version(entry.version)
    if key in linux.DISTROS and version is not None:
        ident = linux.identity(linux.DISTROS[key], version, matched)
        return dataclasses.replace(ident, source=f"kumo table (release from {where})")
    if key in bsd.SYSTEMS and version is not None:
        ident = bsd.identity(bsd.SYSTEMS[key], version, matched, version_text(entry.version))
        return dataclasses.replace(ident, source=f"kumo table (release from {where})")
    has64, only64 = db.x86_64(entry)
    firmware = db.firmware(entry)
    x86 = bool(entry.archs & _X86) or not entry.archs
    return OSIdentity(
        family=FAMILIES.get((entry.family or "").lower(), "other"), distro=entry.distro,
        short_id=entry.short_ids[0] if entry.short_ids else raw.lower(), name=entry.name,
        version=entry.version, release_known=True, bits64=has64, requires_64bit=only64,
        q35=Q35 in db.devices(entry), uefi=firmware.get(("x86_64", "efi")) is True,
        requires_uefi=firmware.get(("x86_64", "bios")) is False, secure_boot=False,
        requires_secure_boot=False, requires_tpm2=False,
        # PIIX IDE is the one controller every x86 PC OS drives; the rest is what the db lists
        inbox_drivers=db.drivers(entry) | ({"ide"} if x86 else set()),
        hyperv_gen2=False, xen_pv=False, source=where, matched_by=matched,
    )
