"""OSIdentity: what kumo knows about a guest operating system.

Derived from an image's os_distro/os_version (Glance vocabulary or libosinfo short ids) by
``kumo.osinfo.resolve``. Every policy rule that depends on the OS reads these facts, never the
raw strings.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OSIdentity:
    family: str  # windows | linux | bsd | other (recognised, none of those) | unknown
    distro: str | None  # Glance os_distro vocabulary: windows, centos, ubuntu, debian, rhel, ...
    #: libosinfo-style short id: win2k8r2, win10, centos7.0, ubuntu22.04. kumo builds it by
    #: libosinfo's naming scheme, so a release newer than the installed osinfo-db still gets one.
    short_id: str | None
    name: str  # "Windows Server 2008 R2", "CentOS 7.0", "Windows (release unknown)"
    #: Windows: NT version ("6.1"; Windows 11 and Server 2016-2025 are "10.0"); others: the
    #: distro version as parsed ("7", "22.04")
    version: str | None
    release_known: bool  # False when only the family is known (os_version missing/UNKNOWN)
    bits64: bool  # a 64-bit build exists / the guest can be 64-bit
    requires_64bit: bool  # only 64-bit builds exist (Server 2008 R2 and later, Windows 11)
    q35: bool  # boots on q35 (AHCI, PCIe): Windows 7 / 2008 R2 and later, modern Linux
    uefi: bool  # can boot from UEFI firmware
    requires_uefi: bool  # no BIOS boot at all: Windows 11 (Server 2025 still boots from BIOS)
    secure_boot: bool  # supports UEFI Secure Boot
    requires_secure_boot: bool  # Windows 11
    requires_tpm2: bool  # Windows 11
    #: drivers shipped in the OS itself ("inbox"): ide, ahci, e1000, e1000e, rtl8139,
    #: virtio-blk, virtio-scsi, virtio-net, virtio-serial, virtio-balloon, virtio-rng,
    #: virtio-gpu, virtio-input, usb-tablet, usb-xhci, xen-pv, hyperv-synthetic
    inbox_drivers: frozenset[str]
    hyperv_gen2: bool  # can run as a Hyper-V generation 2 VM (Windows 8/2012 x64+, modern Linux)
    xen_pv: bool  # can run as a Xen paravirtual guest (Linux with pvops)
    #: where the facts came from, for explain: "kumo table", "osinfo-db <path>", or
    #: "kumo table (release from osinfo-db <path>)" when the db only named the release
    source: str
    #: how the identity was derived, including any ambiguity resolved:
    #: "os_distro='windows', os_version='2012R2' -> win2k12r2"
    matched_by: str
    #: Linux: the kernel series the release shipped ("3.10") from which driver facts were read
    kernel: str | None = None
