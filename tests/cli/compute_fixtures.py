"""Fixtures for the host/image/flavor/server command tests: the ``kumo`` command run in-process
against the ``db`` fixture's database (SQLite and PostgreSQL), with an image store and pool of its
own, as an operator would run it (KUMO_DATABASE_URL, KUMO_DATA_DIR, KUMO_POOL_*)."""

from __future__ import annotations

import json
import secrets

import pytest

from kumo.cli.main import main
from tests.support.hosts import add_host
from tests.db.fixtures import *  # noqa: F401,F403


@pytest.fixture
def kumo(db, tmp_path, monkeypatch, capsys):
    """kumo(*argv) -> (exit code, stdout, stderr)."""
    monkeypatch.setenv("KUMO_DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("KUMO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KUMO_POOL_NAME", f"kumo-cli-{secrets.token_hex(4)}")
    monkeypatch.setenv("KUMO_POOL_PATH", str(tmp_path / "pool"))
    for name in ("KUMO_USER_ID", "KUMO_PROJECT_ID", "KUMO_ROLES", "KUMO_IMAGE_DIR",
                 "KUMO_SCHEDULER_CONFIG"):
        monkeypatch.delenv(name, raising=False)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def as_json(out: str):
    return json.loads(out)


@pytest.fixture
def test_host(db) -> str:
    """A host row whose URI is libvirt's test driver (answers without a daemon)."""
    return add_host(db, "kvm-1")
