"""Identity (Keystone's model, reduced to what kumo needs): projects, users, role assignments,
tokens.

* A password is stored only as its argon2id hash (kumo.identity.passwords).
* A token is a random secret the client keeps; only its sha256 is stored (``tokens.id_hash``),
  so a copy of the database grants nobody anything. Tokens expire (``expires_at``) and are
  revoked by deleting their row (DELETE /v3/auth/tokens).
* Roles are names from a fixed set (admin, member, reader: Keystone's default roles); a user
  holds a role on a project through a ``role_assignments`` row. A token's roles are read from the
  assignments when it is validated, so removing a role takes effect at once.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, Timestamps, UTCDateTime, check_in


class Role(StrEnum):
    """Keystone's default roles: reader < member < admin."""

    ADMIN = "admin"
    MEMBER = "member"
    READER = "reader"


class Project(Timestamps, Base):
    __tablename__ = "projects"

    #: a uuid4 hex (Keystone's id form)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class User(Timestamps, Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    #: argon2id, PHC string form ($argon2id$v=19$m=...,t=...,p=...$salt$hash)
    password_hash: Mapped[str] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    default_project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id", ondelete="SET NULL"))


class RoleAssignment(Base):
    __tablename__ = "role_assignments"
    __table_args__ = (CheckConstraint(check_in("role", Role), name="role"),)

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"),
                                            primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)


class Token(Base):
    __tablename__ = "tokens"

    #: sha256 hex of the token the client holds; the token itself is never stored
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    #: Keystone's audit id: names the token in logs without revealing it
    audit_id: Mapped[str] = mapped_column(String(32))
