"""Fixtures for the service-layer tests, on SQLite and PostgreSQL (tests/db/fixtures.py).

    env        a ComputeEnv on the ``db`` fixture, with its own image store directory and a
               storage pool name/path of its own (so nothing here touches kumo's real pool)
    admin, alice, bob   request contexts: the operator, and users of two projects
    image_file a tiny qcow2 file (qemu-img create), and raw_file a raw one
    kvm_host   a Host row with the embedded KVM capabilities and room for a few guests (its URI
               points at libvirt's test driver, which answers without a daemon); no heartbeat
               yet: the first placement asks it and records one (kumo.compute.heartbeat)
    fake_hosts the env's host connections replaced by in-memory hosts (kumo.hosts.fake): every
               URI the env opens is a FakeHost, kept per URI for the test to inspect and break
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest

from kumo.compute.context import RequestContext, admin_context
from kumo.compute.env import ComputeEnv
from kumo.config import Settings
from kumo.hosts.fake import FakeHosts
from kumo.scheduler import service
from tests.support.hosts import add_host
from tests.db.fixtures import *  # noqa: F401,F403


@pytest.fixture
def env(db, tmp_path: Path, monkeypatch) -> ComputeEnv:
    monkeypatch.delenv("KUMO_SCHEDULER_CONFIG", raising=False)  # the scheduler's defaults
    settings = Settings(data_dir=tmp_path, database_url=db.url.render_as_string(False),
                        image_dir=tmp_path / "images")
    e = ComputeEnv(db=db, settings=settings, pool_name=f"kumo-test-{secrets.token_hex(4)}",
                   pool_path=str(tmp_path / "pool"), stop_timeout_s=2.0)
    # the shared schedulers are per Database object, which outlives a test's rows
    service.forget(db)
    yield e
    if e._renewer is not None:
        e._renewer.stop()
    service.forget(db)
    for uri in list(e._hosts):
        e.forget_host(uri)


@pytest.fixture
def fake_hosts(env: ComputeEnv) -> FakeHosts:
    hosts = FakeHosts()
    env.connect = hosts
    return hosts


@pytest.fixture
def admin() -> RequestContext:
    return admin_context()


@pytest.fixture
def alice() -> RequestContext:
    return RequestContext(user_id="alice", project_id="p-alice", roles=("member",))


@pytest.fixture
def bob() -> RequestContext:
    return RequestContext(user_id="bob", project_id="p-bob", roles=("member",))


def make_disk(path: Path, fmt: str = "qcow2", size: str = "1M") -> Path:
    subprocess.run(["qemu-img", "create", "-q", "-f", fmt, str(path), size], check=True)
    return path


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    return make_disk(tmp_path / "disk.qcow2")


@pytest.fixture
def raw_file(tmp_path: Path) -> Path:
    return make_disk(tmp_path / "disk.raw", "raw")


@pytest.fixture
def kvm_host(db) -> str:
    return add_host(db, "kvm-1")


def count(db, model) -> int:
    from sqlalchemy import func, select

    with db.session_scope(readonly=True) as s:
        return s.scalar(select(func.count()).select_from(model))
