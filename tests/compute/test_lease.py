"""Journal leases: who may take an unfinished entry over, and an owner that lost its entry
stops at its next step."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from kumo.compute import journal, lease
from kumo.compute.env import ComputeEnv
from kumo.compute.states import now
from kumo.db.models import JournalEntry
from kumo.errors import LeaseLost
from tests.compute.records import add_instance
from tests.compute.test_journal import DEAD, _parent

REMOTE = "other-machine:4242:777"


def _entry(env, entry_id=None):
    with env.db.session_scope(readonly=True) as s:
        e = s.query(JournalEntry).one() if entry_id is None else s.get(JournalEntry, entry_id)
        s.expunge(e)
        return e


@pytest.mark.parametrize("owner, lease_in_s, expected", [
    (DEAD, 60, True),          # a dead process of this machine: no need to wait
    (_parent(), -60, False),   # a live process of this machine: never
    (REMOTE, 60, False),       # another machine's, lease running
    (REMOTE, -1, True),        # another machine's, lease expired
    (None, 60, True),          # handed back
], ids=["dead-here", "alive-here", "remote-leased", "remote-expired", "no-owner"])
def test_orphaned(env, admin, kvm_host, owner, lease_in_s, expected):
    add_instance(env, admin, kvm_host, step="volumes", owner=owner, vm_state="building")
    with env.db.session_scope() as s:
        s.query(JournalEntry).one().lease_expires_at = now() + timedelta(seconds=lease_in_s)
    assert lease.orphaned(env, _entry(env)) is expected


def test_remote_owner_is_taken_over_only_after_its_lease(env, admin, kvm_host):
    uuid = add_instance(env, admin, kvm_host, step="claimed", owner=REMOTE, vm_state="building")
    expires = _entry(env).lease_expires_at
    assert journal.recover(env, expires - timedelta(seconds=1)) == []
    [done] = journal.recover(env, expires + timedelta(seconds=1))
    assert (done.instance_uuid, done.state) == (uuid, "rolled-back")
    assert _entry(env).owner == env.owner


def test_an_owner_that_lost_its_entry_stops_at_its_next_step(env, admin, kvm_host):
    add_instance(env, admin, kvm_host, step="upload", owner=None, vm_state="building")
    entry = _entry(env)
    with env.db.session_scope() as s:
        s.get(JournalEntry, entry.id).owner = env.owner
    other = dataclasses.replace(env, owner=REMOTE, _hosts={}, _renewer=None)
    assert journal._take_over(other, entry.id, env.owner)
    with pytest.raises(LeaseLost, match=f"taken over by controller {REMOTE}"):
        journal.advance(env, entry.id, "volumes")
    assert _entry(env).step == "upload"
    other._renewer and other._renewer.stop()


def test_renew_and_hand_back(env: ComputeEnv, admin, kvm_host):
    add_instance(env, admin, kvm_host, step="upload", owner=None, vm_state="building")
    with env.db.session_scope() as s:
        s.query(JournalEntry).one().owner = env.owner
    at = now() + timedelta(hours=1)
    assert lease.renew(env, at) == 1
    assert _entry(env).lease_expires_at == at + timedelta(seconds=env.settings.journal_lease)
    assert lease.hand_back(env) == 1
    e = _entry(env)
    assert (e.owner, e.lease_expires_at) == (None, None)
