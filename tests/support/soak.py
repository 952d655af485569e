"""The crash soak's driver, shared by tests/e2e/test_soak.py and bench/soak.py.

Twenty tiny servers (a blank 1 MiB qcow2 root, TCG, on qemu:///system in a storage pool of their
own) take a seeded-random sequence of ``kumo server`` commands (create, delete, rebuild,
reboot --hard, stop, start), each run as a ``kumo`` process of its own and SIGKILLed at a random
moment: either at a failpoint of that operation (kumo.compute.failpoints) or after a random
delay. A kill counts only when it really killed the process (exit status -9). The run starts
with a sweep that kills once at every kill site (``SITES``: each failpoint of each operation,
and each operation after a random delay), retrying a site on a server in the state it needs
until the kill lands, then goes on with seeded-random kills up to the number asked. Then recovery
(``kumo server list`` and ``kumo host audit-usage``) and the census: final state of every
server, host usage against the instances recorded, orphans as kumo sees them and as virsh sees
them. Every command of the sequence also recovers whatever the previous kill left, and may be
killed in that recovery: that is part of the soak.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from kumo.compute import flavors, hosts, images, journal, naming, servers
from kumo.compute.context import admin_context
from kumo.compute.env import ComputeEnv
from kumo.compute.states import ACTIVE, STOPPED
from kumo.db import upgrade
from kumo.db.models import Host, Image, Instance
from kumo.hosts.libvirt_host import LibvirtHost

URI = "qemu:///system"
HOST = "local"

#: the failpoints each operation passes (grep 'failpoint(' src/kumo/compute); the ``op`` of
#: spawn.define_and_start is create, rebuild or reboot-hard
FAILPOINTS: dict[str, tuple[str, ...]] = {
    "create": ("create:after-claim", "create:after-upload", "create:after-volumes",
               "create:after-define", "create:after-start", "image-upload:mid-stream"),
    "delete": ("delete:after-destroy", "delete:after-undefine"),
    "rebuild": ("rebuild:after-volumes", "rebuild:after-define", "rebuild:after-start"),
    "reboot": ("reboot-hard:after-define", "reboot-hard:after-start"),
    "stop": (),
    "start": (),
}
#: every place the soak kills a process: (operation, failpoint), or (operation, None) for a kill
#: after a random delay. The first create must be the image's first upload (cached after it).
SITES: tuple[tuple[str, str | None], ...] = tuple(
    (op, point) for op, points in FAILPOINTS.items() for point in (
        ("image-upload:mid-stream",) if op == "create" else ()) + tuple(
        p for p in points if p != "image-upload:mid-stream") + (None,))
#: attempts at one site of the sweep before it is reported missed
SWEEP_ATTEMPTS = 6
#: a random kill lands within this many seconds of the start (a command takes ~2-4 s here, with the CLI start)
MAX_DELAY_S = 4.0
SETTLED = ("ACTIVE", "SHUTOFF", "ERROR")


@dataclass
class Census:
    """What the soak found after recovery."""
    kills: int
    kills_at_failpoint: int
    commands: int
    seconds: float
    #: kills per site, "op@failpoint" or "op@delay"
    sites: Counter = field(default_factory=Counter)
    #: sites of SITES the sweep could not kill at
    missed: list[str] = field(default_factory=list)
    states: Counter = field(default_factory=Counter)
    #: servers in no settled state, or ERROR without a fault message: "name status fault"
    unsettled: list[str] = field(default_factory=list)
    #: the host's counters (vcpus, ram MiB, disk GiB, instances) and the sums of the
    #: instances recorded on it
    usage_counted: tuple[int, int, int, int] = (0, 0, 0, 0)
    usage_recorded: tuple[int, int, int, int] = (0, 0, 0, 0)
    audit: list[dict] = field(default_factory=list)
    orphans: list[dict] = field(default_factory=list)
    #: domains/volumes of this pool seen by libvirt with no recorded instance (or image) behind
    stray: list[str] = field(default_factory=list)
    recovery_stderr: str = ""

    def lines(self) -> str:
        states = ", ".join(f"{k} {v}" for k, v in sorted(self.states.items())) or "none"
        return "\n".join([
            f"soak: {self.kills} kills ({self.kills_at_failpoint} at a failpoint, the rest after "
            f"a random delay) in {self.commands} commands, {self.seconds:.0f} s",
            "soak: kills per site: " + ", ".join(f"{k} {v}" for k, v in sorted(
                self.sites.items())),
            f"soak: sites never killed at: {self.missed or 'none'}",
            f"soak: final states: {states}",
            f"soak: unsettled servers: {self.unsettled or 'none'}",
            f"soak: host usage counted {self.usage_counted}, recorded {self.usage_recorded}",
            f"soak: audit-usage --dry-run: {self.audit}",
            f"soak: kumo host orphans: {len(self.orphans)} {self.orphans or ''}",
            f"soak: libvirt objects of the pool with no record: {len(self.stray)} "
            f"{self.stray or ''}",
        ])


class Soak:
    def __init__(self, base: Path, conn: LibvirtHost, *, seed: int, servers: int = 20) -> None:
        self.base, self.conn, self.seed, self.n = base, conn, seed, servers
        self.rng = random.Random(seed)
        self.environ = {"KUMO_DATA_DIR": str(base / "data"), "KUMO_DATABASE_URL": "",
                        "KUMO_IMAGE_DIR": "",
                        "KUMO_POOL_NAME": f"kumo-soak-{secrets.token_hex(4)}",
                        "KUMO_POOL_PATH": str(base / "pool"),
                        "KUMO_STOP_TIMEOUT": "1"}  # the blank guest ignores ACPI
        self.env = ComputeEnv.from_env(self.environ, stop_timeout_s=1.0)
        self.names = [f"soak{i:02d}" for i in range(servers)]
        self.log: list[str] = []
        self.sites: Counter[str] = Counter()
        self.commands = 0

    # --- setup / teardown -----------------------------------------------------------------------
    def set_up(self) -> None:
        upgrade(self.env.settings.database_url)
        ctx = admin_context()
        hosts.add_host(self.env, ctx, HOST, URI, virt_type="qemu")
        flavors.create_flavor(self.env, ctx, "tiny", vcpus=1, ram_mib=64, disk_gib=1)
        root = self.base / "blank.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(root), "1M"], check=True)
        images.create_image(self.env, ctx, "blank", file=root, disk_format="qcow2",
                            properties={"os_type": "linux"})

    def clean_up(self) -> None:
        """Remove every domain, volume and the pool this soak made, whatever state it is in."""
        env, conn = self.env, self.conn
        try:
            try:
                journal.recover(env)
                for server in servers.list_servers(env, admin_context()):
                    servers.delete_server(env, admin_context(), server["id"])
            finally:
                for domain in conn.list_domains():
                    if naming.instance_of_domain(domain) and env.pool_path in conn.domain_xml(
                            domain):
                        if conn.domain_state(domain) == "running":
                            conn.destroy(domain)
                        conn.undefine(domain)
                try:
                    conn.refresh_pool(env.pool_name)
                except Exception:  # noqa: BLE001 - never made (set-up failed early)
                    return
                for volume in conn.list_volumes(env.pool_name):
                    conn.delete_volume(env.pool_name, volume)
                conn.delete_pool(env.pool_name, delete_dir=True)
        finally:
            env.close()

    # --- the soak -------------------------------------------------------------------------------
    def kumo(self, *argv: str, failpoint: str | None = None) -> subprocess.Popen:
        env = {**os.environ, **self.environ}
        env.pop("KUMO_FAILPOINT", None)
        if failpoint:
            env["KUMO_FAILPOINT"] = failpoint
        return subprocess.Popen([sys.executable, "-m", "kumo.cli.main", *argv], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run_cli(self, *argv: str) -> subprocess.CompletedProcess:
        env = {**os.environ, **self.environ}
        env.pop("KUMO_FAILPOINT", None)
        return subprocess.run([sys.executable, "-m", "kumo.cli.main", *argv], env=env,
                              capture_output=True, text=True, timeout=300)

    def _existing(self) -> set[str]:
        with self.env.db.session_scope(readonly=True) as s:
            return {i.name for i in s.query(Instance).filter_by(deleted=False)}

    def _in_state(self, *vm_states: str) -> list[str]:
        """Servers on a host whose record is in one of ``vm_states``."""
        with self.env.db.session_scope(readonly=True) as s:
            return sorted(i.name for i in s.query(Instance).filter_by(deleted=False)
                          if i.host_id is not None and i.vm_state in vm_states)

    @staticmethod
    def _argv(op: str, name: str) -> list[str]:
        return {"create": ["server", "create", name, "--image", "blank", "--flavor", "tiny",
                           "--host", HOST],
                "delete": ["server", "delete", name],
                "rebuild": ["server", "rebuild", name],
                "reboot": ["server", "reboot", "--hard", name],
                "stop": ["server", "stop", name],
                "start": ["server", "start", name]}[op]

    def _command(self, name: str, existing: set[str]) -> tuple[str, list[str]]:
        if name not in existing:
            return "create", self._argv("create", name)
        op = self.rng.choice(("delete", "rebuild", "reboot", "stop", "start"))
        return op, self._argv(op, name)

    def attempt(self, op: str, argv: list[str], point: str | None,
                delay: float | None) -> tuple[bool, float]:
        """One ``kumo`` command, killed at ``point`` or after ``delay`` s (or neither: run to
        its end): (really killed, seconds it ran)."""
        started = time.monotonic()
        proc = self.kumo(*argv, failpoint=point)
        self.commands += 1
        if delay is not None:
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=300)
        killed = proc.returncode == -signal.SIGKILL and (point or delay is not None)
        if killed:
            self.sites[f"{op}@{point or 'delay'}"] += 1
        self.log.append(f"{self.commands} {' '.join(argv)} fp={point} delay={delay} "
                        f"rc={proc.returncode} {err.strip()[-300:]}")
        return bool(killed), time.monotonic() - started

    def _server_for(self, op: str) -> str:
        """A server ``op`` can act on now, making one ready (an unkilled command) if none
        is."""
        free = [n for n in self.names if n not in self._existing()]
        if op == "create":
            return self.rng.choice(free or self.names)  # none free: refused, tried again
        wanted = {"start": (STOPPED,), "stop": (ACTIVE,)}.get(op, (ACTIVE, STOPPED))
        ready = self._in_state(*wanted)
        if not ready and op == "start":
            for name in self._in_state(ACTIVE)[:1]:
                self.attempt("stop", self._argv("stop", name), None, None)
            ready = self._in_state(STOPPED)
        if not ready and free:
            self.attempt("create", self._argv("create", self.rng.choice(free)), None, None)
            ready = self._in_state(*wanted)
        return self.rng.choice(ready or self.names)

    def sweep(self) -> tuple[int, int, list[str]]:
        """One kill at every site of SITES: (kills, at a failpoint, sites missed)."""
        killed = at_failpoint = 0
        missed = []
        for op, point in SITES:
            longest = MAX_DELAY_S
            for _ in range(SWEEP_ATTEMPTS):
                name = self._server_for(op)
                delay = None if point else self.rng.uniform(0.0, longest)
                hit, ran = self.attempt(op, self._argv(op, name), point, delay)
                if hit:
                    killed += 1
                    at_failpoint += point is not None
                    break
                longest = min(longest, ran)  # it ended first: kill sooner next time
            else:
                missed.append(f"{op}@{point or 'delay'}")
        return killed, at_failpoint, missed

    def run(self, kills: int, max_commands: int | None = None) -> tuple[int, int]:
        """Seeded-random commands until ``kills`` processes were really killed: (kills, at
        failpoint)."""
        killed = at_failpoint = 0
        limit = self.commands + (max_commands or kills * 6)
        while killed < kills and self.commands < limit:
            name = self.rng.choice(self.names)
            op, argv = self._command(name, self._existing())
            points = FAILPOINTS[op]
            use_point = bool(points) and self.rng.random() < 0.5
            point = self.rng.choice(points) if use_point else None
            delay = None if point else self.rng.uniform(0.0, MAX_DELAY_S)
            hit, _ran = self.attempt(op, argv, point, delay)
            killed += hit
            at_failpoint += hit and point is not None
        return killed, at_failpoint

    def census(self, kills: int, at_failpoint: int, seconds: float) -> Census:
        listed = self.run_cli("server", "list", "-f", "json")  # recovers first
        if listed.returncode != 0:
            raise AssertionError(f"kumo server list failed after the soak: {listed.stderr}")
        audit = self.run_cli("host", "audit-usage", "-f", "json")  # fixes what recovery missed
        recheck = self.run_cli("host", "audit-usage", "--dry-run", "-f", "json")
        orphans = self.run_cli("host", "orphans", HOST, "-f", "json")
        census = Census(kills, at_failpoint, self.commands, seconds, sites=self.sites,
                        recovery_stderr=listed.stderr + audit.stderr)
        for server in json.loads(listed.stdout):
            census.states[server["status"]] += 1
            fault = (server.get("fault") or {}).get("message")
            if server["status"] not in SETTLED or (server["status"] == "ERROR" and not fault):
                census.unsettled.append(f"{server['name']} {server['status']} {fault!r}")
        census.audit = json.loads(recheck.stdout) if recheck.returncode == 0 else [
            {"error": recheck.stderr}]
        census.orphans = json.loads(orphans.stdout) if orphans.returncode == 0 else [
            {"error": orphans.stderr}]
        with self.env.db.session_scope(readonly=True) as s:
            host = s.query(Host).filter_by(name=HOST).one()
            census.usage_counted = (host.used_vcpus, host.used_ram_mib, host.used_disk_gib,
                                    host.instance_count)
            live = s.query(Instance).filter_by(deleted=False, host_id=host.id).all()
            census.usage_recorded = (sum(i.vcpus for i in live), sum(i.ram_mib for i in live),
                                     sum(i.disk_gib + i.ephemeral_gib for i in live), len(live))
            recorded = {i.uuid for i in s.query(Instance).filter_by(deleted=False)}
            image_ids = {i.id for i in s.query(Image)}
        census.stray = self._stray(recorded, image_ids)
        return census

    def _stray(self, recorded: set[str], image_ids: set[str]) -> list[str]:
        """libvirt's own view: domains using this pool and volumes in it that belong to no
        recorded instance (or, for cached image volumes, to no image)."""
        conn, env = self.conn, self.env
        stray = []
        for domain in conn.list_domains():
            uuid = naming.instance_of_domain(domain)
            if uuid and env.pool_path in conn.domain_xml(domain) and uuid not in recorded:
                stray.append(f"domain {domain}")
        conn.refresh_pool(env.pool_name)
        for volume in conn.list_volumes(env.pool_name):
            uuid = naming.instance_of_volume(volume)
            image = naming.image_of_volume(volume)
            if uuid is not None and uuid in recorded or image is not None and image in image_ids:
                continue
            stray.append(f"volume {volume}")
        return stray


def soak(base: Path, conn: LibvirtHost, *, kills: int, seed: int, servers: int = 20,
         log: Path | None = None) -> Census:
    """Set up, sweep every kill site, soak up to ``kills`` kills in all, recover and count;
    always cleans up."""
    run = Soak(base, conn, seed=seed, servers=servers)
    try:
        run.set_up()
        start = time.monotonic()
        swept, swept_at_point, missed = run.sweep()
        killed, at_point = run.run(kills - swept)
        census = run.census(swept + killed, swept_at_point + at_point,
                            time.monotonic() - start)
        census.missed = missed
        return census
    finally:
        if log is not None:
            log.write_text("\n".join(run.log) + "\n")
        run.clean_up()
