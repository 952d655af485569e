"""Linux distributions: which kernel each release shipped, and what that kernel can drive.

q35 thresholds: RHEL/CentOS 7, Ubuntu 14.04, Debian 8, Fedora 20, SLES 12, openSUSE 13.1 - the
releases on a 3.10+ kernel (for Ubuntu the first LTS on one). osinfo-db records q35 later for most
of them (it marks the release where someone tested it: Debian 9, Ubuntu 17.04, Fedora 23,
SLES 12 SP2, openSUSE 42.2) but earlier for RHEL (6.0).

Driver facts are read from the release's kernel series (mainline version that merged each driver,
``DRIVER_SINCE_KERNEL``) plus the few distro backports that matter (RHEL 5/6). Machine and firmware
facts (q35, UEFI, Secure Boot, Hyper-V generation 2, 64-bit only) are per distro release, because
they depend on the installer and boot loader a distro shipped, not only on the kernel.

Releases between two kernel milestones get the older milestone's kernel: facts are never guessed
upwards. A release older than every milestone gets no kernel and the bare baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kumo.osinfo.identity import OSIdentity
from kumo.osinfo.versions import LATEST, Version, at_least, dotted, floor_lookup, parse_version

#: Mainline kernel release that merged each driver (kernelnewbies.org release notes):
DRIVER_SINCE_KERNEL: dict[str, Version] = {
    "ide": (2, 0),  # PIIX IDE
    "rtl8139": (2, 2),  # 8139too
    "e1000": (2, 4),
    "usb-tablet": (2, 4),  # usbhid absolute pointer
    "ahci": (2, 6, 11),  # libata ahci
    "e1000e": (2, 6, 24),
    "virtio-net": (2, 6, 24),
    "virtio-blk": (2, 6, 24),
    "virtio-balloon": (2, 6, 25),
    "virtio-rng": (2, 6, 26),
    "virtio-serial": (2, 6, 35),  # multiport virtio_console (2.6.26 had a single console only)
    "virtio-scsi": (3, 4),
    "virtio-input": (4, 1),
    "virtio-gpu": (4, 2),
    # pvops domU for x86_64 (blkfront/netfront included); a distro may still build its kernel
    # without CONFIG_XEN_PV - kumo does not track that per distro
    "xen-pv": (2, 6, 27),
    "usb-xhci": (2, 6, 31),  # xhci-hcd (USB 3.0 host controller)
    "hyperv-synthetic": (3, 2),  # hv_vmbus/netvsc/storvsc (in staging from 2.6.32); MS lists 12.04/Debian 7
}
#: What a Linux guest of unknown release can be assumed to have: the 2.6.32 floor (RHEL 6,
#: Ubuntu 10.04, Debian 6 - the oldest releases of the virtio era still met in image stores).
UNKNOWN_RELEASE_KERNEL: Version = (2, 6, 32)

_RHEL_KERNELS = (((4,), (2, 6, 9)), ((5,), (2, 6, 18)), ((6,), (2, 6, 32)), ((7,), (3, 10)),
                 ((8,), (4, 18)), ((9,), (5, 14)), ((10,), (6, 12)))
# Red Hat backports (RHEL release notes / virtualization guides): virtio in 5.3, multiport
# virtio-serial in 6.0, virtio-scsi in 6.3, Hyper-V drivers built in from 6.4 (Microsoft's
# "CentOS and RHEL virtual machines on Hyper-V" table).
_RHEL_BACKPORTS = (((5, 3), frozenset({"virtio-net", "virtio-blk", "virtio-balloon"})),
                   ((6, 0), frozenset({"virtio-serial"})),
                   ((6, 3), frozenset({"virtio-scsi"})),
                   ((6, 4), frozenset({"hyperv-synthetic"})))


@dataclass(frozen=True)
class Distro:
    key: str  # Glance os_distro value
    name: str
    kernels: tuple[tuple[Version, Version], ...]  # (first release, kernel it shipped), ascending
    q35: Version | None = None  # first release that boots on q35 (AHCI + PCIe)
    uefi: Version | None = None  # first release whose x86_64 installer/boot loader supports UEFI
    secure_boot: Version | None = None  # first release with a signed shim
    gen2: Version | None = None  # first release Microsoft lists as Hyper-V generation 2 capable
    only64: Version | None = None  # first release without any 32-bit x86 build
    backports: tuple[tuple[Version, frozenset[str]], ...] = ()
    rolling: bool = False  # no releases: always the newest facts
    codenames: dict[str, Version] = field(default_factory=dict)


def _rhel_like(key: str, name: str, first: Version = (4,)) -> Distro:
    # q35 from 7 (osinfo-db already lists q35 for rhel-6.0.xml; kumo keeps RHEL 6 on pc because its
    # 2.6.32 kernel predates most PCIe hotplug fixes); UEFI from RHEL 6 (x86_64), Secure Boot from 7.0;
    # Hyper-V gen2 from 7 (Microsoft lists 6.x as generation 2 only on Windows Server 2016 hosts,
    # which kumo cannot know here, so it keeps 6.x generation 1); x86_64 only from 7.
    kernels = tuple(k for k in _RHEL_KERNELS if k[0] >= first)
    return Distro(key, name, kernels, q35=(7,), uefi=(6,), secure_boot=(7,), gen2=(7,),
                  only64=(7,), backports=_RHEL_BACKPORTS)


_SLE_KERNELS = (((9,), (2, 6, 5)), ((10,), (2, 6, 16)), ((11,), (2, 6, 27)), ((11, 1), (2, 6, 32)),
                ((11, 2), (3, 0)), ((12,), (3, 12)), ((12, 2), (4, 4)), ((12, 4), (4, 12)),
                ((15,), (4, 12)), ((15, 2), (5, 3)), ((15, 4), (5, 14)), ((15, 6), (6, 4)))


def _sle(key: str, name: str) -> Distro:
    # UEFI from 11 SP1, Secure Boot from 11 SP3 (SUSE release notes); q35 and Hyper-V gen2 from 12
    # (Microsoft: SLES 11 generation 1 only); x86 32-bit dropped in 12.
    return Distro(key, name, _SLE_KERNELS, q35=(12,), uefi=(11, 1), secure_boot=(11, 3), gen2=(12,),
                  only64=(12,))


DISTROS: dict[str, Distro] = {d.key: d for d in (
    _rhel_like("rhel", "Red Hat Enterprise Linux"),
    _rhel_like("centos", "CentOS"),
    _rhel_like("rocky", "Rocky Linux", first=(8,)),
    _rhel_like("almalinux", "AlmaLinux", first=(8,)),
    _sle("sles", "SUSE Linux Enterprise Server"),
    _sle("sled", "SUSE Linux Enterprise Desktop"),
    Distro("ubuntu", "Ubuntu",
           (((6, 6), (2, 6, 15)), ((8, 4), (2, 6, 24)), ((10, 4), (2, 6, 32)), ((12, 4), (3, 2)),
            ((14, 4), (3, 13)), ((16, 4), (4, 4)), ((18, 4), (4, 15)), ((20, 4), (5, 4)),
            ((22, 4), (5, 15)), ((24, 4), (6, 8))),
           # Secure Boot from 12.10 (first signed shim); Hyper-V gen2 from 14.04 (Microsoft);
           # no i386 images from 19.10
           q35=(14, 4), uefi=(12, 4), secure_boot=(12, 10), gen2=(14, 4), only64=(19, 10),
           codenames={"precise": (12, 4), "trusty": (14, 4), "xenial": (16, 4), "bionic": (18, 4),
                      "focal": (20, 4), "jammy": (22, 4), "noble": (24, 4)}),
    Distro("debian", "Debian",
           (((4,), (2, 6, 18)), ((5,), (2, 6, 26)), ((6,), (2, 6, 32)), ((7,), (3, 2)),
            ((8,), (3, 16)), ((9,), (4, 9)), ((10,), (4, 19)), ((11,), (5, 10)), ((12,), (6, 1)),
            ((13,), (6, 12))),
           # UEFI amd64 installs from 7 (wheezy), Secure Boot from 10 (buster); gen2 from 8
           # (Microsoft: Debian 7 generation 1 only); Debian still builds i386.
           q35=(8,), uefi=(7,), secure_boot=(10,), gen2=(8,),
           codenames={"squeeze": (6,), "wheezy": (7,), "jessie": (8,), "stretch": (9,),
                      "buster": (10,), "bullseye": (11,), "bookworm": (12,), "trixie": (13,)}),
    Distro("fedora", "Fedora",
           (((7,), (2, 6, 21)), ((9,), (2, 6, 25)), ((11,), (2, 6, 29)), ((13,), (2, 6, 33)),
            ((15,), (2, 6, 38)), ((16,), (3, 1)), ((18,), (3, 6)), ((20,), (3, 11)), ((22,), (4, 0)),
            ((23,), (4, 2)), ((25,), (4, 8)), ((28,), (4, 16)), ((30,), (5, 0)), ((33,), (5, 8)),
            ((36,), (5, 17)), ((38,), (6, 2)), ((40,), (6, 8))),
           # Fedora 18 shipped the first shim (UEFI + Secure Boot); Microsoft does not list Fedora
           # for Hyper-V gen2, kumo approximates it by the 3.11 kernel of Fedora 20; no i686 from 31.
           q35=(20,), uefi=(18,), secure_boot=(18,), gen2=(20,), only64=(31,)),
    Distro("opensuse", "openSUSE",
           # Leap 42.x came between 13.2 and 15.0; its versions are ordered as 14.x (see order_key)
           (((10, 2), (2, 6, 18)), ((11, 0), (2, 6, 25)), ((11, 2), (2, 6, 31)), ((12, 1), (3, 1)),
            ((12, 3), (3, 7)), ((13, 1), (3, 11)), ((13, 2), (3, 16)), ((14, 1), (4, 1)),
            ((14, 3), (4, 4)), ((15, 0), (4, 12)), ((15, 2), (5, 3)), ((15, 4), (5, 14)),
            ((15, 6), (6, 4))),
           # UEFI from 12.2, Secure Boot from 12.3; Microsoft: openSUSE 12.3 generation 1 only,
           # Leap (SLE 12 based) taken as generation 2 capable; Leap is x86_64 only.
           q35=(13, 1), uefi=(12, 2), secure_boot=(12, 3), gen2=(14, 1), only64=(14, 1)),
    Distro("cirros", "CirrOS",
           (((0, 3), (3, 2)), ((0, 4), (4, 4)), ((0, 5), (5, 3)), ((0, 6), (5, 15))),
           q35=(0, 4)),  # no firmware claims: CirrOS images are BIOS/MBR test images
    Distro("arch", "Arch Linux", (((0,), (6, 0)),), q35=(0,), uefi=(0,), gen2=(0,), only64=(0,),
           rolling=True),  # rolling; unsigned boot chain, so no Secure Boot out of the box
    Distro("gentoo", "Gentoo", (((0,), (6, 0)),), q35=(0,), uefi=(0,), gen2=(0,), rolling=True),
    Distro("mandrake", "Mandrake Linux", (((8,), (2, 4)), ((10,), (2, 6, 3)))),
    Distro("mandriva", "Mandriva Linux",
           (((2006,), (2, 6, 12)), ((2008,), (2, 6, 24)), ((2010,), (2, 6, 31)), ((2011,), (2, 6, 38)))),
    Distro("mes", "Mandriva Enterprise Server", (((5,), (2, 6, 27)),)),
)}

#: other spellings operators use for the same os_distro
ALIASES = {"redhat": "rhel", "red hat": "rhel", "rockylinux": "rocky", "alma": "almalinux",
           "archlinux": "arch", "sle": "sles", "suse": "sles", "opensuse-leap": "opensuse",
           "opensuseleap": "opensuse", "leap": "opensuse", "centos-stream": "centos"}


def order_key(distro: Distro, version: Version) -> Version:
    """The version as the tables compare it (openSUSE Leap 42.x sorts between 13.2 and 15.0)."""
    if distro.key == "opensuse" and version and version[0] == 42:
        return (14,) + version[1:]
    return version


def short_id(distro: Distro, version: Version | None) -> str | None:
    """libosinfo's naming scheme for the release (centos7.0, ubuntu22.04, sle15sp4, debian12)."""
    if distro.rolling:
        return {"arch": "archlinux"}.get(distro.key, distro.key)
    if version is None or version == LATEST:
        return None
    major, minor = version[0], (version[1] if len(version) > 1 else 0)
    k = distro.key
    if k in ("debian", "fedora", "almalinux", "mandriva") or (k == "centos" and major == 8):
        return f"{k}{major}"
    if k == "centos" and major >= 9:
        return f"centos-stream{major}"
    if k == "ubuntu":
        return f"ubuntu{major}.{minor:02d}"
    if k in ("sles", "sled"):
        base = "sle" if major >= 15 else k
        return f"{base}{major}" + (f"sp{minor}" if minor else "")
    if k == "cirros":
        return "cirros" + dotted(version)
    return f"{k}{major}.{minor}"


def display_version(distro: Distro, version: Version) -> str:
    if distro.key == "ubuntu" and len(version) >= 2:
        return f"{version[0]}.{version[1]:02d}" + "".join(f".{p}" for p in version[2:])
    if distro.key in ("sles", "sled") and len(version) >= 2 and version[1]:
        return f"{version[0]} SP{version[1]}"
    return dotted(version)


def drivers_for(kernel: Version, distro: Distro | None = None,
                version: Version | None = None) -> frozenset[str]:
    found = {d for d, since in DRIVER_SINCE_KERNEL.items() if kernel >= since}
    if distro is not None and version is not None:
        for since, extra in distro.backports:
            if version >= since:
                found |= extra
    return frozenset(found)


def identity(distro: Distro, version: Version | None, matched_by: str, source: str = "kumo table",
             label: str | None = None) -> OSIdentity:
    """Facts for a release of a known distro; ``version`` None means the release is unknown.
    ``label`` names a rolling/development release ("sid", "tumbleweed") given as :data:`LATEST`."""
    if distro.rolling:
        version, label = LATEST, None
    if version is None:
        return unknown_identity(matched_by, distro)
    key = order_key(distro, version)
    kernel = floor_lookup(key, distro.kernels)
    drivers = drivers_for(kernel, distro, key) if kernel else frozenset({"ide"})
    shown = None if distro.rolling else (label if version == LATEST else display_version(distro, version))
    return OSIdentity(
        family="linux", distro=distro.key, short_id=short_id(distro, version),
        name=f"{distro.name} {shown}" if shown else distro.name, version=shown, release_known=True,
        bits64=True, requires_64bit=at_least(key, distro.only64), q35=at_least(key, distro.q35),
        uefi=at_least(key, distro.uefi), requires_uefi=False,
        secure_boot=at_least(key, distro.secure_boot), requires_secure_boot=False,
        requires_tpm2=False, inbox_drivers=drivers, hyperv_gen2=at_least(key, distro.gen2),
        xen_pv="xen-pv" in drivers, source=source, matched_by=matched_by,
        kernel=dotted(kernel) if kernel and version != LATEST else None,
    )


def unknown_identity(matched_by: str, distro: Distro | None = None) -> OSIdentity:
    """Linux of an unknown release: the 2.6.32 kernel floor, no machine or firmware claims."""
    drivers = drivers_for(UNKNOWN_RELEASE_KERNEL)
    return OSIdentity(
        family="linux", distro=distro.key if distro else None, short_id=None,
        name=f"{distro.name if distro else 'Linux'} (release unknown)", version=None,
        release_known=False, bits64=True, requires_64bit=False, q35=False, uefi=False,
        requires_uefi=False, secure_boot=False, requires_secure_boot=False, requires_tpm2=False,
        inbox_drivers=drivers, hyperv_gen2=False, xen_pv="xen-pv" in drivers, source="kumo table",
        matched_by=matched_by,
    )


def parse_release(distro: Distro, text: str | None) -> Version | None:
    """Version from os_version, accepting the codenames the table knows ("jammy")."""
    if text is not None and text.strip().lower() in distro.codenames:
        return distro.codenames[text.strip().lower()]
    return parse_version(text)
