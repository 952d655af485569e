"""Every Windows release from XP to Server 2025 / Windows 11, rendered for the default KVM host.

The table pins what each release gets; the golden file pins the whole XML; libvirt must accept it.
"""

import pytest

from kumo.backends import get_backend
from kumo.catalog.flavor import Flavor
from kumo.catalog.properties import ImageProperties
from kumo.guest.build import build_guest
from kumo.guest.request import GuestRequest
from tests.support.golden import assert_golden
from tests.support.libvirt_check import assert_libvirt_accepts

#: every release's minimum RAM and disk (osinfo-db: Windows 11 needs 4 GiB and 64 GB)
FLAVOR = Flavor(2, 4096, 64, name="m1.windows")
ALWAYS = ["relaxed", "vapic", "spinlocks"]
OFFERED = ["vpindex", "runtime", "synic", "stimer", "reset", "frequencies", "tlbflush", "ipi"]

# short id, machine, root bus, NIC, firmware, Secure Boot, TPM
RELEASES = [
    ("winxp", "pc", "ide", "rtl8139", "bios", False, None),
    ("win2k3", "pc", "ide", "e1000", "bios", False, None),
    ("win2k3r2", "pc", "ide", "e1000", "bios", False, None),
    ("winvista", "pc", "ide", "e1000", "bios", False, None),
    ("win2k8", "pc", "ide", "e1000", "bios", False, None),
    ("win7", "q35", "sata", "e1000e", "bios", False, None),
    ("win2k8r2", "q35", "sata", "e1000e", "bios", False, None),
    ("win8", "q35", "sata", "e1000e", "bios", False, None),
    ("win2k12", "q35", "sata", "e1000e", "bios", False, None),
    ("win8.1", "q35", "sata", "e1000e", "bios", False, None),
    ("win2k12r2", "q35", "sata", "e1000e", "bios", False, None),
    ("win10", "q35", "sata", "e1000e", "bios", False, None),
    ("win2k16", "q35", "sata", "e1000e", "bios", False, None),
    ("win2k19", "q35", "sata", "e1000e", "bios", False, None),
    ("win2k22", "q35", "sata", "e1000e", "bios", False, None),
    ("win11", "q35", "sata", "e1000e", "uefi", True, ("2.0", "tpm-crb")),
    ("win2k25", "q35", "sata", "e1000e", "bios", False, None),
]


@pytest.mark.parametrize("short_id, machine, bus, nic, firmware, secure_boot, tpm", RELEASES,
                         ids=[r[0] for r in RELEASES])
def test_windows_release(short_id, machine, bus, nic, firmware, secure_boot, tpm):
    spec = build_guest(GuestRequest(ImageProperties.parse({"os_distro": short_id}),
                                    flavor=FLAVOR, name=f"win-{short_id}"))
    assert spec.os_type == "windows"
    assert spec.os_id == short_id
    assert spec.machine == machine
    assert spec.disk("root").bus == bus
    assert spec.nics[0].model == nic
    assert (spec.firmware.type, spec.firmware.secure_boot) == (firmware, secure_boot)
    assert (None if spec.tpm is None else (spec.tpm.version, spec.tpm.model)) == tpm
    assert spec.clock.offset == "localtime"
    assert [t.name for t in spec.clock.timers] == ["rtc", "pit", "hpet", "hypervclock"]
    assert [f.name for f in spec.hyperv] == ALWAYS + OFFERED
    assert spec.credentials.admin_user == "Administrator" and spec.credentials.ssh_keys == ()
    xml = get_backend("kvm").render(spec).text
    assert_golden(f"kvm/windows/{short_id}.xml", xml)
    assert_libvirt_accepts(xml)


def test_table_covers_every_release_kumo_knows():
    from kumo.osinfo.windows import RELEASES as KNOWN
    assert sorted(r.short_id for r in KNOWN) == sorted(r[0] for r in RELEASES)
