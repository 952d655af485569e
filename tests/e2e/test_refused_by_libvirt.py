"""The host-fit lint errors are true: each configuration kumo refuses for this machine's libvirtd
(libvirt 9.0 / QEMU 7.2, TCG) is, rendered anyway, refused by that libvirtd at define or start
with the message quoted in kumo.guest.policy.hostfit.

Per case: kumo, given the host's real capabilities, refuses it with the lint id; then the same
guest is built with the host-fit check switched off, rendered, made bootable as the probe (no
disk files needed where define is not the point) and handed to libvirt, which refuses it.
"""

from __future__ import annotations

import secrets

import pytest
from lxml import etree

from kumo.backends import get_backend
from kumo.catalog.flavor import Flavor
from kumo.catalog.properties import ImageProperties
from kumo.errors import DomainNotFound, KumoError, StateError
from kumo.guest.build import plan_guest
from kumo.guest.policy import hostfit
from kumo.guest.request import GuestRequest
from tests.e2e.probe import adapt_for_probe

pytestmark = pytest.mark.e2e

LINUX = {"os_distro": "ubuntu", "os_version": "22.04"}
#: a flavor Ubuntu 22.04 runs well on (osinfo-db's minimum and recommended): only the host refuses
FLAVOR = Flavor(1, 4096, 25)

CASES = [
    ("machine-type-8.2", {"hw_machine_type": "pc-q35-8.2"}, "machine-type-unavailable",
     "define", "does not support machine type 'pc-q35-8.2'"),
    ("igb", {"hw_vif_model": "igb"}, "nic-model-unavailable", "start",
     "'igb' is not a valid device model name"),
    ("stateless-uefi", {"hw_firmware_type": "uefi", "hw_firmware_stateless": "true"},
     "firmware-stateless-unavailable", "start", "Unable to find any firmware to satisfy 'efi'"),
    ("buslogic", {"hw_disk_bus": "scsi", "hw_scsi_model": "buslogic"}, "scsi-model-unavailable",
     "define", "Unsupported controller model: buslogic"),
    ("cdrom-on-virtio", {"hw_cdrom_bus": "virtio"}, "cdrom-bus-unavailable", "define",
     "does not support ejectable media"),
    ("disk-on-fdc", {"hw_disk_bus": "fdc"}, "disk-bus-unavailable", "define",
     "Invalid bus type 'fdc' for disk"),
    ("host-passthrough-on-tcg", {"hw_cpu_mode": "host-passthrough"}, "cpu-mode-unavailable",
     "start", "CPU mode 'host-passthrough' for x86_64 qemu domain on x86_64 host is not "
              "supported by hypervisor"),
]


@pytest.fixture(scope="module")
def tcg_caps(system_libvirt):
    return system_libvirt.capabilities(virt_type="qemu")


@pytest.mark.parametrize("props, finding, step, refusal", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_what_kumo_refuses_libvirt_refuses(system_libvirt, tcg_caps, probe_image, tmp_path,
                                           monkeypatch, props, finding, step, refusal):
    name = f"kumo-e2e-refused-{secrets.token_hex(4)}"
    request = GuestRequest(ImageProperties.parse({**LINUX, **props}), flavor=FLAVOR,
                           host=tcg_caps, name=name, root_disk=str(tmp_path / "root.qcow2"),
                           config_drive=str(tmp_path / "disk.config"))
    assert [f.id for f in plan_guest(request).errors] == [finding]

    monkeypatch.setattr(hostfit, "check", lambda c, fields: None)
    spec = plan_guest(request).spec
    assert spec is not None
    xml = adapt_for_probe(get_backend(spec.hypervisor).render(spec).text, probe_image,
                          tmp_path / "console.log", keep_disks=step == "define",
                          keep_interfaces=True)
    assert etree.fromstring(xml.encode()).get("type") == "qemu"
    try:
        if step == "define":
            with pytest.raises(KumoError) as e:
                system_libvirt.define(xml)
        else:
            system_libvirt.define(xml)
            with pytest.raises(KumoError) as e:
                system_libvirt.start(name)
        assert refusal in str(e.value)
    finally:
        try:
            system_libvirt.destroy(name)
        except (StateError, DomainNotFound):
            pass
        try:
            system_libvirt.undefine(name)
        except DomainNotFound:
            pass


def test_the_same_pipeline_starts_a_guest_kumo_accepts(system_libvirt, tcg_caps, probe_image,
                                                        tmp_path):
    """The control: without a refused setting the same render-and-adapt path starts."""
    name = f"kumo-e2e-refused-{secrets.token_hex(4)}"
    request = GuestRequest(ImageProperties.parse(LINUX), flavor=FLAVOR,
                           host=tcg_caps, name=name, config_drive=str(tmp_path / "disk.config"))
    spec = plan_guest(request).spec
    assert spec is not None
    xml = adapt_for_probe(get_backend(spec.hypervisor).render(spec).text, probe_image,
                          tmp_path / "console.log", keep_interfaces=True)
    try:
        system_libvirt.define(xml)
        system_libvirt.start(name)
        assert system_libvirt.domain_state(name) == "running"
    finally:
        try:
            system_libvirt.destroy(name)
        except (StateError, DomainNotFound):
            pass
        try:
            system_libvirt.undefine(name)
        except DomainNotFound:
            pass
