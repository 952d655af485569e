"""EC2 credentials: an access key id and a secret belonging to a user and a project, as
Keystone's ``openstack ec2 credentials create|list|delete``. The EC2 Query API (kumo.ec2)
authenticates a request signed with one as that user in that project, with the roles the user
holds there at that moment (read at each request, as for tokens: a removed role takes effect at
once).

The secret is shown once, by create (as AWS shows a new access key's secret once), and stored
sealed (kumo.identity.credential_key: the server needs it back to verify SigV4 signatures).

Who may do what: a user creates credentials for themselves in a project where they hold a role;
an admin for any user and project. A user lists and deletes their own; an admin any.
"""

from __future__ import annotations

import base64
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from kumo.compute.context import RequestContext
from kumo.db import Database
from kumo.db.models import Ec2Credential, Project, User
from kumo.errors import Forbidden, InvalidInput, NotFound
from kumo.identity import credential_key
from kumo.identity.service import _find_project, _find_user, _roles

log = logging.getLogger("kumo.identity")

ACCESS_PREFIX = "AKIA"  # AWS's prefix of long-term access key ids


@dataclass(frozen=True)
class Authenticated:
    """A credential found for a request: its secret (to verify the signature) and who it is."""

    secret: str
    context: RequestContext


def new_access_key() -> str:
    """AKIA + 16 characters of base32, the form AWS access key ids have (some clients check)."""
    return ACCESS_PREFIX + base64.b32encode(secrets.token_bytes(10)).decode()


def create(db: Database, key_file: Path, ctx: RequestContext, user: str | None = None,
           project: str | None = None) -> dict:
    """A new credential for ``user`` in ``project`` (default: the caller's own); its view
    with the secret, shown this once."""
    key = credential_key.load_or_create(key_file)
    with db.session_scope() as s:
        u = _find_user(s, user or ctx.user_id)
        p = _find_project(s, project or ctx.project_id)
        if not ctx.is_admin and not _is_caller(ctx, u, p):
            raise Forbidden(f"creating EC2 credentials for user {u.name!r} in project "
                            f"{p.name!r} needs the 'admin' role: a user creates their own, in "
                            "their own project")
        if not _roles(s, u.id, p.id):
            raise InvalidInput(f"user {u.name!r} holds no role on project {p.name!r}: give one "
                               f"first (kumo role add member --user {u.name} --project "
                               f"{p.name})")
        access, secret = new_access_key(), secrets.token_urlsafe(30)
        row = Ec2Credential(access_key=access, user_id=u.id, project_id=p.id,
                            secret_sealed=credential_key.seal(key, secret, access))
        s.add(row)
        s.flush()
        return {**_view(row, u, p), "secret": secret}


def list_credentials(db: Database, ctx: RequestContext, user: str | None = None) -> list[dict]:
    """The caller's credentials (an admin's: every user's, or ``user``'s). No secrets."""
    with db.session_scope(readonly=True) as s:
        stmt = (select(Ec2Credential, User, Project)
                .join(User, User.id == Ec2Credential.user_id)
                .join(Project, Project.id == Ec2Credential.project_id)
                .order_by(User.name, Project.name, Ec2Credential.created_at))
        if user is not None:
            u = _find_user(s, user)
            if not ctx.is_admin and not _is_user(ctx, u):
                raise Forbidden("listing another user's EC2 credentials needs the 'admin' role")
            stmt = stmt.where(Ec2Credential.user_id == u.id)
        elif not ctx.is_admin:
            stmt = stmt.where(Ec2Credential.user_id == _find_user(s, ctx.user_id).id)
        return [_view(c, u, p) for c, u, p in s.execute(stmt)]


def delete(db: Database, ctx: RequestContext, access_key: str) -> None:
    with db.session_scope() as s:
        row = s.get(Ec2Credential, access_key) if isinstance(access_key, str) else None
        if row is not None and not ctx.is_admin:
            if not _is_user(ctx, s.get_one(User, row.user_id)):
                row = None  # another user's: not found, as Keystone answers
        if row is None:
            raise NotFound(f"EC2 credential {access_key!r} not found")
        s.delete(row)


def authenticate(db: Database, key_file: Path, access_key: str) -> Authenticated | None:
    """The secret and context of ``access_key``; None when it is unknown, its user or project
    is disabled, the user holds no role there any more, or its secret does not open."""
    with db.session_scope(readonly=True) as s:
        row = s.get(Ec2Credential, access_key)
        if row is None:
            return None
        user, project = s.get(User, row.user_id), s.get(Project, row.project_id)
        roles = _roles(s, row.user_id, row.project_id)
        if user is None or project is None or not (user.enabled and project.enabled and roles):
            log.info("EC2 credential %s refused: user or project disabled, or no role",
                     access_key)
            return None
        sealed = row.secret_sealed
    secret = credential_key.unseal(credential_key.load_or_create(key_file), sealed, access_key)
    if secret is None:
        log.warning("EC2 credential %s: its secret does not open with credential_key_file %s "
                    "(another controller's key?)", access_key, key_file)
        return None
    return Authenticated(secret, RequestContext(user.id, project.id, roles))


def _is_user(ctx: RequestContext, u: User) -> bool:
    return ctx.user_id in (u.id, u.name)


def _is_caller(ctx: RequestContext, u: User, p: Project) -> bool:
    return _is_user(ctx, u) and ctx.project_id in (p.id, p.name)


def _view(c: Ec2Credential, u: User, p: Project) -> dict:
    return {"access": c.access_key, "user_id": u.id, "user": u.name, "project_id": p.id,
            "project": p.name, "created": c.created_at.isoformat() if c.created_at else None}


