"""Short units of work on an instance record, for the host-side steps.

The steps never hold a session across a libvirt call: they ``load`` detached copies of the
instance and its host, act on the host, then ``save`` the outcome (with the journal entry's end,
in the same transaction, so the record and its journal never disagree).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from kumo.compute import journal
from kumo.compute.env import ComputeEnv
from kumo.compute.states import set_fault
from kumo.db.claims import Resources, release
from kumo.db.models import Host, Instance, JournalState


def load(env: ComputeEnv, uuid: str) -> tuple[Instance, Host | None]:
    """Detached copies of the instance ``uuid`` and its host (None when it has none)."""
    with env.db.session_scope(readonly=True) as s:
        instance = s.query(Instance).filter_by(uuid=uuid).one()
        host = s.get(Host, instance.host_id) if instance.host_id else None
        s.expunge_all()
    return instance, host


def save(env: ComputeEnv, uuid: str, *, entry_id: int | None = None,
         entry_state: JournalState | None = None, error: str | None = None,
         fault: str | None = None, release_claim: bool = False, **fields: Any) -> None:
    """Write ``fields`` to the instance; optionally set a fault (ERROR), release its claim, and
    end the journal entry -- all in one transaction."""
    with env.db.session_scope() as s:
        instance = s.query(Instance).filter_by(uuid=uuid).one()
        for key, value in fields.items():
            setattr(instance, key, value)
        if fault is not None:
            set_fault(instance, fault)
        if release_claim:
            release_claim_of(s, instance)
        if entry_id is not None and entry_state is not None:
            journal.finish(s, entry_id, entry_state, error)


def resources(instance: Instance) -> Resources:
    return Resources(vcpus=instance.vcpus, ram_mib=instance.ram_mib, disk_gib=instance.disk_gib)


def release_claim_of(s: Session, instance: Instance) -> None:
    """Give the instance's claim back to its host and forget the host: an instance holds a claim
    exactly while it has a host_id and is not deleted."""
    if instance.host_id is not None:
        release(s, instance.host_id, resources(instance))
        instance.host_id = None
