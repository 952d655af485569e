"""resolve(): os_type-only, nothing at all, garbage, conflicts, BSD and the other systems."""

import pytest

from kumo.osinfo import OSIdentity, resolve
from kumo.osinfo.osinfo_db import OsinfoDb

NO_DB = OsinfoDb("/nonexistent/osinfo")


def unknown(matched_by):
    return OSIdentity(
        family="unknown", distro=None, short_id=None, name="unknown OS", version=None,
        release_known=False, bits64=False, requires_64bit=False, q35=False, uefi=False,
        requires_uefi=False, secure_boot=False, requires_secure_boot=False, requires_tpm2=False,
        inbox_drivers=frozenset({"ide"}), hyperv_gen2=False, xen_pv=False, source="kumo table",
        matched_by=matched_by,
    )


@pytest.mark.parametrize("os_distro, os_version, os_type, expected", [
    (None, None, None, unknown("no os_distro and no os_type")),
    ("", "", "", unknown("no os_distro and no os_type")),
    (None, "7", None, unknown("no os_distro and no os_type")),
    (None, None, "plan9", unknown("no os_distro; os_type='plan9' not recognised")),
    ("garbage!!", "x", None, unknown("os_distro='garbage!!' not recognised (no osinfo-db at "
                                     "/nonexistent/osinfo)")),
    ("beos", "5", "haiku", unknown("os_distro='beos' not recognised (no osinfo-db at "
                                   "/nonexistent/osinfo); os_type='haiku' not recognised")),
], ids=["all-absent", "all-empty", "version-only", "bad-os-type", "garbage", "garbage-both"])
def test_nothing_usable_is_family_unknown(os_distro, os_version, os_type, expected):
    assert resolve(os_distro, os_version, os_type, db=NO_DB) == expected


@pytest.mark.parametrize("os_distro, os_type, matched_by", [
    (None, "windows", "no os_distro; os_type='windows': release unknown"),
    (None, "WINDOWS", "no os_distro; os_type='WINDOWS': release unknown"),
    ("UNKNOWN", "windows", "no os_distro; os_type='windows': release unknown"),
    ("mywin-gold", "windows", "os_distro='mywin-gold' not recognised (no osinfo-db at "
                              "/nonexistent/osinfo); os_type='windows': release unknown"),
], ids=["absent", "upper-case", "distro-UNKNOWN", "distro-unrecognised"])
def test_os_type_windows_gives_unknown_windows(os_distro, os_type, matched_by):
    ident = resolve(os_distro, None, os_type, db=NO_DB)
    assert (ident.family, ident.distro, ident.release_known, ident.q35, ident.bits64) == (
        "windows", None, False, True, True)
    assert ident.inbox_drivers == frozenset({"ide", "ahci", "e1000", "e1000e", "usb-tablet"})
    assert ident.matched_by == matched_by


def test_os_type_windows_with_a_version_names_the_release():
    ident = resolve(None, "2012 R2", "windows")
    assert ident.short_id == "win2k12r2"
    assert ident.matched_by == "no os_distro; os_type='windows', os_version='2012 R2' -> win2k12r2"


def test_os_type_linux_gives_unknown_linux():
    ident = resolve(None, None, "linux")
    assert (ident.family, ident.distro, ident.name, ident.release_known) == (
        "linux", None, "Linux (release unknown)", False)
    assert ident.inbox_drivers == frozenset({
        "ide", "ahci", "e1000", "e1000e", "rtl8139", "usb-tablet", "virtio-net", "virtio-blk",
        "virtio-balloon", "virtio-rng", "xen-pv", "usb-xhci"})
    assert ident.matched_by == "no os_distro; os_type='linux': release unknown"


def test_os_distro_decides_over_a_contradicting_os_type():
    ident = resolve("windows", "2012R2", "linux")
    assert ident.family == "windows"
    assert ident.matched_by == ("os_distro='windows', os_version='2012R2' -> win2k12r2; "
                                "os_type='linux' disagrees, os_distro decides")


@pytest.mark.parametrize("os_distro, os_version, family, short_id, name, uefi, q35, gen2, drivers", [
    ("freebsd", "13.1", "bsd", "freebsd13.1", "FreeBSD 13.1", True, True, True,
     {"ide", "ahci", "e1000", "e1000e", "rtl8139", "virtio-blk", "virtio-net", "virtio-scsi",
      "virtio-balloon", "virtio-serial", "virtio-rng", "hyperv-synthetic"}),
    ("freebsd13.1", None, "bsd", "freebsd13.1", "FreeBSD 13.1", True, True, True,
     {"ide", "ahci", "e1000", "e1000e", "rtl8139", "virtio-blk", "virtio-net", "virtio-scsi",
      "virtio-balloon", "virtio-serial", "virtio-rng", "hyperv-synthetic"}),
    ("freebsd", "9.3", "bsd", "freebsd9.3", "FreeBSD 9.3", False, False, False,
     {"ide", "ahci", "e1000", "e1000e", "rtl8139"}),
    ("openbsd", "7.2", "bsd", "openbsd7.2", "OpenBSD 7.2", True, False, False,
     {"ide", "ahci", "e1000", "e1000e", "rtl8139", "virtio-net", "virtio-blk", "virtio-balloon",
      "virtio-rng", "virtio-scsi", "hyperv-synthetic"}),
    ("netbsd", "6.1", "bsd", "netbsd6.1", "NetBSD 6.1", False, False, False,
     {"ide", "ahci", "e1000", "e1000e", "rtl8139", "virtio-net", "virtio-blk", "virtio-balloon",
      "virtio-rng"}),
    ("opensolaris", "2009.06", "other", "opensolaris2009.06", "OpenSolaris 2009.06", False, False, False,
     {"ide", "ahci", "e1000"}),
    ("msdos", "6.22", "other", "msdos6.22", "MS-DOS 6.22", False, False, False, {"ide"}),
    ("netware", None, "other", None, "Novell NetWare (release unknown)", False, False, False, {"ide"}),
], ids=["freebsd", "freebsd-short-id", "freebsd-old", "openbsd", "netbsd", "opensolaris", "msdos",
        "netware-unknown"])
def test_bsd_and_other_systems(os_distro, os_version, family, short_id, name, uefi, q35, gen2, drivers):
    ident = resolve(os_distro, os_version, db=NO_DB)
    assert (ident.family, ident.short_id, ident.name) == (family, short_id, name)
    assert (ident.uefi, ident.q35, ident.hyperv_gen2, ident.xen_pv, ident.secure_boot) == (
        uefi, q35, gen2, False, False)
    assert ident.inbox_drivers == frozenset(drivers)


def test_dos_and_netware_are_32_bit_only():
    assert resolve("msdos", "6.22").bits64 is False
    assert resolve("netware", "6.5").bits64 is False


@pytest.mark.parametrize("value", [None, "", "   ", "UNKNOWN", "unknown", "n/a", "-"])
def test_placeholder_os_distro_is_absent(value):
    assert resolve(value, None, None, db=NO_DB).family == "unknown"
