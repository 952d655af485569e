"""The periodic audit kumo serve runs: an instance event when an instance's findings change
(found, then resolved), none while they stay the same, and the findings gauge."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from kumo import metrics
from kumo.compute import naming
from kumo.db.models import JournalEntry
from kumo.periodic import audit as periodic_audit
from tests.audit.test_fleet import CLOCK, edit, web  # noqa: F401
from tests.compute.conftest import fake_hosts, image_file  # noqa: F401

AT = datetime(2026, 11, 28, 22, 0, 0, tzinfo=timezone.utc)


def _events(env, uuid):
    with env.db.session_scope(readonly=True) as s:
        return [e.payload["message"] for e in s.scalars(
            select(JournalEntry).where(JournalEntry.instance_uuid == uuid,
                                       JournalEntry.operation == "audit")
            .order_by(JournalEntry.id))]


def _gauge(severity: str, kind: str) -> float:
    return metrics.REGISTRY.get_sample_value("kumo_audit_findings",
                                             {"severity": severity, "kind": kind})


def test_findings_that_change_are_instance_events(web):
    env, host, uuid = web
    out = periodic_audit.run(env, AT)
    assert _events(env, uuid) == [] and out.summary.endswith(" s: no findings")
    assert _gauge("error", "config") == 0

    edit(host, uuid, '<clock offset="utc">', '<clock offset="localtime">')
    out = periodic_audit.run(env, AT)
    found = f"error clock-offset: {CLOCK[3]}"
    assert _events(env, uuid) == [f"audit at 2026-11-28T22:00:00+00:00: found {found}"]
    assert out.summary.endswith(": 1 error; 1 instance event(s) recorded")
    assert _gauge("error", "config") == 1

    periodic_audit.run(env, AT)  # the same findings: nothing new in the journal
    assert len(_events(env, uuid)) == 1

    dom = host.domains[naming.domain_name(uuid)]
    dom.xml = dom.xml.replace('<clock offset="localtime">', '<clock offset="utc">')
    periodic_audit.run(env, AT)
    assert _events(env, uuid)[1:] == [f"audit at 2026-11-28T22:00:00+00:00: resolved {found}"]
    assert _gauge("error", "config") == 0
