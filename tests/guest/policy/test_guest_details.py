"""The guest details a mature tool gets right: USB controller, suspend, TRIM, PCIe root ports,
TCG CPU model, Secure Boot against OS and host, evmcs, the hidden hypervisor's vendor id, and a
CD-ROM bus that only matters with a CD-ROM. Exact values, decisions and rendered XML."""

from dataclasses import replace

import pytest
from lxml import etree

from kumo.backends import get_backend
from kumo.catalog.flavor import Flavor
from kumo.catalog.properties import ImageProperties
from kumo.guest.build import build_guest, plan_guest
from kumo.guest.request import GuestRequest
from kumo.hosts.capabilities import HostConfig, default_host_caps

INTEL = default_host_caps("kvm")
TCG = default_host_caps("qemu")
NO_SECURE_BOOT = replace(INTEL, secure_boot=False)
BIG = Flavor(2, 8192, 80, name="big")


def spec(props, **kw):
    kw.setdefault("flavor", BIG)
    return build_guest(GuestRequest(ImageProperties.parse(props), **kw))


def findings(props, **kw):
    kw.setdefault("flavor", BIG)
    plan = plan_guest(GuestRequest(ImageProperties.parse(props), **kw))
    return {f.id: f.message for f in plan.findings}


def xml(props, **kw):
    return etree.fromstring(get_backend("kvm").render(spec(props, **kw)).text.encode())


# --- USB controller ---------------------------------------------------------------------------

USB = [
    ("winxp", "pc", "piix3-uhci", "usb.no-xhci"),
    ("win2k8", "pc", "piix3-uhci", "usb.no-xhci"),
    ("win7", "q35", "ich9-ehci1", "usb.no-xhci"),
    ("win2k8r2", "q35", "ich9-ehci1", "usb.no-xhci"),
    ("win8", "q35", "qemu-xhci", "usb.xhci"),
    ("win2k12", "q35", "qemu-xhci", "usb.xhci"),
    ("win11", "q35", "qemu-xhci", "usb.xhci"),
    ("centos5.2", "pc", "piix3-uhci", "usb.no-xhci"),
    ("ubuntu22.04", "q35", "qemu-xhci", "usb.xhci"),
]


@pytest.mark.parametrize("os_distro, machine, controller, rule", USB, ids=[r[0] for r in USB])
def test_usb_controller_is_one_the_release_drives(os_distro, machine, controller, rule):
    s = spec({"os_distro": os_distro})
    assert (s.machine, s.usb_controller) == (machine, controller)
    assert s.decision("usb.controller").rule == rule


def test_windows_7_tablet_sits_on_ehci_with_uhci_companions():
    devices = xml({"os_distro": "win7"}).find("devices")
    usb = [(c.get("model"), c.get("index"),
            next((m.get("startport") for m in c.iterfind("master")), None))
           for c in devices.iterfind("controller[@type='usb']")]
    assert usb == [("ich9-ehci1", "0", None), ("ich9-uhci1", "0", "0"),
                   ("ich9-uhci2", "0", "2"), ("ich9-uhci3", "0", "4")]
    assert [(i.get("type"), i.get("bus")) for i in devices.iterfind("input")] == [("tablet", "usb")]


# --- suspend ----------------------------------------------------------------------------------

@pytest.mark.parametrize("os_distro", ["win10", "ubuntu22.04"])
def test_guests_cannot_suspend_themselves(os_distro):
    s = spec({"os_distro": os_distro})
    assert s.suspend is False
    assert s.decision("suspend").rule == "power.no-guest-suspend"
    pm = xml({"os_distro": os_distro}).find("pm")
    assert [(e.tag, e.get("enabled")) for e in pm] == [("suspend-to-mem", "no"),
                                                        ("suspend-to-disk", "no")]


# --- TRIM -------------------------------------------------------------------------------------

def test_writable_disks_pass_trim_through_cdrom_does_not():
    props = {"os_distro": "ubuntu22.04", "img_config_drive": "mandatory"}
    flavor = Flavor(2, 4096, 20, name="eph", ephemeral_gib=5)
    s = spec(props, flavor=flavor)
    assert [(d.role, d.discard) for d in s.disks] == [("root", "unmap"), ("ephemeral", "unmap"),
                                                      ("config", None)]
    drivers = [(d.get("device"), d.find("driver").get("discard"))
               for d in xml(props, flavor=flavor).iterfind("devices/disk")]
    assert drivers == [("disk", "unmap"), ("disk", "unmap"), ("cdrom", None)]


# --- PCIe root ports --------------------------------------------------------------------------

@pytest.mark.parametrize("os_distro, config, ports", [
    ("ubuntu22.04", HostConfig(), 16),
    ("ubuntu22.04", HostConfig(pcie_root_ports=4), 4),
    ("ubuntu22.04", HostConfig(pcie_root_ports=0), 0),
    ("winxp", HostConfig(), 0),
], ids=["q35-default", "q35-configured", "q35-none", "pc-needs-none"])
def test_pcie_root_ports(os_distro, config, ports):
    s = spec({"os_distro": os_distro}, host_config=config)
    assert s.pcie_root_ports == ports
    models = [c.get("model") for c in xml({"os_distro": os_distro}, host_config=config)
              .iterfind("devices/controller[@type='pci']")]
    assert models == ([] if ports == 0 else ["pcie-root"] + ["pcie-root-port"] * ports)


# --- the CPU model under TCG ------------------------------------------------------------------

@pytest.mark.parametrize("os_distro, host, config, mode, model", [
    ("win11", TCG, HostConfig(), "custom", "Nehalem"),
    ("win2k25", TCG, HostConfig(), "custom", "Nehalem"),
    ("winxp", TCG, HostConfig(), "custom", "Nehalem"),
    ("ubuntu22.04", TCG, HostConfig(), "none", None),
    ("win11", TCG, HostConfig(cpu_mode="host-model"), "host-model", None),
    ("win11", INTEL, HostConfig(), "host-model", None),
], ids=["win11-tcg", "win2k25-tcg", "winxp-tcg", "linux-tcg", "host-config-wins", "kvm"])
def test_tcg_cpu_model_runs_current_windows(os_distro, host, config, mode, model):
    s = spec({"os_distro": os_distro}, host=host, host_config=config)
    assert (s.cpu.mode, s.cpu.model) == (mode, model)
    cpu = xml({"os_distro": os_distro}, host=host, host_config=config).find("cpu")
    rendered = cpu.find("model")
    assert (None if rendered is None else (rendered.text, rendered.get("fallback"))) == (
        None if model is None else (model, "forbid"))


# --- Secure Boot against the OS and the host --------------------------------------------------

@pytest.mark.parametrize("os_distro", ["winxp", "win7", "win2k8r2", "centos6.5", "ubuntu12.04"])
def test_secure_boot_required_by_a_release_that_cannot_boot_with_it(os_distro):
    props = {"os_distro": os_distro, "os_secure_boot": "required", "hw_machine_type": "q35",
             "hw_firmware_type": "uefi"}
    name = spec({"os_distro": os_distro}).decision("machine").source_value
    assert findings(props)["secure-boot-unsupported-by-os"] == (
        f"os_secure_boot=required but {name} cannot boot with Secure Boot (its boot loader is "
        "not signed for it)")


def test_secure_boot_required_by_a_capable_release_is_fine():
    assert "secure-boot-unsupported-by-os" not in findings(
        {"os_distro": "win2k19", "os_secure_boot": "required"})


def test_windows_11_default_secure_boot_is_checked_against_the_host():
    assert findings({"os_distro": "win11"}, host=NO_SECURE_BOOT)["secure-boot-unavailable"] == (
        "Windows 11 requires Secure Boot but the host's firmware offers no Secure Boot")
    assert "secure-boot-unavailable" not in findings({"os_distro": "win11"}, host=INTEL)


def test_windows_11_default_and_explicit_request_refused_alike():
    default = findings({"os_distro": "win11"}, host=NO_SECURE_BOOT)
    explicit = findings({"os_distro": "win11", "os_secure_boot": "required"},
                        host=NO_SECURE_BOOT)
    assert "secure-boot-unavailable" in default and "secure-boot-unavailable" in explicit


# --- evmcs and the hidden hypervisor ----------------------------------------------------------

PASSTHROUGH = HostConfig(cpu_mode="host-passthrough")


@pytest.mark.parametrize("os_distro, on, rule", [
    ("win2k12r2", False, "hyperv.evmcs-release"),
    ("win8.1", False, "hyperv.evmcs-release"),
    ("win7", False, "hyperv.evmcs-release"),
    ("win10", True, "hyperv.evmcs-intel"),
    ("win2k16", True, "hyperv.evmcs-intel"),
    ("win2k25", True, "hyperv.evmcs-intel"),
], ids=["win2k12r2", "win8.1", "win7", "win10", "win2k16", "win2k25"])
def test_evmcs_only_for_releases_that_can_use_it(os_distro, on, rule):
    s = spec({"os_distro": os_distro}, host=INTEL, host_config=PASSTHROUGH)
    assert ("evmcs" in [f.name for f in s.hyperv]) is on
    assert s.decision("hyperv.evmcs").rule == rule


def test_evmcs_off_for_windows_of_unknown_release():
    s = spec({"os_type": "windows"}, host=INTEL, host_config=PASSTHROUGH)
    assert "evmcs" not in [f.name for f in s.hyperv]
    assert s.decision("hyperv.evmcs").rule == "hyperv.evmcs-release"


def test_hidden_hypervisor_also_spoofs_the_hyperv_vendor_id_for_windows():
    props = {"os_distro": "win10", "img_hide_hypervisor_id": "true"}
    features = xml(props).find("features")
    assert features.find("kvm/hidden").get("state") == "on"
    vendor = features.find("hyperv/vendor_id")
    assert (vendor.get("state"), vendor.get("value")) == ("on", "1234567890ab")
    assert spec(props).decision("hyperv.vendor_id").rule == "hyperv.hide-vendor-id"


def test_hidden_hypervisor_on_linux_has_no_hyperv_element():
    features = xml({"os_distro": "ubuntu22.04", "img_hide_hypervisor_id": "true"}).find("features")
    assert features.find("kvm/hidden").get("state") == "on"
    assert features.find("hyperv") is None


def test_windows_without_hidden_hypervisor_keeps_its_vendor_id():
    assert xml({"os_distro": "win10"}).find("features/hyperv/vendor_id") is None


# --- the CD-ROM bus only matters with a CD-ROM ------------------------------------------------

def test_cdrom_bus_without_a_cdrom_keeps_the_machine():
    s = spec({"os_distro": "win10", "hw_cdrom_bus": "ide"})
    assert s.machine == "q35"
    assert [d.device for d in s.disks] == ["disk"]


def test_cdrom_bus_with_a_config_drive_moves_the_machine_and_says_why():
    s = spec({"os_distro": "win10", "hw_cdrom_bus": "ide", "img_config_drive": "mandatory"})
    d = s.decision("machine")
    assert (s.machine, d.rule, d.source, d.source_value) == ("pc", "machine.ide-needs-pc",
                                                             "hw_cdrom_bus", "ide")
    assert d.reason == ("q35 has no IDE controller; hw_cdrom_bus=ide puts the CD-ROM on IDE, so "
                        "the i440fx pc machine is used")


def test_cdrom_bus_on_an_explicit_q35_is_an_error_naming_hw_cdrom_bus():
    got = findings({"os_distro": "win10", "hw_cdrom_bus": "ide", "hw_machine_type": "q35",
                    "img_config_drive": "mandatory"})
    assert got["ide-on-q35"] == "hw_cdrom_bus=ide is not available on machine type q35"
