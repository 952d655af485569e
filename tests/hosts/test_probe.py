"""Host capabilities as the host really is: the documents of this machine's libvirtd (libvirt 9.0,
QEMU 7.2, TCG, Debian 12's OVMF and swtpm; recorded in tests/hosts/data) assembled per machine
family, the QEMU firmware descriptors, and the value's JSON form in the hosts table."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from kumo.errors import InvalidInput
from kumo.hosts import probe
from kumo.hosts.capabilities import HostCapabilities, machine_family
from kumo.hosts.firmware import FirmwareDescriptor, read_descriptors
from tests.support.hosts import DATA, recorded_caps

CAPS = recorded_caps()


def test_each_family_keeps_its_own_firmware_and_buses():
    q35, pc = CAPS.machine("q35"), CAPS.machine("pc-i440fx-7.2")
    assert (q35.family, q35.name, pc.family, pc.name) == ("q35", "pc-q35-7.2", "pc",
                                                          "pc-i440fx-7.2")
    # the secure OVMF builds target pc-q35-* only: i440fx has no SMM for them
    assert q35.secure_boot and not pc.secure_boot
    assert q35.loaders == ("/usr/share/OVMF/OVMF_CODE_4M.ms.fd",
                           "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd",
                           "/usr/share/OVMF/OVMF_CODE_4M.fd")
    assert pc.loaders == ("/usr/share/OVMF/OVMF_CODE_4M.fd",)
    assert "ide" not in q35.disk_buses and "ide" in pc.disk_buses
    assert (CAPS.machines, CAPS.firmware, CAPS.secure_boot) == (("q35", "pc"), ("bios", "efi"),
                                                                True)
    assert CAPS.disk_buses.count("ide") == 1
    assert CAPS.secure_boot_on("q35") and not CAPS.secure_boot_on("pc")


def test_versioned_machine_names_and_aliases():
    assert dict(CAPS.machine_aliases) == {"pc": "pc-i440fx-7.2", "q35": "pc-q35-7.2"}
    assert CAPS.canonical_machine("q35") == "pc-q35-7.2"
    versions = CAPS.machine_versions("q35")
    assert (versions[0], versions[-3:]) == ("pc-q35-2.4", ("pc-q35-7.0", "pc-q35-7.1",
                                                           "pc-q35-7.2"))
    assert [CAPS.offers_machine(m) for m in ("q35", "pc", "pc-q35-7.2", "pc-i440fx-2.12",
                                            "pc-q35-8.2", "virt")] == [
        True, True, True, True, False, False]


def test_tpm_cpu_and_firmware_facts():
    assert (CAPS.tpm_versions, CAPS.tpm_models) == (("1.2", "2.0"), ("tpm-tis", "tpm-crb"))
    assert CAPS.tpm_backends == ("passthrough", "emulator", "external")
    assert CAPS.tpm_emulated and not recorded_caps(swtpm=False).tpm_emulated
    assert CAPS.cpu_modes == ("maximum", "host-model", "custom")  # TCG: no host-passthrough
    assert {"qemu64", "Nehalem", "Westmere"} <= set(CAPS.cpu_models)
    assert "Haswell" not in CAPS.cpu_models  # not usable under TCG here
    assert CAPS.hyperv_features == ("spinlocks", "vendor_id")
    assert CAPS.stateless_firmware("q35") is False
    assert replace(CAPS, firmware_descriptors=None).stateless_firmware("q35") is None


def test_stored_as_json_and_read_back_equal():
    stored = json.loads(json.dumps(CAPS.to_json()))
    assert HostCapabilities.from_json(stored) == CAPS
    assert hash(HostCapabilities.from_json(stored)) == hash(CAPS)


def test_capabilities_stored_before_the_probe_existed_still_load():
    legacy = {"hypervisor": "kvm", "machines": ["pc", "q35"], "firmware": ["bios", "efi"],
              "secure_boot": True, "tpm_versions": ["2.0"], "tpm_models": ["tpm-crb"],
              "no_longer_a_field": 1}
    caps = HostCapabilities.from_json(legacy)
    assert (caps.machine_caps, caps.firmware_descriptors, caps.swtpm) == ((), None, None)
    assert caps.secure_boot_on("q35") and caps.tpm_emulated and caps.offers_machine("pc-q35-9.0")


def test_a_document_for_the_wrong_family_is_refused():
    pc = (DATA / "qemu-7.2-tcg-pc.xml").read_text()
    with pytest.raises(InvalidInput) as e:
        probe.assemble({"q35": pc})
    assert str(e.value) == ("domain capabilities asked for machine family 'q35' describe "
                            "'pc-i440fx-7.2'")
    with pytest.raises(InvalidInput, match="^no domain capabilities"):
        probe.assemble({})
    with pytest.raises(InvalidInput, match="^host capabilities document is not valid XML"):
        probe.machines_of("<capabilities", "x86_64", "qemu")


@pytest.mark.parametrize("name, family", [("pc-q35-7.2", "q35"), ("pc-i440fx-2.12", "pc"),
                                          ("virt-8.0", "virt"), ("q35", "q35"), ("pc", "pc"),
                                          ("microvm", "microvm"), ("pc-q35-x", "pc-q35-x")])
def test_machine_family(name, family):
    assert machine_family(name) == family


def test_firmware_descriptors_in_priority_order_with_overrides(tmp_path):
    dist, admin = tmp_path / "share", tmp_path / "etc"
    dist.mkdir()
    admin.mkdir()
    for f in (DATA / "firmware").glob("*.json"):
        (dist / f.name).write_text(f.read_text())
    (admin / "50-edk2-x86_64-secure.json").write_text("")  # an empty file hides it
    (admin / "30-stateless.json").write_text(json.dumps({
        "interface-types": ["uefi"], "mapping": {"device": "memory",
                                                 "filename": "/usr/share/OVMF/OVMF.fd"},
        "targets": [{"architecture": "x86_64", "machines": ["pc-q35-*"]}], "features": []}))
    (admin / "99-broken.json").write_text("{not json")
    found = read_descriptors([dist, admin])
    assert [d.name for d in found] == ["30-stateless.json", "40-edk2-x86_64-secure-enrolled.json",
                                       "60-edk2-x86_64.json"]
    stateless = found[0]
    assert (stateless.mode, stateless.executable, stateless.stateless) == (
        "stateless", "/usr/share/OVMF/OVMF.fd", True)
    assert stateless.supports("x86_64", "pc-q35-7.2")
    assert not stateless.supports("x86_64", "pc-i440fx-7.2")
    enrolled = found[1]
    assert (enrolled.mode, enrolled.nvram_template) == ("split",
                                                       "/usr/share/OVMF/OVMF_VARS_4M.ms.fd")
    assert {"secure-boot", "requires-smm", "enrolled-keys"} <= set(enrolled.features)
    caps = replace(CAPS, firmware_descriptors=found)
    assert caps.stateless_firmware("q35") is True and caps.stateless_firmware("pc") is False


def test_descriptor_from_json_round_trip():
    d = FirmwareDescriptor.from_json("x.json", {"interface-types": ["uefi"],
                                                "mapping": {"device": "flash", "mode": "combined",
                                                            "executable": {"filename": "/f"}},
                                                "targets": [], "features": ["secure-boot"]})
    assert (d.mode, d.executable, d.nvram_template, d.targets) == ("combined", "/f", None, ())
