"""The server as a member sees it: Nova's hostId, never a host's name -- in the fault either."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from kumo.compute import servers
from kumo.db.models import Host, Instance
from tests.support.hosts import add_host

UUID = "33333333-3333-3333-3333-333333333333"


def test_member_sees_hostid_and_a_fault_without_host_names(env, admin, alice, db):
    for name in ("kvm-1", "kvm-10", "kvm-1.example"):
        add_host(db, name, uri=f"test:///{name}")
    with db.session_scope() as s:
        host = s.scalar(select(Host).where(Host.name == "kvm-1"))
        s.add(Instance(uuid=UUID, name="web", project_id=alice.project_id, user_id="alice",
                       host_id=host.id, node="kvm-1", vcpus=1, ram_mib=64, disk_gib=1,
                       flavor_name="f", vm_state="error", fault_code=500,
                       fault_details="Traceback ... kvm-1",
                       fault_reason="create failed on 3 hosts: kvm-1: no room; kvm-10: down; "
                                    "kvm-1.example: refused (see kvm-1x)"))
    member = servers.show_server(env, alice, UUID)
    assert (member["host"], member["host_id"]) == (
        None, hashlib.sha224(f"{alice.project_id}kvm-1".encode()).hexdigest())
    assert member["fault"] == {"code": 500, "details": None, "message":
                               "create failed on 3 hosts: a host: no room; a host: down; "
                               "a host: refused (see kvm-1x)"}
    shown = servers.show_server(env, admin, UUID)
    assert shown["host"] == "kvm-1" and "kvm-10: down" in shown["fault"]["message"]
    assert shown["fault"]["details"] == "Traceback ... kvm-1"
    listed = servers.list_servers(env, alice)
    assert listed[0]["fault"] == member["fault"]
