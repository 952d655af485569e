"""Identity service functions: the one place the rules of projects, users, roles and tokens live.

Passwords: argon2id (argon2-cffi's PasswordHasher, RFC 9106 defaults), a hash that is
deliberately slow and memory-hard, so a stolen ``users`` table does not give the passwords away.
Tokens: 32 random bytes (``secrets``), handed to the client once; only their sha256 is stored.
A random 256-bit secret needs no slow hash: nobody can guess it, so a fast digest that lets a
lookup by primary key find it is enough (the reason Keystone's fernet keys are not argon2'd
either).

Every failure to authenticate is one message, "The request you have made requires
authentication." (Keystone's 401 wording): which of user, password or project was wrong is not
told to the caller; the log has it.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Select, bindparam, delete, select
from sqlalchemy.orm import Session

from kumo.compute.context import RequestContext
from kumo.db import Database
from kumo.db.base import utcnow
from kumo.db.prepared import Prepared, utc_datetime
from kumo.db.models import Project, Role, RoleAssignment, Token, User
from kumo.errors import InvalidInput, NotFound, Unauthorized

log = logging.getLogger("kumo.identity")

#: Keystone's [token] expiration default
DEFAULT_TOKEN_TTL_S = 3600.0
NAME_MAX = 64
PASSWORD_MIN = 8
PASSWORD_MAX = 1024
UNAUTHORIZED = "The request you have made requires authentication."


def _hasher():
    from argon2 import PasswordHasher  # lazily: only identity commands pay for it

    return PasswordHasher()


def hash_password(password: str) -> str:
    _check_password(password)
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A token just issued (``token`` is shown to the client once) or validated."""

    token: str
    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    audit_id: str

    def context(self) -> RequestContext:
        return RequestContext(user_id=self.user_id, project_id=self.project_id, roles=self.roles)


# --- projects, users, roles ---------------------------------------------------------------------

def create_project(db: Database, ctx: RequestContext, name: str, description: str = "") -> dict:
    ctx.require_admin("creating a project")
    _check_name("project", name)
    with db.session_scope() as s:
        if s.scalar(select(Project).where(Project.name == name)) is not None:
            raise InvalidInput(f"project {name!r} already exists: project names are unique")
        project = Project(id=uuid.uuid4().hex, name=name, description=description, enabled=True)
        s.add(project)
        s.flush()
        return _project_view(project)


def list_projects(db: Database, ctx: RequestContext) -> list[dict]:
    with db.session_scope(readonly=True) as s:
        stmt = select(Project).order_by(Project.name)
        if not ctx.is_admin:
            stmt = stmt.where(Project.id == ctx.project_id)
        return [_project_view(p) for p in s.scalars(stmt)]


def create_user(db: Database, ctx: RequestContext, name: str, password: str,
                project: str | None = None) -> dict:
    ctx.require_admin("creating a user")
    _check_name("user", name, NAME_MAX * 4)
    pw_hash = hash_password(password)
    with db.session_scope() as s:
        if s.scalar(select(User).where(User.name == name)) is not None:
            raise InvalidInput(f"user {name!r} already exists: user names are unique")
        default = _find_project(s, project).id if project else None
        user = User(id=uuid.uuid4().hex, name=name, password_hash=pw_hash, enabled=True,
                    default_project_id=default)
        s.add(user)
        s.flush()
        return _user_view(user)


def list_users(db: Database, ctx: RequestContext) -> list[dict]:
    ctx.require_admin("listing users")
    with db.session_scope(readonly=True) as s:
        return [_user_view(u) for u in s.scalars(select(User).order_by(User.name))]


def add_role(db: Database, ctx: RequestContext, role: str, user: str, project: str) -> dict:
    ctx.require_admin("assigning a role")
    allowed = [r.value for r in Role]
    if role not in allowed:
        raise InvalidInput(f"role {role!r} is invalid: allowed {', '.join(allowed)}")
    with db.session_scope() as s:
        u, p = _find_user(s, user), _find_project(s, project)
        if s.get(RoleAssignment, (u.id, p.id, role)) is None:
            s.add(RoleAssignment(user_id=u.id, project_id=p.id, role=role))
        return {"role": role, "user": u.name, "user_id": u.id, "project": p.name,
                "project_id": p.id}


def list_role_assignments(db: Database, ctx: RequestContext) -> list[dict]:
    ctx.require_admin("listing role assignments")
    with db.session_scope(readonly=True) as s:
        rows = s.execute(select(RoleAssignment, User.name, Project.name)
                         .join(User, User.id == RoleAssignment.user_id)
                         .join(Project, Project.id == RoleAssignment.project_id)
                         .order_by(Project.name, User.name, RoleAssignment.role))
        return [{"role": a.role, "user": un, "project": pn} for a, un, pn in rows]


def bootstrap(db: Database, password: str, username: str = "admin",
              project: str = "admin") -> dict:
    """The first admin (Keystone's ``keystone-manage bootstrap``): project ``project``, user
    ``username`` with the admin role on it. Idempotent; an existing user gets ``password`` again,
    so re-running it is also how a lost admin password is reset."""
    _check_name("project", project)
    _check_name("user", username, NAME_MAX * 4)
    pw_hash = hash_password(password)
    with db.session_scope() as s:
        p = s.scalar(select(Project).where(Project.name == project))
        if p is None:
            p = Project(id=uuid.uuid4().hex, name=project, description="bootstrap", enabled=True)
            s.add(p)
        u = s.scalar(select(User).where(User.name == username))
        if u is None:
            u = User(id=uuid.uuid4().hex, name=username, password_hash=pw_hash, enabled=True)
            s.add(u)
        else:
            u.password_hash, u.enabled = pw_hash, True
        u.default_project_id = p.id
        s.flush()
        if s.get(RoleAssignment, (u.id, p.id, Role.ADMIN.value)) is None:
            s.add(RoleAssignment(user_id=u.id, project_id=p.id, role=Role.ADMIN.value))
        return {"user": u.name, "user_id": u.id, "project": p.name, "project_id": p.id,
                "role": Role.ADMIN.value}


# --- tokens -------------------------------------------------------------------------------------

def issue_password_token(db: Database, username: str, password: str,
                         project_id: str | None, project_name: str | None,
                         ttl_s: float = DEFAULT_TOKEN_TTL_S,
                         user_id: str | None = None) -> IssuedToken:
    """A token for the user (by name, or id) scoped to the project (by id or name) where
    they hold a role."""
    with db.session_scope() as s:
        user = (s.get(User, user_id) if user_id else
                s.scalar(select(User).where(User.name == username)))
        if user is None or not user.enabled or not verify_password(user.password_hash, password):
            log.info("authentication failed for user %r: unknown, disabled or wrong password",
                     username)
            raise Unauthorized(UNAUTHORIZED)
        return _issue(s, user, project_id, project_name, ttl_s, expires_cap=None)


def issue_token_from_token(db: Database, token: str, project_id: str | None,
                           project_name: str | None) -> IssuedToken:
    """A new token from a valid one (Keystone's token method): possibly another project of the
    same user, never outliving the token it came from."""
    with db.session_scope() as s:
        row = _valid_token_row(s, token)
        user = s.get(User, row.user_id)
        assert user is not None  # FK with ON DELETE CASCADE
        if project_id is None and project_name is None:
            project_id = row.project_id
        ttl = (row.expires_at - utcnow()).total_seconds()
        return _issue(s, user, project_id, project_name, ttl, expires_cap=row.expires_at)


def _token_statement() -> Select:
    return (select(Token.user_id, Token.project_id, Token.issued_at, Token.expires_at,
                   Token.audit_id, User.name, Project.name, RoleAssignment.role)
            .join(User, User.id == Token.user_id).join(Project, Project.id == Token.project_id)
            .join(RoleAssignment, (RoleAssignment.user_id == Token.user_id)
                  & (RoleAssignment.project_id == Token.project_id))
            .where(Token.id_hash == bindparam("id_hash"),
                   Token.expires_at > bindparam("now", type_=Token.expires_at.type),
                   User.enabled.is_(True), Project.enabled.is_(True))
            .order_by(RoleAssignment.role))


#: a token's row per role, if it is valid (kumo.db.prepared: every API request runs it first,
#: and SQLAlchemy's own set-up of an execution cost more than the query)
_VALID_TOKEN = Prepared(_token_statement)


def validate_token(db: Database, token: str) -> IssuedToken:
    """The token's user, project and current roles; Unauthorized if unknown, expired, revoked,
    or its user or project was disabled or lost every role."""
    if not token:
        raise Unauthorized(UNAUTHORIZED)
    with db.engine.connect() as conn:
        rows = _VALID_TOKEN.rows(conn, id_hash=token_hash(token), now=utcnow())
    if not rows:
        raise Unauthorized(UNAUTHORIZED)
    user_id, project_id, issued_at, expires_at, audit_id, user_name, project_name, _ = rows[0]
    return IssuedToken(token, user_id, user_name, project_id, project_name,
                       tuple(r[-1] for r in rows), utc_datetime(issued_at),
                       utc_datetime(expires_at), audit_id)


def revoke_token(db: Database, token: str) -> None:
    """Revoke a token (DELETE /v3/auth/tokens); NotFound if it is not a valid token."""
    with db.session_scope() as s:
        n = s.execute(delete(Token).where(Token.id_hash == token_hash(token),
                                          Token.expires_at > utcnow())).rowcount
        if not n:
            raise NotFound("Could not find token: it is unknown, expired or already revoked")


def purge_expired(db: Database, now: datetime | None = None) -> int:
    with db.session_scope() as s:
        return s.execute(delete(Token).where(Token.expires_at <= (now or utcnow()))).rowcount


def _issue(s: Session, user: User, project_id: str | None, project_name: str | None,
           ttl_s: float, expires_cap: datetime | None) -> IssuedToken:
    if project_id is None and project_name is None:
        project_id = user.default_project_id
    project = None
    if project_id is not None:
        project = s.get(Project, project_id)
    elif project_name is not None:
        project = s.scalar(select(Project).where(Project.name == project_name))
    roles = _roles(s, user.id, project.id) if project is not None else ()
    if project is None or not project.enabled or not roles:
        log.info("authentication failed for user %r: project %r unknown, disabled, or no role",
                 user.name, project_id or project_name)
        raise Unauthorized(UNAUTHORIZED)
    token = secrets.token_urlsafe(32)
    now = utcnow().replace(microsecond=0)
    expires = now + timedelta(seconds=ttl_s)
    if expires_cap is not None and expires > expires_cap:
        expires = expires_cap
    audit_id = secrets.token_urlsafe(16)[:22]
    s.add(Token(id_hash=token_hash(token), user_id=user.id, project_id=project.id,
                issued_at=now, expires_at=expires, audit_id=audit_id))
    return IssuedToken(token, user.id, user.name, project.id, project.name, roles, now,
                       expires, audit_id)


def _valid_token_row(s: Session, token: str) -> Token:
    row = s.get(Token, token_hash(token)) if token else None
    if row is None or row.expires_at <= datetime.now(timezone.utc):
        raise Unauthorized(UNAUTHORIZED)
    return row


def _roles(s: Session, user_id: str, project_id: str) -> tuple[str, ...]:
    return tuple(s.scalars(select(RoleAssignment.role).where(
        RoleAssignment.user_id == user_id, RoleAssignment.project_id == project_id)
        .order_by(RoleAssignment.role)))


def _find_project(s: Session, ref: str) -> Project:
    p = s.get(Project, ref) or s.scalar(select(Project).where(Project.name == ref))
    if p is None:
        raise NotFound(f"no project {ref!r} (by id or name)")
    return p


def _find_user(s: Session, ref: str) -> User:
    u = s.get(User, ref) or s.scalar(select(User).where(User.name == ref))
    if u is None:
        raise NotFound(f"no user {ref!r} (by id or name)")
    return u


def _check_name(kind: str, name: str, maximum: int = NAME_MAX) -> None:
    if not name or len(name) > maximum or name != name.strip():
        raise InvalidInput(f"{kind} name {name!r} is invalid: allowed 1 to {maximum} characters, "
                           "no leading or trailing spaces")


def _check_password(password: str) -> None:
    if not (PASSWORD_MIN <= len(password) <= PASSWORD_MAX):
        raise InvalidInput(f"a password of {len(password)} characters is invalid: allowed "
                           f"{PASSWORD_MIN} to {PASSWORD_MAX} characters")


def _project_view(p: Project) -> dict:
    return {"id": p.id, "name": p.name, "description": p.description, "enabled": p.enabled}


def _user_view(u: User) -> dict:
    return {"id": u.id, "name": u.name, "enabled": u.enabled,
            "default_project_id": u.default_project_id}
