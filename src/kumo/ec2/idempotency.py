"""RunInstances' ClientToken (EC2's idempotency, "Ensuring idempotency in Amazon EC2 API
requests"): a launch sent again with the same token and the same parameters -- a client
retrying after a timeout or a 5xx -- answers the reservation the first one made and launches
nothing more; the same token with other parameters is IdempotentParameterMismatch.

The token is recorded per project (an EC2 account) in ec2_client_tokens with a digest of the
request's parameters (all but the token and what every request carries: Action, Version,
DryRun, the signature's), the reservation id and the launch's journal entry (operation
``ec2-run``), all in one transaction before anything is launched. The entry is the launch's
lease, as every operation's (kumo.compute.lease): renewed while its controller lives,
``advance``d as each instance is recorded (so a controller that lost it stops), and finished
DONE with the reservation's instances in its payload, in one commit, before their builds
start. Of two requests with one token, the second finds the first's row (the primary key) and

* answers its reservation when its entry is done (the instances it launched, as they are now);
* waits while its entry is unfinished and its owner alive, up to ``IN_PROGRESS_WAIT``, then
  answers ``Unavailable`` (503): AWS's retry advice for idempotent requests is to retry a 5xx
  with the same token, and botocore does;
* recovers the entry when its owner died or its lease ran out (``kumo.compute.journal
  .recover_one``, the same recovery ``kumo serve`` runs on its own): the dead launch's
  recorded instances -- never answered to anyone, never built -- are withdrawn (record, claim,
  ports, tags) and the token forgotten, and the request launches as new. So a launch killed
  between recording the token and answering is neither lost (a retry launches it) nor doubled
  (its half-made instances are gone before the retry makes its own).

A launch refused after the token was recorded forgets it again (the entry rolled back), so a
corrected retry with the token is a new request (EC2 keeps no token of a request that failed).
Tokens are kept: EC2 holds them "at least 24 hours after the termination of the instance", and
a row is a few bytes.

Failpoints (test-only): ``ec2-run:after-token`` (token and entry committed, nothing recorded),
``ec2-run:after-instance`` (after each instance is recorded; ``@N`` for the N-th).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Delete, delete, select
from sqlalchemy.exc import IntegrityError

from kumo import logs
from kumo.compute import journal, lease
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.failpoints import failpoint
from kumo.db.models import UNFINISHED_STATES, Ec2ClientToken, Instance, JournalEntry, JournalState
from kumo.ec2.errors import Ec2Error, invalid
from kumo.ec2.query import COMMON, Params

log = logs.get(__name__)

MAX_TOKEN = 64
#: the journal operation of a launch with a client token
OPERATION = "ec2-run"
#: seconds a retry waits for a launch with its token that is still running (its controller
#: alive) before answering Unavailable; recording instances takes well under a second each
IN_PROGRESS_WAIT = 5.0


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


@dataclass(frozen=True)
class Claim:
    """What a request with a client token does: launch ``reservation`` under journal entry
    ``entry_id`` (its own new launch), or answer an earlier launch's reservation
    (``entry_id`` None; ``instances`` the uuids it launched, None for a token recorded before
    they were kept: all of the reservation's)."""

    reservation: str
    entry_id: int | None = None
    instances: list[str] | None = None


@dataclass(frozen=True)
class _Earlier:
    reservation: str
    digest: str
    entry_id: int | None
    state: str | None
    owner: str | None
    instances: list[str] | None
    entry: JournalEntry | None


def claim(env: ComputeEnv, ctx: RequestContext, token: str, digest: str,
          reservation: str) -> Claim:
    """Record ``token`` for a new launch of ``reservation``, or the earlier launch with it to
    answer (module docstring); IdempotentParameterMismatch if that launch had other
    parameters, Unavailable if it is still running after IN_PROGRESS_WAIT seconds."""
    deadline = time.monotonic() + IN_PROGRESS_WAIT
    while True:
        entry_id = _record(env, ctx, token, digest, reservation)
        if entry_id is not None:
            failpoint("ec2-run:after-token")
            return Claim(reservation, entry_id)
        earlier = _earlier(env, ctx.project_id, token)
        if earlier is None:  # forgotten meanwhile (that launch was refused): a new request
            continue
        if earlier.digest != digest:
            raise Ec2Error("IdempotentParameterMismatch", "Arguments on this idempotent "
                           f"request are inconsistent with arguments used in previous "
                           f"request(s): ClientToken '{token}' launched reservation "
                           f"{earlier.reservation} with other parameters")
        if earlier.entry_id is None or earlier.state == JournalState.DONE.value:
            return Claim(earlier.reservation, None, earlier.instances)
        if earlier.state not in UNFINISHED_STATES:  # failed, yet never forgotten: a new request
            _forget_row(env, ctx.project_id, token, earlier.entry_id)
            continue
        assert earlier.entry is not None
        if lease.orphaned(env, earlier.entry):
            log.warning("RunInstances with ClientToken %r: the launch of reservation %s was "
                        "left by %s; recovering it", token, earlier.reservation,
                        earlier.owner or "no owner", extra={"request_id": ctx.request_id})
            journal.recover_one(env, earlier.entry_id, earlier.owner)
            continue
        if time.monotonic() >= deadline:
            raise Ec2Error("Unavailable", f"The launch of reservation {earlier.reservation} "
                           f"with ClientToken '{token}' is still in progress: retry the "
                           "request with the same ClientToken", 503)
        time.sleep(0.1)


def _record(env: ComputeEnv, ctx: RequestContext, token: str, digest: str,
            reservation: str) -> int | None:
    """The token's row and its launch's journal entry, in one transaction; the entry's id, or
    None when the token has a row already."""
    try:
        with env.db.session_scope() as s:
            row = Ec2ClientToken(project_id=ctx.project_id, token=token,
                                 request_digest=digest, reservation_id=reservation,
                                 created_at=datetime.now(timezone.utc))
            s.add(row)
            s.flush()  # the primary key refuses a second row before anything is journaled
            entry = journal.begin(s, env, ctx, OPERATION, None, "launching", token=token,
                                  reservation=reservation, instances=[])
            row.journal_id = entry.id
            return entry.id
    except IntegrityError:
        return None


def _earlier(env: ComputeEnv, project_id: str, token: str) -> _Earlier | None:
    with env.db.session_scope(readonly=True) as s:
        row = s.get(Ec2ClientToken, (project_id, token))
        if row is None:
            return None
        entry = s.get(JournalEntry, row.journal_id) if row.journal_id is not None else None
        if entry is not None:
            s.expunge(entry)
        instances = entry.payload.get("instances") if entry is not None else None
        return _Earlier(row.reservation_id, row.request_digest, row.journal_id,
                        entry.state if entry else None, entry.owner if entry else None,
                        list(instances) if instances is not None else None, entry)


def recorded(env: ComputeEnv, entry_id: int, uuids: list[str]) -> None:
    """The launch recorded these instances so far: renews its lease; LeaseLost if another
    controller took the launch over (this one must withdraw what it recorded and stop)."""
    journal.advance(env, entry_id, "launching", instances=list(uuids))
    failpoint("ec2-run:after-instance")


def launched(env: ComputeEnv, entry_id: int, uuids: list[str]) -> None:
    """The launch is complete: its entry DONE with the reservation's instances, one commit
    (LeaseLost if another controller took it over)."""
    with env.db.session_scope() as s:
        journal.advance_in(s, env, entry_id, "launched", instances=list(uuids))
        journal.finish(s, entry_id, JournalState.DONE)


def forget(env: ComputeEnv, project_id: str, token: str, entry_id: int, error: str) -> None:
    """The launch was refused: its token forgotten and its entry rolled back -- unless another
    controller took the launch over meanwhile (then both are its business)."""
    with env.db.session_scope() as s:
        entry = s.get_one(JournalEntry, entry_id, with_for_update=True)
        if entry.owner != env.owner or entry.state not in UNFINISHED_STATES:
            return
        s.execute(_delete_token(project_id, token, entry_id))
        journal.finish(s, entry_id, JournalState.ROLLED_BACK, error)


def _forget_row(env: ComputeEnv, project_id: str, token: str, entry_id: int | None) -> None:
    with env.db.session_scope() as s:
        s.execute(_delete_token(project_id, token, entry_id))


def _delete_token(project_id: str, token: str, entry_id: int | None) -> Delete:
    """Forget the token's row only while it is still launch ``entry_id``'s: a retry may have
    recorded the token anew for a launch of its own meanwhile."""
    return delete(Ec2ClientToken).where(Ec2ClientToken.project_id == project_id,
                                        Ec2ClientToken.token == token,
                                        Ec2ClientToken.journal_id == entry_id)


def recover_launch(env: ComputeEnv, entry: JournalEntry) -> str:
    """A launch whose controller died before it answered (journal recovery of ``ec2-run``):
    the instances it recorded are withdrawn -- nobody was shown them, none was built (builds
    start only once the launch is DONE) -- and its token forgotten, so the client's retry with
    it launches the request anew. An instance whose own create entry another controller's
    recovery holds or already rolled back is deleted as any server (it ends terminated)."""
    from kumo.compute import servers
    from kumo.compute.context import admin_context

    token, reservation = entry.payload.get("token"), entry.payload.get("reservation")
    withdrawn, deleted = [], []
    for uuid, create in _leftovers(env, entry.project_id, reservation):
        if (create is not None and create.operation == "create" and create.step == "claimed"
                and lease.orphaned(env, create)
                and journal.take_over(env, create.id, create.owner)):
            servers.withdraw_unbuilt(env, uuid, create.id)
            withdrawn.append(uuid)
        else:
            servers.delete_server(env, admin_context(), uuid)
            deleted.append(uuid)
    reason = (f"RunInstances (ClientToken {token!r}, reservation {reservation}) was "
              "interrupted before it answered")
    with env.db.session_scope() as s:
        s.execute(_delete_token(entry.project_id, token, entry.id))
        journal.finish(s, entry.id, JournalState.ROLLED_BACK, reason)
    done = [f"{len(withdrawn)} recorded instance(s) withdrawn"]
    if deleted:
        done.append(f"{len(deleted)} deleted ({', '.join(deleted)})")
    return (f"{reason}: {', '.join(done)}; the token forgotten (a retry with it launches "
            "anew)")


def _leftovers(env: ComputeEnv, project_id: str | None,
               reservation: str | None) -> list[tuple[str, JournalEntry | None]]:
    """The reservation's live instances, each with its unfinished journal entry (or None)."""
    with env.db.session_scope(readonly=True) as s:
        uuids = list(s.scalars(select(Instance.uuid).where(
            Instance.project_id == project_id, Instance.reservation_id == reservation,
            Instance.deleted.is_(False)).order_by(Instance.id)))
        out = []
        for uuid in uuids:
            busy = s.scalars(select(JournalEntry).where(
                JournalEntry.instance_uuid == uuid,
                JournalEntry.state.in_(UNFINISHED_STATES)).order_by(JournalEntry.id)).first()
            if busy is not None:
                s.expunge(busy)
            out.append((uuid, busy))
        return out


def tokens_of(s, project_id: str, reservation_ids: set[str]) -> dict[str, str]:
    """reservation id -> the client token that launched it."""
    if not reservation_ids:
        return {}
    return dict(s.execute(select(Ec2ClientToken.reservation_id, Ec2ClientToken.token).where(
        Ec2ClientToken.project_id == project_id,
        Ec2ClientToken.reservation_id.in_(reservation_ids))).all())
