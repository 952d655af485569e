"""Windows: every release by the spellings operators use, and each release's exact facts."""

import pytest

from kumo.osinfo import OSIdentity, resolve

XP = {"ide", "rtl8139", "usb-tablet"}
W2K3 = XP | {"e1000"}
VISTA = {"ide", "ahci", "e1000", "rtl8139", "usb-tablet"}
W7 = VISTA | {"e1000e", "hyperv-synthetic"}
W8 = (W7 - {"rtl8139"}) | {"usb-xhci"}  # inbox xHCI from Windows 8 / 2012

# short id: name, NT, requires_64bit, q35, uefi(=secure_boot), hyperv_gen2, inbox drivers
FACTS = {
    "winxp": ("Windows XP", "5.1", False, False, False, False, XP),
    "win2k3": ("Windows Server 2003", "5.2", False, False, False, False, W2K3),
    "win2k3r2": ("Windows Server 2003 R2", "5.2", False, False, False, False, W2K3),
    "winvista": ("Windows Vista", "6.0", False, False, False, False, VISTA),
    "win2k8": ("Windows Server 2008", "6.0", False, False, False, False, VISTA),
    "win7": ("Windows 7", "6.1", False, True, False, False, W7),
    "win2k8r2": ("Windows Server 2008 R2", "6.1", True, True, False, False, W7),
    "win8": ("Windows 8", "6.2", False, True, True, True, W8),
    "win2k12": ("Windows Server 2012", "6.2", True, True, True, True, W8),
    "win8.1": ("Windows 8.1", "6.3", False, True, True, True, W8),
    "win2k12r2": ("Windows Server 2012 R2", "6.3", True, True, True, True, W8),
    "win10": ("Windows 10", "10.0", False, True, True, True, W8),
    "win2k16": ("Windows Server 2016", "10.0", True, True, True, True, W8),
    "win2k19": ("Windows Server 2019", "10.0", True, True, True, True, W8),
    "win2k22": ("Windows Server 2022", "10.0", True, True, True, True, W8),
    "win11": ("Windows 11", "10.0", True, True, True, True, W8),
    "win2k25": ("Windows Server 2025", "10.0", True, True, True, True, W8),
}


@pytest.mark.parametrize("short_id", list(FACTS), ids=list(FACTS))
def test_release_facts_by_libosinfo_short_id(short_id):
    name, nt, only64, q35, uefi, gen2, drivers = FACTS[short_id]
    win11 = short_id == "win11"
    assert resolve(short_id, None) == OSIdentity(
        family="windows", distro="windows", short_id=short_id, name=name, version=nt,
        release_known=True, bits64=True, requires_64bit=only64, q35=q35, uefi=uefi,
        requires_uefi=win11, secure_boot=uefi, requires_secure_boot=win11, requires_tpm2=win11,
        inbox_drivers=frozenset(drivers), hyperv_gen2=gen2, xen_pv=False, source="kumo table",
        matched_by=f"os_distro={short_id!r} (libosinfo short id)",
    )


SPELLINGS = [
    ("XP", "winxp"), ("Windows XP Professional SP3", "winxp"), ("5.1", "winxp"), ("winxp", "winxp"),
    ("2003", "win2k3"), ("Server 2003", "win2k3"), ("2k3", "win2k3"), ("5.2", "win2k3"),
    ("2003R2", "win2k3r2"), ("2003 R2", "win2k3r2"), ("Windows Server 2003 R2", "win2k3r2"),
    ("Vista", "winvista"), ("winvista", "winvista"), ("desktop 6.0", "winvista"),
    ("2008", "win2k8"), ("Server 2008", "win2k8"), ("6.0", "win2k8"), ("w2k8", "win2k8"),
    ("7", "win7"), ("Windows 7 SP1 x64 (64-bit)", "win7"), ("client 6.1", "win7"), ("win7", "win7"),
    ("2008R2", "win2k8r2"), ("2008 R2", "win2k8r2"), ("Server 2008 R2 SP1", "win2k8r2"),
    ("6.1", "win2k8r2"), ("6.1.7601", "win2k8r2"), ("W2K8R2", "win2k8r2"), ("2k8r2", "win2k8r2"),
    ("8", "win8"), ("Windows 8 Pro", "win8"),
    ("2012", "win2k12"), ("Server 2012", "win2k12"), ("6.2", "win2k12"), ("2k12", "win2k12"),
    ("8.1", "win8.1"), ("win8.1", "win8.1"),
    ("2012R2", "win2k12r2"), ("2012 R2", "win2k12r2"), ("Server 2012 R2", "win2k12r2"),
    ("6.3", "win2k12r2"), ("2k12r2", "win2k12r2"), ("win2k12r2", "win2k12r2"),
    ("Windows Server 2012 R2 Datacenter", "win2k12r2"), ("2012-r2", "win2k12r2"),
    ("10", "win10"), ("10.0", "win10"), ("Windows 10", "win10"), ("Windows 10 Pro 22H2", "win10"),
    ("Windows 10 1809", "win10"), ("10.0.19045", "win10"), ("10.0.17763", "win10"),
    ("2016", "win2k16"), ("Windows Server 2016", "win2k16"), ("2k16", "win2k16"), ("Server 10", "win2k16"),
    ("2019", "win2k19"), ("Server 2019 Standard", "win2k19"), ("server 10.0.17763", "win2k19"),
    ("Windows Server 10.0.17763", "win2k19"),
    ("2022", "win2k22"), ("Windows Server 2022", "win2k22"), ("10.0.20348", "win2k22"),
    ("11", "win11"), ("Windows 11 Pro", "win11"), ("win11", "win11"), ("10.0.22631", "win11"),
    ("2025", "win2k25"), ("Windows Server 2025", "win2k25"), ("2k25", "win2k25"),
    ("server 10.0.26100", "win2k25"),
]


@pytest.mark.parametrize("os_version, short_id", SPELLINGS, ids=[s[0] for s in SPELLINGS])
def test_os_version_spellings(os_version, short_id):
    ident = resolve("windows", os_version)
    assert (ident.short_id, ident.name, ident.version) == (short_id, FACTS[short_id][0], FACTS[short_id][1])
    assert ident.release_known is True


@pytest.mark.parametrize("os_distro", ["windows", "Windows", "WINDOWS", " windows "])
def test_os_distro_any_case(os_distro):
    assert resolve(os_distro, "2012R2").short_id == "win2k12r2"


AMBIGUOUS = [
    ("6.1", "os_distro='windows', os_version='6.1' -> win2k8r2 (NT 6.1 is Windows 7 and Server "
            "2008 R2; kumo takes the server release for NT 5.2/6.x)"),
    ("6.3", "os_distro='windows', os_version='6.3' -> win2k12r2 (NT 6.3 is Windows 8.1 and Server "
            "2012 R2; kumo takes the server release for NT 5.2/6.x)"),
    ("10", "os_distro='windows', os_version='10' -> win10 (NT 10.0 is Windows 10, 11 and Server "
           "2016-2025; kumo takes Windows 10 for NT 10.0)"),
    ("10.0", "os_distro='windows', os_version='10.0' -> win10 (NT 10.0 is Windows 10, 11 and Server "
             "2016-2025; kumo takes Windows 10 for NT 10.0)"),
    ("10.0.17763", "os_distro='windows', os_version='10.0.17763' -> win10 (NT 10.0 build 17763 is "
                   "also Windows Server 2019; kumo takes the desktop release)"),
    ("5.2", "os_distro='windows', os_version='5.2' -> win2k3 (NT 5.2 is Windows XP x64, Server 2003 "
            "and 2003 R2; kumo takes the server release for NT 5.2/6.x)"),
    ("2012R2", "os_distro='windows', os_version='2012R2' -> win2k12r2"),
    ("server 6.1", "os_distro='windows', os_version='server 6.1' -> win2k8r2"),
]


@pytest.mark.parametrize("os_version, matched_by", AMBIGUOUS, ids=[a[0] for a in AMBIGUOUS])
def test_matched_by_names_the_ambiguity(os_version, matched_by):
    assert resolve("windows", os_version).matched_by == matched_by


UNKNOWN = [
    ("Windows", "UNKNOWN", "os_distro='Windows', os_version='UNKNOWN': release unknown"),  # CERN
    ("windows", None, "os_distro='windows': release unknown"),
    ("windows", "", "os_distro='windows', os_version='': release unknown"),
    ("windows", "Whistler beta", "os_distro='windows', os_version='Whistler beta': os_version not "
                                 "recognised, release unknown"),
    ("windows", "6.4", "os_distro='windows', os_version='6.4': os_version not recognised, release unknown"),
]


@pytest.mark.parametrize("os_distro, os_version, matched_by", UNKNOWN,
                         ids=["cern-UNKNOWN", "none", "empty", "garbage", "no-such-nt"])
def test_unknown_release_gets_conservative_facts(os_distro, os_version, matched_by):
    assert resolve(os_distro, os_version) == OSIdentity(
        family="windows", distro="windows", short_id=None, name="Windows (release unknown)",
        version=None, release_known=False, bits64=True, requires_64bit=False, q35=True, uefi=False,
        requires_uefi=False, secure_boot=False, requires_secure_boot=False, requires_tpm2=False,
        inbox_drivers=frozenset({"ide", "ahci", "e1000", "e1000e", "usb-tablet"}), hyperv_gen2=False,
        xen_pv=False, source="kumo table", matched_by=matched_by,
    )


def test_short_id_wins_over_os_version():
    ident = resolve("win2k19", "2012R2")
    assert ident.short_id == "win2k19"
    assert ident.matched_by == ("os_distro='win2k19' (libosinfo short id); os_version='2012R2' "
                                "ignored, the short id names the release")


def test_no_windows_release_claims_virtio_or_xen():
    for short_id in FACTS:
        ident = resolve(short_id, None)
        assert not {d for d in ident.inbox_drivers if d.startswith("virtio") or d == "xen-pv"}
        assert ident.xen_pv is False
