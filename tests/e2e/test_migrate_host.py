"""A real guest cold-migrated and resized between two real libvirt daemons, then reverted and
confirmed (issues 14 and 16): through ``kumo server migrate|resize`` and through the unmodified
``openstack`` client against a live kumo serve.

The second host is a second libvirt daemon of its own (tests/e2e/second_daemon.py: another
user's session libvirtd with its own host UUID and its own storage, in a mount namespace), so a
move really copies the disks from one pool to another. The Windows-typed probe guest prints the
RTC it reads at each boot: it boots on the target with its clock still in its time zone
(Asia/Shanghai, UTC+8). A pattern written into its root disk before the move is read back from
the target's copy: the disk moved, it was not rebuilt from the image.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from kumo.cli.demo import GUEST_MARK
from kumo.compute import flavors, hosts, naming, servers
from kumo.hosts.libvirt_host import LibvirtHost
from tests.e2e.second_daemon import cloud_and_second_daemon
from tests.e2e.test_evacuate_host import rtc_hours_ahead

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REMOTE = "kvm-remote-01"
PATTERN = ("0x5a", "768M", "64k")  # qemu-io: byte, offset, length (past the tiny image's data)


def boots(log: Path, after: int, timeout_s: float = 180) -> list[str]:
    """The guest's RTC lines in its console log once there are more than ``after``."""
    deadline = time.monotonic() + timeout_s
    lines: list[str] = []
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        lines = re.findall(rf"{GUEST_MARK} rtc=\S+ [^\r\n]*", text)
        if len(lines) > after:
            return lines
        time.sleep(0.5)
    pytest.fail(f"no new {GUEST_MARK} line in {log} after {timeout_s} s: {lines}")


def rtc_of(line: str):
    from datetime import datetime

    return datetime.fromisoformat(re.search(r"rtc=(\S+)", line).group(1))


def qemu_io(path: Path, command: str, *, shared: bool = False) -> str:
    args = ["qemu-io", "-f", "qcow2", *(("-r", "-U") if shared else ()), "-c", command,
            str(path)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Pattern verification failed" not in r.stdout, \
        r.stdout + r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def world(system_libvirt):
    with cloud_and_second_daemon("migrate", system_libvirt,
                                 KUMO_GUEST_TIMEZONE="Asia/Shanghai") as (cloud, remote):
        hosts.add_host(cloud.env, cloud.ctx, REMOTE, remote.uri, virt_type="qemu")
        cloud.extra_hosts.append(LibvirtHost(remote.uri))
        flavors.create_flavor(cloud.env, cloud.ctx, "bigger", vcpus=1, ram_mib=320, disk_gib=2)
        yield cloud, remote


def test_migrate_revert_resize_confirm_with_the_cli(world):
    cloud, remote = world
    env, ctx = cloud.env, cloud.ctx
    remote_conn = cloud.extra_hosts[0]
    uuid = servers.create_server(env, ctx, "win", image="windows", flavor="tiny",
                                 host="local").server["id"]
    domain = naming.domain_name(uuid)
    root = naming.volume_name(uuid, naming.ROOT)
    here_log = Path(env.pool_volume_path(naming.volume_name(uuid, naming.CONSOLE)))
    there_log = remote.private_pool / naming.volume_name(uuid, naming.CONSOLE)
    [first] = boots(here_log, 0)
    assert abs(rtc_hours_ahead(rtc_of(first)) - 8) < 0.05, first

    # data on the root disk that the image does not have
    servers.stop_server(env, ctx, "win")
    byte, offset, length = PATTERN
    qemu_io(Path(env.pool_volume_path(root)), f"write -P {byte} {offset} {length}")
    servers.start_server(env, ctx, "win")
    boots(here_log, 1)

    r = cloud.kumo("server", "migrate", "win", "--host", REMOTE, "-f", "value",
                   "-c", "status", "-c", "host")
    assert (r.returncode, r.stdout) == (0, f"VERIFY_RESIZE\n{REMOTE}\n"), r.stderr
    # the guest runs on the other daemon only; this one keeps its stopped copy until confirm
    assert remote_conn.domain_state(domain) == "running"
    assert cloud.conn.domain_state(domain) == "shutoff"
    [there] = boots(there_log, 0)
    assert abs(rtc_hours_ahead(rtc_of(there)) - 8) < 0.05, there
    out = qemu_io(remote.private_pool / root, f"read -P {byte} {offset} {length}", shared=True)
    assert f"read {65536}/{65536} bytes" in out, out

    # revert: the other daemon's copy gone first, then the guest boots here again
    r = cloud.kumo("server", "migrate", "revert", "win", "-f", "value", "-c", "status",
                   "-c", "host")
    assert (r.returncode, r.stdout) == (0, "ACTIVE\nlocal\n"), r.stderr
    assert not remote_conn.domain_exists(domain)
    remote_conn.refresh_pool(env.pool_name)
    assert [v for v in remote_conn.list_volumes(env.pool_name) if uuid in v] == []
    boots(here_log, 2)
    assert cloud.conn.domain_state(domain) == "running"

    # resize onto the other daemon (more RAM, a bigger disk), then confirm
    r = cloud.kumo("server", "resize", "win", "bigger", "-f", "value", "-c", "status",
                   "-c", "host", "-c", "ram")
    assert (r.returncode, r.stdout) == (0, f"VERIFY_RESIZE\n{REMOTE}\n320\n"), r.stderr
    assert "<memory unit='KiB'>327680</memory>" in remote_conn.domain_xml(domain)
    assert remote_conn.volume_info(env.pool_name, root).capacity_bytes == 2 * 1024 ** 3
    [again] = boots(there_log, 0)  # the revert removed the earlier log with the copy
    assert again != there and abs(rtc_hours_ahead(rtc_of(again)) - 8) < 0.05, again
    r = cloud.kumo("server", "resize", "confirm", "win", "-f", "value", "-c", "status")
    assert (r.returncode, r.stdout) == (0, "ACTIVE\n"), r.stderr
    assert not cloud.conn.domain_exists(domain)
    cloud.conn.refresh_pool(env.pool_name)
    assert [v for v in cloud.conn.list_volumes(env.pool_name) if uuid in v] == []
    assert remote_conn.domain_state(domain) == "running"
    out = qemu_io(remote.private_pool / root, f"read -P {byte} {offset} {length}", shared=True)
    assert f"read {65536}/{65536} bytes" in out, out
    servers.delete_server(env, ctx, "win")


def test_openstack_server_migrate_and_resize(world):
    from tests.api.live import start, stop

    cloud, remote = world
    env, ctx = cloud.env, cloud.ctx
    remote_conn = cloud.extra_hosts[0]
    uuid = servers.create_server(env, ctx, "lin", image="linux", flavor="tiny",
                                 host="local").server["id"]
    domain = naming.domain_name(uuid)
    live = start(cloud.base / "api", cloud.environ)
    try:
        # (by id: the server is the controller's, not in the API admin's project)
        r = live.client("openstack", "--os-compute-api-version", "2.56", "server", "migrate",
                        "--host", REMOTE, "--wait", uuid)
        assert r.returncode == 0, r.stderr + live.tail()
        shown = live.openstack("server", "show", uuid)
        assert (shown["status"], shown["OS-EXT-SRV-ATTR:host"]) == ("VERIFY_RESIZE", REMOTE)
        assert remote_conn.domain_state(domain) == "running"
        assert cloud.conn.domain_state(domain) == "shutoff"
        r = live.client("openstack", "server", "migration", "confirm", uuid)
        assert r.returncode == 0, r.stderr + live.tail()
        shown = live.openstack("server", "show", uuid)
        assert (shown["status"], shown["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", REMOTE)
        assert not cloud.conn.domain_exists(domain)

        # resize back onto this daemon (the only other host), then revert it
        r = live.client("openstack", "server", "resize", "--flavor", "bigger", "--wait", uuid)
        assert r.returncode == 0, r.stderr + live.tail()
        shown = live.openstack("server", "show", uuid)
        assert (shown["status"], shown["OS-EXT-SRV-ATTR:host"]) == ("VERIFY_RESIZE", "local")
        assert "bigger" in str(shown["flavor"]), shown
        assert cloud.conn.domain_state(domain) == "running"
        r = live.client("openstack", "server", "resize", "revert", uuid)
        assert r.returncode == 0, r.stderr + live.tail()
        shown = live.openstack("server", "show", uuid)
        assert (shown["status"], shown["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", REMOTE)
        assert not cloud.conn.domain_exists(domain)
        assert remote_conn.domain_state(domain) == "running"

        # a member may not migrate (Nova's os-migrate-server policy): 403, nothing moves
        r = live.client("openstack", "server", "migrate", uuid, cloud="alice")
        assert r.returncode != 0
        assert live.openstack("server", "show", uuid)["OS-EXT-SRV-ATTR:host"] == REMOTE
    finally:
        stop(live)
    servers.delete_server(env, ctx, "lin")


def _until_not(env, ctx, uuid: str, status: str, timeout_s: float = 240) -> dict:
    """The server's view once its status is no longer ``status``."""
    from tests.e2e.serve_support import wait_for

    def moved():
        view = servers.show_server(env, ctx, uuid)
        return view if view["status"] != status else None
    view = wait_for(moved, timeout_s, step=0.5)
    assert view is not None, f"server {uuid} still {status} after {timeout_s} s"
    return view


def test_migrate_no_wait_returns_at_once_and_a_detached_process_moves_the_guest(world):
    """``kumo server migrate --no-wait`` answers with the server busy (RESIZE) and a detached
    ``kumo server _finish`` moves it: VERIFY_RESIZE on the other daemon, running there."""
    cloud, _remote = world
    env, ctx = cloud.env, cloud.ctx
    remote_conn = cloud.extra_hosts[0]
    uuid = servers.create_server(env, ctx, "nowait", image="linux", flavor="tiny",
                                 host="local").server["id"]
    domain = naming.domain_name(uuid)
    r = cloud.kumo("server", "migrate", "nowait", "--host", REMOTE, "--no-wait", "-f", "value",
                   "-c", "status", "-c", "host")
    assert (r.returncode, r.stdout) == (0, "RESIZE\nlocal\n"), r.stderr
    view = _until_not(env, ctx, uuid, "RESIZE")
    assert (view["status"], view["host"]) == ("VERIFY_RESIZE", REMOTE), view
    assert remote_conn.domain_state(domain) == "running"
    assert cloud.conn.domain_state(domain) == "shutoff"
    r = cloud.kumo("server", "migrate", "confirm", "nowait", "-f", "value", "-c", "status")
    assert (r.returncode, r.stdout) == (0, "ACTIVE\n"), r.stderr
    assert not cloud.conn.domain_exists(domain)
    servers.delete_server(env, ctx, "nowait")


def test_a_resize_left_undecided_is_confirmed_by_kumo_serve(world):
    """With ``resize_confirm_window`` set, ``kumo serve``'s periodic task confirms a resize left
    in VERIFY_RESIZE longer than that (Nova's _poll_unconfirmed_resizes): the source's stopped
    copy removed, its claim released, the guest running on with its new flavor."""
    from sqlalchemy import select

    from kumo.db.models import Host, JournalEntry
    from tests.e2e.serve_support import Serve

    cloud, _remote = world
    env, ctx = cloud.env, cloud.ctx
    remote_conn = cloud.extra_hosts[0]
    uuid = servers.create_server(env, ctx, "auto", image="linux", flavor="tiny",
                                 host="local").server["id"]
    domain = naming.domain_name(uuid)
    r = cloud.kumo("server", "resize", "auto", "bigger", "-f", "value", "-c", "status",
                   "-c", "host")
    assert (r.returncode, r.stdout) == (0, f"VERIFY_RESIZE\n{REMOTE}\n"), r.stderr
    assert cloud.conn.domain_state(domain) == "shutoff"
    serve = Serve.start(cloud, "ctl-confirm", resize_confirm_window=2)
    try:
        view = _until_not(env, ctx, uuid, "VERIFY_RESIZE", timeout_s=120)
    finally:
        assert serve.terminate() == 0
    assert (view["status"], view["host"], view["ram"]) == ("ACTIVE", REMOTE, 320), view
    assert not cloud.conn.domain_exists(domain)
    cloud.conn.refresh_pool(env.pool_name)
    assert [v for v in cloud.conn.list_volumes(env.pool_name) if uuid in v] == []
    assert remote_conn.domain_state(domain) == "running"
    with env.db.session_scope(readonly=True) as s:
        [(op, state, user)] = [(e.operation, e.state, e.user_id) for e in s.scalars(
            select(JournalEntry).where(JournalEntry.instance_uuid == uuid,
                                       JournalEntry.operation.like("%-confirm")))]
        local = s.scalars(select(Host).where(Host.name == "local")).one()
        local_held = (local.instance_count, local.used_ram_mib)
    assert (op, state, user) == ("migrate-confirm", "done", "kumo-serve")
    assert local_held == (0, 0)  # the source's claim released
    servers.delete_server(env, ctx, "auto")
