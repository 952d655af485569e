"""Hyper-V backend: seed 004's VMs as golden PowerShell and JSON descriptions (reviewed in the
diff), the JSON read back intact, and every spec value Hyper-V cannot express refused by name."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kumo.backends import RenderedConfig, get_backend
from kumo.backends.hyperv import HypervBackend, describe, parse, render, render_json
from kumo.backends.hyperv.model import NetworkAdapter, VmDescription
from kumo.backends.hyperv.powershell import quote
from kumo.errors import InvalidInput, UnsupportedGuest
from kumo.guest.spec import (
    BootSpec,
    ClockSpec,
    ControllerSpec,
    DiskSpec,
    FirmwareSpec,
    HypervFeature,
    NicSpec,
    Timer,
)
from tests.backends.hyperv.cases import CASES, seed004_gen1_windows, seed004_gen2
from tests.support.golden import assert_golden


@pytest.mark.parametrize("case", CASES)
def test_golden_powershell_and_json(case):
    spec = CASES[case]()
    assert_golden(f"hyperv/{case}.ps1", render(spec))
    assert_golden(f"hyperv/{case}.json", render_json(spec))


@pytest.mark.parametrize("case", CASES)
def test_json_round_trip(case):
    vm = describe(CASES[case]())
    assert parse(vm.to_json()) == vm


def test_seed004_gen2_description():
    vm = describe(seed004_gen2())
    assert (vm.generation, vm.firmware.secure_boot, vm.scsi_controllers) == (2, False, 1)
    assert [(d.role, d.controller_type, d.controller_number, d.controller_location, d.format,
             d.create_size_bytes) for d in vm.hard_drives] == [
        ("root", "SCSI", 0, 0, "vhdx", None), ("ephemeral", "SCSI", 0, 1, "vhdx", 20 * 2**30)]
    assert [(c.controller_type, c.controller_location) for c in vm.dvd_drives] == [("SCSI", 2)]
    assert vm.network_adapters == (NetworkAdapter("nic0", "external"),)
    assert vm.time_sync is True


def test_seed004_gen1_is_ide_with_the_dvd_on_the_second_controller():
    vm = describe(seed004_gen1_windows())
    assert (vm.generation, vm.firmware, vm.scsi_controllers) == (1, None, 0)
    assert [(d.controller_type, d.controller_number, d.controller_location)
            for d in vm.hard_drives + vm.dvd_drives] == [("IDE", 0, 0), ("IDE", 0, 1),
                                                         ("IDE", 1, 0)]


def test_every_script_line_uses_a_value_of_the_spec():
    spec = seed004_gen2()
    script = render(spec)
    for value in (spec.name, spec.uuid, spec.disk("root").source, spec.disk("config").source,
                  spec.disk("ephemeral").source, spec.nics[0].network):
        assert quote(value) in script or value in script
    assert "-Generation 2 -MemoryStartupBytes 4GB" in script
    assert "Set-VMProcessor -VM $vm -Count 2" in script
    assert "New-VHD -Path" in script and "-SizeBytes 20GB -Dynamic" in script


def test_quoting_doubles_single_quotes():
    spec = replace(seed004_gen2(), name="Bob's VM")
    assert "New-VM -Name 'Bob''s VM' -Generation 2" in render(spec)


def test_static_mac_in_hyper_v_form():
    spec = replace(seed004_gen2(), nics=(NicSpec("hyperv-synthetic", network="external",
                                                 mac="00:15:5d:01:02:03"),))
    assert describe(spec).network_adapters[0].static_mac == "00155D010203"
    assert "-SwitchName 'external' -StaticMacAddress '00155D010203'" in render(spec)


def test_registry_renders_powershell_and_json():
    spec = seed004_gen2()
    backend = get_backend("hyperv")
    assert isinstance(backend, HypervBackend)
    assert backend.render(spec) == RenderedConfig(
        text=render(spec), media_type="text/x-powershell", backend="hyperv",
        hypervisor="hyperv", guest_name="instance-0004")
    assert backend.render_json(spec).text == render_json(spec)
    assert backend.parse(render_json(spec)) == describe(spec)


@pytest.mark.parametrize("text, message", [
    ("[]", "not a kumo Hyper-V VM description: format 'list', expected 'kumo.hyperv.vm/1'"),
    ('{"format": "other"}',
     "not a kumo Hyper-V VM description: format 'other', expected 'kumo.hyperv.vm/1'"),
    ("{", "Hyper-V VM description is not valid JSON: Expecting property name enclosed in double "
          "quotes: line 1 column 2 (char 1)"),
], ids=["not-object", "wrong-format", "broken"])
def test_parse_rejects_what_is_not_a_description(text, message):
    with pytest.raises(InvalidInput) as e:
        parse(text)
    assert str(e.value) == message


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(generation="2"),
     "Hyper-V VM description generation='2' is invalid: allowed an integer"),
    (lambda d: d.update(dynamic_memory=1),
     "Hyper-V VM description dynamic_memory=1 is invalid: allowed true or false"),
    (lambda d: d["hard_drives"][0].update(path=None),
     "Hyper-V VM description hard_drives[0].path=None is invalid: allowed a string"),
    (lambda d: d.update(cpus=2), "Hyper-V VM description root: unknown field(s) cpus"),
    (lambda d: d["firmware"].pop("secure_boot"),
     "Hyper-V VM description lacks firmware.secure_boot"),
], ids=["int-as-string", "bool-as-int", "null-path", "unknown-field", "missing-field"])
def test_parse_names_the_bad_field(change, message):
    import json
    data = json.loads(describe(seed004_gen2()).to_json())
    change(data)
    with pytest.raises(InvalidInput) as e:
        VmDescription.from_json(json.dumps(data))
    assert str(e.value) == message


GEN2 = seed004_gen2
GEN1 = seed004_gen1_windows
SCSI_DISK = DiskSpec("root", "disk", "scsi", r"C:\r.vhdx", "vhdx")
UNSUPPORTED = [
    ("hypervisor", GEN2, dict(hypervisor="kvm"),
     "Hyper-V backend cannot render hypervisor='kvm': allowed hyperv"),
    ("machine-q35", GEN2, dict(machine="q35", virt_mode="q35"),
     "Hyper-V backend cannot render machine='q35': allowed hyperv-gen1, hyperv-gen2"),
    ("mode-mismatch", GEN2, dict(virt_mode="hyperv-gen1"),
     "virt_mode='hyperv-gen1' and machine='hyperv-gen2' must name the same Hyper-V generation"),
    ("gen2-bios", GEN2, dict(firmware=FirmwareSpec("bios")),
     "Hyper-V backend cannot render firmware.type='bios': allowed uefi"),
    ("gen1-secure-boot", GEN1, dict(firmware=FirmwareSpec("bios", secure_boot=True)),
     "firmware.secure_boot=True needs a generation 2 VM (machine hyperv-gen2)"),
    ("template", GEN2, dict(firmware=FirmwareSpec("uefi", secure_boot=True,
                                                   secure_boot_template="OpenSource")),
     "Hyper-V backend cannot render firmware.secure_boot_template='OpenSource': allowed "
     "MicrosoftWindows, MicrosoftUEFICertificateAuthority"),
    ("stateless", GEN2, dict(firmware=FirmwareSpec("uefi", stateless=True)),
     "Hyper-V backend cannot render firmware.stateless=True: a generation 2 VM always keeps "
     "its UEFI variables"),
    ("gen2-ide", GEN2, dict(disks=(DiskSpec("root", "disk", "ide", r"C:\r.vhdx", "vhdx"),)),
     "disks.root.bus='ide': a generation 2 VM has no IDE controller"),
    ("gen1-scsi-boot", GEN1, dict(disks=(SCSI_DISK,),
                                  controllers=(ControllerSpec("scsi", "hyperv-synthetic"),)),
     "disks.root.bus='scsi': a generation 1 VM boots only from IDE"),
    ("virtio", GEN2, dict(disks=(DiskSpec("root", "disk", "virtio", r"C:\r", "vhdx"),)),
     "Hyper-V backend cannot render disks.root.bus='virtio': allowed ide, scsi"),
    ("qcow2", GEN2, dict(disks=(replace(SCSI_DISK, format="qcow2"),)),
     "Hyper-V backend cannot render disks.root.format='qcow2': allowed vhd, vhdx"),
    ("no-root", GEN2, dict(disks=()), "a Hyper-V VM boots from one root disk; the spec has 0"),
    ("scsi-without-controller", GEN2, dict(controllers=()),
     "disks.root: no free SCSI location (the VM has 0 SCSI controller(s) of 64 locations)"),
    ("ide-full", GEN1, dict(disks=tuple(DiskSpec(r, "disk", "ide", rf"C:\{r}", "vhd", size_gib=1)
                                        for r in ("root", "ephemeral", "ephemeral",
                                                  "ephemeral", "ephemeral"))),
     "disks.ephemeral: no free IDE location (the VM has 2 IDE controller(s) of 2 locations)"),
    ("scsi-model", GEN2, dict(controllers=(ControllerSpec("scsi", "virtio-scsi"),)),
     "Hyper-V backend cannot render controllers.scsi[0].model='virtio-scsi': allowed "
     "hyperv-synthetic"),
    ("nic-virtio", GEN2, dict(nics=(NicSpec("virtio"),)),
     "Hyper-V backend cannot render nics[0].model='virtio': allowed hyperv-synthetic, "
     "hyperv-legacy"),
    ("gen2-legacy-nic", GEN2, dict(nics=(NicSpec("hyperv-legacy"),)),
     "nics[0].model='hyperv-legacy': a generation 2 VM has no legacy network adapter"),
    ("bridge", GEN2, dict(nics=(NicSpec("hyperv-synthetic", bridge="br0"),)),
     "nics[0].bridge='br0': Hyper-V adapters connect to a virtual switch (nics.network), not a "
     "bridge"),
    ("kernel", GEN2, dict(boot=BootSpec(kernel="/k")),
     "Hyper-V backend cannot render boot.kernel='/k': Hyper-V has no such setting"),
    ("emulator", GEN2, dict(emulator="/usr/bin/qemu"),
     "Hyper-V backend cannot render emulator='/usr/bin/qemu': Hyper-V has no such setting"),
    ("kvm-enlightenments", GEN2, dict(hyperv=(HypervFeature("relaxed"),)),
     "Hyper-V backend cannot render hyperv=(HypervFeature(name='relaxed', retries=None, value=None),): "
     "Hyper-V guests are enlightened natively and their devices are fixed by the generation"),
    ("timers", GEN2, dict(clock=ClockSpec("localtime", timers=(Timer("rtc"),),
                                          host_time_sync=True)),
     "Hyper-V backend cannot render clock.timers=['rtc']: the guest takes its time from the "
     "host (Time Synchronization integration service)"),
    ("cpu-mode", GEN2, dict(cpu=replace(GEN2().cpu, mode="host-model")),
     "Hyper-V backend cannot render cpu.mode='host-model': allowed none"),
    ("guest-agent", GEN2, dict(guest_agent=True), "Hyper-V backend cannot render guest_agent=True"),
]


@pytest.mark.parametrize("make, changes, message", [c[1:] for c in UNSUPPORTED],
                         ids=[c[0] for c in UNSUPPORTED])
def test_unsupported(make, changes, message):
    with pytest.raises(UnsupportedGuest) as e:
        render(replace(make(), **changes))
    assert str(e.value) == message
