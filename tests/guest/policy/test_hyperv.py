"""Hyper-V platform rules: generation, disk format, host version, 64-bit, disks on
IDE or SCSI, Secure Boot and its template, the host's time service; every error's exact text."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kumo.catalog.flavor import Flavor
from kumo.catalog.properties import ImageProperties
from kumo.errors import ConfigConflict
from kumo.guest.build import plan_guest
from kumo.guest.policy.hyperv import admits_below
from kumo.guest.request import GuestRequest
from kumo.hosts.capabilities import HostConfig
from kumo.hosts.defaults import hyperv_host_caps

WIN2012R2 = {"os_type": "windows", "os_distro": "windows", "os_version": "2012R2"}
UBUNTU = {"os_type": "linux", "os_distro": "ubuntu", "os_version": "22.04"}
#: seed 004's glance image-create example, with a VHDX disk
GEN2 = {"hw_machine_type": "hyperv-gen2", "hypervisor_version_requires": ">=6.3",
        "disk_format": "vhdx"}


def plan(props: dict, version: tuple[int, ...] | None = (10, 0), **kw):
    host = replace(hyperv_host_caps(), hypervisor_version=version)
    return plan_guest(GuestRequest(ImageProperties.parse(props), host=host, name="vm", **kw))


def finding(p, id: str) -> tuple[str, str, str]:
    (f,) = [f for f in p.findings if f.id == id]
    return f.severity, f.message, f.fix


# --- what each generation gets ------------------------------------------------------------------

@pytest.mark.parametrize("props, machine, rule, bus, firmware, controllers", [
    ({**WIN2012R2, "disk_format": "vhd"}, "hyperv-gen1", "hyperv.generation-default", "ide",
     "bios", ()),
    ({**WIN2012R2, "hw_machine_type": "hyperv-gen1", "disk_format": "vhdx"}, "hyperv-gen1",
     "hyperv.generation-explicit", "ide", "bios", ()),
    ({**WIN2012R2, **GEN2}, "hyperv-gen2", "hyperv.generation-explicit", "scsi", "uefi",
     (("scsi", "hyperv-synthetic"),)),
    ({**UBUNTU, **GEN2}, "hyperv-gen2", "hyperv.generation-explicit", "scsi", "uefi",
     (("scsi", "hyperv-synthetic"),)),
], ids=["default-gen1", "explicit-gen1", "gen2-windows", "gen2-linux"])
def test_generation_decides_firmware_and_disk_bus(props, machine, rule, bus, firmware,
                                                 controllers):
    p = plan(props, flavor=Flavor(2, 4096, 40, ephemeral_gib=20), config_drive=r"C:\cd.iso")
    spec = p.spec
    assert (spec.machine, spec.virt_mode) == (machine, machine)
    assert spec.decision("machine").rule == rule
    assert [(d.role, d.device, d.bus) for d in spec.disks] == [
        ("root", "disk", bus), ("ephemeral", "disk", bus), ("config", "cdrom", bus)]
    assert spec.firmware.type == firmware
    assert tuple((c.type, c.model) for c in spec.controllers) == controllers


def test_default_generation_reason_cites_seed_004():
    d = plan({**WIN2012R2, "disk_format": "vhd"}).spec.decision("machine")
    assert (d.value, d.source, d.reason) == (
        "hyperv-gen1", "default", "generation 1 is the default: older guests cannot boot as "
        "generation 2")


def test_disks_take_the_image_format_and_windows_paths():
    spec = plan({**WIN2012R2, **GEN2}, flavor=Flavor(2, 4096, 40, ephemeral_gib=20)).spec
    folder = rf"C:\ProgramData\kumo\instances\{spec.uuid}"
    assert [(d.source, d.format, d.size_gib) for d in spec.disks] == [
        (rf"{folder}\root.vhdx", "vhdx", 40), (rf"{folder}\ephemeral.vhdx", "vhdx", 20)]


def test_given_root_path_places_the_other_disks_beside_it():
    spec = plan({**WIN2012R2, **GEN2}, root_disk=r"D:\VMs\vm\root.vhdx",
                flavor=Flavor(2, 4096, 40, ephemeral_gib=20),
                host_config=HostConfig()).spec
    assert [d.source for d in spec.disks] == [r"D:\VMs\vm\root.vhdx", r"D:\VMs\vm\ephemeral.vhdx"]


# --- errors and warnings, exact ------------------------------------------------------------------

ERRORS = [
    ("gen2-vhd", {**WIN2012R2, **GEN2, "disk_format": "vhd"}, (10, 0), {}, "hyperv-gen2-vhd",
     "error", "hw_machine_type=hyperv-gen2 needs a VHDX image, but disk_format=vhd ("
     "generation 2 VMs boot only from VHDX)"),
    ("gen2-host-6.2", {**WIN2012R2, **GEN2}, (6, 2), {}, "hyperv-gen2-host-too-old", "error",
     "hw_machine_type=hyperv-gen2 needs Hyper-V 6.3 (Windows Server 2012 R2) or newer, but the "
     "host runs Hyper-V 6.2 (Windows Server 2012)"),
    ("gen2-host-unknown", {**WIN2012R2, **GEN2}, None, {}, "hyperv-host-version-unknown",
     "warning", "the host's Hyper-V version is unknown; hyperv-gen2 needs Hyper-V 6.3 "
     "(Windows Server 2012 R2) or newer"),
    ("gen2-32bit-arch", {**UBUNTU, **GEN2, "architecture": "i386"}, (10, 0), {},
     "hyperv-gen2-32bit", "error", "hw_machine_type=hyperv-gen2 needs a 64-bit guest, but "
     "architecture=i386"),
    ("gen2-32bit-os", {"os_distro": "win2k", **GEN2}, (10, 0), {}, "hyperv-gen2-32bit", "error",
     "hw_machine_type=hyperv-gen2 needs a 64-bit guest, but Microsoft Windows 2000 has no "
     "64-bit release"),
    ("gen2-old-os", {"os_type": "windows", "os_distro": "windows", "os_version": "2008", **GEN2},
     (10, 0), {}, "hyperv-gen2-unsupported-os", "error",
     "Windows Server 2008 cannot boot as a Hyper-V generation 2 VM (Windows Server "
     "2012 / Windows 8 x64 and later, and recent Linux kernels, can)"),
    ("gen2-requires-unset", {**WIN2012R2, **GEN2, "hypervisor_version_requires": None}, (10, 0),
     {}, "hyperv-gen2-version-requires", "warning",
     "hypervisor_version_requires is not set: the scheduler may place this generation 2 image "
     "on a Hyper-V host older than 6.3 (Windows Server 2012 R2), where it cannot start"),
    ("gen2-requires-admits-6.2", {**WIN2012R2, **GEN2, "hypervisor_version_requires": ">=6.2"},
     (10, 0), {}, "hyperv-gen2-version-requires", "warning",
     "hypervisor_version_requires='>=6.2' admits Hyper-V hosts older than 6.3 (Windows Server "
     "2012 R2), where a generation 2 VM cannot start"),
    ("gen2-legacy-alias-admits", {**WIN2012R2, **GEN2, "hypervisor_version_requires": None,
                                  "img_hv_requested_version": "<10"},
     (10, 0), {}, "hyperv-gen2-version-requires", "warning",
     "img_hv_requested_version='<10' admits Hyper-V hosts older than 6.3 (Windows Server "
     "2012 R2), where a generation 2 VM cannot start"),
    ("qcow2", {**WIN2012R2, "disk_format": "qcow2"}, (10, 0), {}, "hyperv-disk-format", "error",
     "disk_format=qcow2: Hyper-V attaches only VHD and VHDX disks"),
    ("format-unknown", WIN2012R2, (10, 0), {}, "hyperv-disk-format-unknown", "warning",
     "the image does not state its disk_format; kumo assumes VHD, and Hyper-V attaches only "
     "VHD and VHDX"),
    ("secure-boot-gen1", {**WIN2012R2, "disk_format": "vhd", "os_secure_boot": "required"},
     (10, 0), {}, "hyperv-secure-boot-needs-gen2", "error",
     "Secure Boot (os_secure_boot=required) needs a hyperv-gen2 VM; generation 1 has a BIOS"),
    ("secure-boot-linux-6.3", {**UBUNTU, **GEN2, "os_secure_boot": "required"}, (6, 3), {},
     "hyperv-secure-boot-linux-host", "error",
     "Secure Boot for a non-Windows guest needs the MicrosoftUEFICertificateAuthority template, "
     "which Hyper-V offers from 10.0 (Windows Server 2016); the host runs Hyper-V 6.3 (Windows "
     "Server 2012 R2)"),
    ("scsi-boot-gen1", {**WIN2012R2, "disk_format": "vhd", "hw_disk_bus": "scsi"}, (10, 0), {},
     "hyperv-gen1-scsi-boot", "error", "hw_disk_bus=scsi cannot hold the boot disk of a "
     "hyperv-gen1 VM: generation 1 boots only from IDE"),
    ("ide-gen2", {**WIN2012R2, **GEN2, "hw_disk_bus": "ide"}, (10, 0), {}, "hyperv-gen2-ide",
     "error", "hw_disk_bus=ide cannot hold the boot disk of a hyperv-gen2 VM: generation 2 has "
     "no IDE"),
    ("virtio-bus", {**WIN2012R2, "disk_format": "vhd", "hw_disk_bus": "virtio"}, (10, 0), {},
     "disk-bus-unavailable", "error",
     "hw_disk_bus=virtio is not offered by the host (offers ide, scsi)"),
    ("uefi-gen1", {**WIN2012R2, "disk_format": "vhd", "hw_firmware_type": "uefi"}, (10, 0), {},
     "hyperv-firmware-generation", "error",
     "hw_firmware_type=uefi contradicts a hyperv-gen1 VM, which boots from BIOS"),
    ("vm-mode-xen", {**UBUNTU, "disk_format": "vhd", "vm_mode": "xen"}, (10, 0), {},
     "vm-mode-unsupported", "error",
     "vm_mode=xen: Hyper-V runs only fully virtualised guests (vm_mode=hvm)"),
    ("q35", {**WIN2012R2, "disk_format": "vhd", "hw_machine_type": "q35"}, (10, 0), {},
     "machine-type-wrong-hypervisor", "error",
     "hw_machine_type=q35 is not a Hyper-V generation; the host runs hyperv"),
    ("direct-kernel", {**UBUNTU, "disk_format": "vhd"}, (10, 0), {"kernel": "/k"},
     "hyperv-direct-kernel", "error", "the image boots a kernel directly (kernel_id), which "
     "Hyper-V cannot do: it boots from the disk's own boot loader"),
    ("tpm", {**WIN2012R2, **GEN2, "hw_tpm_version": "2.0"}, (10, 0), {}, "hyperv-tpm-unsupported",
     "error", "hw_tpm_version=2.0: kumo does not render Hyper-V's virtual TPM (Enable-VMTPM with "
     "a key protector) yet"),
    ("vif-model-ignored", {**UBUNTU, "disk_format": "vhd", "hw_vif_model": "virtio"}, (10, 0),
     {}, "hyperv-property-ignored", "warning",
     "hw_vif_model=virtio has no effect on Hyper-V: its devices are fixed by the VM generation"),
    ("cpu-topology-ignored", {**UBUNTU, "disk_format": "vhd", "hw_cpu_sockets": "2"}, (10, 0),
     {}, "cpu-topology-ignored", "warning", "hw_cpu_sockets cannot be applied on hyperv: Hyper-V "
     "takes a vCPU count only (Set-VMProcessor -Count)"),
    ("timezone-ignored", {**WIN2012R2, "disk_format": "vhd",
                          "kumo_guest_timezone": "Asia/Shanghai"}, (10, 0), {},
     "hyperv-guest-timezone-ignored", "warning", "guest time zone Asia/Shanghai cannot be applied "
     "on Hyper-V: the guest's clock follows the host's time and the guest's own time zone "
     "setting"),
    ("windows-key-type", {**WIN2012R2, "disk_format": "vhd"}, (10, 0),
     {"ssh_keys": ("ecdsa-sha2-nistp256 AAAA op@example",)}, "windows-key-type", "error",
     "a Windows guest takes a key pair only to encrypt its admin password (read with nova "
     "get-password or EC2 GetPasswordData), which needs an RSA key, and this key is "
     "ecdsa-sha2-nistp256: allowed ssh-rsa (kumo keypair create --key-type rsa), or no key "
     "pair (the admin password is then shown once by the command that creates the server)"),
]


@pytest.mark.parametrize("props, version, kw, id, severity, message",
                         [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_findings(props, version, kw, id, severity, message):
    props = {k: v for k, v in props.items() if v is not None}
    got = finding(plan(props, version, **kw), id)
    assert got[:2] == (severity, message)
    assert got[2]  # every finding says how to fix it


def test_gen2_vhd_fix_explains_seed_004s_own_example():
    _, _, fix = finding(plan({**WIN2012R2, **GEN2, "disk_format": "vhd"}), "hyperv-gen2-vhd")
    assert fix == ("convert the image to VHDX (Convert-VHD, or qemu-img convert -O vhdx) and set "
                   "disk_format=vhdx; if the file already is VHDX (older guides upload a .vhdx "
                   "with --disk-format vhd, from before Glance knew vhdx), set "
                   "disk_format=vhdx")


def test_request_disk_format_wins_over_the_property():
    p = plan({**WIN2012R2, **GEN2}, disk_format="vhd")
    assert finding(p, "hyperv-gen2-vhd")[0] == "error"


@pytest.mark.parametrize("props", [
    {**WIN2012R2, **GEN2},
    {**WIN2012R2, **GEN2, "hypervisor_version_requires": ">=10.0"},
    {**WIN2012R2, **GEN2, "hypervisor_version_requires": "==6.3"},
], ids=["seed-004-example", "only-2016", "exactly-6.3"])
def test_gen2_image_that_keeps_off_old_hosts_is_clean(props):
    assert plan(props).findings == ()


@pytest.mark.parametrize("spec, admits", [
    (">=6.3", False), (">=6.3.0", False), (">6.3", False), ("==6.3", False), (">=10.0", False),
    (">=6.2", True), (">6.2", True), ("<10", True), ("<=6.3", True), (">=6.2,<6.3", True),
    (">=6.0,>=6.3", False), (">=7,<6", False), (">=6.3,<6.3", False),
], ids=lambda v: str(v))
def test_admits_below_6_3(spec, admits):
    assert admits_below(spec, (6, 3)) is admits


def test_image_and_flavor_secure_boot_conflict_names_both():
    """Seed 004's Nova driver refuses required vs disabled; effective_properties does it for
    every hypervisor, before any Hyper-V rule runs."""
    flavor = Flavor(2, 4096, 40, name="m1.sb", extra_specs={"os:secure_boot": "disabled"})
    with pytest.raises(ConfigConflict) as e:
        plan({**WIN2012R2, **GEN2, "os_secure_boot": "required"}, flavor=flavor)
    assert str(e.value) == (
        "image property os_secure_boot='required' conflicts with flavor 'm1.sb' extra spec "
        "os:secure_boot='disabled': make them agree or remove one")


# --- Secure Boot, clock, NIC ---------------------------------------------------------------------

@pytest.mark.parametrize("props, secure, template", [
    ({**WIN2012R2, **GEN2}, False, None),
    ({**WIN2012R2, **GEN2, "os_secure_boot": "optional"}, False, None),
    ({**WIN2012R2, **GEN2, "os_secure_boot": "required"}, True, "MicrosoftWindows"),
    ({**UBUNTU, **GEN2, "os_secure_boot": "required"}, True,
     "MicrosoftUEFICertificateAuthority"),
    ({**GEN2, "os_secure_boot": "required"}, True, "MicrosoftUEFICertificateAuthority"),
], ids=["off-by-default", "optional-stays-off", "windows", "linux", "unknown-os"])
def test_secure_boot_only_when_required_with_the_os_template(props, secure, template):
    fw = plan(props).spec.firmware
    assert (fw.type, fw.secure_boot, fw.secure_boot_template) == ("uefi", secure, template)


def test_secure_boot_default_reason():
    d = plan({**UBUNTU, **GEN2}).spec.decision("firmware.secure_boot")
    assert (d.value, d.rule, d.reason) == (
        False, "hyperv.secure-boot-off", "Hyper-V Secure Boot is enabled only when "
        "os_secure_boot=required (not every Linux distribution boots with it)")


@pytest.mark.parametrize("props", [{**WIN2012R2, "disk_format": "vhd"}, {**UBUNTU, **GEN2}],
                         ids=["windows-gen1", "linux-gen2"])
def test_time_comes_from_the_host_integration_service(props):
    spec = plan(props).spec
    assert (spec.clock.offset, spec.clock.timers, spec.clock.host_time_sync) == (
        "localtime", (), True)
    d = spec.decision("clock.host_time_sync")
    assert (d.rule, d.reason) == (
        "clock.hyperv-time-sync", "the guest takes its time from the host through Hyper-V's "
        "Time Synchronization integration service, which sets the clock at start and keeps it "
        "from drifting (so neither a Windows nor a Linux guest runs hours off)")


@pytest.mark.parametrize("props, network, model, rule", [
    ({**WIN2012R2, "disk_format": "vhd"}, "external", "hyperv-synthetic",
     "hyperv.nic-synthetic"),
    ({"os_type": "windows", "os_distro": "windows", "os_version": "2008",
      "disk_format": "vhd"}, None, "hyperv-legacy", "hyperv.nic-legacy"),
    ({**GEN2}, "external", "hyperv-synthetic", "hyperv.nic-synthetic"),
], ids=["synthetic-driver", "gen1-legacy-adapter", "gen2-always-synthetic"])
def test_nic(props, network, model, rule):
    spec = plan(props, host_config=HostConfig(network=network)).spec
    assert (spec.nics[0].model, spec.nics[0].network) == (model, network)
    assert spec.decision("nics.0.model").rule == rule


def test_cpu_is_a_count():
    spec = plan({**UBUNTU, **GEN2}, flavor=Flavor(4, 8192, 40)).spec
    assert (spec.cpu.vcpus, spec.cpu.mode) == (4, "none")
    assert spec.decision("cpu.topology").value == "4 vCPUs"


def test_too_many_vcpus_for_the_host():
    p = plan({**UBUNTU, **GEN2}, flavor=Flavor(300, 8192, 40))
    assert finding(p, "too-many-vcpus")[:2] == (
        "error", "the flavor has 300 vCPUs; the host allows at most 240")
