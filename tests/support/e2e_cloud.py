"""A kumo installation of a test's own on the real libvirtd: its environment (data directory,
SQLite database, storage pool with a random name) and its removal, even after a failed test."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from kumo.compute import journal, naming, servers
from kumo.compute.context import admin_context
from kumo.compute.env import ComputeEnv
from kumo.errors import KumoError


def installation_environ(base: Path, **extra: str) -> dict[str, str]:
    """The KUMO_* variables of an installation under ``base`` (``extra``: more of them)."""
    return {"KUMO_DATA_DIR": str(base / "data"), "KUMO_DATABASE_URL": "",
            "KUMO_IMAGE_DIR": "", "KUMO_POOL_NAME": f"kumo-e2e-{secrets.token_hex(4)}",
            "KUMO_POOL_PATH": str(base / "pool"), **extra}


def remove_installation(env: ComputeEnv, conn) -> None:
    """Delete every server of ``env`` (after recovering what a killed command left), then
    whatever of its domains and pool a failed test left on the host; close ``env``."""
    try:
        journal.recover(env)
        for server in servers.list_servers(env, admin_context(), all_projects=True):
            servers.delete_server(env, admin_context(), server["id"])
    finally:
        for domain in conn.list_domains():
            if naming.instance_of_domain(domain) and env.pool_path in conn.domain_xml(domain):
                if conn.domain_state(domain) == "running":
                    conn.destroy(domain)
                conn.undefine(domain)
        try:
            conn.refresh_pool(env.pool_name)
        except KumoError:  # never made: no server was
            pass
        else:
            for volume in conn.list_volumes(env.pool_name):
                conn.delete_volume(env.pool_name, volume)
            conn.delete_pool(env.pool_name, delete_dir=True)
        env.close()


def kumo_process(environ: dict[str, str], *argv: str, failpoint: str | None = None,
                 timeout_s: float = 600) -> subprocess.CompletedProcess:
    """The ``kumo`` command of this installation in a process of its own (so it can be
    killed: ``failpoint`` arms KUMO_FAILPOINT)."""
    env = {**os.environ, **environ}
    env.pop("KUMO_FAILPOINT", None)
    if failpoint:
        env["KUMO_FAILPOINT"] = failpoint
    return subprocess.run([sys.executable, "-m", "kumo.cli.main", *argv], env=env,
                          capture_output=True, text=True, timeout=timeout_s)
