"""``kumo server migrate|migration|resize`` and ``kumo host drain`` as an operator types them
(openstackclient's spellings), in-process against in-memory hosts (kumo.hosts.fake)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import update

from kumo.compute import flavors, servers
from kumo.compute.context import admin_context
from kumo.compute.env import ComputeEnv
from kumo.db.models import Host
from kumo.hosts.fake import FakeHosts
from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.cli.compute_fixtures import as_json
from tests.compute.conftest import make_disk
from tests.compute.fakehost import fake_cloud
from tests.support.hosts import add_host


@pytest.fixture
def cloud(kumo, monkeypatch, tmp_path):
    """Hosts kvm-a and kvm-b on fakes (the CLI's env opens the same fakes); server ``vm``
    ACTIVE on kvm-a; flavors tiny and small."""
    hosts = FakeHosts()
    original = ComputeEnv.from_env.__func__

    def from_env(cls, *args, **kwargs):
        env = original(cls, *args, **kwargs)
        env.connect = hosts
        return env
    monkeypatch.setattr(ComputeEnv, "from_env", classmethod(from_env))
    env, admin = ComputeEnv.from_env(), admin_context()
    fake_cloud(env, admin, make_disk(tmp_path / "disk.qcow2"), hosts)
    with env.db.session_scope() as s:
        s.execute(update(Host).where(Host.name == "kvm-1").values(enabled=False))
    for name in ("kvm-a", "kvm-b"):
        add_host(env.db, name, f"fake:///{name}", last_heartbeat=datetime.now(timezone.utc))
    servers.create_server(env, admin, "vm", image="linux", flavor="tiny", host="kvm-a")
    flavors.create_flavor(env, admin, "small", vcpus=2, ram_mib=512, disk_gib=2,
                          ephemeral_gib=1)
    env.close()
    return hosts


def show(kumo) -> dict:
    code, out, err = kumo("server", "show", "vm", "-f", "json")
    assert code == 0, err
    return as_json(out)


def test_migrate_then_confirm_as_openstackclient_spells_it(kumo, cloud):
    code, out, err = kumo("server", "migrate", "vm", "--host", "kvm-b", "-f", "value",
                          "-c", "status", "-c", "host")
    assert (code, out, err) == (0, "VERIFY_RESIZE\nkvm-b\n", ""), err
    code, out, err = kumo("server", "migration", "list", "vm", "-f", "value", "-c", "status",
                          "-c", "source", "-c", "dest")
    assert out == "finished kvm-a kvm-b\n", err
    code, out, err = kumo("server", "migrate", "confirm", "vm", "-f", "value", "-c", "status")
    assert (code, out) == (0, "ACTIVE\n"), err
    assert show(kumo)["host"] == "kvm-b"


def test_migration_revert_and_resize_with_its_flags(kumo, cloud):
    assert kumo("server", "migrate", "vm")[0] == 0
    code, out, err = kumo("server", "migration", "revert", "vm", "-f", "value", "-c", "host")
    assert (code, out) == (0, "kvm-a\n"), err
    code, out, err = kumo("server", "resize", "vm", "--flavor", "small", "-f", "value",
                          "-c", "status", "-c", "flavor")
    assert (code, out) == (0, "VERIFY_RESIZE\nsmall\n"), err
    code, out, err = kumo("server", "resize", "vm", "--confirm", "-f", "value", "-c", "status")
    assert (code, out) == (0, "ACTIVE\n"), err
    assert (show(kumo)["flavor"], show(kumo)["vcpus"]) == ("small", 2)


@pytest.mark.parametrize(("argv", "message"), [
    (("server", "migrate", "nope"), "server 'nope' not found"),
    (("server", "migrate", "vm", "--host", "kvm"),
     "host 'kvm' not found (hosts are named exactly); nearest: kvm-1, kvm-a, kvm-b"),
    (("server", "resize", "vm"),
     "give exactly one of FLAVOR (or --flavor) to resize, --confirm and --revert"),
    (("server", "resize", "vm", "small", "--flavor", "tiny"),
     "two flavors given ('small' and --flavor 'tiny'): allowed one"),
    (("server", "resize", "confirm", "vm"),
     "cannot confirm the move of server 'vm': it is ACTIVE, not VERIFY_RESIZE (nothing to "
     "confirm)"),
    (("host", "drain", "kvm"),
     "host 'kvm' not found (hosts are named exactly); nearest: kvm-1, kvm-a, kvm-b"),
], ids=["no-server", "inexact-host", "no-flavor", "two-flavors", "nothing-to-confirm",
        "drain-inexact"])
def test_refusals_are_one_line_errors(kumo, cloud, argv, message):
    code, out, err = kumo(*argv)
    assert (code, out, err) == (2, "", f"kumo: error: {message}\n")
    assert show(kumo)["status"] == "ACTIVE"


def test_host_drain_prints_a_line_per_server_and_a_summary(kumo, cloud):
    code, out, err = kumo("host", "drain", "kvm-a", "--dry-run")
    assert code == 0 and out.splitlines()[0] == \
        "plan for kvm-a: 1 server(s); the host is disabled first", err
    code, out, err = kumo("host", "drain", "kvm-a")
    assert code == 0, err
    assert out.splitlines() == ["[1/1] vm: moved to kvm-b",
                                "drain of kvm-a: 1 moved, 0 skipped, 0 failed"]
    assert show(kumo)["host"] == "kvm-b" and show(kumo)["status"] == "ACTIVE"
    code, out, _ = kumo("host", "show", "kvm-a", "-f", "json")
    assert as_json(out)["enabled"] is False
