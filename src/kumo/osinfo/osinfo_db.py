"""Read-only access to the osinfo-db XML database (Debian package ``osinfo-db``).

Layout (libosinfo's): ``<root>/os/<vendor>/<name>.xml``, each with one ``<os id="URI">`` holding
``<short-id>`` (one or more), ``<name>``, ``<version>``, ``<family>``, ``<distro>``,
``<derives-from id="URI"/>``, ``<devices><device id="URI" [supported="false"]/></devices>``,
``<firmware arch= type= [supported=]/>`` and ``arch`` attributes on ``<resources>``/``<media>``/
``<tree>``. Like libosinfo, an OS inherits the devices and firmware of the OSes it derives from, and
a ``supported="false"`` entry removes an inherited one. ``<os>.d/`` driver folders are not read.

Nothing is read on import. The first lookup scans the folder once with a cheap regular expression
(short ids and URIs -> file), and each file is parsed the first time it is needed; both are cached
on the :class:`OsinfoDb` instance. A missing folder simply makes every lookup return None.

The scan opens every file (about 800, 25 ms), which every ``kumo render`` or ``kumo server create``
would pay again; so the process-wide db (:func:`default_db`) keeps its index in the user's cache
directory (``$XDG_CACHE_HOME/kumo``, else ``~/.cache/kumo``), valid while the modification times
of ``os/`` and of each vendor folder are unchanged (a package upgrade replaces files by rename,
which changes them). A file edited in place is caught where it matters: an index hit is checked
against the parsed file (its short id or URI must be there), and a wrong one rescans the folder.
An unwritable cache directory only costs the scan.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Callable

#: libosinfo's own override for the system database location, then Debian's path.
ENV_VAR = "OSINFO_SYSTEM_DIR"
DEFAULT_ROOT = Path("/usr/share/osinfo")

_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_OS_ID = re.compile(r'<os\s+id="([^"]+)"')
_SHORT_ID = re.compile(r"<short-id>\s*([^<\s]+)\s*</short-id>")

Q35 = "http://qemu.org/chipset/x86/q35"
#: device URIs (PCI vendor/device ids) -> kumo driver names
PCI_DRIVERS = {
    "http://pcisig.com/pci/8086/100e": "e1000",  # Intel 82540EM, QEMU e1000
    "http://pcisig.com/pci/8086/10d3": "e1000e",  # Intel 82574L, QEMU e1000e
    "http://pcisig.com/pci/10ec/8139": "rtl8139",
    "http://pcisig.com/pci/1033/0194": "usb-xhci",  # NEC uPD720200 xHCI (USB 3.0)
    "http://pcisig.com/pci/1b36/000d": "usb-xhci",  # QEMU's qemu-xhci
    # virtio: legacy (transitional) ids 1000-1005, virtio 1.0 ids 1040 + device type
    "http://pcisig.com/pci/1af4/1000": "virtio-net", "http://pcisig.com/pci/1af4/1041": "virtio-net",
    "http://pcisig.com/pci/1af4/1001": "virtio-blk", "http://pcisig.com/pci/1af4/1042": "virtio-blk",
    "http://pcisig.com/pci/1af4/1002": "virtio-balloon", "http://pcisig.com/pci/1af4/1045": "virtio-balloon",
    "http://pcisig.com/pci/1af4/1003": "virtio-serial", "http://pcisig.com/pci/1af4/1043": "virtio-serial",
    "http://pcisig.com/pci/1af4/1004": "virtio-scsi", "http://pcisig.com/pci/1af4/1048": "virtio-scsi",
    "http://pcisig.com/pci/1af4/1005": "virtio-rng", "http://pcisig.com/pci/1af4/1044": "virtio-rng",
    "http://pcisig.com/pci/1af4/1050": "virtio-gpu",
    "http://pcisig.com/pci/1af4/1052": "virtio-input",
}
#: osinfo-db <family> -> OSIdentity.family
FAMILIES = {"winnt": "windows", "win9x": "windows", "win16": "windows", "linux": "linux",
            "freebsd": "bsd", "openbsd": "bsd", "netbsd": "bsd", "dragonflybsd": "bsd"}
_X86_32 = frozenset({"i386", "i486", "i586", "i686"})


@dataclass(frozen=True)
class DbOS:
    """One ``<os>`` entry, as written in its file (nothing inherited yet)."""

    uri: str
    path: Path
    short_ids: tuple[str, ...]
    name: str
    version: str | None
    family: str | None
    distro: str | None
    archs: frozenset[str]
    parents: tuple[str, ...]  # derives-from URIs
    devices: tuple[tuple[str, bool], ...]  # (device URI, supported)
    firmware: tuple[tuple[str, str, bool], ...]  # (arch, type, supported)


def _text(os_el: ET.Element, tag: str) -> str | None:
    for el in os_el.findall(tag):
        if _XML_LANG not in el.attrib and el.text:
            return el.text.strip()
    return None


def parse_file(path: Path) -> DbOS | None:
    """The ``<os>`` in ``path``, or None when the file holds none (or is not XML)."""
    try:
        os_el = ET.parse(path).getroot().find("os")
    except (ET.ParseError, OSError):
        return None
    if os_el is None or "id" not in os_el.attrib:
        return None
    archs = {el.get("arch", "") for tag in ("resources", "media", "tree") for el in os_el.findall(tag)}
    return DbOS(
        uri=os_el.attrib["id"],
        path=path,
        short_ids=tuple((el.text or "").strip() for el in os_el.findall("short-id")),
        name=_text(os_el, "name") or "",
        version=_text(os_el, "version"),
        family=_text(os_el, "family"),
        distro=_text(os_el, "distro"),
        archs=frozenset(archs - {""}),
        parents=tuple(el.attrib["id"] for el in os_el.findall("derives-from") if "id" in el.attrib),
        devices=tuple((el.attrib["id"], el.get("supported", "true") != "false")
                      for el in os_el.findall("devices/device") if "id" in el.attrib),
        firmware=tuple((el.get("arch", ""), el.get("type", ""), el.get("supported", "true") != "false")
                       for el in os_el.findall("firmware")),
    )


class OsinfoDb:
    """A lazily read osinfo-db folder. ``root`` defaults to ``$OSINFO_SYSTEM_DIR`` or
    /usr/share/osinfo; pass another folder (or one that does not exist) in tests."""

    def __init__(self, root: str | os.PathLike[str] | None = None, *,
                 index_cache: Path | None = None) -> None:
        """``index_cache``: a file the folder's index is kept in between processes (module
        docstring); None scans once per instance."""
        self.root = Path(root) if root is not None else Path(os.environ.get(ENV_VAR) or DEFAULT_ROOT)
        self.index_cache = index_cache
        self._parsed: dict[str, DbOS | None] = {}

    @property
    def available(self) -> bool:
        return (self.root / "os").is_dir()

    @cached_property
    def _index(self) -> tuple[dict[str, str], dict[str, str]]:
        """(short id -> file, URI -> file), files relative to the root (strings: a Path each
        would cost more than reading the cache): the cached index while the folder's
        fingerprint matches, else a scan (which refreshes the cache)."""
        if self.index_cache is None or not self.available:
            return self._scan()
        fingerprint = self._fingerprint()
        try:
            cached = json.loads(self.index_cache.read_bytes())
            if cached["root"] == str(self.root) and cached["fingerprint"] == fingerprint:
                return cached["short"], cached["uri"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass  # absent, unreadable or not ours: scan
        return self._scan(fingerprint)

    def _fingerprint(self) -> list[list]:
        """Modification times of os/ and each vendor folder: an added, removed or renamed file
        changes one of them."""
        top = self.root / "os"
        marks = [["", top.stat().st_mtime_ns]]
        with os.scandir(top) as entries:
            marks += sorted([e.name, e.stat().st_mtime_ns] for e in entries if e.is_dir())
        return marks

    def _rescan(self) -> None:
        """The index named a file that no longer says so (edited in place): scan afresh."""
        cached = self.index_cache is not None and self.available
        self.__dict__["_index"] = self._scan(self._fingerprint() if cached else None)

    def _scan(self, fingerprint: list[list] | None = None) -> tuple[dict[str, str], dict[str, str]]:
        """One regex scan of every os/*/*.xml; written to the index cache when one is set."""
        by_short: dict[str, str] = {}
        by_uri: dict[str, str] = {}
        if not self.available:
            return by_short, by_uri
        for path in sorted((self.root / "os").glob("*/*.xml")):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            m = _OS_ID.search(text)
            if m is None:
                continue
            name = f"os/{path.parent.name}/{path.name}"
            by_uri.setdefault(m.group(1), name)
            for short in _SHORT_ID.findall(text):
                by_short.setdefault(short.lower(), name)
        if self.index_cache is not None and fingerprint is not None:
            self._write_cache(fingerprint, by_short, by_uri)
        return by_short, by_uri

    def _write_cache(self, fingerprint: list[list], by_short: dict[str, str],
                     by_uri: dict[str, str]) -> None:
        assert self.index_cache is not None
        doc = {"root": str(self.root), "fingerprint": fingerprint, "short": by_short,
               "uri": by_uri}
        tmp = self.index_cache.with_name(f"{self.index_cache.name}.{os.getpid()}.tmp")
        try:  # a rename, so concurrent readers see the old file or the new, never half of one
            self.index_cache.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(doc))
            os.replace(tmp, self.index_cache)
        except OSError:  # a cache only: without it every process scans
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)

    def _load(self, path: str) -> DbOS | None:
        if path not in self._parsed:
            self._parsed[path] = parse_file(self.root / path)
        return self._parsed[path]

    def lookup(self, short_id: str) -> DbOS | None:
        key = short_id.strip().lower()
        return self._checked(0, key, lambda e: key in (s.lower() for s in e.short_ids))

    def by_uri(self, uri: str) -> DbOS | None:
        return self._checked(1, uri, lambda e: e.uri == uri)

    def _checked(self, which: int, key: str, says: Callable[[DbOS], bool]) -> DbOS | None:
        """The entry the index names for ``key``, once its file is seen to say so; when it does
        not (the file changed after the index was made), rescan once and ask again."""
        for attempt in range(2):
            path = self._index[which].get(key)
            if path is None:
                return None
            entry = self._load(path)
            if entry is not None and says(entry):
                return entry
            if attempt == 0:
                self._parsed.pop(path, None)
                self._rescan()
        return None

    def chain(self, entry: DbOS) -> list[DbOS]:
        """``entry`` and its ancestors, farthest ancestor first (so nearer entries override)."""
        order: list[DbOS] = []
        seen: set[str] = set()

        def visit(e: DbOS) -> None:
            if e.uri in seen:
                return
            seen.add(e.uri)
            for uri in e.parents:
                parent = self.by_uri(uri)
                if parent is not None:
                    visit(parent)
            order.append(e)

        visit(entry)
        return order

    def devices(self, entry: DbOS) -> frozenset[str]:
        """Device URIs the OS supports, inherited through derives-from."""
        state: dict[str, bool] = {}
        for e in self.chain(entry):
            state.update(e.devices)
        return frozenset(uri for uri, ok in state.items() if ok)

    def firmware(self, entry: DbOS) -> dict[tuple[str, str], bool]:
        """(arch, firmware type) -> supported, inherited through derives-from."""
        state: dict[tuple[str, str], bool] = {}
        for e in self.chain(entry):
            state.update({(arch, kind): ok for arch, kind, ok in e.firmware})
        return state

    def drivers(self, entry: DbOS) -> frozenset[str]:
        """kumo driver names for the PCI devices the db lists (inherited)."""
        return frozenset(PCI_DRIVERS[d] for d in self.devices(entry) if d in PCI_DRIVERS)

    def x86_64(self, entry: DbOS) -> tuple[bool, bool]:
        """(a 64-bit x86 build exists, only 64-bit x86 builds exist) from the arch attributes."""
        archs = entry.archs
        has64 = "x86_64" in archs
        return has64, has64 and not (archs & _X86_32) and "all" not in archs


@lru_cache(maxsize=1)
def default_db() -> OsinfoDb:
    """The process-wide db at the default location (constructed on first use, not on import),
    its index kept in the user's cache directory."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return OsinfoDb(index_cache=Path(cache_home) / "kumo" / "osinfo-index.json")
