"""/healthcheck and /metrics scraped through the app kumo serve runs, with exact names."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import text

from kumo import metrics
from kumo.api.app import create_app
from kumo.periodic import host_liveness
from kumo.serve.controller import Controller
from kumo.serve.tasks import Task
from kumo.periodic import Outcome
from tests.periodic.fakes import fake_host
from tests.compute.records import add_instance

EXPECTED = {
    "kumo_placements_total", "kumo_operation_step_duration_seconds_bucket",
    "kumo_periodic_task_runs_total", "kumo_periodic_task_duration_seconds_bucket",
    "kumo_periodic_task_last_success_timestamp_seconds", "kumo_state_corrections_total",
    "kumo_hosts", "kumo_instances", "kumo_journal_entries",
}


def _client(env) -> tuple[Controller, TestClient]:
    controller = Controller(env.settings, env)
    return controller, TestClient(create_app(controller))


def test_healthcheck(env, admin, kvm_host):
    fake_host(env)
    host_liveness.run(env)
    _controller, client = _client(env)
    r = client.get("/healthcheck")
    body = r.json()
    assert (r.status_code, body["status"], body["reasons"]) == (200, "ok", [])
    assert body["database"]["reachable"] is True
    assert body["database"]["revision"] == body["database"]["head"]
    assert {k: v["state"] for k, v in body["hosts"].items()} == {"kvm-1": "up"}


def test_healthcheck_unmigrated_is_503(env):
    with env.db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    try:
        _controller, client = _client(env)
        r = client.get("/healthcheck")
        assert r.status_code == 503
        head = r.json()["database"]["head"]
        assert r.json()["reasons"] == [
            f"database at revision 0001, kumo needs {head}: run `kumo db upgrade`"]
    finally:
        with env.db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :h"), {"h": head})


def test_metrics(env, admin, kvm_host):
    add_instance(env, admin, kvm_host, vm_state="active")
    add_instance(env, admin, kvm_host, name="b", vm_state="stopped", step="volumes",
                 owner=env.owner)
    fake_host(env)
    controller, client = _client(env)
    controller.runner.run_once(Task("host-liveness", 30, host_liveness.run))
    controller.runner.run_once(Task("fixer", 30, lambda _e, _a: Outcome("", {"shut-off": 2})))
    metrics.PLACEMENTS.labels("placed").inc(0)
    metrics.step_started(-1, "create", "define")
    metrics.operation_ended(-1)
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = {}
    for line in r.text.splitlines():
        if line and not line.startswith("#"):
            name_labels, value = line.rsplit(" ", 1)
            samples[name_labels] = float(value)
    names = {re.match(r"[a-z_]+", k).group(0) for k in samples}
    assert EXPECTED <= names
    assert samples['kumo_hosts{state="up"}'] == 1.0
    assert samples['kumo_instances{vm_state="active"}'] == 1.0
    assert samples['kumo_instances{vm_state="stopped"}'] == 1.0
    assert samples['kumo_journal_entries{state="in-progress"}'] == 1.0
    assert samples['kumo_state_corrections_total{kind="shut-off",task="fixer"}'] >= 2.0
    assert samples['kumo_periodic_task_runs_total{result="ok",task="host-liveness"}'] >= 1.0
    assert samples['kumo_operation_step_duration_seconds_count{operation="create",step="total"}'
                   ] >= 1.0
