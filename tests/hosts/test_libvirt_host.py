"""LibvirtHost against libvirt's in-memory test driver (tests/hosts/testnode.xml): fast, no
daemon."""

from __future__ import annotations

from typing import Callable

import libvirt
import pytest

from kumo.errors import (
    ConfigConflict,
    DomainNotFound,
    HostError,
    HostUnreachable,
    InvalidInput,
    KumoError,
    NotFound,
    StateError,
)
from kumo.hosts.libvirt_host import (
    DomainState,
    LibvirtHost,
    NodeInfo,
    has_nvram,
    version_tuple,
)
from tests.hosts.conftest import TEST_URI

DOMAIN_XML = """<domain type='test'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <os><type>hvm</type></os>
</domain>"""


def define(host: LibvirtHost, name: str = "web1") -> str:
    return host.define(DOMAIN_XML.format(name=name))


# --- connection ------------------------------------------------------------------------------

def test_connection_is_lazy_and_unreachable_names_the_uri() -> None:
    uri = "qemu+unix:///system?socket=/nonexistent/libvirt-sock"
    host = LibvirtHost(uri)  # nothing happens yet
    with pytest.raises(HostUnreachable) as caught:
        host.list_domains()
    assert str(caught.value) == (f"host {uri} does not answer: Failed to connect socket to "
                                 "'/nonexistent/libvirt-sock': No such file or directory")


@pytest.mark.parametrize("uri, cls, message", [
    ("foo:///x", HostUnreachable, "host foo:///x does not answer: no connection driver "
                                  "available for foo:///x"),
    ("test:///nonexistent.xml", InvalidInput,
     "cannot open a connection on test:///nonexistent.xml: XML error: failed to parse xml "
     "document '/nonexistent.xml'"),
], ids=["no-driver", "test-driver-bad-file"])
def test_open_errors(uri: str, cls: type[KumoError], message: str) -> None:
    with pytest.raises(cls) as caught:
        LibvirtHost(uri).open()
    assert (type(caught.value), str(caught.value)) == (cls, message)


def test_context_manager_closes_and_a_closed_host_reopens() -> None:
    with LibvirtHost(TEST_URI) as host:
        define(host)
        assert host.list_domains() == ["test", "web1"]
    # each connection to a test-driver file starts from the file again
    assert host.list_domains() == ["test"]
    host.close()


def test_node_info(test_host: LibvirtHost) -> None:
    assert test_host.node_info() == NodeInfo(
        arch="i686", cpus=16, memory_mib=3072, mhz=1400, numa_nodes=2, sockets_per_node=2,
        cores_per_socket=2, threads_per_core=2)


def test_capabilities_unsupported_by_the_test_driver(test_host: LibvirtHost) -> None:
    with pytest.raises(HostError) as caught:
        test_host.capabilities()
    assert str(caught.value) == (
        f"cannot read domain capabilities on {TEST_URI}: this function is not supported "
        "by the connection driver: virConnectGetDomainCapabilities")


@pytest.mark.parametrize("encoded, expected", [
    (7002022, (7, 2, 22)), (9000000, (9, 0, 0)), (4017000, (4, 17, 0)), (2, (0, 0, 2)),
    (0, None)], ids=["qemu-7.2.22", "libvirt-9.0", "xen-4.17", "test-driver", "unknown"])
def test_version_tuple(encoded: int, expected: tuple[int, ...] | None) -> None:
    assert version_tuple(encoded) == expected


# --- domains ---------------------------------------------------------------------------------

@pytest.mark.parametrize("os_xml, expected", [
    ("<os><type>hvm</type></os>", False),
    ("<os><type>hvm</type><nvram>/v/x_VARS.fd</nvram></os>", True),
    ("<os firmware='efi'><type>hvm</type></os>", True),
    ("<os firmware='bios'><type>hvm</type></os>", False),
    ("<os><type>hvm</type><loader type='pflash'>/c.fd</loader></os>", True),
    ("", False),
], ids=["bios", "explicit-nvram", "autoselected-efi", "autoselected-bios", "pflash-loader",
     "no-os"])
def test_has_nvram(os_xml: str, expected: bool) -> None:
    assert has_nvram(f"<domain type='qemu'><name>x</name>{os_xml}</domain>") is expected


def test_domain_lifecycle(test_host: LibvirtHost) -> None:
    assert define(test_host) == "web1"
    assert test_host.domain_exists("web1") and not test_host.domain_exists("web2")
    assert test_host.domain_state("web1") is DomainState.SHUTOFF
    test_host.start("web1")
    assert test_host.domain_state("web1") is DomainState.RUNNING
    assert "<domain type='test' id=" in test_host.domain_xml("web1")
    assert test_host.domain_xml("web1", inactive=True).startswith("<domain type='test'>")
    test_host.reboot("web1")
    assert test_host.shutdown("web1", timeout_s=5) is True
    assert test_host.domain_state("web1") is DomainState.SHUTOFF
    test_host.start("web1")
    test_host.destroy("web1")
    test_host.undefine("web1")
    assert test_host.list_domains() == ["test"]


def test_shutdown_destroys_a_guest_that_ignores_acpi(test_host: LibvirtHost,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(libvirt.virDomain, "shutdown", lambda self, *a: 0)
    assert test_host.shutdown("test", timeout_s=0.2, poll_s=0.05) is False
    assert test_host.domain_state("test") is DomainState.SHUTOFF


def test_shutdown_destroys_when_the_graceful_request_is_refused(
        test_host: LibvirtHost, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: libvirt.virDomain, *a: object) -> int:
        err = libvirt.libvirtError("no ACPI")
        err.err = (libvirt.VIR_ERR_OPERATION_INVALID, 0, "Requested operation is not valid: "
                   "the guest has no ACPI", 2, None, None, None, 0, 0)
        raise err
    monkeypatch.setattr(libvirt.virDomain, "shutdown", refuse)
    assert test_host.shutdown("test", timeout_s=30) is False
    assert test_host.domain_state("test") is DomainState.SHUTOFF


@pytest.mark.parametrize("code, state", [
    (libvirt.VIR_DOMAIN_NOSTATE, DomainState.NOSTATE),
    (libvirt.VIR_DOMAIN_RUNNING, DomainState.RUNNING),
    (libvirt.VIR_DOMAIN_BLOCKED, DomainState.BLOCKED),
    (libvirt.VIR_DOMAIN_PAUSED, DomainState.PAUSED),
    (libvirt.VIR_DOMAIN_SHUTDOWN, DomainState.SHUTDOWN),
    (libvirt.VIR_DOMAIN_SHUTOFF, DomainState.SHUTOFF),
    (libvirt.VIR_DOMAIN_CRASHED, DomainState.CRASHED),
    (libvirt.VIR_DOMAIN_PMSUSPENDED, DomainState.PMSUSPENDED),
    (99, DomainState.UNKNOWN),
], ids=lambda v: str(v))
def test_domain_state_codes(code: int, state: DomainState) -> None:
    assert DomainState.from_code(code) is state


def test_paused_state(test_host: LibvirtHost) -> None:
    test_host._connection().lookupByName("test").suspend()
    assert test_host.domain_state("test") == "paused"


ERROR_CASES: list[tuple[str, Callable[[LibvirtHost], object], type[KumoError], str]] = [
    ("start-missing", lambda h: h.start("nope"), DomainNotFound,
     "cannot start domain 'nope' on {uri}: Domain not found"),
    ("destroy-missing", lambda h: h.destroy("nope"), DomainNotFound,
     "cannot destroy domain 'nope' on {uri}: Domain not found"),
    ("shutdown-missing", lambda h: h.shutdown("nope", 1), DomainNotFound,
     "cannot shut down domain 'nope' on {uri}: Domain not found"),
    ("reboot-missing", lambda h: h.reboot("nope"), DomainNotFound,
     "cannot reboot domain 'nope' on {uri}: Domain not found"),
    ("undefine-missing", lambda h: h.undefine("nope"), DomainNotFound,
     "cannot undefine domain 'nope' on {uri}: Domain not found"),
    ("xml-missing", lambda h: h.domain_xml("nope"), DomainNotFound,
     "cannot read the XML of domain 'nope' on {uri}: Domain not found"),
    ("state-missing", lambda h: h.domain_state("nope"), DomainNotFound,
     "cannot read the state of domain 'nope' on {uri}: Domain not found"),
    ("define-not-well-formed", lambda h: h.define("<domain"), InvalidInput,
     "cannot define domain on {uri}: (domain_definition):1: Couldn't find end of "
     "Start Tag domain line 1\n<domain\n-------^"),
    ("define-no-os-type", lambda h: h.define("<domain type='test'><name>x</name></domain>"),
     InvalidInput, "cannot define domain on {uri}: XML error: an os <type> must be "
                   "specified"),
    ("define-bad-value", lambda h: h.define(
        "<domain type='test'><name>x</name><memory>1024</memory><os><type>hvm</type></os>"
        "<devices><disk type='file'><target dev='vda' bus='nvme9'/></disk></devices></domain>"),
     InvalidInput, "cannot define domain on {uri}: XML error: Invalid value for "
                   "attribute 'bus' in element 'target': 'nvme9'."),
    ("start-running", lambda h: h.start("test"), HostError,
     "cannot start domain 'test' on {uri}: internal error: Domain 'test' is already "
     "running"),
    ("destroy-shutoff", lambda h: (h.destroy("test"), h.destroy("test")), StateError,
     "cannot destroy domain 'test' on {uri}: Requested operation is not valid: "
     "domain is not running"),
    ("shutdown-shutoff", lambda h: (h.destroy("test"), h.shutdown("test", 1)), StateError,
     "cannot shut down domain 'test' on {uri}: it is not running"),
    ("pool-missing", lambda h: h.list_volumes("nopool"), NotFound,
     "cannot look up storage pool 'nopool' on {uri}: Storage pool not found: no "
     "storage pool with matching name 'nopool'"),
    ("volume-missing", lambda h: h.volume_path("default-pool", "nov"), NotFound,
     "cannot look up volume 'nov' in pool 'default-pool' on {uri}: Storage volume "
     "not found: no storage vol with matching name 'nov'"),
    ("volume-exists-pool-missing", lambda h: h.volume_exists("nopool", "nov"), NotFound,
     "cannot look up storage pool 'nopool' on {uri}: Storage pool not found: no "
     "storage pool with matching name 'nopool'"),
]


@pytest.mark.parametrize("call, cls, message", [c[1:] for c in ERROR_CASES],
                         ids=[c[0] for c in ERROR_CASES])
def test_errors_are_translated(test_host: LibvirtHost, call: Callable[[LibvirtHost], object],
                               cls: type[KumoError], message: str) -> None:
    with pytest.raises(KumoError) as caught:
        call(test_host)
    assert (type(caught.value), str(caught.value)) == (cls, message.format(uri=TEST_URI))
    assert caught.value.uri == TEST_URI


# --- storage (what the test driver can do; streams need qemu:///system) -----------------------

def test_ensure_pool_defines_builds_starts_and_is_idempotent(test_host: LibvirtHost) -> None:
    assert test_host.ensure_pool("images", "/srv/kumo/images/") == "/srv/kumo/images"
    pool = test_host._connection().storagePoolLookupByName("images")
    assert pool.isActive() and pool.autostart()
    pool.destroy()
    assert test_host.ensure_pool("images", "/srv/kumo/images") == "/srv/kumo/images"
    assert pool.isActive()
    assert test_host.list_volumes("images") == []
    info = test_host.pool_info("images")
    assert (info.name, info.path, info.active) == ("images", "/srv/kumo/images", True)


def test_ensure_pool_refuses_another_path(test_host: LibvirtHost) -> None:
    test_host.ensure_pool("images", "/srv/kumo/images")
    with pytest.raises(ConfigConflict) as caught:
        test_host.ensure_pool("images", "/var/lib/other")
    assert str(caught.value) == (f"cannot use /var/lib/other for storage pool 'images' on "
                                 f"{TEST_URI}: the pool already exists at /srv/kumo/images")


def test_volumes_in_the_test_driver(test_host: LibvirtHost) -> None:
    pool = test_host._connection().storagePoolLookupByName("default-pool")
    pool.createXML("<volume><name>a.img</name><capacity>1024</capacity></volume>", 0)
    assert test_host.list_volumes("default-pool") == ["a.img"]
    assert test_host.volume_exists("default-pool", "a.img")
    assert test_host.volume_path("default-pool", "a.img") == "/default-pool/a.img"
    info = test_host.volume_info("default-pool", "a.img")
    assert (info.name, info.path, info.capacity_bytes) == ("a.img", "/default-pool/a.img", 1024)
    test_host.delete_volume("default-pool", "a.img")
    assert not test_host.volume_exists("default-pool", "a.img")
    test_host.delete_pool("default-pool")
    with pytest.raises(NotFound):
        test_host.list_volumes("default-pool")


def test_threads_opening_together_share_one_connection() -> None:
    """Opening is serialised: 16 threads reaching a fresh host at once all get the same, live
    connection (none closes another's)."""
    import threading
    host = LibvirtHost("test:///default")
    barrier = threading.Barrier(16)
    seen, errors = [], []

    def use() -> None:
        barrier.wait()
        try:
            seen.append(host._connection())
            host.list_domains()
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=use) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({id(c) for c in seen}) == 1 and seen[0].isAlive()
    host.close()


def test_concurrent_ensure_pool_on_one_host_all_succeed_and_keep_the_pool_defined() -> None:
    """Two builds starting together on a host with no pool yet (RunInstances with MinCount=2)
    both ensure kumo's pool. The loser of the race must not fail ("storage pool is active"), and
    must never undefine the pool the winner defined. test:///default is one state per process,
    shared by every connection while one is open, as a real libvirtd is shared by a controller's
    threads."""
    import threading
    import uuid as uuidlib

    rounds, width = 15, 6
    failures: list[BaseException] = []
    names = [f"race-{uuidlib.uuid4().hex[:8]}" for _ in range(rounds)]
    conn = libvirt.open("test:///default")  # keeps the driver's state alive between rounds
    try:
        for name in names:
            barrier = threading.Barrier(width)

            def run(name: str = name, barrier: threading.Barrier = barrier) -> None:
                host = LibvirtHost("test:///default")
                try:
                    barrier.wait()
                    host.ensure_pool(name, f"/srv/{name}")
                except BaseException as e:  # noqa: BLE001 - collected and asserted below
                    failures.append(e)
                finally:
                    host.close()

            threads = [threading.Thread(target=run) for _ in range(width)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert [str(f) for f in failures] == []
        for name in names:
            pool = conn.storagePoolLookupByName(name)
            assert pool.isActive() and pool.isPersistent() and pool.autostart(), name
    finally:
        try:
            for name in names:
                try:
                    pool = conn.storagePoolLookupByName(name)
                except libvirt.libvirtError:
                    continue
                if pool.isActive():
                    pool.destroy()
                if pool.isPersistent():
                    pool.undefine()
        finally:
            conn.close()
