"""Shows and lists read from Core rows (kumo.compute.server_reads) give exactly the view the
Instance records give (kumo.compute.states.server_view), on both backends: JSON columns,
timestamps, the host's name, addresses in NIC order, a member's cleaned fault."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from kumo.compute import server_reads, servers
from kumo.compute.states import server_view
from kumo.db.models import Host, Instance, Network, Port, Subnet
from kumo.errors import InvalidInput, NotFound
from tests.support.hosts import add_host

LAUNCHED = datetime(2026, 11, 28, 9, 30, 15, 123456, tzinfo=timezone.utc)


def _fleet(db, alice, bob) -> dict[str, str]:
    """name -> uuid: servers of alice's and bob's projects in every shape the view has."""
    add_host(db, "kvm-1", uri="test:///kvm-1")
    add_host(db, "kvm-10", uri="test:///kvm-10")
    uuids = {}
    with db.session_scope() as s:
        host = s.scalar(select(Host).where(Host.name == "kvm-1"))
        net = Network(name="blue", project_id=alice.project_id, mode="nat")
        net2 = Network(name="green", project_id=alice.project_id, mode="nat")
        s.add_all([net, net2])
        s.flush()
        sub = Subnet(network_id=net.id, cidr="10.0.0.0/24", gateway_ip="10.0.0.1")
        sub2 = Subnet(network_id=net2.id, cidr="10.1.0.0/24", gateway_ip="10.1.0.1")
        s.add_all([sub, sub2])
        s.flush()
        shapes = [
            ("plain", alice, dict(vm_state="active", power_state=1, host_id=host.id)),
            ("rich", alice, dict(
                vm_state="active", power_state=1, host_id=host.id, key_name="k",
                server_metadata={"b": "2", "a": "1 é"}, user_data="aGVsbG8=",
                image_properties={"os_type": "windows", "hw_rtc_timezone": "UTC"},
                notes="pinned", config_digest="d" * 64, machine_type="pc-q35-8.2",
                pending_restart="run-1", launched_at=LAUNCHED, task_state="rebooting")),
            ("failed", alice, dict(
                vm_state="error", fault_code=500, fault_details="Traceback ... kvm-1",
                fault_reason="create failed on 2 hosts: kvm-1: no room; kvm-10: down")),
            ("theirs", bob, dict(vm_state="stopped", power_state=4, host_id=host.id)),
        ]
        for name, ctx, fields in shapes:
            inst = Instance(name=name, project_id=ctx.project_id, user_id=ctx.user_id,
                            image_id="11111111-2222-4333-8444-555555555555", flavor_name="f",
                            vcpus=1, ram_mib=64, disk_gib=1, **fields)
            s.add(inst)
            s.flush()
            uuids[name] = inst.uuid
        # two NICs on "rich", stored out of order: the view lists them by device index
        for index, network, subnet, ip in ((1, net2, sub2, "10.1.0.7"),
                                           (0, net, sub, "10.0.0.5"),
                                           (2, net, sub, "10.0.0.9")):
            s.add(Port(network_id=network.id, subnet_id=subnet.id, instance_uuid=uuids["rich"],
                       device_index=index, project_id=alice.project_id, ip_address=ip,
                       mac_address=f"fa:16:3e:00:00:0{index}"))
    return uuids


def _record_view(db, ctx, uuid):
    with db.session_scope(readonly=True) as s:
        return server_view(s.scalar(select(Instance).where(Instance.uuid == uuid)), ctx)


@pytest.mark.parametrize("who", ["admin", "alice"])
@pytest.mark.parametrize("name", ["plain", "rich", "failed"])
def test_show_is_the_records_view(env, db, admin, alice, bob, who, name):
    uuid = _fleet(db, alice, bob)[name]
    ctx = {"admin": admin, "alice": alice}[who]
    shown = servers.show_server(env, ctx, uuid)
    assert shown == _record_view(db, ctx, uuid)
    assert servers.show_server(env, ctx, name) == shown  # by its exact name too


def test_the_rich_server_exactly(env, db, admin, alice, bob):
    uuid = _fleet(db, alice, bob)["rich"]
    shown = servers.show_server(env, admin, uuid)
    assert shown["addresses"] == {"blue": ["10.0.0.5", "10.0.0.9"], "green": ["10.1.0.7"]}
    assert list(shown["metadata"].items()) == [("a", "1 é"), ("b", "2")]
    assert shown["image_properties"] == {"hw_rtc_timezone": "UTC", "os_type": "windows"}
    assert shown["launched_at"] == "2026-11-28T09:30:15.123456+00:00"
    assert (shown["host"], shown["status"], shown["power_state"]) == ("kvm-1", "REBOOT",
                                                                      "running")


@pytest.mark.parametrize("who,all_projects,expected", [
    ("admin", True, ["plain", "rich", "failed", "theirs"]),
    ("admin", False, []),
    ("alice", False, ["plain", "rich", "failed"]),
    ("alice", True, ["plain", "rich", "failed"]),  # a member's all-projects is its own
    ("bob", False, ["theirs"]),
], ids=["admin-all", "admin-own", "member", "member-all", "other-member"])
def test_list_is_the_records_views(env, db, admin, alice, bob, who, all_projects, expected):
    uuids = _fleet(db, alice, bob)
    ctx = {"admin": admin, "alice": alice, "bob": bob}[who]
    listed = servers.list_servers(env, ctx, all_projects=all_projects)
    assert [v["name"] for v in listed] == expected
    for view in listed:
        assert view.pop("image_name") is None  # no such image in the catalog
        assert view == _record_view(db, ctx, uuids[view["name"]])


@pytest.mark.parametrize("ref,error", [
    ("theirs", NotFound), ("", NotFound), ("nope", NotFound), ("bad\x00ref", NotFound),
], ids=["other-project", "empty", "unknown", "control-character"])
def test_show_refuses(env, db, alice, bob, ref, error):
    _fleet(db, alice, bob)
    with pytest.raises(error, match="^server .* not found$"):
        servers.show_server(env, alice, ref)


def test_an_ambiguous_name_is_refused_listing_both(env, db, admin, alice, bob):
    uuids = _fleet(db, alice, bob)
    with db.session_scope() as s:
        twin = Instance(name="plain", project_id=alice.project_id, user_id=alice.user_id,
                        flavor_name="f", vcpus=1, ram_mib=64, disk_gib=1, vm_state="active")
        s.add(twin)
        s.flush()
        both = ", ".join(sorted([uuids["plain"], twin.uuid]))
    with db.session_scope(readonly=True) as s:
        with pytest.raises(InvalidInput) as e:
            server_reads.show(s, alice, "plain")
    assert str(e.value) == (f"server name 'plain' is ambiguous: 2 servers have it ({both}); "
                            "give the id")
