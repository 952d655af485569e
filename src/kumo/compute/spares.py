"""Reserved (spare) hosts: chosen first by an evacuation, as Masakari's ``reserved_host`` and
``rh_priority`` recovery methods do.

``kumo host set HOST --reserved`` makes an empty host a spare: it is disabled for new servers
(Masakari keeps a reserved host's compute service disabled, so the scheduler never fills it)
with the reason saying so, and flagged ``reserved``. An evacuation of a failed host then places
each server on the spares of the failed host's availability zone first (Masakari takes reserved
hosts of the failed host's segment), activating them one at a time, in name order, as it needs
room: a spare it activates is enabled and no longer reserved (as Masakari enables the reserved
host's service and clears its ``reserved`` flag before evacuating to it), journaled
(``host-spare``). A server no active spare can take goes where the scheduler chooses among the
other hosts (rh_priority: reserved hosts, then auto). ``--no-reserved`` makes it an ordinary,
enabled host again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kumo import logs
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.lookup import find_host
from kumo.db.models import Host, Instance, JournalEntry, JournalState
from kumo.errors import StateError
from kumo.scheduler.errors import NoValidHost

log = logs.get(__name__)

RESERVED_REASON = "reserved: a spare host for evacuations"

T = TypeVar("T")


def set_reserved(env: ComputeEnv, ctx: RequestContext, ref: str, reserved: bool) -> None:
    ctx.require_admin("reserving a host" if reserved else "releasing a reserved host")
    with env.db.session_scope() as s:
        host = find_host(s, ref)
        if reserved:
            count = s.scalar(select(func.count()).select_from(Instance).where(
                Instance.host_id == host.id, Instance.deleted.is_(False))) or 0
            if count:
                raise StateError(f"cannot reserve host {host.name!r}: {count} server"
                                 f"{'s' if count != 1 else ''} on it; a spare host is empty "
                                 "(migrate them off first)")
        host.reserved = reserved
        host.enabled = not reserved
        host.disabled_reason = RESERVED_REASON if reserved else None
        host.generation += 1


def spares_for(s: Session, host: Host) -> list[str]:
    """The failed host's spares: reserved hosts of its availability zone, by name."""
    return list(s.scalars(select(Host.name).where(
        Host.reserved.is_(True), Host.id != host.id,
        Host.availability_zone.is_(None) if host.availability_zone is None
        else Host.availability_zone == host.availability_zone).order_by(Host.name)))


class Spares:
    """The spares one evacuation may use; ``place`` is safe from several threads."""

    def __init__(self, env: ComputeEnv, ctx: RequestContext, failed: str, names: list[str]):
        self.env, self.ctx, self.failed = env, ctx, failed
        self.waiting = list(names)  # reserved, not activated yet
        self.active: list[str] = []  # activated by this evacuation
        self._lock = threading.Lock()

    def place(self, attempt: Callable[[list[str]], T]) -> T | None:
        """``attempt(hosts)`` on the active spares, activating the next while none can take
        it; None when no spare can (the caller then lets the scheduler choose)."""
        while True:
            with self._lock:
                active = list(self.active)
            if active:
                try:
                    return attempt(active)
                except NoValidHost:
                    pass
            with self._lock:
                if self.active != active:
                    continue  # another thread activated one meanwhile: try it
                if not self.waiting:
                    return None
                name = self.waiting.pop(0)
                self._activate(name)
                self.active.append(name)

    def _activate(self, name: str) -> None:
        with self.env.db.session_scope() as s:
            host = s.scalars(select(Host).where(Host.name == name)).one()
            host.reserved, host.enabled, host.disabled_reason = False, True, None
            host.generation += 1
            s.add(JournalEntry(
                instance_uuid=None, operation="host-spare", step="activated",
                state=JournalState.DONE.value, owner=self.env.owner,
                request_id=self.ctx.request_id, user_id=self.ctx.user_id,
                project_id=self.ctx.project_id,
                payload={"host": name, "for_evacuation_of": self.failed,
                         "by": self.ctx.user_id}))
        log.warning("reserved host %s activated (enabled, no longer reserved) to take servers "
                    "evacuated from %s", name, self.failed,
                    extra={"host": name, "request_id": self.ctx.request_id})

