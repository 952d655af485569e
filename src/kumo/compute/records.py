"""Short units of work on an instance record, for the host-side steps.

The steps never hold a session across a libvirt call: they ``load`` detached copies of the
instance and its host, act on the host, then ``save`` the outcome (with the journal entry's end,
in the same transaction, so the record and its journal never disagree). A save after the host
answered records its heartbeat in that transaction too (kumo.compute.heartbeat).

An instance holds a claim on its host exactly while it has a host_id and is not deleted: the
claim the scheduler made (kumo.scheduler.service.place) is given back by ``release_claim_of``
with kumo.db.claims.release in the transaction that clears host_id, with the same resources
(``resources``: root plus ephemeral disk, as the scheduler's RequestSpec counts it), so used_*,
instance_count and generation move exactly as the scheduler's own release would move them. The
claim itself commits with the record (servers.schedule_and_record). So at every commit a host's
counters equal the sum of its recorded instances' claims; kumo.compute.usage checks that and
repairs what broke it from outside.
"""

from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy import func
from sqlalchemy.orm import Session

from kumo.compute import heartbeat, journal, naming
from kumo.compute.env import ComputeEnv
from kumo.compute.states import HOST_POWER, set_fault
from kumo.db.claims import Resources, release
from kumo.db.models import Host, Instance, JournalState, PowerState
from kumo.errors import KumoError
from kumo.scheduler.service import released_elsewhere


def load(env: ComputeEnv, uuid: str) -> tuple[Instance, Host | None]:
    """Detached copies of the instance ``uuid`` and its host (None when it has none)."""
    with env.db.session_scope(readonly=True) as s:
        instance = s.query(Instance).filter_by(uuid=uuid).one()
        host = s.get(Host, instance.host_id) if instance.host_id else None
        s.expunge_all()
    return instance, host


def save(env: ComputeEnv, uuid: str, *, entry_id: int | None = None,
         entry_state: JournalState | None = None, error: str | None = None,
         fault: str | None = None, release_claim: bool = False, contacted: int | None = None,
         release_ports: bool = False, advance_to: str | None = None,
         journal_payload: Mapping[str, Any] | None = None, **fields: Any) -> None:
    """Write ``fields`` to the instance; optionally set a fault (ERROR), release its claim,
    record a heartbeat for the host (id) ``contacted`` that just answered, advance the journal
    entry to step ``advance_to`` (with ``journal_payload``; journal.advance's check that the
    entry is still this controller's, LeaseLost if not) and end it -- all in one transaction.
    A step that needs the record change before it acts takes one commit, not two."""
    released = False
    with env.db.session_scope() as s:
        # locked, so a concurrent writer of the row (a delete cleaning up, power sync) is waited
        # for and its version read, instead of failing the instance's version check
        instance = s.query(Instance).filter_by(uuid=uuid).with_for_update().one()
        if advance_to is not None:
            assert entry_id is not None, "advance_to needs the entry"
            journal.advance_in(s, env, entry_id, advance_to, **(journal_payload or {}))
        for key, value in fields.items():
            setattr(instance, key, value)
        if fault is not None:
            set_fault(instance, fault)
        if release_claim:
            released = release_claim_of(s, instance)
        if release_ports:  # its addresses go back to their subnets with the record's change
            from kumo.compute.ipam import release_in
            release_in(s, uuid)
        if contacted is not None:
            heartbeat.touch(s, [contacted])
        if entry_id is not None and entry_state is not None:
            journal.finish(s, entry_id, entry_state, error)
    if released:
        released_elsewhere(env.db)


def fail(env: ComputeEnv, uuid: str, *, entry_id: int | None, error: str, fault: str,
         **fields: Any) -> None:
    """A lifecycle operation failed: the instance ERROR with ``fault``, the entry FAILED, and
    the power state its host reports now -- not the one the operation was heading for, nor the
    one before it (a hard reboot that failed after its destroy leaves the domain off, and the
    record must say so). A host that does not answer reports nothing: the power state stays."""
    power = reported_power(env, uuid)
    if power is not None:
        fields.setdefault("power_state", power.value)
    save(env, uuid, entry_id=entry_id, entry_state=JournalState.FAILED if entry_id else None,
         error=error, fault=fault, **fields)


def reported_power(env: ComputeEnv, uuid: str) -> PowerState | None:
    """The power state the instance's host reports for its domain (NOSTATE: no such domain);
    None when it is on no host or the host does not answer."""
    _instance, host = load(env, uuid)
    if host is None:
        return None
    name = naming.domain_name(uuid)
    try:
        conn = env.host(host.uri)
        if not conn.domain_exists(name):
            return PowerState.NOSTATE
        return HOST_POWER[conn.domain_state(name)]
    except KumoError:
        return None


#: the disk an instance's claim holds, as SQL (what ``resources`` says, for kumo.compute.usage)
CLAIMED_DISK_GIB = Instance.disk_gib + func.coalesce(Instance.ephemeral_gib, 0)


def resources(instance: Instance) -> Resources:
    """What the instance's claim holds: what the scheduler claimed for it
    (kumo.scheduler.service.instance_claim), root and ephemeral disk together."""
    return Resources(vcpus=instance.vcpus, ram_mib=instance.ram_mib,
                     disk_gib=instance.disk_gib + (instance.ephemeral_gib or 0))


def release_claim_of(s: Session, instance: Instance) -> bool:
    """Give the instance's claim back to its host and forget the host; True if it had one.
    (A host holding less than the claim -- counters changed behind kumo's back -- is left as it
    is: kumo.db.claims.release changes nothing rather than create capacity.)"""
    if instance.host_id is None:
        return False
    release(s, instance.host_id, resources(instance))
    instance.host_id = None
    return True
