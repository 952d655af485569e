"""Journal and recovery without booting anything: libvirt's test driver stands in for a host
(recovering a create that never reached the host needs no real hypervisor)."""

from __future__ import annotations

import os
import socket

from kumo.compute import journal
from kumo.compute.env import _process_start, owner_gone
from kumo.db.models import Host, Instance, JournalEntry
from tests.compute.records import add_instance

DEAD = f"{socket.gethostname()}:999999999:0"


def _parent() -> str:
    ppid = os.getppid()
    return f"{socket.gethostname()}:{ppid}:{_process_start(ppid)}"


def test_owner_gone():
    assert owner_gone(_parent()) is False
    assert owner_gone(DEAD) is True
    assert owner_gone(None) is True
    assert owner_gone("another-machine:1:1") is None  # only its lease tells


def test_interrupted_create_before_the_host_is_rolled_back(env, admin, kvm_host):
    uuid = add_instance(env, admin, kvm_host, step="claimed", owner=DEAD, vm_state="building")
    done = journal.recover(env)
    reason = ("create was interrupted at step claimed (the controller stopped); rolled back: "
              "delete the server and create it again")
    assert [(r.operation, r.instance_uuid, r.outcome, r.state) for r in done] == [
        ("create", uuid, reason, "rolled-back")]
    with env.db.session_scope(readonly=True) as s:
        instance = s.query(Instance).filter_by(uuid=uuid).one()
        assert (instance.vm_state, instance.task_state, instance.fault_reason,
                instance.host_id) == ("error", None, reason, None)
        host = s.query(Host).filter_by(name=kvm_host).one()
        assert (host.used_vcpus, host.used_ram_mib, host.used_disk_gib) == (0, 0, 0)
        entry = s.query(JournalEntry).one()
        assert (entry.state, entry.owner) == ("rolled-back", env.owner)
    assert journal.recover(env) == []  # nothing left to do


def test_work_of_a_live_controller_is_left_alone(env, admin, kvm_host):
    add_instance(env, admin, kvm_host, step="volumes", owner=_parent(), vm_state="building")
    assert journal.recover(env) == []
    with env.db.session_scope(readonly=True) as s:
        assert s.query(JournalEntry).one().state == "in-progress"


def test_unknown_operation_is_marked_failed(env, admin, kvm_host):
    with env.db.session_scope() as s:
        entry = journal.begin(s, env, admin, "teleport", None, "begin")
        entry.owner = DEAD
    [done] = journal.recover(env)
    assert (done.outcome, done.state) == (
        "no recovery for operation 'teleport'; marked failed", "failed")
