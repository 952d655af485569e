"""Key pairs: a user's named SSH public keys, given to the servers they create.

As in Nova's os-keypairs:

* a key pair belongs to a user (``user_id``; its ``project_id`` is recorded for the listing of
  an admin) and its name is unique per user -- two users may both have ``mykey``;
* a server's ``key_name`` is looked up among the keys of the user who creates it, and the key
  line is copied onto the server (deleting the key pair later changes no server);
* an admin may act on another user's key pairs (``user_id``, Nova microversion 2.10; policy
  os_compute_api:os-keypairs:* allows "admin or owner");
* the type is ``ssh`` (Nova also knows ``x509``, which nothing in kumo would use: refused);
* the fingerprint is Nova's: MD5 of the key blob as colon hex (PublicKey.md5_fingerprint);
* at most ``MAX_PER_USER`` key pairs per user (Nova's default ``key_pairs`` quota);
* names: 1 to 255 of ``A-Z a-z 0-9 space @ . _ -`` (Nova 2.92's schema), no surrounding
  spaces.

Import takes only an OpenSSH public key line, checked by kumo.compute.keys (a private key, any
other format and garbage are refused with what they are, and nothing is stored). Create makes a
new key with cryptography and returns its private half once; kumo never stores it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kumo.catalog.names import NAME_MAX, check_name, forbidden_character, short
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.keys import GENERATED_TYPES, PublicKey, generate_key, parse_public_key
from kumo.db.models import KeyPair
from kumo.errors import Forbidden, InvalidInput, NotFound

#: Nova's default quota of key pairs per user (CONF.quota.key_pairs)
MAX_PER_USER = 100
KEY_TYPES = ("ssh",)
_NAME_CHARS = re.compile(r"[A-Za-z0-9 @._-]+")
NAME_ALLOWED = "1 to 255 of the characters A-Z a-z 0-9 space @ . _ -, no surrounding spaces"
#: the policy rule that lets an admin act on another user's key pairs
OTHER_USER = "acting on another user's key pairs (user_id; Nova policy os_compute_api:os-keypairs)"


class KeyPairExists(InvalidInput):
    """The user already has a key pair of that name (Nova: 409 Conflict)."""

    status = 409


class KeyPairQuota(Forbidden):
    """The user has MAX_PER_USER key pairs (Nova: 403, "Quota exceeded, too many key pairs")."""


@dataclass(frozen=True)
class KeyPairInfo:
    id: int
    name: str
    user_id: str
    project_id: str
    type: str
    public_key: str
    fingerprint: str
    created_at: datetime | None
    #: the SHA-1 of the private half when kumo generated the key (keys.GeneratedKey), else None
    private_fingerprint: str | None = None

    @classmethod
    def of(cls, row: KeyPair) -> "KeyPairInfo":
        return cls(row.id, row.name, row.user_id, row.project_id, row.type, row.public_key,
                   row.fingerprint, row.created_at, row.private_fingerprint)

    def view(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "fingerprint": self.fingerprint,
                "user_id": self.user_id, "project_id": self.project_id,
                "public_key": self.public_key,
                "created_at": self.created_at.isoformat() if self.created_at else None}


@dataclass(frozen=True)
class CreatedKeyPair:
    keypair: KeyPairInfo
    #: the private half when kumo generated the key (shown once, never stored), else None
    private_key: str | None = None


def check_key_name(name: Any) -> str:
    """``name`` if it may name a key pair; else InvalidInput with what is allowed."""
    check_name("key pair", name)
    if not _NAME_CHARS.fullmatch(name):
        bad = next(c for c in name if not _NAME_CHARS.fullmatch(c))
        raise InvalidInput(f"key pair name {short(name)} is invalid (character {bad!r}): "
                           f"allowed {NAME_ALLOWED}")
    return name


def owner_of(ctx: RequestContext, user_id: str | None) -> str:
    """The user whose key pairs a request acts on: the caller's own, or (admin) ``user_id``."""
    if user_id is None or user_id == ctx.user_id:
        return ctx.user_id
    ctx.require_admin(OTHER_USER)
    check_name("user", user_id, "id")
    return user_id


def import_key_pair(env: ComputeEnv, ctx: RequestContext, name: str, public_key: str, *,
                    user_id: str | None = None, key_type: str = "ssh",
                    what: str = "the public key") -> KeyPairInfo:
    """Record ``public_key`` (one OpenSSH public key line) as key pair ``name``; ``what``
    names the key in a refusal."""
    check_key_name(name)
    _check_type(key_type)
    key = parse_public_key(public_key, what)
    return _record(env, ctx, name, key, owner_of(ctx, user_id))


def create_key_pair(env: ComputeEnv, ctx: RequestContext, name: str, *, kind: str = "ed25519",
                    user_id: str | None = None, key_type: str = "ssh",
                    private_format: str = "openssh") -> CreatedKeyPair:
    """Generate a key (``kind``: GENERATED_TYPES), record its public half as key pair ``name``
    and return the private half with it (once), in ``private_format`` (keys.PRIVATE_FORMATS)."""
    check_key_name(name)
    _check_type(key_type)
    if kind not in GENERATED_TYPES:
        raise InvalidInput(f"key type {kind!r} is invalid: allowed "
                           f"{', '.join(GENERATED_TYPES)}")
    owner = owner_of(ctx, user_id)
    with env.db.session_scope(readonly=True) as s:  # before the (RSA: slow) generation
        _check_free(s, owner, name)
    generated = generate_key(kind, comment=name if " " not in name else "",
                             private_format=private_format)
    return CreatedKeyPair(_record(env, ctx, name, generated.public, owner,
                                  generated.private_fingerprint),
                          generated.private_key)


def list_key_pairs(env: ComputeEnv, ctx: RequestContext, *, user_id: str | None = None,
                   limit: int | None = None, marker: str | None = None) -> list[KeyPairInfo]:
    """The user's key pairs by name; ``marker``: only those after that key pair (it must
    exist), ``limit``: at most that many (Nova 2.35's paging)."""
    owner = owner_of(ctx, user_id)
    if limit is not None and limit < 0:
        raise InvalidInput(f"limit {limit} is invalid: allowed 0 or more")
    with env.db.session_scope(readonly=True) as s:
        query = select(KeyPair).where(KeyPair.user_id == owner).order_by(KeyPair.name)
        if marker is not None:
            _find(s, owner, marker)
            query = query.where(KeyPair.name > marker)
        if limit is not None:
            query = query.limit(limit)
        return [KeyPairInfo.of(r) for r in s.scalars(query)]


def show_key_pair(env: ComputeEnv, ctx: RequestContext, name: str, *,
                  user_id: str | None = None) -> KeyPairInfo:
    with env.db.session_scope(readonly=True) as s:
        return KeyPairInfo.of(_find(s, owner_of(ctx, user_id), name))


def delete_key_pair(env: ComputeEnv, ctx: RequestContext, name: str, *,
                    user_id: str | None = None) -> None:
    """Delete the key pair; servers created with it keep their copy of the key."""
    delete_key_pairs(env, ctx, [name], user_id=user_id)


def delete_key_pairs(env: ComputeEnv, ctx: RequestContext, names: Iterable[str], *,
                     user_id: str | None = None) -> None:
    """Delete every key pair of ``names`` or, when one is not found, none."""
    owner = owner_of(ctx, user_id)
    with env.db.session_scope() as s:
        for row in [_find(s, owner, name) for name in dict.fromkeys(names)]:
            s.delete(row)


def key_for_server(s: Session, ctx: RequestContext, name: str) -> KeyPairInfo:
    """The key pair ``name`` of the user creating a server (Nova looks key_name up among the
    requesting user's key pairs)."""
    return KeyPairInfo.of(_find(s, ctx.user_id, name))


def _find(s: Session, owner: str, name: str) -> KeyPair:
    if len(name) > NAME_MAX or forbidden_character(name):  # no such name can exist (and NUL
        raise NotFound(f"key pair {short(name)} not found (user {owner!r})")  # breaks PG)
    row = s.scalars(select(KeyPair).where(KeyPair.user_id == owner,
                                          KeyPair.name == name)).one_or_none()
    if row is None:
        raise NotFound(f"key pair {short(name)} not found (user {owner!r})")
    return row


def _check_type(key_type: str) -> None:
    if key_type not in KEY_TYPES:
        raise InvalidInput(f"key pair type {short(key_type)} is invalid: allowed "
                           f"{', '.join(KEY_TYPES)} (x509 certificates are not used by kumo)")


def _check_free(s: Session, owner: str, name: str) -> None:
    if s.scalar(select(KeyPair.id).where(KeyPair.user_id == owner, KeyPair.name == name)):
        raise KeyPairExists(f"key pair {short(name)} already exists (user {owner!r}): "
                            "delete it first or choose another name")
    have = s.scalar(select(func.count()).select_from(KeyPair).where(KeyPair.user_id == owner))
    if have >= MAX_PER_USER:
        raise KeyPairQuota(f"quota exceeded: user {owner!r} has {have} key pairs, allowed at "
                           f"most {MAX_PER_USER}; delete one first")


def _record(env: ComputeEnv, ctx: RequestContext, name: str, key: PublicKey,
            owner: str, private_fingerprint: str | None = None) -> KeyPairInfo:
    try:
        with env.db.session_scope() as s:
            _check_free(s, owner, name)
            row = KeyPair(name=name, user_id=owner, project_id=ctx.project_id, type="ssh",
                          public_key=key.openssh, fingerprint=key.md5_fingerprint,
                          private_fingerprint=private_fingerprint)
            s.add(row)
            s.flush()
            return KeyPairInfo.of(row)
    except IntegrityError:  # a concurrent create of the same name won the unique index
        raise KeyPairExists(f"key pair {short(name)} already exists (user {owner!r}): "
                            "delete it first or choose another name") from None
