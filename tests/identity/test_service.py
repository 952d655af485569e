"""The identity service's rules, on a migrated SQLite database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from kumo.compute.context import RequestContext, admin_context
from kumo.db import Database, upgrade
from kumo.db.base import utcnow
from kumo.db.models import RoleAssignment, Token
from kumo.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from kumo.identity import service


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path}/kumo.db"
    upgrade(url)
    d = Database(url)
    service.bootstrap(d, "admin-secret-1")
    service.create_project(d, admin_context(), "demo")
    service.create_user(d, admin_context(), "alice", "alice-secret-1", "demo")
    service.add_role(d, admin_context(), "member", "alice", "demo")
    yield d
    d.dispose()


def test_password_token_carries_the_roles_of_its_project(db):
    t = service.issue_password_token(db, "alice", "alice-secret-1", None, "demo")
    assert (t.user_name, t.project_name, t.roles) == ("alice", "demo", ("member",))
    assert service.validate_token(db, t.token).context().project_id == t.project_id


def test_default_project_is_the_scope_when_none_is_asked(db):
    t = service.issue_password_token(db, "alice", "alice-secret-1", None, None)
    assert t.project_name == "demo"


def test_expired_token_is_refused(db):
    t = service.issue_password_token(db, "alice", "alice-secret-1", None, "demo")
    with db.session_scope() as s:
        s.execute(update(Token).values(expires_at=utcnow() - timedelta(seconds=1)))
    with pytest.raises(Unauthorized):
        service.validate_token(db, t.token)
    assert service.purge_expired(db) == 1


def test_losing_the_last_role_invalidates_the_token_at_once(db):
    t = service.issue_password_token(db, "alice", "alice-secret-1", None, "demo")
    with db.session_scope() as s:
        s.query(RoleAssignment).delete()
    with pytest.raises(Unauthorized):
        service.validate_token(db, t.token)


def test_token_from_token_never_outlives_its_source(db):
    t = service.issue_password_token(db, "alice", "alice-secret-1", None, "demo", ttl_s=120)
    t2 = service.issue_token_from_token(db, t.token, None, None)
    assert t2.expires_at <= t.expires_at and t2.token != t.token


def test_revoked_token_cannot_be_revoked_twice(db):
    t = service.issue_password_token(db, "alice", "alice-secret-1", None, "demo")
    service.revoke_token(db, t.token)
    with pytest.raises(NotFound):
        service.revoke_token(db, t.token)


@pytest.mark.parametrize("call, exc, words", [
    (lambda db: service.create_user(db, admin_context(), "bob", "short", None), InvalidInput,
     "a password of 5 characters is invalid: allowed 8 to 1024 characters"),
    (lambda db: service.create_project(db, admin_context(), "demo"), InvalidInput,
     "project 'demo' already exists"),
    (lambda db: service.add_role(db, admin_context(), "owner", "alice", "demo"), InvalidInput,
     "role 'owner' is invalid: allowed admin, member, reader"),
    (lambda db: service.add_role(db, admin_context(), "member", "nobody", "demo"), NotFound,
     "no user 'nobody'"),
    (lambda db: service.create_project(db, RequestContext("u", "p", ("member",)), "x"),
     Forbidden, "creating a project needs the 'admin' role"),
], ids=["short-password", "duplicate-project", "unknown-role", "unknown-user", "member"])
def test_bad_requests_name_what_was_wrong(db, call, exc, words):
    with pytest.raises(exc, match=words):
        call(db)


def test_bootstrap_is_idempotent_and_resets_the_password(db):
    service.bootstrap(db, "new-admin-secret")
    with pytest.raises(Unauthorized):
        service.issue_password_token(db, "admin", "admin-secret-1", None, "admin")
    t = service.issue_password_token(db, "admin", "new-admin-secret", None, "admin")
    assert t.roles == ("admin",)
