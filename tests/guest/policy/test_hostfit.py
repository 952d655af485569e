"""What this libvirt 9.0 / QEMU 7.2 host refuses at define or start is a lint error before define,
naming what the host offers instead -- and the same finding is the GuestPolicy filter's reason.

Each case was tried once on the machine's libvirtd (qemu:///system, TCG) with a one-device
domain; libvirt's answer is quoted per case (and in kumo.guest.policy.hostfit). The host is the
recorded probe of that libvirtd (tests/hosts/data, kumo.hosts.probe).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from kumo.catalog.flavor import Flavor
from kumo.catalog.properties import ImageProperties
from kumo.guest.build import plan_guest
from kumo.guest.request import GuestRequest
from kumo.scheduler.filters import GuestPolicy
from kumo.scheduler.model import HostView
from kumo.scheduler.reasons import PolicyRefusal
from tests.scheduler.helpers import CTX, request
from tests.support.hosts import recorded_caps

HOST = recorded_caps().with_hypervisor("qemu")  # added with --virt-type qemu (TCG)
LINUX = {"os_distro": "ubuntu", "os_version": "22.04"}

REFUSED = [
    # define: "Emulator '/usr/bin/qemu-system-x86_64' does not support machine type 'pc-q35-8.2'"
    ("machine-type-8.2", {"hw_machine_type": "pc-q35-8.2"}, "machine-type-unavailable",
     "hw_machine_type=pc-q35-8.2 is not offered by this host's QEMU 7.2 (its q35 machines: "
     "pc-q35-2.4 to pc-q35-7.2; q35 = pc-q35-7.2); libvirt refuses it at define",
     "use hw_machine_type=q35 (the host's newest, pinned at create) or one of the listed "
     "versions"),
    # start: "'igb' is not a valid device model name" (igb: QEMU 8.0 ChangeLog)
    ("igb-on-qemu-7.2", {"hw_vif_model": "igb"}, "nic-model-unavailable",
     "hw_vif_model=igb cannot run on this host: it needs QEMU >= 8.0, the host runs QEMU 7.2; "
     "QEMU refuses to start the guest",
     "use one of e1000, e1000e, ne2k_pci, pcnet, rtl8139, virtio, vmxnet3"),
    # start: "Unable to find any firmware to satisfy 'efi'"
    ("stateless-uefi", {"hw_firmware_type": "uefi", "hw_firmware_stateless": "true"},
     "firmware-stateless-unavailable",
     "hw_firmware_stateless=true: none of this host's UEFI builds for q35 is stateless (its "
     "firmware descriptors: 40-edk2-x86_64-secure-enrolled.json, 50-edk2-x86_64-secure.json, "
     "60-edk2-x86_64.json); libvirt refuses to start the guest (no firmware to satisfy 'efi')",
     "remove hw_firmware_stateless, or place the image on a host with a stateless OVMF build"),
    # define: "Unsupported controller model: buslogic"
    ("buslogic", {"hw_disk_bus": "scsi", "hw_scsi_model": "buslogic"},
     "scsi-model-unavailable",
     "hw_scsi_model=buslogic is not a SCSI controller libvirt's QEMU driver can build on x86 "
     "(refused at define: unsupported controller model)",
     "use hw_scsi_model= one of virtio-scsi, lsilogic, lsisas1068, lsisas1078, vmpvscsi "
     "(virtio-scsi with its driver in the image)"),
    # define: "disk type of 'vdb' does not support ejectable media"
    ("cdrom-on-virtio-with-config-drive", {"hw_cdrom_bus": "virtio"}, "cdrom-bus-unavailable",
     "hw_cdrom_bus=virtio: the config drive is a CD-ROM, which cannot sit on virtio (no "
     "ejectable media; libvirt refuses it at define); this host offers sata, scsi, usb on q35",
     "use hw_cdrom_bus= one of sata, scsi, usb"),
    # define: "Invalid bus type 'fdc' for disk"
    ("disk-on-fdc", {"hw_disk_bus": "fdc"}, "disk-bus-unavailable",
     "hw_disk_bus=fdc cannot carry a disk (the floppy controller takes floppies only); libvirt "
     "refuses it at define; this host offers sata, scsi, virtio, usb on q35",
     "use hw_disk_bus= one of sata, scsi, virtio, usb"),
    # start: "CPU mode 'host-passthrough' for x86_64 qemu domain on x86_64 host is not supported
    # by hypervisor"
    ("host-passthrough-on-tcg", {"hw_cpu_mode": "host-passthrough"}, "cpu-mode-unavailable",
     "CPU mode host-passthrough is not offered by this host for qemu guests (offers maximum, "
     "host-model, custom); libvirt refuses to start the guest: host-passthrough needs KVM, and "
     "this host runs guests under TCG",
     "use one of maximum, host-model, custom (or leave the CPU mode unset)"),
]


def plan(props: dict, host=HOST):
    return plan_guest(GuestRequest(image=ImageProperties.parse({**LINUX, **props}),
                                   flavor=Flavor(1, 4096, 25), host=host,
                                   config_drive="/pool/disk.config"))


def test_the_baseline_guest_builds_on_this_host():
    p = plan({})
    assert p.errors == () and p.spec is not None


@pytest.mark.parametrize("props, finding, message, fix", [c[1:] for c in REFUSED],
                         ids=[c[0] for c in REFUSED])
def test_refused_by_this_libvirt_is_a_lint_error(props, finding, message, fix):
    p = plan(props)
    assert p.spec is None
    assert [(f.id, f.message, f.fix) for f in p.errors] == [(finding, message, fix)]


@pytest.mark.parametrize("props, finding, message, fix", [c[1:] for c in REFUSED],
                         ids=[c[0] for c in REFUSED])
def test_and_a_scheduling_reason(props, finding, message, fix):
    view = HostView.from_capabilities("tcg-1", HOST, vcpus=8, ram_mib=16384, disk_gib=100)
    # a flavor Ubuntu 22.04 runs well on (osinfo-db), so only the host refuses
    req = request(ram=4096, disk=25, props={**LINUX, **props})
    result = GuestPolicy().evaluate(view, req, CTX)
    assert result.reasons == (PolicyRefusal(finding, message),)
    assert str(result) == f"GuestPolicy: {finding} ({message})"


@pytest.mark.parametrize("props", [
    pytest.param({"hw_vif_model": "igb"}, id="igb-on-qemu-8.2"),
    pytest.param({"hw_machine_type": "pc-q35-7.2"}, id="machine-the-host-has"),
    pytest.param({"hw_cpu_mode": "host-passthrough"}, id="host-passthrough-on-kvm"),
    pytest.param({"hw_firmware_type": "uefi", "os_secure_boot": "required"},
                 id="secure-boot-on-q35"),
])
def test_what_a_host_offers_passes(props):
    kvm = replace(recorded_caps(), hypervisor="kvm", hypervisor_version=(8, 2, 0),
                  cpu_modes=("host-passthrough", "host-model", "custom"))
    assert plan(props, kvm).errors == ()
