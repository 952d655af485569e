"""Host usage against the instances recorded on each host: audit, and reconcile.

The invariant (kumo.compute.records): a host's counters -- used vCPU, RAM, disk and
instance_count -- equal the sum of the claims of the live instances recorded on it, at every
commit. Every claim commits with the record that holds it (servers.schedule_and_record) and is
released with the change that clears the instance's host (records.release_claim_of), so the
counters drift only when something outside that rule touched them: an older kumo that claimed
before recording and was killed in between, a hand-edited database, a restored backup.

``audit`` compares every host's counters with the sums of its recorded instances and, unless
``fix`` is False, sets the counters to those sums (generation bumped, so every scheduler re-reads
them). Each host is fixed in a unit of work of its own that first locks the host's row: every
claim and release also writes that row, so once the lock is held the instances read next (a new
statement, a new snapshot under PostgreSQL's READ COMMITTED; SQLite has one writer) include every
claim committed before, and none can commit until the fix does. Safe while other controllers
work. ``journal.recover`` runs it at every controller start and reports what it fixed;
``kumo host audit-usage`` shows it for every host. A cold migration's or resize's second claim
(kumo.db.models.moves: ``held_host_id``) counts as one more instance on the host it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.records import CLAIMED_DISK_GIB
from kumo.db.models import Host, Instance, Move
from kumo.scheduler.service import released_elsewhere

#: (vCPU, RAM MiB, disk GiB, instances)
Usage = tuple[int, int, int, int]
_FIELDS = ("vcpus_used", "ram_used", "disk_used", "instances")


@dataclass(frozen=True)
class HostUsageAudit:
    host: str
    #: what the host's counters said
    counted: Usage
    #: the sums of the live instances recorded on it
    recorded: Usage
    #: the counters were set to ``recorded``
    fixed: bool

    @property
    def consistent(self) -> bool:
        return self.counted == self.recorded

    def describe(self) -> str:
        """One line: what differed (and whether it was fixed)."""
        diffs = ", ".join(f"{name} {was} -> {now}" for name, was, now
                          in zip(_FIELDS, self.counted, self.recorded) if was != now)
        if not diffs:
            return f"host {self.host}: usage matches its {self.recorded[3]} recorded instance(s)"
        verb = "fixed" if self.fixed else "differs from its recorded instances"
        return f"host {self.host}: usage {verb} ({diffs})"

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {"host": self.host}
        for name, was, now in zip(_FIELDS, self.counted, self.recorded):
            out[name], out[f"{name}_recorded"] = was, now
        out["status"] = "ok" if self.consistent else ("fixed" if self.fixed else "differs")
        return out


def audit(env: ComputeEnv, ctx: RequestContext | None = None, *,
          fix: bool = True) -> list[HostUsageAudit]:
    """Every host's counters against its recorded instances (by host name); with ``fix``, the
    hosts that differ are set to the sums. ``ctx`` (the CLI's) must be an admin's."""
    if ctx is not None:
        ctx.require_admin("auditing host usage")
    with env.db.session_scope(readonly=True) as s:
        hosts = list(s.execute(select(Host.id, Host.name, Host.used_vcpus, Host.used_ram_mib,
                                      Host.used_disk_gib, Host.instance_count)
                               .order_by(Host.name)).all())
        sums = _recorded(s)
    report = []
    for host_id, name, *counted in hosts:
        recorded = sums.get(host_id, (0, 0, 0, 0))
        if tuple(counted) == recorded or not fix:
            report.append(HostUsageAudit(name, tuple(counted), recorded, False))
        else:
            report.append(_fix(env, host_id))
    if any(a.fixed for a in report):
        released_elsewhere(env.db)
    return report


def reconcile(env: ComputeEnv) -> list[HostUsageAudit]:
    """Fix every host whose counters differ from its recorded instances; the ones fixed."""
    return [a for a in audit(env) if a.fixed]


def _recorded(s: Session, host_id: int | None = None) -> dict[int, Usage]:
    stmt = (select(Instance.host_id, func.coalesce(func.sum(Instance.vcpus), 0),
                   func.coalesce(func.sum(Instance.ram_mib), 0),
                   func.coalesce(func.sum(CLAIMED_DISK_GIB), 0), func.count())
            .where(Instance.host_id.is_not(None), Instance.deleted.is_(False))
            .group_by(Instance.host_id))
    # a cold migration or resize holds a second claim, on the host the instance is not
    # recorded on, until it is confirmed or reverted (kumo.db.models.moves)
    held = (select(Move.held_host_id, func.coalesce(func.sum(Move.held_vcpus), 0),
                   func.coalesce(func.sum(Move.held_ram_mib), 0),
                   func.coalesce(func.sum(Move.held_disk_gib), 0), func.count())
            .where(Move.held_host_id.is_not(None)).group_by(Move.held_host_id))
    if host_id is not None:
        stmt = stmt.where(Instance.host_id == host_id)
        held = held.where(Move.held_host_id == host_id)
    sums: dict[int, Usage] = {}
    for row in [*s.execute(stmt), *s.execute(held)]:
        add = tuple(int(v) for v in row[1:])
        was = sums.get(row[0], (0, 0, 0, 0))
        sums[row[0]] = tuple(a + b for a, b in zip(was, add))  # type: ignore[assignment]
    return sums


def _fix(env: ComputeEnv, host_id: int) -> HostUsageAudit:
    with env.db.session_scope() as s:
        host = s.scalars(select(Host).where(Host.id == host_id).with_for_update()).one()
        counted = (host.used_vcpus, host.used_ram_mib, host.used_disk_gib, host.instance_count)
        recorded = _recorded(s, host_id).get(host_id, (0, 0, 0, 0))
        if counted == recorded:  # another controller fixed it, or a release caught up
            return HostUsageAudit(host.name, counted, recorded, False)
        (host.used_vcpus, host.used_ram_mib, host.used_disk_gib,
         host.instance_count) = recorded
        host.generation = host.generation + 1
        return HostUsageAudit(host.name, counted, recorded, True)
