"""Host capabilities parsed from libvirt domcapabilities documents."""

from importlib import resources

import pytest

from kumo.errors import InvalidInput
from kumo.hosts.capabilities import HostCapabilities, default_host_caps


def test_default_host_is_a_modern_intel_kvm_host():
    caps = default_host_caps()
    assert (caps.hypervisor, caps.arch, caps.cpu_vendor) == ("kvm", "x86_64", "Intel")
    assert caps.machines == ("pc", "q35")
    assert caps.secure_boot and "efi" in caps.firmware
    assert (caps.tpm_models, caps.tpm_versions) == (("tpm-tis", "tpm-crb"), ("1.2", "2.0"))
    assert {"vpindex", "synic", "stimer", "evmcs", "reenlightenment"} <= set(caps.hyperv_features)
    assert caps.disk_buses.count("ide") == 1


def test_ide_listed_once_when_domcaps_already_has_it():
    xml = resources.files("kumo.data").joinpath("host-caps-intel-kvm.xml").read_text()
    xml = xml.replace("<value>sata</value>", "<value>sata</value><value>ide</value>", 1)
    assert HostCapabilities.from_domcaps_xml(xml).disk_buses.count("ide") == 1


@pytest.mark.parametrize("xml, message", [
    ("<domainCapabilities", "host capabilities are not valid XML"),
    ("<capabilities/>", "host capabilities must be a libvirt <domainCapabilities> document "
                        "(virsh domcapabilities), got <capabilities>"),
], ids=["malformed", "wrong-document"])
def test_bad_documents(xml, message):
    with pytest.raises(InvalidInput) as e:
        HostCapabilities.from_domcaps_xml(xml)
    assert str(e.value).startswith(message)
