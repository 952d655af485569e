"""A live ``kumo serve`` on 127.0.0.1 (free port, own data dir) and the unmodified OpenStack
clients pointed at it through a clouds.yaml, as an operator would."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

BIN = Path(sys.executable).parent
ADMIN_PASSWORD = "admin-secret-1"
ALICE_PASSWORD = "alice-secret-1"
BOB_PASSWORD = "bob-secret-1"
RITA_PASSWORD = "rita-secret-1"  # a reader in project demo (alice's)


#: ``kumo`` command lines (a JSON list in argv[1]) run in order in one interpreter; a non-zero
#: exit status stops the run with that status
_COMMANDS = """
import json, sys
from kumo.cli.main import main
for argv in json.loads(sys.argv[1]):
    rc = main(list(argv))
    if rc:
        sys.exit(f"kumo {' '.join(argv)}: exit status {rc}")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Live:
    base: Path
    url: str
    environ: dict[str, str]
    proc: subprocess.Popen
    log: Path
    clouds: dict = field(default_factory=dict)

    def kumo(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "kumo.cli.main", *args], env=self.environ,
                              capture_output=True, text=True, timeout=120, check=check)

    def kumo_commands(self, commands: list[tuple[str, ...]]) -> None:
        """Run these ``kumo`` command lines one after the other through the CLI's own entry
        point, in one process: the same commands as ``kumo ...`` each, without paying the
        interpreter's start-up and imports (~1.4 s of CPU) for every one of them. Any command
        that fails stops the run with its output."""
        r = subprocess.run([sys.executable, "-c", _COMMANDS, json.dumps(commands)],
                           env=self.environ, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr

    def client(self, program: str, *args: str, cloud: str = "admin",
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        if program == "openstack":
            e = {**self.environ, "OS_CLOUD": cloud, **(env or {})}
        else:  # nova and glance read only the OS_* variables, as from an openrc
            e = {**self.environ, **self.openrc(cloud), **(env or {})}
        return subprocess.run([str(BIN / program), *args], env=e, capture_output=True,
                              text=True, timeout=180)

    def openstack(self, *args: str, cloud: str = "admin", json_out: bool = True) -> object:
        """``openstack ARGS -f json`` as ``cloud``; its JSON output, or AssertionError with the
        client's stderr. ``json_out=False`` for commands that print nothing (set, delete)."""
        r = self.client("openstack", *args, *(("-f", "json") if json_out else ()), cloud=cloud)
        assert r.returncode == 0, f"openstack {' '.join(args)}: {r.stderr}\n{self.tail()}"
        if not json_out:
            return r.stdout
        return json.loads(r.stdout) if r.stdout.strip() else None

    def token(self, user: str = "admin", password: str = ADMIN_PASSWORD,
              project: str = "admin") -> str:
        r = httpx.post(f"{self.url}/identity/v3/auth/tokens", json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"name": "Default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}})
        assert r.status_code == 201, r.text
        return r.headers["X-Subject-Token"]

    def openrc(self, cloud: str) -> dict[str, str]:
        auth = self.clouds[cloud]["auth"]
        return {"OS_AUTH_URL": auth["auth_url"], "OS_USERNAME": auth["username"],
                "OS_PASSWORD": auth["password"], "OS_PROJECT_NAME": auth["project_name"],
                "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
                "OS_REGION_NAME": "RegionOne", "OS_IDENTITY_API_VERSION": "3"}

    def tail(self) -> str:
        return self.log.read_text()[-3000:] if self.log.exists() else ""


def start(base: Path, cloud_environ: dict[str, str] | None = None) -> Live:
    """``cloud_environ``: the KUMO_* settings of a cloud already set up (tests/e2e)."""
    port = free_port()
    cert = (cloud_environ or {}).get("KUMO_TLS_CERT_FILE")  # HTTPS: the clients trust it
    url = f"{'https' if cert else 'http'}://127.0.0.1:{port}"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "KUMO_"))}
    environ.update({
        "HOME": str(base / "home"),  # glanceclient caches its schema under ~/.glanceclient
        "KUMO_DATA_DIR": str(base / "data"), "KUMO_PORT": str(port),
        "KUMO_SYNC_POWER_STATE_INTERVAL": "0", "KUMO_HOST_PROBE_INTERVAL": "0",
        "KUMO_RECOVERY_INTERVAL": "0", "KUMO_IMAGE_CACHE_INTERVAL": "0",
        "KUMO_POOL_PATH": str(base / "pool"),
        **(cloud_environ or {}),
        "OS_CLIENT_CONFIG_FILE": str(base / "clouds.yaml"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]
                                                        / "src"),
                                                    os.environ.get("PYTHONPATH")])),
    })
    (base / "home").mkdir(parents=True, exist_ok=True)
    clouds = {"clouds": {
        name: {"auth": {"auth_url": f"{url}/identity", "username": user, "password": pw,
                        "project_name": project, "user_domain_name": "Default",
                        "project_domain_name": "Default"},
               "region_name": "RegionOne", "identity_api_version": 3,
               **({"cacert": cert} if cert else {})}
        for name, user, pw, project in (("admin", "admin", ADMIN_PASSWORD, "admin"),
                                        ("alice", "alice", ALICE_PASSWORD, "demo"),
                                        ("bob", "bob", BOB_PASSWORD, "other"),
                                        ("rita", "rita", RITA_PASSWORD, "demo"))}}
    (base / "clouds.yaml").write_text(yaml.safe_dump(clouds))
    log = base / "serve.log"
    live = Live(base, url, environ, None, log, clouds["clouds"])  # type: ignore[arg-type]
    commands = [("db", "upgrade"), ("bootstrap", "--password", ADMIN_PASSWORD)]
    for project, user, pw in (("demo", "alice", ALICE_PASSWORD),
                              ("other", "bob", BOB_PASSWORD)):
        commands += [("project", "create", project),
                     ("user", "create", user, "--password", pw, "--project", project),
                     ("role", "add", "member", "--user", user, "--project", project)]
    commands += [("user", "create", "rita", "--password", RITA_PASSWORD, "--project", "demo"),
                 ("role", "add", "reader", "--user", "rita", "--project", "demo")]
    live.kumo_commands(commands)
    with log.open("w") as f:
        live.proc = subprocess.Popen([sys.executable, "-m", "kumo.cli.main", "serve"],
                                     env=environ, stdout=f, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthcheck", timeout=2,
                         verify=ssl.create_default_context(cafile=cert) if cert else True
                         ).status_code == 200:
                return live
        except httpx.HTTPError:
            pass
        if live.proc.poll() is not None:
            break
        time.sleep(0.2)
    stop(live)
    raise AssertionError(f"kumo serve did not come up:\n{live.tail()}")


def stop(live: Live) -> None:
    if live.proc is not None and live.proc.poll() is None:
        live.proc.terminate()
        try:
            live.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            live.proc.kill()
            live.proc.wait()


def add_catalog(live: Live, workdir: Path, host: str, images: dict[str, str],
                flavor: str) -> Live:
    """For server tests on a live kumo serve: host ``host`` on libvirt's test:/// driver (in
    the serve process), public qcow2 images (name -> os_type) and a 1-vCPU 256 MiB flavor."""
    from kumo.db import Database
    from tests.support.hosts import add_host

    db = Database(f"sqlite:///{live.base / 'data' / 'kumo.db'}")
    add_host(db, host)
    db.dispose()
    disk = workdir / "root.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    for name, os_type in images.items():
        live.openstack("image", "create", "--disk-format", "qcow2", "--container-format",
                       "bare", "--file", str(disk), "--public", "--property",
                       f"os_type={os_type}", name)
    live.openstack("flavor", "create", "--vcpus", "1", "--ram", "256", "--disk", "1", flavor)
    return live
