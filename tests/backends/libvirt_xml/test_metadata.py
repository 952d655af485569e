"""<metadata><kumo:instance>: the owner mark, in kumo's namespace, written and read by the one
declaration; a KVM render of a marked spec carries it and is valid for libvirt's schema."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from kumo.backends.kvm.render import render
from kumo.backends.libvirt_xml.domain import Domain
from kumo.backends.libvirt_xml.metadata import KUMO_NS, mark_node
from kumo.catalog.properties import ImageProperties
from kumo.guest.build import build_guest
from kumo.guest.request import GuestRequest
from kumo.guest.spec import InstanceMark

MARK = InstanceMark(installation="5f0c1b7e-3d2a-4c8e-9b61-0a7d2e4f6c81",
                    instance_uuid="0b6f3c56-9a1d-4a7c-8a53-0d2c5a2b9e01", project="p-alice",
                    flavor="m1.small", image="11111111-2222-4333-8444-555555555555")

EXPECTED = f"""<domain>
  <uuid>{MARK.instance_uuid}</uuid>
  <metadata>
    <kumo:instance xmlns:kumo="{KUMO_NS}">
      <kumo:installation>{MARK.installation}</kumo:installation>
      <kumo:uuid>{MARK.instance_uuid}</kumo:uuid>
      <kumo:project>p-alice</kumo:project>
      <kumo:flavor>m1.small</kumo:flavor>
      <kumo:image>{MARK.image}</kumo:image>
    </kumo:instance>
  </metadata>
</domain>
"""


def test_mark_is_written_in_kumos_namespace_and_read_back():
    domain = Domain(uuid=MARK.instance_uuid, kumo=mark_node(MARK))
    assert domain.to_xml() == EXPECTED
    assert Domain.from_xml(EXPECTED) == domain


def test_mark_of_another_namespace_is_not_kumos():
    other = EXPECTED.replace(KUMO_NS, "http://openstack.org/xmlns/libvirt/nova/1.1")
    assert Domain.from_xml(other).kumo is None


def test_no_mark_no_metadata():
    assert "<metadata" not in Domain(uuid=MARK.instance_uuid).to_xml()


def test_kvm_render_of_a_marked_spec_carries_it_and_validates(tmp_path):
    spec = build_guest(GuestRequest(image=ImageProperties.parse({"os_type": "linux"}),
                                    name="kumo-x", uuid=MARK.instance_uuid, mark=MARK))
    xml = render(spec)
    assert Domain.from_xml(xml).kumo == mark_node(MARK)
    if shutil.which("virt-xml-validate") is None:
        pytest.skip("virt-xml-validate not installed (libvirt-clients)")
    path = tmp_path / "domain.xml"
    path.write_text(xml)
    out = subprocess.run(["virt-xml-validate", str(path), "domain"], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
