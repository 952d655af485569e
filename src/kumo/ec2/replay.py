"""Replayed requests: the signature of a request that changes something is accepted once.

A SigV4 signature covers the whole request and its timestamp, so a second request carrying an
accepted signature is the same request sent again -- by an eavesdropper, or a proxy retrying.
For an action that changes something (RunInstances, TerminateInstances, CreateTags, ...: the
actions registered ``mutating``) each accepted signature is recorded (ec2_request_signatures, primary key the signature) until
its request would be refused anyway for its age (kumo.ec2.sigv4: X-Amz-Date + 5 minutes, or the
presigned expiry); the insert of a signature already there fails, and the request is refused.
In the database, so every controller sharing it refuses a replay another one accepted.

Reads (Describe*, GetPasswordData) are not checked: X-Amz-Date has a one-second resolution,
so two identical reads in the same second -- a script listing twice, a waiter polling -- are
byte-identical and would be refused as replays, while replaying a read gains an eavesdropper
nothing they did not already see on the wire. Two identical changes within a second are
refused as the replay they cannot be told from (botocore's RunInstances carries a fresh
ClientToken each call, so two launches never are).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from kumo.db import Database
from kumo.db.models import Ec2RequestSignature
from kumo.ec2.errors import auth_failure


def accept_once(db: Database, signature: str, valid_until: datetime, now: datetime) -> None:
    """Record ``signature``; AuthFailure if it was accepted before. Forgets expired ones."""
    try:
        with db.session_scope() as s:
            s.execute(delete(Ec2RequestSignature)
                      .where(Ec2RequestSignature.expires_at < now))
            s.add(Ec2RequestSignature(signature=signature, expires_at=valid_until))
    except IntegrityError:
        raise auth_failure("This request was already received (replayed signature): sign "
                           "each request anew") from None
