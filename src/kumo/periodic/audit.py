"""Periodic audit (``audit_interval``, off by default): ``kumo audit --all-projects`` run by
``kumo serve``, its findings kept where operators look.

Each run audits every instance (kumo.audit.fleet, read-only) and

* records an instance event (a journal entry ``audit``, as power sync records its corrections)
  when an instance's findings changed since its last audit event: the findings new since then
  and those resolved, so ``kumo server event list`` shows when a guest drifted and when it was
  mended, and a steady fleet adds nothing to the journal;
* sets ``kumo_audit_findings{severity,kind}`` (a gauge: the last run's counts) and
  ``kumo_audit_last_run_timestamp_seconds``;
* logs a line per finding that concerns no recorded instance (a host that did not answer, an
  orphan or stale domain).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select

from kumo import logs, metrics
from kumo.audit.findings import KINDS, SEVERITIES, Finding
from kumo.audit.fleet import audit
from kumo.compute import journal
from kumo.compute.context import admin_context
from kumo.compute.env import ComputeEnv
from kumo.compute.selection import Selection
from kumo.compute.states import now
from kumo.db.models import Instance, JournalEntry
from kumo.periodic import Outcome

NAME = "audit"
EVENT = "audit"

log = logs.get(__name__)


def _key(f: Finding) -> str:
    return f"{f.severity} {f.id}: {f.message}"


def run(env: ComputeEnv, at: datetime | None = None) -> Outcome:
    report = audit(env, admin_context(), Selection(all_projects=True))
    at = at or now()
    counts: dict[tuple[str, str], int] = defaultdict(int)
    by_instance: dict[str, list[Finding]] = defaultdict(list)
    for f in report.findings:
        counts[(f.severity, f.kind)] += 1
        if f.instance is not None:
            by_instance[f.instance].append(f)
    for severity in SEVERITIES:
        for kind in KINDS:
            metrics.AUDIT_FINDINGS.labels(severity, kind).set(counts.get((severity, kind), 0))
    metrics.AUDIT_LAST_RUN.set(at.timestamp())
    live, changed = _record(env, by_instance, at)
    for f in report.findings:
        if f.instance not in live:
            log.warning("audit: %s %s on host %s: %s", f.severity, f.id, f.host, f.message)
    return Outcome(report.summary() + (f"; {len(changed)} instance event(s) recorded"
                                       if changed else ""))


def _record(env: ComputeEnv, found: dict[str, list[Finding]],
            at: datetime) -> tuple[set[str], list[str]]:
    """An event for each recorded instance whose findings changed since its last audit
    event; (the live instances' uuids, those given an event)."""
    with env.db.session_scope() as s:
        live = set(s.scalars(select(Instance.uuid).where(Instance.deleted.is_(False))))
        last: dict[str, list[str]] = {}
        for uuid, payload in s.execute(select(JournalEntry.instance_uuid, JournalEntry.payload)
                                       .where(JournalEntry.operation == EVENT)
                                       .order_by(JournalEntry.id)):
            last[uuid] = list((payload or {}).get("open") or [])
        changed = []
        for uuid in sorted(live & (set(found) | set(last))):
            now_open = sorted(_key(f) for f in found.get(uuid, []))
            before = last.get(uuid, [])
            if now_open == before:
                continue
            new = [k for k in now_open if k not in before]
            gone = [k for k in before if k not in now_open]
            message = "; ".join([*(f"found {k}" for k in new), *(f"resolved {k}" for k in gone)])
            journal.event(s, env, uuid, EVENT, f"audit at {at.isoformat(timespec='seconds')}: "
                          f"{message}", open=now_open, seen_at=at.isoformat())
            changed.append(uuid)
    return live, changed
