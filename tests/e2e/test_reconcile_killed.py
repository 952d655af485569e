"""A controller SIGKILLed in the middle of a 50-server ``kumo reconcile --apply``, on the real
libvirtd (qemu:///system): the same command run again recovers the half-done server, resumes
the interrupted run (same run id) and finishes it with every server changed exactly once -- one
reconcile journal entry (the audit record) and one changed item each, every domain redefined
with the new configuration. A third run changes nothing.

The 50 servers are stopped (a stopped guest is only redefined), so no guest boots: their records
are written here and their domains defined from kumo's own rendering, as a create leaves them.
Everything lives in a database and pool of this test's own; the domains are undefined and the
pool removed at the end, even when the test fails.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from kumo.compute import hosts, naming, spawn
from kumo.compute.context import admin_context
from kumo.compute.env import ComputeEnv
from kumo.db import upgrade
from kumo.db.models import (Host, Instance, JournalEntry, PowerState, ReconcileItem,
                            ReconcileRun)
from kumo.errors import NotFound
from tests.support.e2e_cloud import installation_environ, kumo_process, remove_installation

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

URI = "qemu:///system"
SERVERS = 50
COMMAND = ("reconcile", "--set-property", "os_type=windows", "--apply", "-f", "json")


@pytest.fixture
def fleet(tmp_path, system_libvirt):
    """(env, environ, {uuid: name}) with 50 stopped servers on host ``local``."""
    environ = installation_environ(tmp_path)
    env = ComputeEnv.from_env(environ)
    upgrade(env.settings.database_url)
    hosts.add_host(env, admin_context(), "local", URI, virt_type="qemu")
    names: dict[str, str] = {}
    try:
        with env.db.session_scope() as s:
            host = s.query(Host).filter_by(name="local").one()
            for i in range(SERVERS):
                instance = Instance(
                    name=f"r{i:02d}", project_id="admin", user_id="admin",
                    image_id="11111111-2222-4333-8444-555555555555",
                    image_properties={"hw_disk_bus": "virtio"}, flavor_name="tiny", vcpus=1,
                    ram_mib=256, disk_gib=1, host_id=host.id, node=host.name,
                    vm_state="stopped", power_state=PowerState.SHUTDOWN.value)
                s.add(instance)
                s.flush()
                xml, digest, backend = spawn.render(env, instance, host)
                system_libvirt.define(xml)
                names[instance.uuid] = instance.name
                instance.config_digest, instance.backend = digest, backend
        yield env, environ, names
    finally:
        # its domains, and the pool its kumo commands made (defining no volume in it): the
        # fixture's own env never made it, but the commands did
        remove_installation(env, system_libvirt, delete_servers=False)
        with pytest.raises(NotFound):  # the pool is gone
            system_libvirt.pool_info(environ["KUMO_POOL_NAME"])


def items(env: ComputeEnv) -> list[tuple[str, str, str | None]]:
    """(instance, item state, its journal entry's state), in run order."""
    with env.db.session_scope(readonly=True) as s:
        return [(i.instance_uuid, i.state, s.get(JournalEntry, i.journal_id).state
                 if i.journal_id else None)
                for i in s.scalars(select(ReconcileItem).order_by(ReconcileItem.position))]


def reconcile_entries(env: ComputeEnv) -> dict[str, list[tuple[str, str]]]:
    """instance -> [(state, run id)] of its reconcile journal entries."""
    out: dict[str, list[tuple[str, str]]] = {}
    with env.db.session_scope(readonly=True) as s:
        for e in s.scalars(select(JournalEntry).where(
                JournalEntry.operation == "reconcile",
                JournalEntry.instance_uuid.is_not(None)).order_by(JournalEntry.id)):
            out.setdefault(e.instance_uuid, []).append((e.state, e.payload["run_id"]))
    return out


@pytest.mark.parametrize("failpoint, killed_at, step", [
    ("reconcile:after-record@17", 16, "begin"),  # the 17th record committed, domain not yet
    ("reconcile:after-define@33", 32, "define"),  # the 33rd domain defined, entry unfinished
], ids=["after-record", "after-define"])
def test_killed_reconcile_resumes_and_changes_each_server_once(fleet, system_libvirt,
                                                               failpoint, killed_at, step):
    env, environ, names = fleet
    killed = kumo_process(environ, *COMMAND, failpoint=failpoint)
    assert killed.returncode == -9, killed.stderr
    with env.db.session_scope(readonly=True) as s:
        [run_id] = s.scalars(select(ReconcileRun.id)).all()
    before = items(env)
    half = before[killed_at][0]
    assert [(state, journal) for _u, state, journal in before] == (
        [("changed", "done")] * killed_at + [("changed", "in-progress")]
        + [("pending", None)] * (SERVERS - killed_at - 1))

    again = kumo_process(environ, *COMMAND)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert (report["run_id"], report["state"], report["resumed"]) == (run_id, "done", True)
    assert [i["result"] for i in report["items"]] == ["changed"] * SERVERS
    assert [i["journal"] for i in report["items"]] == ["done"] * SERVERS
    assert (f"kumo: recovered reconcile of server {half}: reconcile (run {run_id}) "
            f"interrupted at step {step}: domain defined again\n") in again.stderr
    assert (f"kumo: recovered reconcile: reconcile run {run_id} was interrupted with "
            f"{SERVERS - killed_at - 1} server(s) still to do: run the same kumo reconcile "
            "command again to resume it\n") in again.stderr

    # exactly once: one audit record per server, of this run, done; one changed item each
    assert reconcile_entries(env) == {u: [("done", run_id)] for u in names}
    assert sorted(u for u, state, _j in items(env) if state == "changed") == sorted(names)
    with env.db.session_scope(readonly=True) as s:
        rows = s.query(Instance).all()
        assert {r.uuid: r.image_properties for r in rows} == {
            u: {"hw_disk_bus": "virtio", "os_type": "windows"} for u in names}
    for uuid in names:
        xml = system_libvirt.domain_xml(naming.domain_name(uuid), inactive=True)
        assert "<clock offset='localtime'>" in xml, uuid
        assert system_libvirt.domain_state(naming.domain_name(uuid)) == "shutoff"

    third = kumo_process(environ, *COMMAND)  # idempotent: nothing left to change
    assert third.returncode == 0, third.stderr
    assert [i["result"] for i in json.loads(third.stdout)["items"]] == ["unchanged"] * SERVERS
    assert reconcile_entries(env) == {u: [("done", run_id)] for u in names}
