"""The host seam: LibvirtHost and the in-memory FakeHost both are HostConnections, method by method
with the same signatures, and the fake fails the way the libvirt error table says a host does."""

from __future__ import annotations

import inspect

import libvirt
import pytest

from kumo.errors import DomainNotFound, HostError, HostUnreachable, InvalidInput, StateError
from kumo.hosts.fake import Fault, FakeHost
from kumo.hosts.libvirt_host import LibvirtHost
from kumo.hosts.protocol import DomainState, HostConnection

MEMBERS = sorted(name for name in dir(HostConnection)
                 if not name.startswith("_") and callable(getattr(HostConnection, name)))


def test_protocol_names_what_compute_uses():
    assert MEMBERS == [
        "add_dhcp_host", "capabilities", "close", "create_overlay_volume", "create_volume",
        "daemon_id", "define", "define_nwfilter", "delete_dhcp_host", "delete_network",
        "delete_volume", "destroy", "domain_exists", "domain_state", "domain_states", "domain_xml",
        "download_volume", "ensure_network", "ensure_pool", "guest_time", "list_domains", "list_networks",
        "list_nwfilters", "list_volumes", "network_exists", "network_xml", "node_info",
        "nwfilter_xml", "pool_info", "read_volume", "reboot", "refresh_pool", "resize_volume",
        "set_guest_time",
        "set_user_password", "shutdown", "start", "undefine", "undefine_nwfilter",
        "upload_volume", "volume_info"]


@pytest.mark.parametrize("impl", [LibvirtHost, FakeHost], ids=["libvirt", "fake"])
@pytest.mark.parametrize("member", MEMBERS)
def test_implementation_has_the_protocols_signature(impl, member):
    expected = inspect.signature(getattr(HostConnection, member))
    actual = inspect.signature(getattr(impl, member))
    # same parameters in the same order, with the same kinds and defaults (extra keyword-only
    # parameters with defaults are allowed: LibvirtHost.shutdown's poll interval)
    extra = [p for n, p in actual.parameters.items() if n not in expected.parameters]
    assert all(p.kind is p.KEYWORD_ONLY and p.default is not p.empty for p in extra)
    assert [(p.name, p.kind, p.default) for p in expected.parameters.values()] == [
        (p.name, p.kind, p.default) for n, p in actual.parameters.items()
        if n in expected.parameters]
    assert actual.return_annotation == expected.return_annotation


def test_both_are_instances():
    assert isinstance(LibvirtHost("test:///default"), HostConnection)
    assert isinstance(FakeHost(), HostConnection)


def test_domain_state_codes_are_libvirts():
    assert [DomainState.from_code(getattr(libvirt, f"VIR_DOMAIN_{s.name}"))
            for s in DomainState if s is not DomainState.UNKNOWN] == [
        s for s in DomainState if s is not DomainState.UNKNOWN]
    assert DomainState.from_code(99) is DomainState.UNKNOWN


XML = "<domain type='kvm'><name>web</name></domain>"


@pytest.mark.parametrize("fault, cls", [
    (Fault.REFUSED, "UnsupportedGuest"), (Fault.INVALID_XML, "InvalidInput"),
    (Fault.START_ERROR, "HostError"), (Fault.TIMEOUT, "HostError"),
    (Fault.CONNECTION_LOST, "HostUnreachable"), (Fault.AGENT, "HostError"),
], ids=lambda v: getattr(v, "name", v))
def test_faults_become_the_tables_exceptions(fault, cls):
    host = FakeHost("fake:///h")
    host.fail("define", fault)
    with pytest.raises(HostError if cls.startswith("Host") else Exception) as e:
        host.define(XML)
    assert type(e.value).__name__ == cls
    assert str(e.value) == f"cannot define() on fake:///h: {fault.message}"
    assert e.value.libvirt_code == fault.code
    assert host.domains == {}


def test_lost_connection_stays_lost_until_healed():
    host = FakeHost("fake:///h")
    host.fail("define", Fault.CONNECTION_LOST)
    with pytest.raises(HostUnreachable):
        host.define(XML)
    with pytest.raises(HostUnreachable, match="does not answer"):
        host.list_domains()
    host.heal()
    assert host.define(XML) == "web" and host.list_domains() == ["web"]


def test_fault_after_acting_leaves_the_effect():
    host = FakeHost("fake:///h")
    host.define(XML)
    host.fail("start", Fault.TIMEOUT, after=True)
    with pytest.raises(HostError, match="Timed out"):
        host.start("web")
    assert host.domain_state("web") == DomainState.RUNNING


def test_libvirt_semantics():
    host = FakeHost("fake:///h")
    with pytest.raises(DomainNotFound):
        host.start("web")
    host.define(XML)
    with pytest.raises(StateError, match="domain is not running"):
        host.destroy("web")
    host.start("web")
    with pytest.raises(StateError, match="already running"):
        host.start("web")
    host.undefine("web")  # a running domain becomes transient ...
    assert host.domain_exists("web")
    host.destroy("web")  # ... and vanishes when it stops
    assert not host.domain_exists("web")


def test_upload_checks_the_format(tmp_path):
    host = FakeHost("fake:///h")
    host.ensure_pool("p", "/pool")
    f = tmp_path / "disk"
    f.write_bytes(b"QFI\xfb" + bytes(100))
    with pytest.raises(InvalidInput, match="declared raw but libvirt reads it as qcow2"):
        host.upload_volume("p", "v", f, "raw")
    assert host.list_volumes("p") == []
    assert host.upload_volume("p", "v", f, "qcow2").format == "qcow2"
    assert [c.op for c in host.calls] == ["ensure_pool", "upload_volume", "list_volumes",
                                          "upload_volume"]
