"""Server events (Nova's instance actions): what was done to a server, by which request, and how
it ended -- read from the journal (kumo.compute.journal), which records every operation before
it acts, with the request id of the command or API call that asked for it.

One journal row is one action; its ``step`` is the last step it reached and its ``payload`` what
recovery needed (volume names, a soft reboot's fallback to hard, ...), shown by ``event show``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.lookup import find_server
from kumo.db.models import JournalEntry
from kumo.errors import NotFound


def event_view(entry: JournalEntry, server_id: str) -> dict[str, Any]:
    return {"request_id": entry.request_id, "server_id": server_id, "action": entry.operation,
            "state": entry.state, "step": entry.step, "error": entry.error,
            "start_time": entry.created_at.isoformat() if entry.created_at else None,
            "updated_time": entry.updated_at.isoformat() if entry.updated_at else None,
            "user_id": entry.user_id, "project_id": entry.project_id,
            "details": dict(entry.payload or {})}


def list_events(env: ComputeEnv, ctx: RequestContext, ref: str) -> list[dict[str, Any]]:
    """The server's actions, newest first (as `openstack server event list` orders them)."""
    with env.db.session_scope(readonly=True) as s:
        uuid = find_server(s, ctx, ref).uuid
        rows = s.scalars(select(JournalEntry).where(JournalEntry.instance_uuid == uuid)
                         .order_by(JournalEntry.id.desc()))
        return [event_view(e, uuid) for e in rows]


def show_event(env: ComputeEnv, ctx: RequestContext, ref: str,
               request_id: str) -> dict[str, Any]:
    """The server's action with ``request_id`` (the latest, if one request did several)."""
    with env.db.session_scope(readonly=True) as s:
        uuid = find_server(s, ctx, ref).uuid
        entry = s.scalars(select(JournalEntry).where(JournalEntry.instance_uuid == uuid,
                                                     JournalEntry.request_id == request_id)
                          .order_by(JournalEntry.id.desc()).limit(1)).first()
        if entry is None:
            raise NotFound(f"server {ref!r} has no event with request id {request_id!r}: "
                           f"`kumo server event list {ref}` lists them")
        return event_view(entry, uuid)
