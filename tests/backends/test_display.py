"""The guest's display and logged pty console in libvirt XML: hostile values in every new rendered
property survive the round trip escaped, libvirt accepts them, and what cannot be rendered is
refused in one line. Both libvirt backends (QEMU, Xen HVM) use the one ``vnc_graphics``; Hyper-V
refuses a display (its console is VMConnect)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kumo.backends import get_backend
from kumo.backends.hyperv.translate import describe
from kumo.backends.display import REDACTED, redact_secrets
from kumo.backends.kvm import parse, render
from kumo.catalog.properties import ImageProperties
from kumo.errors import UnsupportedGuest
from kumo.guest.build import build_guest
from kumo.guest.request import GuestRequest
from kumo.guest.spec import DisplaySpec
from kumo.hosts.capabilities import HostConfig
from kumo.hosts.defaults import host_caps_for
from tests.backends.kvm.specs import direct_kernel_qemu
from tests.support.libvirt_check import assert_libvirt_accepts

HOSTILE = ["&", "<", "]]>", "a&b<c]]>d'e\"f"]


@pytest.mark.parametrize("value", HOSTILE, ids=["amp", "lt", "cdata-end", "all"])
def test_hostile_password_and_log_path_round_trip(value: str) -> None:
    spec = replace(direct_kernel_qemu(), console_log=f"/var/lib/kumo/{value}/console.log",
                   display=DisplaySpec(listen="127.0.0.1", password=value))
    xml = render(spec)
    assert f'passwd="{value}"' not in xml  # escaped, never raw
    assert_libvirt_accepts(xml)
    dev = parse(xml).devices
    assert dev.graphics[0].passwd == value
    assert [s.log_file for s in dev.serials + dev.consoles] == [spec.console_log] * 2


@pytest.mark.parametrize("listen", ["&", "<", "]]>", "localhost", ""],
                         ids=["amp", "lt", "cdata-end", "a-name", "empty"])
@pytest.mark.parametrize("backend, spec", [
    ("KVM/QEMU", lambda d: replace(direct_kernel_qemu(), display=d)),
], ids=["kvm"])
def test_listen_must_be_an_address(listen, backend, spec) -> None:
    with pytest.raises(UnsupportedGuest) as e:
        render(spec(DisplaySpec(listen=listen, password="x")))
    assert str(e.value) == (f"{backend} backend cannot render display.listen={listen!r}: "
                            "allowed an IP address (vnc_listen)")


def test_display_type_must_be_vnc() -> None:
    with pytest.raises(UnsupportedGuest, match=r"^KVM/QEMU backend cannot render "
                                               r"display.type='spice': allowed vnc$"):
        render(replace(direct_kernel_qemu(), display=DisplaySpec(type="spice")))


def _built(hypervisor: str, props: dict[str, str], **request: object):
    return build_guest(GuestRequest(ImageProperties.parse(props), name="g1",
                                    host=_host(hypervisor), **request))


def _host(hypervisor: str):
    return host_caps_for(hypervisor)


@pytest.mark.parametrize("hypervisor, props, model", [
    ("kvm", {"os_type": "windows", "os_distro": "windows", "os_version": "2019"}, "vga"),
    ("kvm", {"os_type": "linux", "os_distro": "debian", "os_version": "12"}, "virtio"),
    ("xen", {"os_type": "windows", "vm_mode": "hvm"}, "vga"),
], ids=["kvm-windows", "kvm-linux", "xen-hvm"])
def test_every_libvirt_guest_gets_a_vnc_display_with_its_password(hypervisor, props,
                                                                  model) -> None:
    spec = _built(hypervisor, props, display_password="s3cr&<]]>",
                  host_config=HostConfig(vnc_listen="192.0.2.7"))
    assert spec.display == DisplaySpec("vnc", "192.0.2.7", "s3cr&<]]>")
    assert spec.video == model
    decision = spec.decision("display")
    assert decision.value == "vnc 192.0.2.7"
    assert "s3cr" not in repr(spec.decisions) and "s3cr" not in repr(spec.display)
    xml = get_backend(spec.hypervisor).render(spec).text
    assert 'passwd="s3cr&amp;&lt;]]&gt;"' in xml
    assert '<listen type="address" address="192.0.2.7"/>' in xml


def test_xen_pv_and_hyperv_get_no_display() -> None:
    pv = _built("xen", {"os_type": "linux", "vm_mode": "xen", "kernel_id": "k"},
                display_password="x")
    assert pv.display is None
    hv = _built("hyperv", {"os_type": "windows", "hypervisor_type": "hyperv"},
                display_password="x")
    assert hv.display is None
    with pytest.raises(UnsupportedGuest, match="Hyper-V backend cannot render display="):
        describe(replace(hv, display=DisplaySpec(password="x")))


def test_redact_secrets_hides_the_password_and_nothing_else() -> None:
    spec = replace(direct_kernel_qemu(), display=DisplaySpec(listen="127.0.0.1", password="pw&<1"))
    domain = parse(render(spec))
    shown = redact_secrets(domain).to_xml()
    assert "pw&amp;&lt;1" not in shown and f'passwd="{REDACTED}"' in shown
    assert parse(shown).devices.graphics[0].listen_address == "127.0.0.1"
    assert redact_secrets(parse(render(replace(spec, display=None)))).devices.graphics == []
