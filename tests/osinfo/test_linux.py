"""Linux distributions: Glance vocabulary and libosinfo short ids -> release, kernel, facts."""

import pytest

from kumo.osinfo import OSIdentity, resolve

OLD = {"ide", "rtl8139", "e1000", "usb-tablet", "ahci"}
K2_6_32 = OLD | {"e1000e", "virtio-net", "virtio-blk", "virtio-balloon", "virtio-rng", "xen-pv",
                 "usb-xhci"}
K3_10 = K2_6_32 | {"virtio-serial", "virtio-scsi", "hyperv-synthetic"}
MODERN = K3_10 | {"virtio-input", "virtio-gpu"}

RELEASES = [
    # os_distro, os_version, short_id, name, version, kernel, q35, uefi, sb, gen2, only64, drivers
    ("centos", "7", "centos7.0", "CentOS 7", "7", "3.10", True, True, True, True, True, K3_10),
    ("centos7.0", None, "centos7.0", "CentOS 7.0", "7.0", "3.10", True, True, True, True, True, K3_10),
    ("centos", "6.5", "centos6.5", "CentOS 6.5", "6.5", "2.6.32", False, True, False, False, False,
     K2_6_32 | {"virtio-serial", "virtio-scsi", "hyperv-synthetic"}),  # RHEL 6 backports
    ("centos", "6.2", "centos6.2", "CentOS 6.2", "6.2", "2.6.32", False, True, False, False, False,
     K2_6_32 | {"virtio-serial"}),
    ("centos", "5.3", "centos5.3", "CentOS 5.3", "5.3", "2.6.18", False, False, False, False, False,
     OLD | {"virtio-net", "virtio-blk", "virtio-balloon"}),
    ("centos", "5.2", "centos5.2", "CentOS 5.2", "5.2", "2.6.18", False, False, False, False, False, OLD),
    ("centos", "9", "centos-stream9", "CentOS 9", "9", "5.14", True, True, True, True, True, MODERN),
    ("rhel", "9.2", "rhel9.2", "Red Hat Enterprise Linux 9.2", "9.2", "5.14", True, True, True, True,
     True, MODERN),
    ("rhel9.2", None, "rhel9.2", "Red Hat Enterprise Linux 9.2", "9.2", "5.14", True, True, True, True,
     True, MODERN),
    ("rocky", "9", "rocky9.0", "Rocky Linux 9", "9", "5.14", True, True, True, True, True, MODERN),
    ("almalinux", "8.7", "almalinux8", "AlmaLinux 8.7", "8.7", "4.18", True, True, True, True, True, MODERN),
    ("ubuntu", "22.04", "ubuntu22.04", "Ubuntu 22.04", "22.04", "5.15", True, True, True, True, True, MODERN),
    ("ubuntu22.04", None, "ubuntu22.04", "Ubuntu 22.04", "22.04", "5.15", True, True, True, True, True,
     MODERN),
    ("Ubuntu", "jammy", "ubuntu22.04", "Ubuntu 22.04", "22.04", "5.15", True, True, True, True, True, MODERN),
    ("ubuntu", "14.04", "ubuntu14.04", "Ubuntu 14.04", "14.04", "3.13", True, True, True, True, False, K3_10),
    ("ubuntu", "12.04", "ubuntu12.04", "Ubuntu 12.04", "12.04", "3.2", False, True, False, False, False,
     K2_6_32 | {"virtio-serial", "hyperv-synthetic"}),
    ("debian", "12", "debian12", "Debian 12", "12", "6.1", True, True, True, True, False, MODERN),
    ("debian12", None, "debian12", "Debian 12", "12", "6.1", True, True, True, True, False, MODERN),
    ("debian", "8", "debian8", "Debian 8", "8", "3.16", True, True, False, True, False, K3_10),
    ("debian", "7", "debian7", "Debian 7", "7", "3.2", False, True, False, False, False,
     K2_6_32 | {"virtio-serial", "hyperv-synthetic"}),
    ("fedora", "38", "fedora38", "Fedora 38", "38", "6.2", True, True, True, True, True, MODERN),
    ("fedora38", None, "fedora38", "Fedora 38", "38", "6.2", True, True, True, True, True, MODERN),
    ("fedora", "19", "fedora19", "Fedora 19", "19", "3.6", False, True, True, False, False,
     K2_6_32 | {"virtio-serial", "virtio-scsi", "hyperv-synthetic"}),
    ("opensuse", "15.4", "opensuse15.4", "openSUSE 15.4", "15.4", "5.14", True, True, True, True, True,
     MODERN),
    ("opensuse15.4", None, "opensuse15.4", "openSUSE 15.4", "15.4", "5.14", True, True, True, True, True,
     MODERN),
    ("opensuse", "42.3", "opensuse42.3", "openSUSE 42.3", "42.3", "4.4", True, True, True, True, True,
     MODERN),
    ("sles", "12 SP5", "sles12sp5", "SUSE Linux Enterprise Server 12 SP5", "12 SP5", "4.12", True, True,
     True, True, True, MODERN),
    ("sles", "11.4", "sles11sp4", "SUSE Linux Enterprise Server 11 SP4", "11 SP4", "3.0", False, True,
     True, False, False, K2_6_32 | {"virtio-serial"}),
    ("sle15sp4", None, "sle15sp4", "SUSE Linux Enterprise Server 15 SP4", "15 SP4", "5.14", True, True,
     True, True, True, MODERN),
    ("sled", "15-SP4", "sle15sp4", "SUSE Linux Enterprise Desktop 15 SP4", "15 SP4", "5.14", True, True,
     True, True, True, MODERN),
    ("cirros", "0.5.2", "cirros0.5.2", "CirrOS 0.5.2", "0.5.2", "5.3", True, False, False, False, False,
     MODERN),
    ("mandriva", "2010.2", "mandriva2010", "Mandriva Linux 2010.2", "2010.2", "2.6.31", False, False,
     False, False, False, K2_6_32 - {"virtio-serial"}),
]


@pytest.mark.parametrize(
    "os_distro, os_version, short_id, name, version, kernel, q35, uefi, sb, gen2, only64, drivers",
    RELEASES, ids=[f"{r[0]}-{r[1]}" for r in RELEASES])
def test_release_facts(os_distro, os_version, short_id, name, version, kernel, q35, uefi, sb, gen2,
                       only64, drivers):
    ident = resolve(os_distro, os_version)
    assert (ident.family, ident.short_id, ident.name, ident.version, ident.kernel) == (
        "linux", short_id, name, version, kernel)
    assert (ident.q35, ident.uefi, ident.secure_boot, ident.hyperv_gen2, ident.requires_64bit) == (
        q35, uefi, sb, gen2, only64)
    assert ident.inbox_drivers == frozenset(drivers)
    assert (ident.release_known, ident.bits64, ident.xen_pv, ident.source) == (
        True, True, "xen-pv" in drivers, "kumo table")
    assert (ident.requires_uefi, ident.requires_secure_boot, ident.requires_tpm2) == (False, False, False)


def test_full_identity_and_matched_by():
    assert resolve("ubuntu", "22.04") == OSIdentity(
        family="linux", distro="ubuntu", short_id="ubuntu22.04", name="Ubuntu 22.04", version="22.04",
        release_known=True, bits64=True, requires_64bit=True, q35=True, uefi=True, requires_uefi=False,
        secure_boot=True, requires_secure_boot=False, requires_tpm2=False,
        inbox_drivers=frozenset(MODERN), hyperv_gen2=True, xen_pv=True, source="kumo table",
        matched_by="os_distro='ubuntu', os_version='22.04' -> ubuntu22.04", kernel="5.15",
    )


@pytest.mark.parametrize("os_distro, os_version, matched_by", [
    ("ubuntu", None, "os_distro='ubuntu': release unknown"),
    ("centos", "UNKNOWN", "os_distro='centos', os_version='UNKNOWN': release unknown"),
    ("debian", "forky-ish", "os_distro='debian', os_version='forky-ish': os_version not recognised, "
                            "release unknown"),
], ids=["ubuntu-none", "centos-UNKNOWN", "debian-garbage"])
def test_unknown_release_gets_the_2_6_32_floor(os_distro, os_version, matched_by):
    ident = resolve(os_distro, os_version)
    assert (ident.family, ident.distro, ident.short_id, ident.release_known, ident.version) == (
        "linux", os_distro, None, False, None)
    assert ident.inbox_drivers == frozenset(K2_6_32)
    assert (ident.q35, ident.uefi, ident.secure_boot, ident.hyperv_gen2, ident.requires_64bit) == (
        False, False, False, False, False)
    assert ident.matched_by == matched_by


@pytest.mark.parametrize("os_distro, os_version, name, version", [
    ("debian", "sid", "Debian sid", "sid"),
    ("opensuse", "Tumbleweed", "openSUSE tumbleweed", "tumbleweed"),
    ("arch", None, "Arch Linux", None),
    ("archlinux", "2024.01.01", "Arch Linux", None),
], ids=["debian-sid", "tumbleweed", "arch", "arch-iso-date"])
def test_rolling_releases_get_newest_facts(os_distro, os_version, name, version):
    ident = resolve(os_distro, os_version)
    assert (ident.name, ident.version, ident.release_known, ident.kernel) == (name, version, True, None)
    assert {"virtio-gpu", "virtio-input", "virtio-scsi"} <= ident.inbox_drivers
    assert ident.uefi is True and ident.q35 is True


def test_short_id_version_wins_over_os_version():
    ident = resolve("centos7.0", "7.9")
    assert ident.short_id == "centos7.0"
    assert ident.matched_by == ("os_distro='centos7.0' (libosinfo short id); os_version='7.9' ignored, "
                                "the short id names the release")
