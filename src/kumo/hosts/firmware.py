"""QEMU firmware descriptors: which UEFI builds a host has, for which machines, with which features.

Format: QEMU's ``docs/interop/firmware.json``. Each ``*.json`` file under
``/usr/share/qemu/firmware`` (distribution), ``/etc/qemu/firmware`` (administrator) or
``$XDG_CONFIG_HOME/qemu/firmware`` (user) describes one firmware image; a later directory's file
of the same name overrides an earlier one's, and an empty file hides it. libvirt's firmware
autoselection (``<os firmware='efi'>`` with ``<firmware><feature .../>``, formatdomain.html
"BIOS bootloader") picks among exactly these, so a feature no descriptor offers is refused at
start -- measured on libvirt 9.0 / QEMU 7.2 (Debian 12): ``<loader stateless='yes'/>`` fails with
"Unable to find any firmware to satisfy 'efi'", because every Debian OVMF build keeps its variables
in a split flash (``mapping.mode`` absent = split; no ``stateless`` mode, no ``memory`` device).

Descriptors are read from the controller's own filesystem, so only for a host on this machine
(a local libvirt URI); a remote host's descriptors are unknown (None) and only what its domain
capabilities say is used.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

#: where QEMU and libvirt look, lowest precedence first (firmware.json, "Search paths")
SEARCH_DIRS = ("/usr/share/qemu/firmware", "/etc/qemu/firmware")


@dataclass(frozen=True)
class FirmwareDescriptor:
    """One firmware.json descriptor, reduced to what placement and lint need."""

    name: str  # file name, e.g. 50-edk2-x86_64-secure.json
    interfaces: tuple[str, ...]  # uefi | bios | ...
    executable: str | None
    nvram_template: str | None
    #: flash mode: split (code + variable store), combined, stateless; memory-mapped = stateless
    mode: str
    #: (architecture, machine glob) pairs, e.g. ("x86_64", "pc-q35-*")
    targets: tuple[tuple[str, str], ...]
    features: tuple[str, ...]  # secure-boot, requires-smm, enrolled-keys, amd-sev, ...

    @property
    def stateless(self) -> bool:
        return self.mode == "stateless"

    def supports(self, arch: str, machine: str) -> bool:
        """True if the descriptor targets ``arch`` and the (versioned) ``machine`` name."""
        return any(a == arch and fnmatch.fnmatchcase(machine, pattern)
                   for a, pattern in self.targets)

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> "FirmwareDescriptor":
        mapping = data.get("mapping") or {}
        device = mapping.get("device")
        executable = (mapping.get("executable") or {}).get("filename") or mapping.get("filename")
        template = (mapping.get("nvram-template") or {}).get("filename")
        if device == "memory":
            mode = "stateless"  # a ROM image: nothing to keep variables in
        else:
            mode = mapping.get("mode") or "split"
        targets = tuple((str(t.get("architecture")), str(m)) for t in data.get("targets") or ()
                        for m in t.get("machines") or ())
        return cls(name=name, interfaces=tuple(data.get("interface-types") or ()),
                   executable=executable, nvram_template=template, mode=mode, targets=targets,
                   features=tuple(data.get("features") or ()))


def read_descriptors(dirs: Iterable[str | Path] = SEARCH_DIRS) -> tuple[FirmwareDescriptor, ...]:
    """The descriptors in effect, in QEMU's priority order (by file name); files that are not
    valid JSON objects are skipped, as QEMU and libvirt skip them."""
    chosen: dict[str, Path] = {}
    for d in dirs:
        p = Path(d)
        if not p.is_dir():
            continue
        for f in p.glob("*.json"):
            chosen[f.name] = f  # a later directory overrides
    out = []
    for name in sorted(chosen):
        try:
            text = chosen[name].read_text()
            if not text.strip():
                continue  # an empty file masks a lower-priority one
            data = json.loads(text)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            out.append(FirmwareDescriptor.from_json(name, data))
    return tuple(out)
