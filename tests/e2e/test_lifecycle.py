"""Servers on the machine's real libvirtd (qemu:///system, TCG): a Windows-typed and a Linux-typed
server booted from tiny images (the demo guest: a cloud kernel and busybox initramfs as aki/ari
images, plus a 1 MiB qcow2 root), hard reboot regenerating the clock after the stored os_type
changed (seed 001), delete leaving nothing behind, and a controller SIGKILLed mid-operation
recovered by the next ``kumo server`` command.

Everything lives in a database, image store and storage pool of this module's own, removed at
the end. Lean on purpose: each TCG boot costs ~5 s of a 2-core machine.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from kumo.backends.libvirt_xml.domain import Domain
from kumo.cli.demo import GUEST_MARK, build_guest_files
from kumo.compute import flavors, hosts, image_cache, images, naming, servers
from kumo.compute.context import RequestContext, admin_context
from kumo.compute.env import ComputeEnv
from kumo.compute.installation import installation_id
from kumo.db import upgrade
from kumo.db.models import Host, Image, Instance, JournalEntry
from kumo.errors import StateError
from kumo.hosts.libvirt_host import LibvirtHost
from tests.support import tiny_cloud
from tests.support.e2e_cloud import installation_environ, kumo_process, remove_installation

pytestmark = pytest.mark.e2e

URI = "qemu:///system"


@dataclass
class Cloud:
    env: ComputeEnv
    ctx: RequestContext
    environ: dict[str, str]
    conn: LibvirtHost

    def kumo(self, *argv: str, failpoint: str | None = None) -> subprocess.CompletedProcess:
        """The ``kumo`` command in a process of its own (so it can be killed)."""
        return kumo_process(self.environ, *argv, failpoint=failpoint, timeout_s=120)

    def instance_volumes(self, uuid: str) -> list[str]:
        self.conn.refresh_pool(self.env.pool_name)
        return [v for v in self.conn.list_volumes(self.env.pool_name)
                if naming.instance_of_volume(v) == uuid]

    def clock(self, uuid: str) -> str:
        return re.search(r"<clock[^>]*>", self.conn.domain_xml(naming.domain_name(uuid))
                         ).group(0)

    def usage(self) -> tuple[int, int, int, int]:
        """The host's counters: used vCPU, RAM, disk and instance_count."""
        with self.env.db.session_scope(readonly=True) as s:
            h = s.query(Host).filter_by(name="local").one()
            return h.used_vcpus, h.used_ram_mib, h.used_disk_gib, h.instance_count

    def age_heartbeat(self, seconds: float = 600) -> None:
        """Pretend the controller has not talked to the host for ``seconds``."""
        with self.env.db.session_scope() as s:
            s.query(Host).filter_by(name="local").one().last_heartbeat = (
                datetime.now(timezone.utc) - timedelta(seconds=seconds))

    def heartbeat_age(self) -> float:
        with self.env.db.session_scope(readonly=True) as s:
            beat = s.query(Host).filter_by(name="local").one().last_heartbeat
        return (datetime.now(timezone.utc) - beat).total_seconds()


@pytest.fixture(scope="module")
def cloud(tmp_path_factory, system_libvirt):
    base = tmp_path_factory.mktemp("lifecycle")
    environ = installation_environ(base)
    env = ComputeEnv.from_env(environ, stop_timeout_s=2.0)
    upgrade(env.settings.database_url)
    ctx = admin_context()
    tiny_cloud.seed(env, ctx, base)
    yield Cloud(env, ctx, environ, system_libvirt)
    remove_installation(env, system_libvirt)


def _guest_line(cloud: Cloud, uuid: str, timeout_s: float = 90) -> str:
    log = Path(cloud.env.pool_volume_path(naming.volume_name(uuid, naming.CONSOLE)))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        match = re.search(rf"{GUEST_MARK} [^\r\n]*\r?\n", text)
        if match:
            return match.group(0).strip()
        time.sleep(0.3)
    pytest.fail(f"guest {uuid} printed no {GUEST_MARK} line in {timeout_s} s: {text[-500:]}")


def test_windows_and_linux_servers_live_hard_reboot_and_delete(cloud):
    env, ctx, conn = cloud.env, cloud.ctx, cloud.conn
    cloud.age_heartbeat()  # past ComputeUp's 60 s: the create asks the host, which answers
    win = servers.create_server(env, ctx, "win", image="windows", flavor="tiny")
    assert cloud.heartbeat_age() < 30
    lin = servers.create_server(env, ctx, "lin", image="linux", flavor="tiny")
    win_id, lin_id = win.server["id"], lin.server["id"]
    for result in (win, lin):
        view = result.server
        assert (view["status"], view["power_state"], view["host"]) == ("ACTIVE", "running",
                                                                       "local")
        assert conn.domain_state(naming.domain_name(view["id"])) == "running"
    # seed 003: Windows gets an admin password (its hash stored), Linux none
    assert win.admin_password and lin.admin_password is None
    assert cloud.clock(win_id) == "<clock offset='localtime'>"
    assert cloud.clock(lin_id) == "<clock offset='utc'>"
    assert sorted(cloud.instance_volumes(win_id)) == [
        f"kumo-{win_id}-config", f"kumo-{win_id}-console.log", f"kumo-{win_id}-disk"]
    assert cloud.usage() == (2, 512, 2, 2)
    for uuid in (win_id, lin_id):  # both guests really boot
        assert _guest_line(cloud, uuid).startswith(f"{GUEST_MARK} rtc=")
    assert hosts.find_orphans(env, ctx, "local") == []

    # seed 001: the stored record is changed (audited), the hard reboot regenerates the domain
    servers.set_property(env, ctx, "win", {"os_type": "linux"})
    assert cloud.clock(win_id) == "<clock offset='localtime'>"  # not before the reboot
    rebooted = servers.reboot_server(env, ctx, "win", hard=True)
    assert (rebooted["status"], rebooted["power_state"]) == ("ACTIVE", "running")
    assert cloud.clock(win_id) == "<clock offset='utc'>"
    assert rebooted["config_digest"] != win.server["config_digest"]

    cloud.age_heartbeat()
    stopped = servers.stop_server(env, ctx, "lin")  # the guest ignores ACPI: destroyed at 2 s
    assert cloud.heartbeat_age() < 30  # the host answered: its heartbeat is fresh again
    assert (stopped["status"], stopped["power_state"]) == ("SHUTOFF", "shutdown")
    assert conn.domain_state(naming.domain_name(lin_id)) == "shutoff"
    assert servers.start_server(env, ctx, "lin")["status"] == "ACTIVE"
    soft = servers.reboot_server(env, ctx, "lin")  # no ACPI in the guest: falls back to hard
    assert (soft["status"], soft["power_state"]) == ("ACTIVE", "running")
    assert conn.domain_state(naming.domain_name(lin_id)) == "running"

    # rebuild from another image: new root disk and config drive, the domain made anew
    old_root = conn.volume_info(env.pool_name, f"kumo-{lin_id}-disk")
    rebuilt = servers.rebuild_server(env, ctx, "lin", image="windows")
    assert (rebuilt.server["status"], rebuilt.server["power_state"]) == ("ACTIVE", "running")
    assert rebuilt.admin_password  # now a Windows guest: an admin password, no SSH keys
    assert rebuilt.server["image_properties"]["os_type"] == "windows"
    assert cloud.clock(lin_id) == "<clock offset='localtime'>"
    assert conn.volume_info(env.pool_name, f"kumo-{lin_id}-disk").allocation_bytes <= \
        old_root.allocation_bytes  # a fresh overlay, not the written-to one

    for name in ("win", "lin"):
        servers.delete_server(env, ctx, name)
    for uuid in (win_id, lin_id):
        assert not conn.domain_exists(naming.domain_name(uuid))
        assert cloud.instance_volumes(uuid) == []
    assert cloud.usage() == (0, 0, 0, 0)
    assert servers.list_servers(env, ctx) == []


@pytest.mark.parametrize("failpoint, status, recovered", [
    ("create:after-define", "ACTIVE",
     "create interrupted at step define: finished, server ACTIVE"),
    ("create:after-volumes", "ERROR",
     "create was interrupted at step volumes (the controller stopped); rolled back: delete the "
     "server and create it again"),
], ids=["after-define-finished", "after-volumes-rolled-back"])
def test_controller_killed_mid_create_is_recovered(cloud, failpoint, status, recovered):
    killed = cloud.kumo("server", "create", "crash", "--image", "linux", "--flavor", "tiny",
                        failpoint=failpoint)
    assert killed.returncode == -9, killed.stderr
    with cloud.env.db.session_scope(readonly=True) as s:
        instance = s.query(Instance).filter_by(name="crash", deleted=False).one()
        uuid = instance.uuid
        assert (instance.vm_state, instance.task_state) == ("building", "spawning")
        assert s.query(JournalEntry).filter_by(instance_uuid=uuid).one().state == "in-progress"

    listed = cloud.kumo("server", "list", "-f", "json")  # any server command recovers first
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr == f"kumo: recovered create of server {uuid}: {recovered}\n"
    [server] = json.loads(listed.stdout)
    assert (server["id"], server["status"]) == (uuid, status)
    domain = naming.domain_name(uuid)
    if status == "ACTIVE":
        assert cloud.conn.domain_state(domain) == "running"
        assert server["fault"] is None
    else:
        assert server["fault"]["message"] == recovered
        assert server["host"] is None
        assert not cloud.conn.domain_exists(domain) and cloud.instance_volumes(uuid) == []
        assert cloud.usage() == (0, 0, 0, 0)
    orphans = cloud.kumo("host", "orphans", "local")
    assert (orphans.returncode, orphans.stdout) == (0, "no orphans on host local\n")
    assert cloud.kumo("server", "delete", "crash").returncode == 0
    assert not cloud.conn.domain_exists(domain) and cloud.instance_volumes(uuid) == []
    assert cloud.usage() == (0, 0, 0, 0)


def test_controller_killed_mid_delete_is_finished(cloud):
    uuid = servers.create_server(cloud.env, cloud.ctx, "doomed", image="linux",
                                 flavor="tiny").server["id"]
    killed = cloud.kumo("server", "delete", "doomed", failpoint="delete:after-undefine")
    assert killed.returncode == -9
    assert cloud.instance_volumes(uuid)  # undefined, volumes not yet deleted
    listed = cloud.kumo("server", "list", "-f", "json")
    assert listed.stderr == (f"kumo: recovered delete of server {uuid}: delete interrupted at "
                             "step undefine: finished, server deleted\n")
    assert json.loads(listed.stdout) == []
    assert not cloud.conn.domain_exists(naming.domain_name(uuid))
    assert cloud.instance_volumes(uuid) == [] and cloud.usage() == (0, 0, 0, 0)


def test_controller_killed_mid_hard_reboot_is_finished(cloud):
    uuid = servers.create_server(cloud.env, cloud.ctx, "rebooted", image="windows",
                                 flavor="tiny").server["id"]
    servers.set_property(cloud.env, cloud.ctx, uuid, {"os_type": "linux"})
    killed = cloud.kumo("server", "reboot", "--hard", uuid, failpoint="reboot-hard:after-define")
    assert killed.returncode == -9
    shown = cloud.kumo("server", "show", uuid, "-f", "json")
    assert shown.stderr == (f"kumo: recovered reboot-hard of server {uuid}: reboot-hard "
                            "interrupted at step define: finished (domain regenerated), server "
                            "ACTIVE\n")
    assert (json.loads(shown.stdout)["status"], cloud.clock(uuid)) == ("ACTIVE",
                                                                       "<clock offset='utc'>")
    servers.delete_server(cloud.env, cloud.ctx, uuid)


def test_failure_on_the_host_rolls_back_with_a_reason(cloud):
    env, ctx = cloud.env, cloud.ctx
    root = env.settings.data_dir / "lost.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(root), "1M"], check=True)
    image = images.create_image(env, ctx, "lost", file=root, disk_format="qcow2",
                                properties={"os_type": "linux"})
    stored = env.settings.image_dir / image["id"]
    stored.unlink()  # the store lost the data: the upload to the host fails
    with pytest.raises(StateError) as e:
        servers.create_server(env, ctx, "unlucky", image="lost", flavor="tiny")
    reason = f"the stored data of image {image['id']} is missing from the image store ({stored})"
    assert str(e.value) == reason
    [server] = [s for s in servers.list_servers(env, ctx) if s["name"] == "unlucky"]
    assert (server["status"], server["host"]) == ("ERROR", None)
    assert server["fault"]["message"] == f"create failed: {reason}"
    assert not cloud.conn.domain_exists(naming.domain_name(server["id"]))
    assert cloud.instance_volumes(server["id"]) == []
    assert naming.image_volume_name(image["id"]) not in cloud.conn.list_volumes(env.pool_name)
    assert cloud.usage() == (0, 0, 0, 0)
    servers.delete_server(env, ctx, "unlucky")


def test_ephemeral_disk_made_attached_and_removed(cloud):
    flavors.create_flavor(cloud.env, cloud.ctx, "tiny.eph", vcpus=1, ram_mib=256, disk_gib=1,
                          ephemeral_gib=2)
    uuid = servers.create_server(cloud.env, cloud.ctx, "scratch", image="linux",
                                 flavor="tiny.eph").server["id"]
    eph = naming.volume_name(uuid, naming.EPHEMERAL)
    assert eph in cloud.instance_volumes(uuid)
    info = cloud.conn.volume_info(cloud.env.pool_name, eph)
    assert (info.format, info.capacity_bytes) == ("qcow2", 2 << 30)
    xml = cloud.conn.domain_xml(naming.domain_name(uuid))
    assert f"<source file='{info.path}'" in xml
    assert cloud.usage() == (1, 256, 3, 1)  # root 1 GiB + ephemeral 2 GiB claimed
    servers.delete_server(cloud.env, cloud.ctx, "scratch")
    assert cloud.instance_volumes(uuid) == [] and cloud.usage() == (0, 0, 0, 0)


def test_uploader_killed_mid_upload_leaves_no_partial_image(cloud):
    """A controller SIGKILLed while the kernel image is half-written to the host: recovery
    removes the partial volume, and the next create uploads it again and boots from it."""
    env, ctx, conn = cloud.env, cloud.ctx, cloud.conn
    kernel, _initramfs = build_guest_files(env.settings.data_dir / "guest-k2")
    aki = images.create_image(env, ctx, "kernel-k2", file=kernel, disk_format="aki")["id"]
    linux = images.show_image(env, ctx, "linux")
    images.create_image(env, ctx, "linux-k2", file=env.settings.image_dir / linux["id"],
                        disk_format="qcow2", properties={
                            **linux["properties"], "kernel_id": aki})
    with env.db.session_scope(readonly=True) as s:
        host_id = s.query(Host).filter_by(name="local").one().id
    conn.ensure_pool(env.pool_name, env.pool_path)
    for cached in ("linux-k2", linux["properties"]["ramdisk_id"]):  # all but the kernel
        image_cache.ensure(env, conn, host_id, images.show_image(env, ctx, cached)["id"])
    volume = naming.image_volume_name(aki)

    killed = cloud.kumo("server", "create", "k2", "--image", "linux-k2", "--flavor", "tiny",
                        failpoint="image-upload:mid-stream")
    assert killed.returncode == -9, killed.stderr
    conn.refresh_pool(env.pool_name)
    partial = Path(conn.volume_path(env.pool_name, volume)).read_bytes()
    assert partial != kernel.read_bytes()  # half-written: what a second create used to boot

    listed = cloud.kumo("server", "list", "-f", "json")
    assert listed.returncode == 0, listed.stderr
    assert (f"kumo: recovered image-upload: removed the partial upload of image {aki} to host "
            f"local (volume {volume}); the next server that needs it uploads it again\n"
            ) in listed.stderr
    assert volume not in conn.list_volumes(env.pool_name)
    assert cloud.kumo("server", "delete", "k2").returncode == 0

    uuid = servers.create_server(env, ctx, "k2", image="linux-k2",
                                 flavor="tiny").server["id"]
    assert Path(conn.volume_path(env.pool_name, volume)).read_bytes() == kernel.read_bytes()
    assert _guest_line(cloud, uuid).startswith(f"{GUEST_MARK} rtc=")
    servers.delete_server(env, ctx, uuid)


def _recorded_usage(cloud: Cloud) -> tuple[int, int, int, int]:
    """The sums of the live instances recorded on the host (what its counters must say)."""
    with cloud.env.db.session_scope(readonly=True) as s:
        rows = s.query(Instance).join(Host, Instance.host_id == Host.id).filter(
            Host.name == "local", Instance.deleted.is_(False)).all()
        return (sum(i.vcpus for i in rows), sum(i.ram_mib for i in rows),
                sum(i.disk_gib + (i.ephemeral_gib or 0) for i in rows), len(rows))


@pytest.mark.parametrize("failpoint, recovered", [
    ("create:after-claim", "create was interrupted at step claimed (the controller stopped); "
                           "rolled back: delete the server and create it again"),
    # the images are on the host already (the keep server's): nothing is uploaded, and the
    # entry goes from claimed straight to volumes, so this kill finds it still at claimed
    ("create:after-upload", "create was interrupted at step claimed (the controller stopped); "
                            "rolled back: delete the server and create it again"),
], ids=["after-claim", "after-upload"])
def test_controller_killed_after_the_claim_leaks_nothing(cloud, failpoint, recovered):
    """SIGKILL right after placement claimed capacity: the claim was committed with the
    instance record, so recovery finds and rolls it back; usage equals the sum of the recorded
    instances (one ACTIVE server stays on the host throughout)."""
    keep = servers.create_server(cloud.env, cloud.ctx, "keep", image="linux",
                                 flavor="tiny").server["id"]
    assert cloud.usage() == _recorded_usage(cloud) == (1, 256, 1, 1)
    killed = cloud.kumo("server", "create", "crash", "--image", "linux", "--flavor", "tiny",
                        failpoint=failpoint)
    assert killed.returncode == -9, killed.stderr
    assert cloud.usage() == _recorded_usage(cloud) == (2, 512, 2, 2)  # held by a record
    listed = cloud.kumo("server", "list", "-f", "json")
    crash = [s for s in json.loads(listed.stdout) if s["name"] == "crash"][0]
    assert listed.stderr == f"kumo: recovered create of server {crash['id']}: {recovered}\n"
    assert (crash["status"], crash["host"]) == ("ERROR", None)
    assert cloud.usage() == _recorded_usage(cloud) == (1, 256, 1, 1)
    assert not cloud.conn.domain_exists(naming.domain_name(crash["id"]))
    assert cloud.instance_volumes(crash["id"]) == []
    orphans = cloud.kumo("host", "orphans", "local")
    assert (orphans.returncode, orphans.stdout) == (0, "no orphans on host local\n")
    for uuid in (crash["id"], keep):
        servers.delete_server(cloud.env, cloud.ctx, uuid)
    assert cloud.usage() == _recorded_usage(cloud) == (0, 0, 0, 0)


def test_recovery_repairs_usage_nothing_holds(cloud):
    """Counters that hold a claim no recorded instance stands for (what an older kumo killed
    between its claim and its record left): the next kumo server command sets them back to the
    sum of the recorded instances and says so."""
    keep = servers.create_server(cloud.env, cloud.ctx, "keep", image="linux",
                                 flavor="tiny").server["id"]
    with cloud.env.db.session_scope() as s:
        host = s.query(Host).filter_by(name="local").one()
        host.used_vcpus, host.used_ram_mib, host.used_disk_gib, host.instance_count = 2, 512, 2, 2
    listed = cloud.kumo("server", "list", "-f", "json")
    assert listed.stderr == ("kumo: recovered audit-usage: host local: usage fixed (vcpus_used "
                             "2 -> 1, ram_used 512 -> 256, disk_used 2 -> 1, instances 2 -> 1)\n")
    assert cloud.usage() == _recorded_usage(cloud) == (1, 256, 1, 1)
    audit = cloud.kumo("host", "audit-usage", "-f", "json")
    assert [(r["host"], r["status"]) for r in json.loads(audit.stdout)] == [("local", "ok")]
    servers.delete_server(cloud.env, cloud.ctx, keep)


def test_create_and_delete_show_progress_in_a_terminal(cloud):
    """In a terminal, `kumo server create` and `delete` show a spinner with the elapsed time
    while they wait (on stderr); the result is printed as usual."""
    import pexpect

    env = {**os.environ, **cloud.environ}
    env.pop("KUMO_FAILPOINT", None)

    def in_pty(*argv: str) -> str:
        child = pexpect.spawn(sys.executable, ["-m", "kumo.cli.main", *argv], env=env,
                              dimensions=(24, 100), encoding="utf-8", timeout=120)
        text = child.read()
        child.close()
        assert child.exitstatus == 0, text
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # rich's colours and cursor

    text = in_pty("server", "create", "tty-web", "--image", "linux", "--flavor", "tiny",
                  "-f", "value", "-c", "status")
    assert re.search(r"creating tty-web\s+0:00:\d\d", text), text
    assert text.rstrip().endswith("ACTIVE")
    text = in_pty("server", "delete", "tty-web")
    assert re.search(r"deleting tty-web\s+0:00:\d\d", text), text
    assert "deleted server " in text
    assert cloud.usage() == (0, 0, 0, 0)


def _until(check, timeout_s: float = 90.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError("timed out")


def test_no_wait_returns_at_once_and_a_detached_process_finishes(cloud):
    """create --no-wait prints the server in BUILD and returns; a detached `kumo server
    _finish` builds it (ACTIVE, domain running); stop --no-wait and delete --no-wait likewise."""
    started = time.monotonic()
    made = cloud.kumo("server", "create", "later", "--image", "linux", "--flavor", "tiny",
                      "--no-wait", "-f", "json")
    assert made.returncode == 0, made.stderr
    server = json.loads(made.stdout)
    assert (server["status"], server["task_state"]) == ("BUILD", "spawning")
    assert time.monotonic() - started < 30
    uuid = server["id"]

    # Polled in this process, from the record: a ``kumo server show`` would first recover what
    # it finds unfinished (and cost a CLI start-up each poll); this way only the detached
    # process can have finished the work. The CLI then shows the same.
    def status():
        shown = servers.show_server(cloud.env, cloud.ctx, uuid)
        return shown["status"] if shown["task_state"] is None else None

    def shown_by_the_cli() -> tuple[str, str | None]:
        shown = json.loads(cloud.kumo("server", "show", uuid, "-f", "json").stdout)
        return shown["status"], shown["task_state"]

    assert _until(status) == "ACTIVE"
    assert shown_by_the_cli() == ("ACTIVE", None)
    assert cloud.conn.domain_state(naming.domain_name(uuid)) == "running"
    stopped = cloud.kumo("server", "stop", uuid, "--no-wait", "-f", "value", "-c", "task_state")
    assert (stopped.returncode, stopped.stdout) == (0, "powering-off\n"), stopped.stderr
    assert _until(status) == "SHUTOFF"
    assert shown_by_the_cli() == ("SHUTOFF", None)
    deleting = cloud.kumo("server", "delete", uuid, "--no-wait")
    assert (deleting.returncode, deleting.stdout) == (0, f"deleting server {uuid}\n")
    _until(lambda: servers.list_servers(cloud.env, cloud.ctx) == [])
    assert json.loads(cloud.kumo("server", "list", "-f", "json").stdout) == []
    assert not cloud.conn.domain_exists(naming.domain_name(uuid))
    assert cloud.instance_volumes(uuid) == [] and cloud.usage() == (0, 0, 0, 0)


def _images_cached(cloud: Cloud) -> bool:
    """Whether the linux image's boot images are complete on the host (a create then uploads
    nothing and journals no upload step)."""
    with cloud.env.db.session_scope(readonly=True) as s:
        image = s.scalars(select(Image).where(Image.name == "linux")).one()
        ids = [i for i in (image.id, (image.properties or {}).get("kernel_id"),
                           (image.properties or {}).get("ramdisk_id")) if i]
        host_id = s.scalars(select(Host.id).where(Host.name == "local")).one()
    return image_cache.ready_on_host(cloud.env, cloud.conn, host_id, ids)


def test_no_wait_finisher_killed_is_recovered_by_the_next_command(cloud):
    step = "claimed" if _images_cached(cloud) else "upload"
    made = cloud.kumo("server", "create", "orphan", "--image", "linux", "--flavor", "tiny",
                      "--no-wait", "-f", "value", "-c", "id", failpoint="create:after-upload")
    assert made.returncode == 0, made.stderr
    uuid = made.stdout.strip()

    def recovered():
        listed = cloud.kumo("server", "list", "-f", "json")
        return listed.stderr if "recovered create" in listed.stderr else None

    assert _until(recovered) == (
        f"kumo: recovered create of server {uuid}: create was interrupted at step {step} (the "
        "controller stopped); rolled back: delete the server and create it again\n")
    assert cloud.kumo("server", "delete", "orphan").returncode == 0
    assert cloud.usage() == (0, 0, 0, 0)


def test_two_installations_on_one_daemon_do_not_claim_each_others_domains(cloud, tmp_path):
    """A second kumo (its own database) on the same libvirtd and even the same pool: each marks
    its domains with its installation id (libvirt <metadata>), and neither reports the other's
    domain or volumes as orphans."""
    env, ctx, conn = cloud.env, cloud.ctx, cloud.conn
    other = ComputeEnv.from_env({**cloud.environ, "KUMO_DATA_DIR": str(tmp_path / "other")},
                                stop_timeout_s=2.0)
    upgrade(other.settings.database_url)
    theirs = None
    try:
        hosts.add_host(other, ctx, "local", URI, virt_type="qemu")  # another database: allowed
        flavors.create_flavor(other, ctx, "tiny", vcpus=1, ram_mib=256, disk_gib=1)
        kernel, initramfs = build_guest_files(tmp_path / "guest")
        aki = images.create_image(other, ctx, "kernel", file=kernel, disk_format="aki")["id"]
        ari = images.create_image(other, ctx, "ramdisk", file=initramfs, disk_format="ari")["id"]
        linux = images.show_image(env, ctx, "linux")
        root = images.create_image(other, ctx, "linux", file=env.settings.image_dir / linux["id"],
                                   disk_format="qcow2", properties={
                                       **linux["properties"], "kernel_id": aki,
                                       "ramdisk_id": ari})["id"]
        mine = servers.create_server(env, ctx, "mine", image="linux", flavor="tiny").server
        theirs = servers.create_server(other, ctx, "theirs", image="linux",
                                       flavor="tiny").server
        for e, server, image in ((env, mine, linux["id"]), (other, theirs, root)):
            mark = Domain.from_xml(conn.domain_xml(naming.domain_name(server["id"]))).kumo
            assert (mark.installation, mark.uuid, mark.project, mark.flavor, mark.image) == (
                installation_id(e.db), server["id"], ctx.project_id, "tiny", image)
        assert hosts.find_orphans(env, ctx, "local") == []
        assert hosts.find_orphans(other, ctx, "local") == []
        servers.delete_server(env, ctx, "mine")
    finally:
        if theirs is not None:
            servers.delete_server(other, ctx, "theirs")
        conn.refresh_pool(env.pool_name)
        with other.db.session_scope(readonly=True) as s:  # the other's image cache
            their_images = {naming.image_volume_name(i) for i in s.scalars(select(Image.id))}
        for volume in their_images & set(conn.list_volumes(env.pool_name)):
            conn.delete_volume(env.pool_name, volume)
        other.close()
