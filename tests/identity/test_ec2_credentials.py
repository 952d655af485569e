"""EC2 credentials (kumo.identity.ec2_credentials) and how their secrets are sealed
(kumo.identity.credential_key), on a migrated SQLite database."""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import delete, select

from kumo.compute.context import RequestContext, admin_context
from kumo.db import Database, upgrade
from kumo.db.models import Ec2Credential, RoleAssignment
from kumo.errors import ConfigError, Forbidden, InvalidInput, NotFound
from kumo.identity import credential_key, ec2_credentials as creds, service


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path}/kumo.db"
    upgrade(url)
    d = Database(url)
    service.bootstrap(d, "admin-secret-1")
    for project, user in (("demo", "alice"), ("other", "bob")):
        service.create_project(d, admin_context(), project)
        service.create_user(d, admin_context(), user, f"{user}-secret-1", project)
        service.add_role(d, admin_context(), "member", user, project)
    yield d
    d.dispose()


@pytest.fixture
def key_file(tmp_path):
    return tmp_path / "keys" / "credential.key"


def _ctx(db, user, project, roles=("member",)):
    users = {u["name"]: u["id"] for u in service.list_users(db, admin_context())}
    projects = {p["name"]: p["id"] for p in service.list_projects(db, admin_context())}
    return RequestContext(users[user], projects[project], roles)


def test_create_shows_the_secret_once_and_stores_it_sealed(db, key_file):
    made = creds.create(db, key_file, admin_context(), "alice", "demo")
    assert made["access"].startswith("AKIA") and len(made["access"]) == 20
    assert len(made["secret"]) == 40 and (made["user"], made["project"]) == ("alice", "demo")
    with db.session_scope(readonly=True) as s:
        row = s.scalar(select(Ec2Credential))
        assert made["secret"] not in row.secret_sealed
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert "secret" not in creds.list_credentials(db, admin_context())[0]
    found = creds.authenticate(db, key_file, made["access"])
    assert found.secret == made["secret"]
    assert (found.context.project_id, found.context.roles) == (made["project_id"], ("member",))


def test_a_member_makes_their_own_only(db, key_file):
    alice = _ctx(db, "alice", "demo")
    mine = creds.create(db, key_file, alice)
    assert (mine["user"], mine["project"]) == ("alice", "demo")
    with pytest.raises(Forbidden, match="needs the 'admin' role"):
        creds.create(db, key_file, alice, "bob", "other")
    with pytest.raises(InvalidInput, match="holds no role on project 'other'"):
        creds.create(db, key_file, admin_context(), "alice", "other")
    theirs = creds.create(db, key_file, admin_context(), "bob", "other")
    assert [c["access"] for c in creds.list_credentials(db, alice)] == [mine["access"]]
    with pytest.raises(NotFound):  # another user's: not found, as Keystone answers
        creds.delete(db, alice, theirs["access"])
    creds.delete(db, alice, mine["access"])
    assert creds.authenticate(db, key_file, mine["access"]) is None


def test_a_removed_role_or_disabled_secret_refuses_at_once(db, key_file):
    made = creds.create(db, key_file, admin_context(), "alice", "demo")
    with db.session_scope() as s:
        s.execute(delete(RoleAssignment).where(RoleAssignment.user_id == made["user_id"]))
    assert creds.authenticate(db, key_file, made["access"]) is None


def test_a_sealed_secret_opens_only_with_its_key_and_its_row(db, key_file, tmp_path):
    a = creds.create(db, key_file, admin_context(), "alice", "demo")
    b = creds.create(db, key_file, admin_context(), "bob", "other")
    other_key = tmp_path / "other.key"
    assert creds.authenticate(db, other_key, a["access"]) is None  # another key file
    with db.session_scope() as s:  # b's sealed secret copied onto a's row
        rows = {r.access_key: r for r in s.scalars(select(Ec2Credential))}
        rows[a["access"]].secret_sealed = rows[b["access"]].secret_sealed
    assert creds.authenticate(db, key_file, a["access"]) is None


def test_a_damaged_key_file_is_one_line(tmp_path):
    bad = tmp_path / "short.key"
    bad.write_bytes(b"too short")
    with pytest.raises(ConfigError, match="holds 9 bytes: allowed exactly 32"):
        credential_key.load_or_create(bad)
