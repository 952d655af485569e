"""``DbClaimStore``: the scheduler's ClaimStore over kumo's database.

Each call is its own unit of work, committed before it returns -- a claim alone is one statement
in autocommit on a connection the store keeps (kumo.db.prepared.HeldConnections), a claim with
its record a session of its own -- so one store serves any number of threads and schedulers,
and several controller processes sharing the database arbitrate through it:

    claim    one conditional UPDATE ... RETURNING (kumo.db.claims.claim_within): granted with the
             counters it left, or refused -- then the row as it stands is read and returned, so
             the scheduler decides again on the host's real usage. A claim that may skip a busy
             host (``Claim.skip_busy``) takes the row with SKIP LOCKED on PostgreSQL: refused
             while the row as committed has room means another controller's transaction held
             it -- answered ``busy``, the scheduler tries its next best host instead of waiting
             for that commit
    release  one guarded UPDATE ... RETURNING (kumo.db.claims.release_from)
    usage    one SELECT of the named hosts' counters

The check is against the limits the claim carries (``used + requested <= limit``), which the
scheduler computed with aggregate ratio overrides applied; the host's own ratio column is not
consulted here. Hosts are addressed by their exact, unique name. No session is held between
calls, and none across a libvirt call.

``recording(fn)`` makes the granted claims of this thread's placements commit together with
``fn(session, claim)`` -- the instance record and its journal entry (kumo.compute.servers) -- so
a host's usage never holds a claim that no recorded instance stands for: a controller that dies
between the claim and the record cannot leak it, as there is no "between". If ``fn`` raises, the
claim is rolled back with it and the error reaches the caller of ``Scheduler.select``.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import Callable, Iterable, Iterator, Mapping

from sqlalchemy.orm import Session

from kumo.db import Database
from kumo.db import claims as db_claims
from kumo.db.claims import HostCounters, Resources
from kumo.db.prepared import held_connections
from kumo.errors import NotFound, StateError
from kumo.scheduler.claims import Claim, ClaimResult, HostUsage


def _usage(c: HostCounters) -> HostUsage:
    return HostUsage(c.vcpus, c.ram_mib, c.disk_gib, c.instances, c.generation)


def _resources(claim: Claim) -> Resources:
    return Resources(claim.vcpus, claim.ram_mib, claim.disk_gib)


#: what to commit with a granted claim, in this thread's (context's) placements
_RECORD: ContextVar[Callable[[Session, Claim], None] | None] = ContextVar("kumo_claim_record",
                                                                          default=None)


@contextlib.contextmanager
def recording(fn: Callable[[Session, Claim], None] | None) -> Iterator[None]:
    """Within the block, every claim this context's DbClaimStore grants is committed in one
    transaction with ``fn(session, claim)`` (a ContextVar: one shared Scheduler serves many
    threads, each with its own ``fn``)."""
    token = _RECORD.set(fn)
    try:
        yield
    finally:
        _RECORD.reset(token)


class DbClaimStore:
    """A ClaimStore whose truth is the ``hosts`` table (see the module docstring)."""

    def __init__(self, db: Database):
        self.db = db
        self._held = held_connections(db.engine)

    def claim(self, claim: Claim) -> ClaimResult:
        limits = Resources(claim.vcpus_limit, claim.ram_mib_limit, claim.disk_gib_limit)

        def run(conn):
            return db_claims.claim_within_conn(conn, claim.host, _resources(claim), limits,
                                               instances=claim.instances,
                                               skip_locked=claim.skip_busy)

        record = _RECORD.get()
        if record is not None:  # the claim commits with the instance record, or neither
            with self.db.session_scope() as s:
                ok, counters = run(s.connection())
                if ok:
                    record(s, claim)  # raises: the claim rolls back with it
        else:  # one statement (two when refused) in autocommit on a held connection
            ok, counters = self._held.run(run)  # (kumo.db.prepared.HeldConnections)
        if counters is None:
            raise NotFound(f"host {claim.host!r} is not known to the claim store")
        busy = (not ok and claim.skip_busy
                and db_claims.fits_within(counters, _resources(claim), limits))
        return ClaimResult(ok, _usage(counters), busy)

    def release(self, claim: Claim) -> HostUsage:
        """Give a claim back. StateError (nothing changed) if the host holds less than the claim:
        releasing twice is a bug, and going on would create capacity that is not there."""
        with self.db.session_scope() as s:
            after = db_claims.release_from(s, claim.host, _resources(claim),
                                           instances=claim.instances)
            if after is not None:
                return _usage(after)
            now = db_claims.counters(s, [claim.host]).get(claim.host)
        if now is None:
            raise NotFound(f"host {claim.host!r} is not known to the claim store")
        raise StateError(
            f"host {claim.host!r} holds {now.vcpus} vCPU, {now.ram_mib} MiB RAM, "
            f"{now.disk_gib} GiB disk in {now.instances} instance(s): cannot release "
            f"{claim.vcpus} vCPU, {claim.ram_mib} MiB, {claim.disk_gib} GiB in "
            f"{claim.instances} (released twice?); nothing changed")

    def usage(self, hosts: Iterable[str] | None = None) -> Mapping[str, HostUsage]:
        with self.db.session_scope(readonly=True) as s:
            rows = db_claims.counters(s, hosts)
        return {name: _usage(c) for name, c in rows.items()}
