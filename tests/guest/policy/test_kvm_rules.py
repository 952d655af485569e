"""KVM/QEMU policy rules, one table per concern, exact values and decisions."""

from dataclasses import replace

import pytest

from kumo.catalog.flavor import Flavor
from kumo.catalog.properties import ImageProperties
from kumo.guest.build import build_guest, plan_guest
from kumo.guest.request import GuestRequest
from kumo.hosts.capabilities import HostConfig, default_host_caps

INTEL = default_host_caps("kvm")
AMD = replace(INTEL, cpu_vendor="AMD")
TCG = default_host_caps("qemu")
BARE = replace(INTEL, hyperv_features=None)

WIN = {"os_type": "windows", "os_distro": "windows", "os_version": "2019"}
LINUX = {"os_type": "linux", "os_distro": "ubuntu", "os_version": "22.04"}


def spec(props, **kw):
    return build_guest(GuestRequest(ImageProperties.parse(props), **kw))


def errors(props, **kw):
    return {f.id: f.message for f in plan_guest(GuestRequest(ImageProperties.parse(props),
                                                             **kw)).errors}


# --- clock ------------------------------------------------------------------------------------

@pytest.mark.parametrize("props, host_tz, offset, tz, rule", [
    (WIN, None, "localtime", None, "clock.windows-localtime"),
    (WIN, "Asia/Shanghai", "timezone", "Asia/Shanghai", "clock.windows-timezone"),
    ({**WIN, "kumo_guest_timezone": "Europe/Zurich"}, "Asia/Shanghai", "timezone",
     "Europe/Zurich", "clock.windows-timezone"),
    (LINUX, "Asia/Shanghai", "utc", None, "clock.utc"),
    ({"os_distro": "win10"}, None, "localtime", None, "clock.windows-localtime"),
], ids=["windows", "windows-host-tz", "image-tz-beats-host", "linux-ignores-tz",
        "libosinfo-id-only"])
def test_clock_offset(props, host_tz, offset, tz, rule):
    s = spec(props, host_config=HostConfig(guest_timezone=host_tz))
    assert (s.clock.offset, s.clock.timezone) == (offset, tz)
    assert s.decision("clock.offset").rule == rule


def test_image_timezone_decision_names_its_source():
    d = spec({**WIN, "kumo_guest_timezone": "Asia/Shanghai"}).decision("clock.offset")
    assert (d.source, d.source_value) == ("kumo_guest_timezone", "Asia/Shanghai")


@pytest.mark.parametrize("props, host, timers", [
    (WIN, INTEL, [("rtc", None, "catchup"), ("pit", None, "delay"), ("hpet", False, None),
                  ("hypervclock", True, None)]),
    (WIN, TCG, [("rtc", None, "catchup"), ("pit", None, "delay"), ("hpet", False, None)]),
    ({**WIN, "hw_time_hpet": "yes"}, INTEL,
     [("rtc", None, "catchup"), ("pit", None, "delay"), ("hpet", True, None),
      ("hypervclock", True, None)]),
    (LINUX, INTEL, [("rtc", None, "catchup"), ("pit", None, "delay"), ("hpet", False, None)]),
], ids=["windows-kvm", "windows-tcg-no-hypervclock", "hpet-requested", "linux"])
def test_timers(props, host, timers):
    s = spec(props, host=host)
    assert [(t.name, t.present, t.tickpolicy) for t in s.clock.timers] == timers


# --- Hyper-V enlightenments --------------------------------------------------------------------

ALL = ["relaxed", "vapic", "spinlocks", "vpindex", "runtime", "synic", "stimer", "reset",
       "frequencies", "tlbflush", "ipi"]


@pytest.mark.parametrize("host, cpu_mode, names", [
    (INTEL, None, ALL),
    (INTEL, "host-passthrough", ALL + ["evmcs"]),
    (AMD, "host-passthrough", ALL),
    (BARE, None, ["relaxed", "vapic", "spinlocks"]),
    (TCG, None, [n for n in ALL if n != "stimer"]),
    (replace(INTEL, hyperv_features=("spinlocks", "vendor_id")), None,
     ["relaxed", "vapic", "spinlocks"]),
], ids=["intel", "intel-passthrough-evmcs", "amd-never-evmcs", "not-reported",
        "tcg-stimer-needs-hypervclock", "this-machine-nested"])
def test_enlightenments(host, cpu_mode, names):
    s = spec(WIN, host=host, host_config=HostConfig(cpu_mode=cpu_mode))
    assert [f.name for f in s.hyperv] == names
    assert "reenlightenment" not in [f.name for f in s.hyperv]


def test_evmcs_refusal_on_amd_says_why():
    d = spec(WIN, host=AMD, host_config=HostConfig(cpu_mode="host-passthrough")).decision(
        "hyperv.evmcs")
    assert (d.value, d.reason) == ("off", "enlightened VMCS: never on AMD hosts")


def test_stimer_dependency_reason():
    d = spec(WIN, host=TCG).decision("hyperv.stimer")
    assert (d.value, d.rule, d.reason) == (
        "off", "hyperv.dependency",
        "stimer needs hypervclock, which this guest does not have")


def test_linux_gets_no_enlightenments():
    assert spec(LINUX).hyperv == ()


# --- machine, firmware, TPM ----------------------------------------------------------------------

@pytest.mark.parametrize("props, machine, fw, sb", [
    (WIN, "q35", "bios", False),
    ({**WIN, "hw_machine_type": "pc"}, "pc", "bios", False),
    ({**WIN, "hw_disk_bus": "ide"}, "pc", "bios", False),
    ({**LINUX, "os_secure_boot": "required"}, "q35", "uefi", True),
    ({**LINUX, "hw_firmware_type": "uefi", "os_secure_boot": "optional"}, "q35", "uefi", True),
    ({**LINUX, "hw_firmware_type": "uefi"}, "q35", "uefi", False),
    ({"os_distro": "win11"}, "q35", "uefi", True),
    ({"os_distro": "centos", "os_version": "6"}, "pc", "bios", False),
], ids=["windows-q35", "explicit-pc", "ide-needs-pc", "sb-required-implies-uefi",
        "sb-optional", "uefi-no-sb", "win11-defaults", "old-linux-pc"])
def test_machine_and_firmware(props, machine, fw, sb):
    s = spec(props, flavor=Flavor(2, 4096, 64))  # Windows 11 needs 64 GB (osinfo-db)
    assert (s.machine, s.firmware.type, s.firmware.secure_boot) == (machine, fw, sb)
    assert ("smm" in s.features) == sb


@pytest.mark.parametrize("props, error_id, message", [
    ({**LINUX, "os_secure_boot": "required", "hw_firmware_type": "bios"},
     "secure-boot-needs-q35-uefi",
     "os_secure_boot=required needs q35 and UEFI firmware, but firmware is bios"),
    ({"os_distro": "win11", "os_secure_boot": "disabled"}, "os-requires-secure-boot",
     "Windows 11 requires Secure Boot, which this guest would not have"),
    ({**LINUX, "hw_tpm_model": "tpm-crb"}, "tpm-model-without-version",
     "hw_tpm_model=tpm-crb is set without hw_tpm_version"),
    ({**LINUX, "hw_firmware_stateless": "yes"}, "stateless-needs-uefi",
     "hw_firmware_stateless=true needs UEFI firmware"),
    ({**LINUX, "hw_machine_type": "hyperv-gen2"}, "machine-type-wrong-hypervisor",
     "hw_machine_type=hyperv-gen2 is for Hyper-V, but the host runs kvm"),
    ({**LINUX, "hypervisor_type": "xen"}, "hypervisor-type-mismatch",
     "hypervisor_type=xen but the host runs kvm"),
    ({**LINUX, "architecture": "aarch64"}, "arch-mismatch",
     "architecture=aarch64 cannot run on this x86_64 host"),
    ({**LINUX, "hw_cpu_sockets": "3"}, "cpu-topology-mismatch",
     "hw_cpu_sockets/cores/threads give 3x1x1=3 vCPUs but the flavor has 2"),
    ({**LINUX, "min_ram": "8192"}, "flavor-below-min-ram",
     "flavor 'm1.medium' has 4096 MiB RAM; the image's min_ram is 8192"),
], ids=["sb-on-bios", "win11-sb-disabled", "tpm-model-only", "stateless-bios",
        "hyperv-machine-on-kvm", "hv-type", "arch", "topology", "min-ram"])
def test_impossible_requests(props, error_id, message):
    assert errors(props)[error_id] == message


def test_hypervisor_type_qemu_runs_on_kvm():
    """Nova reports libvirt KVM hosts as QEMU; CERN's images say hypervisor_type=qemu."""
    assert spec({**LINUX, "hypervisor_type": "qemu"}).hypervisor == "kvm"


def test_tpm_unavailable_on_host_without_swtpm():
    host = replace(INTEL, tpm_models=(), tpm_versions=())
    assert errors({"os_distro": "win11"}, host=host)["tpm-unavailable"] == (
        "TPM 2.0 (tpm-crb) is not offered by the host (offers versions none, models none)")


# --- CPU, disks, devices ------------------------------------------------------------------------

@pytest.mark.parametrize("props, vcpus, topology", [
    (WIN, 4, (1, 4, 1)),
    (LINUX, 4, (4, 1, 1)),
    ({**LINUX, "hw_cpu_sockets": "2"}, 4, (2, 2, 1)),
    ({**LINUX, "hw_cpu_cores": "2", "hw_cpu_threads": "2"}, 4, (1, 2, 2)),
], ids=["windows-one-socket", "linux-sockets", "sockets-given", "cores-threads-given"])
def test_cpu_topology(props, vcpus, topology):
    s = spec(props, flavor=Flavor(vcpus, 4096, 40))
    assert (s.cpu.sockets, s.cpu.cores, s.cpu.threads) == topology


@pytest.mark.parametrize("props, bus, controllers, nic, video", [
    (WIN, "sata", [], "e1000e", "vga"),
    ({**WIN, "kumo_guest_drivers": "virtio-blk,virtio-net"}, "virtio", [], "virtio", "vga"),
    ({**WIN, "kumo_guest_drivers": "virtio-scsi"}, "scsi", [("scsi", "virtio-scsi")], "e1000e",
     "vga"),
    ({**WIN, "hw_machine_type": "pc"}, "ide", [], "e1000", "vga"),
    (LINUX, "virtio", [], "virtio", "virtio"),
    ({"os_distro": "centos", "os_version": "7.1"}, "virtio", [], "virtio", "vga"),
    ({**LINUX, "hw_disk_bus": "scsi"}, "scsi", [("scsi", "virtio-scsi")], "virtio", "virtio"),
    ({**LINUX, "hw_vif_model": "e1000", "hw_video_model": "qxl"}, "virtio", [], "e1000", "qxl"),
], ids=["windows", "windows-virtio", "windows-virtio-scsi-only", "windows-pc", "linux",
        "centos7-no-virtio-gpu", "linux-scsi-default-model", "explicit-nic-video"])
def test_disks_and_devices(props, bus, controllers, nic, video):
    s = spec(props)
    assert s.disk("root").bus == bus
    assert [(c.type, c.model) for c in s.controllers] == controllers
    assert (s.nics[0].model, s.video) == (nic, video)


def test_ephemeral_and_config_drive():
    s = spec(WIN, flavor=Flavor(2, 4096, 40, ephemeral_gib=10), config_drive="/x/disk.config")
    assert [(d.role, d.device, d.bus, d.readonly) for d in s.disks] == [
        ("root", "disk", "sata", False), ("ephemeral", "disk", "sata", False),
        ("config", "cdrom", "sata", True)]


def test_guest_agent_channel_only_when_asked():
    assert spec({**LINUX, "hw_qemu_guest_agent": "yes"}).guest_agent is True
    assert spec(LINUX).guest_agent is False


@pytest.mark.parametrize("props, keys, ssh, admin, password, password_key", [
    (LINUX, ("ssh-ed25519 A",), ("ssh-ed25519 A",), None, False, None),
    (LINUX, ("ssh-rsa A",), ("ssh-rsa A",), None, False, None),
    (WIN, ("ssh-rsa A",), (), "Administrator", True, "ssh-rsa A"),
    (WIN, (), (), "Administrator", True, None),
    ({**WIN, "os_admin_user": "kumoadmin"}, (), (), "kumoadmin", True, None),
], ids=["linux-keys", "linux-rsa-installed", "windows-rsa-encrypts-only", "windows-no-key",
        "windows-admin-user"])
def test_credentials(props, keys, ssh, admin, password, password_key):
    c = spec(props, ssh_keys=keys).credentials
    assert (c.ssh_keys, c.admin_user, c.admin_password, c.password_key) == (
        ssh, admin, password, password_key)


def test_flavor_extra_spec_overrides_bus():
    s = spec(WIN, flavor=Flavor(2, 4096, 40, extra_specs={"hw:disk_bus": "ide",
                                                         "hw:machine_type": "pc"}))
    assert (s.machine, s.disk("root").bus) == ("pc", "ide")


@pytest.mark.parametrize("props, topology, source, value, reason", [
    ({"os_distro": "win2k19"}, "1x2x1", "os_type", "windows",
     "Windows Server 2019 is licensed by processor socket, so the flavor's 2 vCPUs are given as "
     "cores of one socket"),
    ({"os_distro": "win10"}, "1x2x1", "os_type", "windows",
     "Windows 10 (a client edition) uses at most 2 sockets, so the flavor's 2 vCPUs are given "
     "as cores of one socket"),
    ({"os_distro": "windows"}, "1x2x1", "os_type", "windows",
     "Windows client editions use at most 2 sockets and Windows Server is licensed by socket, "
     "so the flavor's 2 vCPUs are given as cores of one socket"),
    ({"os_type": "linux"}, "2x1x1", "flavor vcpus", 2, "one socket per vCPU (Nova's default)"),
    ({"os_type": "linux", "hw_cpu_sockets": "1", "hw_cpu_cores": "2"}, "1x2x1",
     "hw_cpu_sockets,hw_cpu_cores", "1,2", "the image states a CPU topology"),
], ids=["server-2019", "windows-10", "windows-unknown", "linux", "explicit"])
def test_cpu_topology_names_its_real_source(props, topology, source, value, reason):
    """The decision's source value is the source property's value (it was the vCPU count,
    printed as os_type=2), and Windows Server is not called a client edition."""
    d = spec(props).decision("cpu.topology")
    assert (d.value, d.source, d.source_value, d.reason) == (topology, source, value, reason)
