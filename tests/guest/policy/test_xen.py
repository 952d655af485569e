"""Xen platform rules: HVM or PV per guest from vm_mode, hvmloader and the device
model for HVM, emulated or PV disks and NIC, pygrub or the image's kernel for PV, the shared
clock rule; every error's exact text."""

from __future__ import annotations

import pytest

from kumo.catalog.flavor import Flavor
from kumo.catalog.properties import ImageProperties
from kumo.guest.build import plan_guest
from kumo.guest.request import GuestRequest
from kumo.hosts.capabilities import HostConfig
from kumo.hosts.defaults import host_caps_for, xen_host_caps

WIN2008 = {"os_type": "windows", "os_distro": "windows", "os_version": "2008"}
CENTOS7 = {"os_type": "linux", "os_distro": "centos", "os_version": "7.1"}
CENTOS5 = {"os_type": "linux", "os_distro": "centos", "os_version": "5.3"}


def plan(props: dict, **kw):
    kw.setdefault("host", xen_host_caps())
    return plan_guest(GuestRequest(ImageProperties.parse(props), name="g", **kw))


def finding(p, id: str) -> tuple[str, str, str]:
    (f,) = [f for f in p.findings if f.id == id]
    return f.severity, f.message, f.fix


# --- HVM or PV -----------------------------------------------------------------------------------

@pytest.mark.parametrize("props, kw, mode, machine, rule", [
    (WIN2008, {}, "hvm", "xenfv", "xen.vm-mode-default"),
    ({**WIN2008, "vm_mode": "hvm"}, {}, "hvm", "xenfv", "xen.vm-mode-explicit"),
    (CENTOS7, {}, "hvm", "xenfv", "xen.vm-mode-default"),
    ({**CENTOS7, "vm_mode": "xen"}, {"kernel": "/k"}, "xen", "xenpv", "xen.vm-mode-explicit"),
    ({**CENTOS7, "hw_vm_mode": "pv"}, {}, "xen", "xenpv", "xen.vm-mode-explicit"),
    ({**CENTOS7, "hw_machine_type": "xenpv"}, {}, "xen", "xenpv", "xen.vm-mode-machine"),
], ids=["windows-default", "windows-hvm", "linux-default", "linux-pv", "pv-alias", "machine"])
def test_virt_mode(props, kw, mode, machine, rule):
    spec = plan(props, **kw).spec
    assert (spec.virt_mode, spec.machine) == (mode, machine)
    assert spec.decision("virt_mode").rule == rule


def test_windows_hvm_is_seed_003s_template():
    """hvmloader, the host's device model, pae/acpi/apic, hda on IDE, an emulated NIC on a
    bridge, localtime, no SSH key but an admin password."""
    spec = plan(WIN2008).spec
    assert spec.boot.loader == "/usr/lib/xen/boot/hvmloader"
    assert spec.emulator == "/usr/lib/xen/bin/qemu-system-i386"
    assert spec.features == ("pae", "acpi", "apic")
    assert (spec.disk("root").bus, spec.disk("root").device) == ("ide", "disk")
    assert (spec.nics[0].model, spec.nics[0].bridge) == ("e1000", "xenbr0")
    assert spec.clock.offset == "localtime"
    assert spec.clock.timers == ()
    assert spec.decision("clock.offset").rule == "clock.windows-localtime"
    assert (spec.credentials.ssh_keys, spec.credentials.admin_password) == ((), True)
    assert spec.firmware.type == "bios"
    assert (spec.video, spec.pointer, spec.input_bus) == ("vga", "tablet", "usb")


@pytest.mark.parametrize("props, bus, nic, rule", [
    (WIN2008, "ide", "e1000", "xen.hvm-ide"),
    ({**WIN2008, "kumo_guest_drivers": "xen-pv"}, "xen", "netfront", "xen.hvm-pv-disk"),
    (CENTOS7, "xen", "netfront", "xen.hvm-pv-disk"),
    (CENTOS5, "ide", "e1000", "xen.hvm-ide"),
    ({**WIN2008, "hw_disk_bus": "xen", "kumo_guest_drivers": "xen-pv"}, "xen", "netfront",
     "disk.bus-explicit"),
], ids=["windows-emulated", "windows-pv-drivers", "linux-pvops", "old-linux", "explicit-xen"])
def test_hvm_disk_and_nic_follow_pv_drivers(props, bus, nic, rule):
    spec = plan(props).spec
    assert (spec.disk("root").bus, spec.nics[0].model) == (bus, nic)
    assert spec.decision("disks.root.bus").rule == rule


def test_pv_drivers_reason_names_the_declaration():
    d = plan({**WIN2008, "kumo_guest_drivers": "xen-pv"}).spec.decision("disks.root.bus")
    assert (d.source, d.source_value) == ("kumo_guest_drivers", "xen-pv")


@pytest.mark.parametrize("kw, boot", [
    ({"kernel": "/boot/vmlinuz", "initrd": "/boot/initrd.img"},
     ("/boot/vmlinuz", "/boot/initrd.img", "root=/dev/xvda console=hvc0", None)),
    ({}, (None, None, None, "/usr/lib/xen/bin/pygrub")),
], ids=["image-kernel", "pygrub"])
def test_pv_boot(kw, boot):
    spec = plan({**CENTOS7, "vm_mode": "xen", "os_command_line": "root=/dev/xvda console=hvc0"},
                **kw).spec
    b = spec.boot
    assert (b.kernel, b.initrd, b.cmdline, b.bootloader) == boot
    assert b.loader is None
    assert (spec.firmware.type, spec.features, spec.emulator) == ("none", (), None)
    assert (spec.video, spec.pointer) == (None, None)


def test_pv_devices_are_paravirtual():
    spec = plan({**CENTOS7, "vm_mode": "xen"}, config_drive="/cd.iso",
                flavor=Flavor(2, 2048, 20, ephemeral_gib=5)).spec
    assert [(d.role, d.device, d.bus) for d in spec.disks] == [
        ("root", "disk", "xen"), ("ephemeral", "disk", "xen"), ("config", "cdrom", "xen")]
    assert spec.nics[0].model == "netfront"
    assert spec.clock.offset == "utc"


def test_hvm_config_drive_is_an_ide_cdrom():
    spec = plan(WIN2008, config_drive="/cd.iso").spec
    assert (spec.disk("config").device, spec.disk("config").bus) == ("cdrom", "ide")


@pytest.mark.parametrize("hc, bridge, network", [
    (HostConfig(), "xenbr0", None),
    (HostConfig(bridge="br-guests"), "br-guests", None),
    (HostConfig(network="default"), None, "default"),
], ids=["xl-default", "host-bridge", "libvirt-network"])
def test_nic_attachment(hc, bridge, network):
    nic = plan(WIN2008, host_config=hc).spec.nics[0]
    assert (nic.bridge, nic.network) == (bridge, network)


def test_emulator_comes_from_the_host():
    from dataclasses import replace
    host = replace(xen_host_caps(), emulator="/usr/lib64/xen/bin/qemu-dm")
    assert plan(WIN2008, host=host).spec.emulator == "/usr/lib64/xen/bin/qemu-dm"


def test_one_host_runs_windows_hvm_and_linux_pv_side_by_side():
    """Seed 003's flaw was one template per cloud: here one host renders both, per guest."""
    host = xen_host_caps()
    windows = plan(WIN2008, host=host).spec
    linux = plan({**CENTOS7, "vm_mode": "xen"}, host=host, kernel="/k").spec
    assert (windows.virt_mode, linux.virt_mode) == ("hvm", "xen")


# --- errors and warnings, exact ------------------------------------------------------------------

ERRORS = [
    ("windows-pv", {**WIN2008, "vm_mode": "xen"}, {}, "xen-pv-windows", "error",
     "vm_mode=xen asks for a Xen paravirtual guest, but Windows has no paravirtual kernel: it "
     "runs on Xen only as an HVM guest"),
    ("windows-pv-alias", {**WIN2008, "hw_vm_mode": "pv"}, {}, "xen-pv-windows", "error",
     "hw_vm_mode=pv asks for a Xen paravirtual guest, but Windows has no paravirtual kernel: it "
     "runs on Xen only as an HVM guest"),
    ("windows-pv-machine", {**WIN2008, "hw_machine_type": "xenpv"}, {}, "xen-pv-windows",
     "error", "hw_machine_type=xenpv asks for a Xen paravirtual guest, but Windows has no "
     "paravirtual kernel: it runs on Xen only as an HVM guest"),
    ("old-linux-pv", {**CENTOS5, "vm_mode": "xen"}, {}, "xen-pv-unsupported", "error",
     "vm_mode=xen, but CentOS 5.3's kernel cannot run as a Xen paravirtual guest"),
    ("vm-mode-exe", {**CENTOS7, "vm_mode": "exe"}, {}, "vm-mode-unsupported", "error",
     "vm_mode=exe: Xen runs hvm (fully virtualised) or xen (paravirtual) guests"),
    ("machine-q35", {**CENTOS7, "hw_machine_type": "q35"}, {}, "machine-type-wrong-hypervisor",
     "error", "hw_machine_type=q35 is for KVM/QEMU, but the host runs xen"),
    ("machine-contradicts", {**CENTOS7, "vm_mode": "hvm", "hw_machine_type": "xenpv"}, {},
     "xen-machine-vm-mode", "error",
     "hw_machine_type=xenpv contradicts vm_mode=hvm (machine xenfv)"),
    ("hypervisor-type", {**CENTOS7, "hypervisor_type": "kvm"}, {}, "hypervisor-type-mismatch",
     "error", "hypervisor_type=kvm but the host runs xen"),
    ("pv-disk-bus", {**CENTOS7, "vm_mode": "xen", "hw_disk_bus": "ide"}, {}, "xen-pv-disk-bus",
     "error", "hw_disk_bus=ide: a paravirtual guest has only Xen virtual disks (bus xen)"),
    ("virtio-bus", {**WIN2008, "hw_disk_bus": "virtio"}, {}, "disk-bus-unavailable", "error",
     "hw_disk_bus=virtio is not offered by the host (offers ide, xen)"),
    ("xen-bus-no-driver", {**WIN2008, "hw_disk_bus": "xen"}, {}, "disk-driver-unverified",
     "warning", "hw_disk_bus=xen needs the xen-pv driver, which Windows does not ship; the "
     "image does not declare its drivers (kumo_guest_drivers), so kumo cannot tell whether it "
     "boots"),
    ("vif-virtio", {**CENTOS7, "hw_vif_model": "virtio"}, {}, "xen-vif-model", "error",
     "hw_vif_model=virtio is not a NIC of a Xen HVM guest: allowed e1000, rtl8139, netfront"),
    ("pv-vif-e1000", {**CENTOS7, "vm_mode": "xen", "hw_vif_model": "e1000"}, {},
     "xen-vif-model", "error",
     "hw_vif_model=e1000 is not a NIC of a Xen paravirtual guest: allowed netfront"),
    ("cdrom-bus", {**WIN2008, "hw_cdrom_bus": "sata"}, {"config_drive": "/cd.iso"},
     "xen-cdrom-bus", "error", "hw_cdrom_bus=sata: a Xen HVM guest's CD-ROM is on ide"),
    ("video-qxl", {**WIN2008, "hw_video_model": "qxl"}, {}, "xen-video-model", "error",
     "hw_video_model=qxl is not emulated for Xen HVM guests: allowed vga, cirrus"),
    ("uefi", {**WIN2008, "hw_firmware_type": "uefi"}, {}, "xen-uefi-unsupported", "error",
     "hw_firmware_type=uefi: kumo renders Xen guests with BIOS firmware only (no OVMF or "
     "Secure Boot)"),
    ("windows-11", {"os_type": "windows", "os_distro": "windows", "os_version": "11"}, {},
     "xen-uefi-unsupported", "error", "Windows 11 boots only from UEFI: kumo renders Xen guests "
     "with BIOS firmware only (no OVMF or Secure Boot)"),
    ("tpm", {**WIN2008, "hw_tpm_version": "2.0"}, {}, "xen-tpm-unsupported", "error",
     "hw_tpm_version=2.0: kumo renders no virtual TPM for Xen guests"),
    ("timezone", {**WIN2008, "kumo_guest_timezone": "Asia/Shanghai"}, {}, "xen-clock-timezone",
     "error", "guest time zone Asia/Shanghai cannot be set on Xen: libvirt's Xen driver keeps a "
     "guest's RTC in UTC or in the host's local time only"),
    ("pv-console-log", {**CENTOS7, "vm_mode": "xen"}, {"console_log": "/var/log/g.log"},
     "xen-pv-console-log", "error", "a Xen paravirtual guest's console is xenconsoled's pty: "
     "libvirt cannot log it to /var/log/g.log"),
    ("guest-agent-ignored", {**CENTOS7, "hw_qemu_guest_agent": "yes"}, {},
     "xen-property-ignored", "warning",
     "hw_qemu_guest_agent=yes has no effect on a Xen guest as kumo renders it"),
    ("pv-video-ignored", {**CENTOS7, "vm_mode": "xen", "hw_video_model": "vga"}, {},
     "xen-property-ignored", "warning",
     "hw_video_model=vga has no effect on a Xen paravirtual guest: it has no emulated devices"),
    ("cpu-topology", {**WIN2008, "hw_cpu_cores": "2"}, {}, "cpu-topology-ignored", "warning",
     "hw_cpu_cores cannot be applied on xen: libvirt's libxl driver builds a Xen guest's CPUs "
     "from <vcpu> alone (it applies no <cpu><topology>)"),
    ("windows-key-type", WIN2008, {"ssh_keys": ("ssh-ed25519 AAAA op@example",)},
     "windows-key-type", "error", "a Windows guest takes a key pair only to encrypt its admin "
     "password (read with nova get-password or EC2 GetPasswordData), which needs an RSA key, "
     "and this key is ssh-ed25519: allowed ssh-rsa (kumo keypair create --key-type rsa), or no "
     "key pair (the admin password is then shown once by the command that creates the server)"),
]


@pytest.mark.parametrize("props, kw, id, severity, message", [c[1:] for c in ERRORS],
                         ids=[c[0] for c in ERRORS])
def test_findings(props, kw, id, severity, message):
    got = finding(plan(props, **kw), id)
    assert got[:2] == (severity, message)
    assert got[2]


def test_windows_pv_error_is_the_only_finding():
    """The guest falls back to HVM for the remaining rules, so one mistake is one message."""
    p = plan({**WIN2008, "vm_mode": "xen"})
    assert [f.id for f in p.findings] == ["xen-pv-windows"]
    assert p.spec is None


def test_seed_003_windows_image_is_clean_on_xen():
    assert plan({**WIN2008, "hypervisor_type": "xen"}).findings == ()


def test_default_host_for_xen_is_a_xen_host():
    host = host_caps_for("xen")
    assert (host.hypervisor, host.hypervisor_version, host.machines) == (
        "xen", (4, 17), ("xenfv", "xenpv"))
