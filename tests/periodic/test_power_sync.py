"""Power-state sync against a scripted host: each case an instance record and what its host
reports, and exactly what the record and its instance event say afterwards."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from kumo.compute import naming
from kumo.db.models import Instance, JournalEntry
from kumo.hosts.protocol import DomainState, DomainStatus
from kumo.periodic import power_sync
from tests.compute.records import add_instance
from tests.periodic.fakes import fake_host

AT = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)
SHUT = DomainStatus(DomainState.SHUTOFF, "the guest shut itself down")
DESTROYED = DomainStatus(DomainState.SHUTOFF, "destroyed (powered off from the host)")
CRASHED = DomainStatus(DomainState.CRASHED, "the guest kernel panicked")
RUNNING = DomainStatus(DomainState.RUNNING)


def _events(env, uuid):
    with env.db.session_scope(readonly=True) as s:
        return [(e.operation, e.state, e.payload["message"]) for e in s.scalars(
            select(JournalEntry).where(JournalEntry.instance_uuid == uuid,
                                       JournalEntry.operation == power_sync.EVENT))]


def _record(env, uuid):
    with env.db.session_scope(readonly=True) as s:
        i = s.scalars(select(Instance).where(Instance.uuid == uuid)).one()
        return i.vm_state, i.power_state, i.fault_reason


CASES = [
    ("active", DESTROYED, ("stopped", 4, None),
     "found shutoff on host kvm-1 at 2026-11-28T12:00:00+00:00: destroyed (powered off from the "
     "host); recorded SHUTOFF"),
    ("active", SHUT, ("stopped", 4, None),
     "found shutoff on host kvm-1 at 2026-11-28T12:00:00+00:00: the guest shut itself down; "
     "recorded SHUTOFF"),
    ("active", CRASHED, ("stopped", 6, None),
     "found crashed on host kvm-1 at 2026-11-28T12:00:00+00:00: the guest kernel panicked; "
     "recorded SHUTOFF"),
    ("stopped", RUNNING, ("active", 1, None),
     "found running on host kvm-1 at 2026-11-28T12:00:00+00:00 (started outside kumo); "
     "recorded ACTIVE"),
    ("active", None, "vanished",
     "was not found on host kvm-1 at 2026-11-28T12:00:00+00:00 (removed outside kumo); "
     "recorded ERROR: hard-reboot the server to define it again"),
    ("active", RUNNING, ("active", 1, None), None),
    ("stopped", SHUT, ("stopped", 4, None), None),
]


@pytest.mark.parametrize("vm_state, seen, after, event", CASES, ids=[
    "destroyed", "guest-shutdown", "crashed", "started-outside", "domain-gone", "agrees-running",
    "agrees-stopped"])
def test_record_follows_the_host(env, admin, kvm_host, vm_state, seen, after, event):
    uuid = add_instance(env, admin, kvm_host, vm_state=vm_state)
    host = fake_host(env, {naming.domain_name(uuid): seen} if seen else {})
    outcome = power_sync.run(env, AT)
    message = f"domain {naming.domain_name(uuid)} {event}" if event else None
    if after == "vanished":
        after = ("error", 0, message)
    assert _record(env, uuid) == after
    assert _events(env, uuid) == ([(power_sync.EVENT, "done", message)] if event else [])
    assert sum(outcome.corrections.values()) == (1 if event else 0)
    assert host.ops("start") == []  # never restarted unless configured


def test_a_host_that_does_not_answer_changes_no_instance(env, admin, kvm_host):
    uuid = add_instance(env, admin, kvm_host)
    fake_host(env).down = True
    outcome = power_sync.run(env, AT)
    assert _record(env, uuid) == ("active", 0, None)
    assert _events(env, uuid) == []
    assert outcome.summary == "1 instance(s) on 1 host(s): 0 corrected, 1 host(s) did not answer"


def test_an_instance_with_an_operation_in_flight_is_left_to_it(env, admin, kvm_host):
    uuid = add_instance(env, admin, kvm_host, step="start", owner=env.owner)
    fake_host(env, {naming.domain_name(uuid): DESTROYED})
    power_sync.run(env, AT)
    assert _record(env, uuid) == ("active", 0, None)
    assert _events(env, uuid) == []


def test_restart_when_configured(env, admin, kvm_host):
    env.settings = env.settings.model_copy(update={"sync_power_state_restart": True})
    uuid = add_instance(env, admin, kvm_host)
    host = fake_host(env, {naming.domain_name(uuid): SHUT})
    power_sync.run(env, AT)
    assert [c.args["name"] for c in host.ops("start")] == [naming.domain_name(uuid)]
    assert _record(env, uuid) == ("active", 1, None)
    with env.db.session_scope(readonly=True) as s:
        ops = [(e.operation, e.state) for e in s.scalars(
            select(JournalEntry).where(JournalEntry.instance_uuid == uuid)
            .order_by(JournalEntry.id))]
    assert ops == [(power_sync.EVENT, "done"), ("start", "done")]
