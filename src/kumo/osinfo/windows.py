"""Windows releases, XP to Server 2025 / Windows 11: what each one can boot on and ships inbox.

The table below is the single place these facts live. Sources, per column:

* NT version: Microsoft's version numbers (``ver``); every release since Windows 10 is NT 10.0
  and is told apart by build (Server 2016 = 14393, 2019 = 17763, 2022 = 20348, Windows 11 >= 22000,
  Server 2025 = 26100). osinfo-db gets two of these wrong (see ``OSINFO_DB_VERSION_ERRORS``).
* bits64: every release here had an x64 edition (XP Professional x64, Server 2003 x64, ...).
* requires_64bit: no 32-bit build exists: Server 2008 R2 and later servers, Windows 11
  (Microsoft "Windows 11 specifications"; Server 2008 R2 was the first x64-only server).
* q35: osinfo-db lists the QEMU q35 chipset (``qemu.org/chipset/x86/q35``) from win-7.xml and
  win-2k8r2.xml on; Vista/2008 have AHCI but are kept on i440fx (pc), XP/2003 have no AHCI at all.
* uefi / secure_boot: UEFI boot on OVMF from Windows 8 / Server 2012 on. Vista SP1/7/2008 x64 boot
  UEFI only with a CSM (they need int10h video), which OVMF lacks, so kumo treats them as BIOS-only.
  Secure Boot arrived with Windows 8 / 2012.
* requires_uefi / requires_secure_boot / requires_tpm2: Windows 11 only (Microsoft "Windows 11
  specifications": UEFI, Secure Boot capable, TPM 2.0; Hyper-V offers it generation 2 only).
  Server 2025 still installs on generation 1 (BIOS) VMs per Microsoft's "Should I create a
  generation 1 or 2 virtual machine" table, so it requires none of them.
* hyperv_gen2: 64-bit Windows 8 / Server 2012 and later (Nova Hyper-V gen2 spec, seed 004, and
  Microsoft's generation 1 or 2 table: Windows 7 / 2008 R2 are generation 1 only).
* inbox drivers, see the ``_XP`` ... ``_WIN8`` sets below. Windows never ships virtio (that is the
  separate virtio-win driver ISO) nor Xen PV drivers; no Windows release is a Xen PV guest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kumo.osinfo.identity import OSIdentity

# --- inbox drivers -------------------------------------------------------------------------------
# XP/2003: PIIX IDE only (no inbox AHCI driver before Vista's msahci); Realtek RTL8139 inbox; USB HID
# covers QEMU's usb-tablet. XP does NOT drive QEMU's e1000 (Intel 82540EM): the VirtualBox manual
# (sec. 6.1) says the 82540EM "works with Windows Vista and later" and XP only recognises the 82543GC,
# and Red Hat's virt-test disabled WinXP+e1000 for the same reason (autotest/virt-test#1334).
# osinfo-db's win-xp.xml lists 8086:100e anyway; kumo keeps the stricter answer.
_XP = frozenset({"ide", "rtl8139", "usb-tablet"})
# Server 2003 ships a newer PRO/1000 driver that binds the 82540EM (osinfo-db win-2k3.xml: 8086:100e).
_WIN2K3 = _XP | {"e1000"}
# Vista/2008: msahci (AHCI) inbox; 82540EM per the VirtualBox manual; RTL8139 still inbox.
_VISTA = frozenset({"ide", "ahci", "e1000", "rtl8139", "usb-tablet"})
# Windows 7 / 2008 R2: Hyper-V integration services are built in (Microsoft "Supported Windows guest
# operating systems for Hyper-V": 7/2008 R2 only need them updated, Vista/2008 need them installed);
# e1000e (Intel 82574L, 8086:10d3) inbox per osinfo-db win-7.xml and win-2k8r2.xml.
_WIN7 = _VISTA | {"e1000e", "hyperv-synthetic"}
# Windows 8 / 2012 and later: no RTL8139 driver is documented inbox (and every server from here on is
# x64-only), so kumo stops claiming it; e1000 and e1000e remain (osinfo-db inherits both to win-11).
# USB 3.0 (xHCI) is inbox from Windows 8 / Server 2012 on: Microsoft's "USB 3.0 driver stack"
# (usbxhci.sys) first shipped with Windows 8, and osinfo-db lists an xHCI controller (NEC
# uPD720200, 1033:0194) first in win-8.xml and win-2k12.xml. usbxhci binds any xHCI by its PCI
# class (0C0330), so QEMU's qemu-xhci works too. Windows 7 / 2008 R2 and older have none.
_WIN8 = (_WIN7 - {"rtl8139"}) | {"usb-xhci"}

#: What holds for any Windows release kumo could plausibly meet when the release is not known
#: (CERN: os_distro=Windows, os_version=UNKNOWN). It is the Windows 7 / 2008 R2 and later floor
#: (e1000e included, per osinfo-db's win-7/win-2k8r2 device lists, so such a guest on q35 gets the
#: PCIe e1000e the issue asks for), without the facts that need a Hyper-V host to matter.
UNKNOWN_WINDOWS_DRIVERS = frozenset({"ide", "ahci", "e1000", "e1000e", "usb-tablet"})


@dataclass(frozen=True)
class WindowsRelease:
    short_id: str  # libosinfo short id
    name: str
    nt: str
    server: bool
    requires_64bit: bool
    q35: bool
    uefi: bool  # secure_boot goes with it for every release here
    hyperv_gen2: bool
    drivers: frozenset[str]
    requires_uefi: bool = False  # Windows 11's trio: UEFI, Secure Boot capable, TPM 2.0
    requires_secure_boot: bool = False
    requires_tpm2: bool = False


_R = WindowsRelease
# In release order. Columns: short id, name, NT, server, requires_64bit, q35, uefi(+SB), gen2, drivers
RELEASES: tuple[WindowsRelease, ...] = (
    _R("winxp", "Windows XP", "5.1", False, False, False, False, False, _XP),
    _R("win2k3", "Windows Server 2003", "5.2", True, False, False, False, False, _WIN2K3),
    _R("win2k3r2", "Windows Server 2003 R2", "5.2", True, False, False, False, False, _WIN2K3),
    _R("winvista", "Windows Vista", "6.0", False, False, False, False, False, _VISTA),
    _R("win2k8", "Windows Server 2008", "6.0", True, False, False, False, False, _VISTA),
    _R("win7", "Windows 7", "6.1", False, False, True, False, False, _WIN7),
    _R("win2k8r2", "Windows Server 2008 R2", "6.1", True, True, True, False, False, _WIN7),
    _R("win8", "Windows 8", "6.2", False, False, True, True, True, _WIN8),
    _R("win2k12", "Windows Server 2012", "6.2", True, True, True, True, True, _WIN8),
    _R("win8.1", "Windows 8.1", "6.3", False, False, True, True, True, _WIN8),
    _R("win2k12r2", "Windows Server 2012 R2", "6.3", True, True, True, True, True, _WIN8),
    _R("win10", "Windows 10", "10.0", False, False, True, True, True, _WIN8),
    _R("win2k16", "Windows Server 2016", "10.0", True, True, True, True, True, _WIN8),
    _R("win2k19", "Windows Server 2019", "10.0", True, True, True, True, True, _WIN8),
    _R("win2k22", "Windows Server 2022", "10.0", True, True, True, True, True, _WIN8),
    _R("win11", "Windows 11", "10.0", False, True, True, True, True, _WIN8,
       requires_uefi=True, requires_secure_boot=True, requires_tpm2=True),
    _R("win2k25", "Windows Server 2025", "10.0", True, True, True, True, True, _WIN8),
)
BY_SHORT_ID: dict[str, WindowsRelease] = {r.short_id: r for r in RELEASES}

#: osinfo-db (0.20221130) version fields that disagree with Microsoft's NT numbers.
OSINFO_DB_VERSION_ERRORS = {"win2k12": "6.3", "win11": "11.0"}
#: NIC facts where kumo deliberately disagrees with osinfo-db's <devices> (with inheritance).
OSINFO_DB_NIC_DIVERGENCES = {("winxp", "e1000"): "osinfo-db lists 8086:100e; XP has no 82540EM driver"}

# --- reading os_version ---------------------------------------------------------------------------
# Product names and libosinfo-style abbreviations, after noise words and spaces are removed.
_NAMES = {
    "xp": "winxp", "2003": "win2k3", "2k3": "win2k3", "2003r2": "win2k3r2", "2k3r2": "win2k3r2",
    "vista": "winvista", "2008": "win2k8", "2k8": "win2k8", "7": "win7",
    "2008r2": "win2k8r2", "2k8r2": "win2k8r2", "8": "win8", "2012": "win2k12", "2k12": "win2k12",
    "8.1": "win8.1", "2012r2": "win2k12r2", "2k12r2": "win2k12r2", "windows10": "win10",
    "2016": "win2k16", "2k16": "win2k16", "2019": "win2k19", "2k19": "win2k19",
    "2022": "win2k22", "2k22": "win2k22", "11": "win11", "11.0": "win11",
    "2025": "win2k25", "2k25": "win2k25",
}
# NT versions. Most are shared by a desktop and a server release; kumo must pick one, always the same:
# NT 5.2/6.x -> the server release (bare NT numbers come from `ver` on servers far more often than
# from desktops, and the server facts are the stricter ones: requires_64bit from 2008 R2 on);
# NT 10.0 (and a bare "10") -> Windows 10, the desktop release ("10" is how people write "Windows 10");
# with a build number, >= 22000 is Windows 11 and 20348 (server-only) is Server 2022.
# The word "server", or "client"/"desktop"/"workstation", next to the number overrides the default.
_NT_SERVER = {"5.2": "win2k3", "6.0": "win2k8", "6.1": "win2k8r2", "6.2": "win2k12", "6.3": "win2k12r2",
              "10.0": "win2k16"}
_NT_DESKTOP = {"5.1": "winxp", "5.2": "winxp", "6.0": "winvista", "6.1": "win7", "6.2": "win8",
               "6.3": "win8.1", "10.0": "win10"}
_NT_SHARED = {"5.2": "XP x64, Server 2003 and 2003 R2", "6.0": "Vista and Server 2008",
              "6.1": "7 and Server 2008 R2", "6.2": "8 and Server 2012", "6.3": "8.1 and Server 2012 R2",
              "10.0": "10, 11 and Server 2016-2025"}
_SERVER_BUILDS = {14393: "win2k16", 17763: "win2k19", 20348: "win2k22", 26100: "win2k25"}
_WIN11_FIRST_BUILD = 22000

_NOISE = frozenset({
    "microsoft", "windows", "win", "ms", "edition", "standard", "datacenter", "enterprise",
    "professional", "pro", "home", "ultimate", "education", "web", "foundation", "essentials",
    "ltsc", "ltsb", "iot", "core", "eval", "evaluation", "x64", "x86", "amd64", "i386", "n", "sp1",
    "sp2", "sp3", "sp4", "service", "pack", "rtm", "gen1", "gen2",
})
_DESKTOP_WORDS = frozenset({"client", "desktop", "workstation"})
# Windows 10/11 feature updates written after the product: "10 22H2", "10 1809"
_FEATURE_UPDATE = re.compile(r"^(?:\d{2}h\d|1[5-9](?:0[1-9]|1[0-2])|2\d(?:0[1-9]|1[0-2]))$")
_NT = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:\.\d+)?$")


def _key(text: str) -> tuple[str, bool, bool]:
    """os_version reduced to a lookup key, plus whether it said "server" / a desktop word."""
    t = re.sub(r"\b(?:32|64)[- ]?bits?\b", " ", text.lower())
    words = re.sub(r"[-_/,()+]", " ", t).split()
    server = "server" in words
    desktop = any(w in _DESKTOP_WORDS for w in words)
    kept = [w for w in words if w not in _NOISE and w != "server" and w not in _DESKTOP_WORDS]
    key = "".join(kept)
    if key not in _NAMES and len(kept) > 1:
        key = "".join(w for w in kept if not _FEATURE_UPDATE.match(w))
    key = re.sub(r"^(?:win|w)(?=\d|xp|vista)", "", key)  # win2k12r2, W2K8R2, win7, winxp
    if key == "10":  # "Windows 10" names the product; a bare "10" is the NT number
        key = "windows10" if "windows" in words and not server else "10.0"
    return key, server, desktop


def _by_nt(nt: str, build: int | None, server: bool, desktop: bool) -> tuple[str, str]:
    """(short id, ambiguity note) for an NT version."""
    if nt == "10.0" and build is not None:
        if server or build == 20348:  # 20348 was never a desktop build
            return _SERVER_BUILDS.get(build, "win2k16"), f"NT 10.0 build {build}"
        short = "win11" if build >= _WIN11_FIRST_BUILD else "win10"
        also = BY_SHORT_ID[_SERVER_BUILDS[build]].name if build in _SERVER_BUILDS else ""
        if also:
            return short, f"NT 10.0 build {build} is also {also}; kumo takes the desktop release"
        return short, f"NT 10.0 build {build}"
    if server and nt in _NT_SERVER:
        return _NT_SERVER[nt], ""
    if desktop or nt in ("5.1", "10.0"):
        short = _NT_DESKTOP[nt]
    else:
        short = _NT_SERVER[nt]
    if nt == "5.1" or desktop:
        return short, ""
    rule = "Windows 10 for NT 10.0" if nt == "10.0" else "the server release for NT 5.2/6.x"
    return short, f"NT {nt} is Windows {_NT_SHARED[nt]}; kumo takes {rule}"


def parse_version(text: str) -> tuple[WindowsRelease | None, str]:
    """The release an os_version string names (None if unrecognised), and a note on any
    ambiguity that was resolved."""
    key, server, desktop = _key(text)
    if key in _NAMES:
        return BY_SHORT_ID[_NAMES[key]], ""
    m = _NT.match(key)
    if m is None or f"{m.group(1)}.{m.group(2)}" not in _NT_DESKTOP:
        return None, ""
    build = int(m.group(3)) if m.group(3) else None
    short, note = _by_nt(f"{m.group(1)}.{m.group(2)}", build, server, desktop)
    return BY_SHORT_ID[short], note


def identity(release: WindowsRelease, matched_by: str) -> OSIdentity:
    return OSIdentity(
        family="windows", distro="windows", short_id=release.short_id, name=release.name,
        version=release.nt, release_known=True, bits64=True,
        requires_64bit=release.requires_64bit, q35=release.q35, uefi=release.uefi,
        requires_uefi=release.requires_uefi, secure_boot=release.uefi,
        requires_secure_boot=release.requires_secure_boot, requires_tpm2=release.requires_tpm2,
        inbox_drivers=release.drivers, hyperv_gen2=release.hyperv_gen2, xen_pv=False,
        source="kumo table", matched_by=matched_by,
    )


def unknown_identity(matched_by: str, distro: str | None = "windows") -> OSIdentity:
    """Windows of an unknown release: only what holds for Windows 7 / 2008 R2 and later."""
    return OSIdentity(
        family="windows", distro=distro, short_id=None, name="Windows (release unknown)",
        version=None, release_known=False, bits64=True, requires_64bit=False, q35=True,
        uefi=False, requires_uefi=False, secure_boot=False, requires_secure_boot=False,
        requires_tpm2=False, inbox_drivers=UNKNOWN_WINDOWS_DRIVERS, hyperv_gen2=False,
        xen_pv=False, source="kumo table", matched_by=matched_by,
    )
