"""Hosts: added only when the URI answers (nothing stored otherwise), exact names, enable and
disable, orphans reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from kumo.compute import hosts
from kumo.db.models import Host
from kumo.errors import (ConfigConflict, Forbidden, HostError, HostUnreachable, InvalidInput,
                         NotFound, StateError)
from tests.compute.conftest import count
from tests.compute.records import add_instance

UNREACHABLE = "qemu:///system?socket=/nonexistent/kumo.sock"
#: a test-driver daemon of its own (not test:///default, which kvm_host names)
TESTNODE = f"test://{Path(__file__).resolve().parent.parent / 'hosts' / 'testnode.xml'}"


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(name="far", uri=UNREACHABLE), HostUnreachable,
     f"host {UNREACHABLE} does not answer: Failed to connect socket to "
     "'/nonexistent/kumo.sock': No such file or directory"),
    (dict(name="test", uri=TESTNODE), HostError,
     f"cannot read domain capabilities on {TESTNODE}: this function is not supported by "
     "the connection driver: virConnectGetDomainCapabilities"),
    (dict(name="kvm-1", uri="test:///default"), InvalidInput,
     "host name 'kvm-1' is already taken (by test:///default)"),
    (dict(name="x", uri="test:///default", virt_type="xen"), InvalidInput,
     "virt_type='xen' is invalid: allowed kvm, qemu"),
    (dict(name=" padded", uri="test:///default"), InvalidInput,
     "host name ' padded' is invalid (surrounding spaces): "
     "allowed 1 to 255 characters, no surrounding spaces, no control characters"),
    (dict(name="again", uri="test:///default"), ConfigConflict,
     "host URI 'test:///default' reaches the libvirt daemon already registered as host 'kvm-1' "
     "(URI 'test:///default'; same libvirt URI test:///default): one daemon is one host -- its "
     "capacity would be counted twice"),
    (dict(name="default", uri=""), InvalidInput,
     "host URI '' is invalid: allowed a libvirt URI naming one daemon, such as qemu:///system or "
     "qemu+ssh://HOST/system (an empty URI is whichever daemon libvirt picks by default)"),
    (dict(name="blank", uri=" "), InvalidInput,
     "host URI ' ' is invalid: allowed a libvirt URI naming one daemon, such as qemu:///system "
     "or qemu+ssh://HOST/system (an empty URI is whichever daemon libvirt picks by default)"),
], ids=["unreachable", "no-domain-capabilities", "duplicate", "bad-virt-type", "padded-name",
        "same-uri-twice", "empty-uri", "blank-uri"])
def test_add_refused_stores_nothing(env, admin, kvm_host, kwargs, error, message):
    with pytest.raises(error) as e:
        hosts.add_host(env, admin, **kwargs)
    assert str(e.value) == message
    assert count(env.db, Host) == 1


def test_exact_names_only(env, admin, kvm_host):
    with pytest.raises(NotFound, match=r"^host 'kvm' not found \(hosts are named exactly\); nearest: kvm-1$"):
        hosts.show_host(env, admin, "kvm")


def test_enable_disable(env, admin, alice, kvm_host):
    view = hosts.set_enabled(env, admin, kvm_host, False, "replacing a DIMM")
    assert (view["enabled"], view["disabled_reason"]) == (False, "replacing a DIMM")
    assert hosts.set_enabled(env, admin, kvm_host, True)["disabled_reason"] is None
    with pytest.raises(Forbidden):
        hosts.set_enabled(env, alice, kvm_host, False)


def test_show_counts_instances_and_lists(env, admin, kvm_host):
    add_instance(env, admin, kvm_host)
    [row] = hosts.list_hosts(env, admin)
    assert (row["name"], row["instances"], row["ram_used"], row["vcpus_used"]) == (
        "kvm-1", 1, 256, 1)
    view = hosts.show_host(env, admin, kvm_host)
    assert view["instances"] == 1
    assert view["orphans"] == []  # the test driver's own domain "test" is not kumo's


def test_one_daemon_reached_by_two_uris_is_one_host(env, admin, fake_hosts):
    """Two URIs (say qemu+ssh://node1/system and qemu+ssh://10.0.0.1/system) reaching the daemon
    of one machine: the second is refused by the host UUID libvirt reports."""
    for uri in ("fake:///by-name", "fake:///by-address"):
        fake_hosts[uri].host_uuid = "5435fbe2-5c17-4008-86e5-051e297afcd2"
    assert hosts.add_host(env, admin, "node1", "fake:///by-name")["name"] == "node1"
    with pytest.raises(ConfigConflict) as e:
        hosts.add_host(env, admin, "node1-again", "fake:///by-address")
    assert str(e.value) == (
        "host URI 'fake:///by-address' reaches the libvirt daemon already registered as host "
        "'node1' (URI 'fake:///by-name'; same host UUID 5435fbe2-5c17-4008-86e5-051e297afcd2): "
        "one daemon is one host -- its capacity would be counted twice")
    assert [h["name"] for h in hosts.list_hosts(env, admin)] == ["node1"]
    fake_hosts["fake:///other"].host_uuid = "0b6f3c56-9a1d-4a7c-8a53-0d2c5a2b9e01"
    assert hosts.add_host(env, admin, "node2", "fake:///other")["name"] == "node2"


def _define_marked(conn, uuid: str, installation: str | None, pool_path: str) -> str:
    """A kumo-named domain with a disk in kumo's pool path, marked for ``installation`` (None:
    no mark, as an operator's own or an older kumo's)."""
    from kumo.backends.libvirt_xml.domain import Domain, Os
    from kumo.backends.libvirt_xml.metadata import mark_node
    from kumo.guest.spec import InstanceMark

    mark = InstanceMark(installation, uuid, "p1", "m1.tiny", None) if installation else None
    xml = Domain(type="test", name=f"kumo-{uuid}", uuid=uuid, memory=256, memory_unit="MiB",
                 vcpu=1, os=Os(type="hvm"), kumo=mark_node(mark)).to_xml()
    xml = xml.replace("</domain>", f"<devices><disk type='file' device='disk'><source file="
                      f"'{pool_path}/kumo-{uuid}-disk'/><target dev='vda'/></disk></devices>"
                      "</domain>")
    return conn.define(xml)


def test_two_installations_on_one_daemon_report_only_their_own_orphans(env, admin, tmp_path):
    """Two kumo installations (two databases) with the same pool on one daemon: each reports
    only the orphaned domains it marked; the other's, and an unmarked kumo-named domain, are
    not its own (they used to be, by their disks in the shared pool path)."""
    from kumo.compute.env import ComputeEnv
    from kumo.compute.installation import installation_id
    from kumo.config import sqlite_url
    from kumo.db import Database, upgrade
    from kumo.hosts.libvirt_host import LibvirtHost
    from tests.support.hosts import add_host

    other_url = sqlite_url(tmp_path / "other.db")
    upgrade(other_url)
    other = ComputeEnv(db=Database(other_url), settings=env.settings, pool_name=env.pool_name,
                       pool_path=env.pool_path)
    for e in (env, other):
        add_host(e.db, "local", "test:///default")
    ours, theirs = installation_id(env.db), installation_id(other.db)
    assert ours != theirs
    uuids = {"ours": "0b6f3c56-9a1d-4a7c-8a53-0d2c5a2b9e01",
             "theirs": "1c7f4d67-9a1d-4a7c-8a53-0d2c5a2b9e02",
             "unmarked": "2d804e78-9a1d-4a7c-8a53-0d2c5a2b9e03"}
    conn = LibvirtHost("test:///default")  # the test driver's default daemon, shared in-process
    names = []
    try:
        for who, installation in (("ours", ours), ("theirs", theirs), ("unmarked", None)):
            names.append(_define_marked(conn, uuids[who], installation, env.pool_path))
        assert hosts.find_orphans(env, admin, "local") == [hosts.Orphan(
            "domain", f"kumo-{uuids['ours']}", f"no live instance {uuids['ours']} on this host")]
        assert hosts.find_orphans(other, admin, "local") == [hosts.Orphan(
            "domain", f"kumo-{uuids['theirs']}",
            f"no live instance {uuids['theirs']} on this host")]
    finally:
        for name in names:
            conn.undefine(name)
        conn.close()
        other.close()


def test_image_volumes_another_installation_cached_are_not_orphans(env, admin, fake_hosts):
    """Two installations sharing one pool: a cached image volume is reported only by the one
    whose image cache record says it uploaded it (the other's images are never in its catalog).
    """
    from kumo.compute import naming
    from kumo.db.models import HostImage
    from kumo.hosts.protocol import VolumeInfo

    hosts.add_host(env, admin, "local", "fake:///local")
    host = fake_hosts["fake:///local"]
    with env.db.session_scope(readonly=True) as s:
        host_id = s.query(Host).filter_by(name="local").one().id
    mine, theirs = "0b6f3c56-9a1d-4a7c-8a53-0d2c5a2b9e01", "1c7f4d67-9a1d-4a7c-8a53-0d2c5a2b9e02"
    for image_id in (mine, theirs):  # both images deleted from (or never in) this catalog
        volume = naming.image_volume_name(image_id)
        host.pools[env.pool_name].volumes[volume] = VolumeInfo(
            volume, f"{env.pool_path}/{volume}", "qcow2", 1 << 20, 1 << 20)
    with env.db.session_scope() as s:
        s.add(HostImage(host_id=host_id, image_id=mine, volume=naming.image_volume_name(mine),
                        state="ready"))
    assert hosts.find_orphans(env, admin, "local") == [hosts.Orphan(
        "image-cache", naming.image_volume_name(mine), f"image {mine} is not in the catalog "
        "(deleted) and no instance on this host boots from it")]


def test_set_uri_keeps_one_daemon_one_host(env, admin, fake_hosts):
    """`kumo host set --uri` follows the rule add follows: no empty URI, no URI reaching a
    daemon another record names; the new daemon's id is kept."""
    from kumo.compute.host_admin import update_host

    fake_hosts["fake:///a"].host_uuid = "5435fbe2-5c17-4008-86e5-051e297afcd2"
    fake_hosts["fake:///a-by-address"].host_uuid = "5435fbe2-5c17-4008-86e5-051e297afcd2"
    fake_hosts["fake:///b"].host_uuid = "0b6f3c56-9a1d-4a7c-8a53-0d2c5a2b9e01"
    hosts.add_host(env, admin, "a", "fake:///a")
    hosts.add_host(env, admin, "b", "fake:///b")
    with pytest.raises(InvalidInput) as e:
        update_host(env, admin, "b", uri="")
    assert str(e.value).startswith("host URI '' is invalid: allowed a libvirt URI naming one")
    with pytest.raises(ConfigConflict) as e:
        update_host(env, admin, "b", uri="fake:///a-by-address")
    assert str(e.value) == (
        "host URI 'fake:///a-by-address' reaches the libvirt daemon already registered as host "
        "'a' (URI 'fake:///a'; same host UUID 5435fbe2-5c17-4008-86e5-051e297afcd2): "
        "one daemon is one host -- its capacity would be counted twice")
    # the same daemon by another URI is fine for the record that names it
    assert update_host(env, admin, "a", uri="fake:///a-by-address")["uri"] == (
        "fake:///a-by-address")
    fake_hosts["fake:///c"].host_uuid = "9e1d0c56-9a1d-4a7c-8a53-0d2c5a2b9e07"
    update_host(env, admin, "b", uri="fake:///c")
    with env.db.session_scope(readonly=True) as s:
        assert {h.name: (h.uri, h.daemon_id) for h in s.scalars(select(Host))} == {
            "a": ("fake:///a-by-address", "uuid:5435fbe2-5c17-4008-86e5-051e297afcd2"),
            "b": ("fake:///c", "uuid:9e1d0c56-9a1d-4a7c-8a53-0d2c5a2b9e07")}


def test_set_uri_to_another_daemon_is_refused_while_servers_run(env, admin, fake_hosts):
    from kumo.compute.host_admin import update_host

    fake_hosts["fake:///a"].host_uuid = "5435fbe2-5c17-4008-86e5-051e297afcd2"
    fake_hosts["fake:///z"].host_uuid = "7a1d0c56-9a1d-4a7c-8a53-0d2c5a2b9e09"
    hosts.add_host(env, admin, "a", "fake:///a")
    add_instance(env, admin, "a")
    with pytest.raises(StateError) as e:
        update_host(env, admin, "a", uri="fake:///z")
    assert str(e.value) == (
        "cannot point host 'a' at 'fake:///z': it reaches another libvirt daemon than the one "
        "its 1 server run on; evacuate or delete them first, or add the new daemon as a host "
        "of its own")
    with env.db.session_scope(readonly=True) as s:
        assert s.scalar(select(Host.uri).where(Host.name == "a")) == "fake:///a"
