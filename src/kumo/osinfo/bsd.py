"""The BSDs and the other non-Linux, non-Windows systems in Glance's os_distro vocabulary.

Each system has a baseline that holds for every release kumo could meet, plus facts that start at
a given release (taken from the system's own release notes and man pages' HISTORY sections, and for
Hyper-V from Microsoft's "FreeBSD virtual machines on Hyper-V"). Nothing is claimed without a
release to anchor it: an unknown release gets the baseline only.
"""

from __future__ import annotations

from dataclasses import dataclass

from kumo.osinfo.identity import OSIdentity
from kumo.osinfo.versions import LATEST, Version, at_least, dotted

_NICS = frozenset({"ide", "e1000", "e1000e", "rtl8139"})  # em(4)/wm(4) cover 82540EM and 82574L


@dataclass(frozen=True)
class System:
    key: str  # Glance os_distro value (also the libosinfo short-id prefix)
    name: str
    family: str  # bsd | other
    baseline: frozenset[str]
    since: tuple[tuple[Version, frozenset[str]], ...] = ()  # drivers added from a release on
    bits64: bool = True
    q35: Version | None = None
    uefi: Version | None = None
    gen2: Version | None = None


SYSTEMS: dict[str, System] = {s.key: s for s in (
    System("freebsd", "FreeBSD", "bsd", _NICS,
           # ahci(4) 8.0; virtio_blk/if_vtnet/virtio_scsi/virtio_balloon in GENERIC from 10.0;
           # virtio_console and virtio_random by 11.0; Hyper-V drivers built in from 10.0 (Microsoft)
           since=(((8, 0), frozenset({"ahci"})),
                  ((10, 0), frozenset({"virtio-blk", "virtio-net", "virtio-scsi", "virtio-balloon",
                                       "hyperv-synthetic"})),
                  ((11, 0), frozenset({"virtio-serial", "virtio-rng"}))),
           # UEFI boot on amd64 from 10.1; Microsoft lists generation 2 from 11.0 (10.x: gen 1 only)
           q35=(11, 0), uefi=(10, 1), gen2=(11, 0)),
    System("openbsd", "OpenBSD", "bsd", _NICS | {"ahci"},
           # vio(4), vioblk(4), viomb(4), viornd(4) first appeared in 5.3, vioscsi(4) in 5.5,
           # hvn(4)/hvs(4) in 6.1; EFI boot on amd64 from 5.9
           since=(((5, 3), frozenset({"virtio-net", "virtio-blk", "virtio-balloon", "virtio-rng"})),
                  ((5, 5), frozenset({"virtio-scsi"})),
                  ((6, 1), frozenset({"hyperv-synthetic"}))),
           uefi=(5, 9)),
    System("netbsd", "NetBSD", "bsd", _NICS | {"ahci"},
           # ld@virtio, vioif(4), viomb(4), viornd(4) in 6.0; vioscsi(4) in 7.0; hvn/hvs in 9.0;
           # x86 UEFI boot loader from 8.0
           since=(((6, 0), frozenset({"virtio-net", "virtio-blk", "virtio-balloon", "virtio-rng"})),
                  ((7, 0), frozenset({"virtio-scsi"})),
                  ((9, 0), frozenset({"hyperv-synthetic"}))),
           uefi=(8, 0)),
    System("opensolaris", "OpenSolaris", "other", frozenset({"ide", "ahci", "e1000"})),  # e1000g(7D)
    System("msdos", "MS-DOS", "other", frozenset({"ide"}), bits64=False),
    System("netware", "Novell NetWare", "other", frozenset({"ide"}), bits64=False),
)}


def _drivers(system: System, version: Version | None) -> frozenset[str]:
    found = set(system.baseline)
    for since, extra in system.since:
        if at_least(version, since):
            found |= extra
    return frozenset(found)


def identity(system: System, version: Version | None, matched_by: str,
             label: str | None = None) -> OSIdentity:
    """Facts for ``system``; ``version`` None means the release is unknown (baseline only).
    ``label`` is the version as the operator wrote it ("2009.06"), shown instead of the tuple."""
    shown = label or (dotted(version) if version is not None else None)
    return OSIdentity(
        family=system.family, distro=system.key,
        short_id=f"{system.key}{shown}" if version is not None and version != LATEST else None,
        name=f"{system.name} {shown}" if shown else f"{system.name} (release unknown)",
        version=shown, release_known=version is not None, bits64=system.bits64,
        requires_64bit=False, q35=at_least(version, system.q35), uefi=at_least(version, system.uefi),
        requires_uefi=False, secure_boot=False, requires_secure_boot=False, requires_tpm2=False,
        inbox_drivers=_drivers(system, version), hyperv_gen2=at_least(version, system.gen2),
        xen_pv=False, source="kumo table", matched_by=matched_by,
    )
