"""kumo audit against the real libvirtd (qemu:///system) with real tiny guests (kumo.tiny_guest,
TCG): a freshly created Windows-typed and Linux-typed guest have no findings (libvirt's expanded
XML, running and defined, compares equal to kumo's rules); a domain defined again with another
clock while it runs is reported for its next start, and once restarted for the running guest
too, with the exact message, by `kumo audit` exiting 1; two installations (two databases) on the
one daemon never report each other's domains, and each reports its own orphan."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import delete

from kumo.audit.fleet import audit
from kumo.compute.selection import Selection
from kumo.cli.demo import build_guest_files
from kumo.compute import naming, servers
from kumo.compute.context import admin_context
from kumo.compute.env import ComputeEnv
from kumo.db import upgrade
from kumo.db.models import Instance
from tests.support import tiny_cloud
from tests.support.e2e_cloud import remove_installation, remove_pool

pytestmark = pytest.mark.e2e

CLOCK = ("clock offset localtime, should be utc: the guest reads local time from an RTC it "
         "expects in UTC: its clock is off by the host's UTC offset")


def _installation(base: Path, pool: str, files: tuple[Path, Path]) -> tuple[ComputeEnv, dict]:
    environ = {"KUMO_DATA_DIR": str(base / "data"), "KUMO_DATABASE_URL": "",
               "KUMO_IMAGE_DIR": "", "KUMO_POOL_NAME": pool,
               "KUMO_POOL_PATH": str(base.parent / "pool")}
    env = ComputeEnv.from_env(environ, stop_timeout_s=2.0)
    upgrade(env.settings.database_url)
    tiny_cloud.seed(env, admin_context(), base, files)
    return env, environ


@pytest.fixture(scope="module")
def clouds(tmp_path_factory, system_libvirt):
    """Two installations (databases) on the one daemon, sharing one pool."""
    base = tmp_path_factory.mktemp("audit")
    pool = f"kumo-e2e-{secrets.token_hex(4)}"
    files = build_guest_files(base / "guest")
    made = []
    try:
        for name in ("one", "two"):
            made.append(_installation(base / name, pool, files))
        yield made
    finally:
        try:
            for env, _ in made:  # each removes its domains and the orphan a test made
                remove_installation(env, system_libvirt, keep_pool=True)
        finally:
            remove_pool(system_libvirt, pool)


def _kumo(environ: dict, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kumo.cli.main", *argv],
                          env={**os.environ, **environ}, capture_output=True, text=True,
                          timeout=120)


def test_fresh_guests_have_no_findings_and_drift_is_reported(clouds, system_libvirt):
    (env, environ), _ = clouds
    ctx = admin_context()
    uuids = [servers.create_server(env, ctx, name, image=name, flavor="tiny").server["id"]
             for name in ("windows", "linux")]
    try:
        report = audit(env, ctx, Selection(all_projects=True))
        assert [(f.name, f.id, f.message) for f in report.findings] == []
        assert report.instances == 2

        # define the Linux guest again with a local-time clock while it runs (virsh edit)
        uuid, name = uuids[1], naming.domain_name(uuids[1])
        xml = system_libvirt.domain_xml(name, inactive=True)
        assert "<clock offset='utc'>" in xml
        system_libvirt.define(xml.replace("<clock offset='utc'>", "<clock offset='localtime'>"))
        report = audit(env, ctx, Selection.of(instances=["linux"]))
        assert [(f.id, f.severity, f.message) for f in report.findings] == [
            ("clock-offset", "error", "defined configuration (the guest's next start): " + CLOCK)]

        # restarted outside kumo: now the running guest has it too -- one finding
        system_libvirt.destroy(name)
        system_libvirt.start(name)
        done = _kumo(environ, "audit", "--instance", "linux", "-f", "json")
        assert done.returncode == 1, done.stderr
        (finding,) = json.loads(done.stdout)
        assert (finding["id"], finding["message"], finding["instance"], finding["host"]) == (
            "clock-offset", CLOCK, uuid, "local")
        assert done.stderr.startswith("1 instance on 1 host audited in ")
        assert done.stderr.endswith(" s: 1 error\n")
    finally:
        for uuid in uuids:
            servers.delete_server(env, ctx, uuid)


def test_two_installations_do_not_report_each_others_domains(clouds, system_libvirt):
    (one, _), (two, _) = clouds
    ctx = admin_context()
    mine = servers.create_server(one, ctx, "mine", image="linux", flavor="tiny").server["id"]
    theirs = servers.create_server(two, ctx, "theirs", image="linux", flavor="tiny").server["id"]
    lost = servers.create_server(one, ctx, "lost", image="linux", flavor="tiny").server["id"]
    try:
        for env in (one, two):
            report = audit(env, ctx, Selection(all_projects=True))
            assert [(f.id, f.message) for f in report.findings] == []
        with one.db.session_scope() as s:  # installation one loses the record of "lost"
            s.execute(delete(Instance).where(Instance.uuid == lost))
        found = audit(one, ctx, Selection(all_projects=True)).findings
        assert [(f.id, f.instance, f.message) for f in found] == [
            ("orphan-domain", lost,
             f"domain kumo-{lost} (running) was made by this installation (project admin) but "
             "no record owns it: no one manages it, and it holds host resources the scheduler "
             "does not count")]
        assert audit(two, ctx, Selection(all_projects=True)).findings == []
    finally:
        servers.delete_server(one, ctx, mine)
        servers.delete_server(two, ctx, theirs)
        name = naming.domain_name(lost)
        if system_libvirt.domain_exists(name):
            system_libvirt.destroy(name)
            system_libvirt.undefine(name)
