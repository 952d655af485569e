"""Compute v2.1 os-instance-actions: a server's actions, read from the journal through
kumo.compute.events (what ``kumo server event list|show`` prints).

One journal entry is one action and carries one event (``compute_<operation>``) whose result is
the entry's state. As in Nova's default policy, a project's members and readers list and show
their servers' actions; the event's host and its details (the error or what recovery recorded,
which may name hosts and volumes) are an admin's, everyone gets ``hostId`` (2.62).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from kumo.api.auth import context, env_of
from kumo.api.routers.compute import microversion, paged
from kumo.api.routers.servers import _by_id
from kumo.compute import events
from kumo.compute.context import RequestContext
from kumo.compute.states import host_id_hash

router = APIRouter(prefix="/compute/v2.1/servers/{server_id}/os-instance-actions",
                   tags=["compute"], dependencies=[Depends(microversion)])

#: journal state -> Nova's event result (None: not finished)
_RESULT = {"done": "Success", "failed": "Error", "rolled-back": "Error"}


def nova_action(event: dict[str, Any], project_id: str) -> dict[str, Any]:
    """Nova's instance action of a journal entry: ``user_id``/``project_id`` the requester's,
    as the journal recorded them (an entry older than that record: the user its payload
    names, the server's project; an action kumo took on its own: null, as Nova's periodic
    tasks record none)."""
    details = event["details"]
    recorded = event["user_id"] is not None
    return {"action": event["action"], "instance_uuid": event["server_id"],
            "request_id": event["request_id"],
            "user_id": event["user_id"] if recorded else details.get("by"),
            "project_id": event["project_id"] if recorded else
            (project_id if details.get("by") else None),
            "start_time": event["start_time"],
            "updated_at": event["updated_time"],
            "message": "Error" if _RESULT.get(event["state"]) == "Error" else None}


def nova_event(event: dict[str, Any], project_id: str, ctx: RequestContext) -> dict[str, Any]:
    details = event["details"]
    result = _RESULT.get(event["state"])
    host = details.get("host") or details.get("target") or details.get("source")
    out = {"event": f"compute_{event['action'].replace('-', '_')}",
           "start_time": event["start_time"],
           "finish_time": event["updated_time"] if result else None, "result": result,
           "hostId": host_id_hash(project_id, host if isinstance(host, str) else None)}
    if ctx.is_admin:
        out.update({"host": host if isinstance(host, str) else None,
                    "traceback": event["error"],
                    "details": event["error"] or details.get("message")})
    return out


@router.get("")
def list_actions(server_id: str, request: Request,
                 ctx: RequestContext = Depends(context)) -> dict:
    server = _by_id(request, ctx, server_id)
    rows = events.list_events(env_of(request), ctx, server["id"])
    return {"instanceActions": [nova_action(r, server["project_id"])
                                for r in paged(request, rows, "request_id", "action of this server")]}


@router.get("/{request_id}")
def show_action(server_id: str, request_id: str, request: Request,
                ctx: RequestContext = Depends(context)) -> dict:
    server = _by_id(request, ctx, server_id)
    event = events.show_event(env_of(request), ctx, server["id"], request_id)
    return {"instanceAction": {**nova_action(event, server["project_id"]),
                               "events": [nova_event(event, server["project_id"], ctx)]}}
