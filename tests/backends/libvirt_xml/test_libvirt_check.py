"""tests/support/libvirt_check.py, which every golden test relies on, really fails: once for the
RelaxNG schema, once for libvirt's own parser, each time with libvirt's message."""

from __future__ import annotations

import pytest

from tests.support.libvirt_check import assert_libvirt_accepts

MINIMAL = ("<domain type='kvm'><name>check-{n}</name><memory>1024</memory><vcpu>1</vcpu>"
           "<os><type>hvm</type></os><devices>{devices}</devices></domain>")
DISK = ("<disk type='file' device='disk'><source file='{f}'/><target dev='vda' bus='virtio'/>"
        "</disk>")


def test_accepts_a_valid_domain():
    assert_libvirt_accepts(MINIMAL.format(n="ok", devices=DISK.format(f="/a")))


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (MINIMAL.format(n="schema", devices="").replace("<vcpu>1", "<vcpu>one"),
         "libvirt's RelaxNG schema rejects the domain XML:"),
        (MINIMAL.format(n="define", devices=DISK.format(f="/a") + DISK.format(f="/b")),
         "libvirt (test:///default) refuses to define the domain XML: XML error: target 'vda' "
         "duplicated for disk sources '/a' and '/b'"),
    ],
    ids=["relaxng", "test-driver"],
)
def test_fails_with_libvirts_message(xml, message):
    with pytest.raises(pytest.fail.Exception) as err:
        assert_libvirt_accepts(xml)
    assert str(err.value).startswith(message)
