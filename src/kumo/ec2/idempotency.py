"""RunInstances' ClientToken (EC2's idempotency, "Ensuring idempotency in Amazon EC2 API
requests"): a launch sent again with the same token and the same parameters -- a client
retrying after a timeout -- answers the reservation the first one made and launches nothing;
the same token with other parameters is IdempotentParameterMismatch.

The token is recorded per project (an EC2 account) in ec2_client_tokens with a digest of the
request's parameters (all but the token and what every request carries: Action, Version,
DryRun, the signature's) and the reservation id, in its own transaction before anything is
launched: of two requests with one token at once, the second finds the first's row (the
primary key) and answers its reservation as far as it is recorded. A launch refused after the
token was recorded forgets it again, so a corrected retry with the token is a new request
(EC2 keeps no token of a request that failed). Tokens are kept: EC2 holds them "at least 24
hours after the termination of the instance", and a row is a few bytes.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from kumo.db import Database
from kumo.db.models import Ec2ClientToken
from kumo.ec2.errors import Ec2Error, invalid
from kumo.ec2.query import COMMON, Params

MAX_TOKEN = 64


def check_token(token: str) -> str:
    if len(token) > MAX_TOKEN or not token.isascii() or not token.isprintable():
        shown = token[:MAX_TOKEN] + ("..." if len(token) > MAX_TOKEN else "")
        raise invalid(f"Invalid value '{shown}' for ClientToken: allowed up to {MAX_TOKEN} "
                      "printable ASCII characters")
    return token


def request_digest(p: Params) -> str:
    kept = sorted((k, v) for k, v in p.values.items()
                  if k not in COMMON and k != "ClientToken")
    return hashlib.sha256(json.dumps(kept).encode()).hexdigest()


def claim(db: Database, project_id: str, token: str, digest: str,
          reservation_id: str) -> str | None:
    """Record ``token`` for a new launch (None), or the reservation an earlier launch with it
    made; IdempotentParameterMismatch if that launch had other parameters."""
    try:
        with db.session_scope() as s:
            s.add(Ec2ClientToken(project_id=project_id, token=token, request_digest=digest,
                                 reservation_id=reservation_id,
                                 created_at=datetime.now(timezone.utc)))
        return None
    except IntegrityError:
        pass
    with db.session_scope(readonly=True) as s:
        row = s.get(Ec2ClientToken, (project_id, token))
        if row is None:  # forgotten meanwhile (that launch was refused): a new request
            return claim(db, project_id, token, digest, reservation_id)
        if row.request_digest != digest:
            raise Ec2Error("IdempotentParameterMismatch", "Arguments on this idempotent "
                           f"request are inconsistent with arguments used in previous "
                           f"request(s): ClientToken '{token}' launched reservation "
                           f"{row.reservation_id} with other parameters")
        return row.reservation_id


def forget(db: Database, project_id: str, token: str) -> None:
    with db.session_scope() as s:
        s.execute(delete(Ec2ClientToken).where(Ec2ClientToken.project_id == project_id,
                                               Ec2ClientToken.token == token))


def tokens_of(s, project_id: str, reservation_ids: set[str]) -> dict[str, str]:
    """reservation id -> the client token that launched it."""
    if not reservation_ids:
        return {}
    return dict(s.execute(select(Ec2ClientToken.reservation_id, Ec2ClientToken.token).where(
        Ec2ClientToken.project_id == project_id,
        Ec2ClientToken.reservation_id.in_(reservation_ids))).all())
