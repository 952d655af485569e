"""Compute v2.1 consoles over kumo.compute.consoles -- what ``kumo server console log|url``
prints, as the OpenStack clients ask for it:

    os-getConsoleOutput   server action, ``{"length": N}`` (the last N lines; absent or -1:
                          all that is kept): 200 ``{"output": ...}``, with the control
                          characters Nova strips removed (``openstack console log show``)
    os-getVNCConsole      server action, ``{"type": "novnc"|"xvpvnc"}``: 200 ``{"console":
                          {"type", "url"}}`` (before microversion 2.6)
    remote-consoles       ``POST /servers/{id}/remote-consoles`` from 2.6 on (what
                          ``openstack console url show`` asks at its negotiated version):
                          ``{"remote_console": {"protocol": "vnc", "type": "novnc"}}`` ->
                          200 with its ``url``

The URL. Nova answers a noVNC proxy's URL carrying a one-time token; kumo runs no proxy: a
guest's display is a VNC server on its host behind the guest's own password (kumo.compute.
consoles). So the URL is the display's RFC 7869 ``vnc://HOST:PORT`` URI with that password as
its ``VncPassword`` parameter -- what a VNC viewer opens, and, like Nova's token, a credential
for whoever may ask (the server's project members; a reader may not: Nova's default policy
for consoles is member). SPICE, RDP, serial (websocket) and WebMKS consoles do not exist in a
kumo guest: 400 saying what does.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from kumo.api.auth import context, env_of
from kumo.api.routers.compute import api_version, microversion
from kumo.compute import consoles
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.errors import InvalidInput, NotFound

#: what Nova strips from console output (nova/api/openstack/compute/console_output.py): C0
#: control characters but tab, newline -- which JSON could carry, but clients print raw
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f]")
#: a kumo guest's consoles (the VNC display; the serial log is os-getConsoleOutput)
VNC_TYPES = ("novnc", "xvpvnc")
_NO_SUCH = ("a kumo guest has a VNC display (protocol vnc, type novnc or xvpvnc) and a serial "
            "console whose output os-getConsoleOutput answers")


class ConsoleOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Nova's schema: an integer or a string of one, -1 or more
    length: int | str | None = None


class VncConsole(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(..., max_length=64)


class RemoteConsoleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    protocol: str = Field(..., max_length=64)
    type: str = Field(..., max_length=64)


class RemoteConsole(BaseModel):
    model_config = ConfigDict(extra="forbid")

    remote_console: RemoteConsoleBody


def _lines(length: int | str | None) -> int | None:
    """The number of lines asked (None: all)."""
    if length is None:
        return None
    if isinstance(length, str):
        if not re.fullmatch(r"-?[0-9]{1,9}", length):
            raise InvalidInput(f"length {length[:20]!r} is invalid: allowed an integer, -1 "
                               "(all) or more")
        length = int(length)
    if length < -1:
        raise InvalidInput(f"length {length} is invalid: allowed an integer, -1 (all) or more")
    return None if length == -1 else length


def console_output(env: ComputeEnv, ctx: RequestContext, server_id: str,
                   body: ConsoleOutput) -> JSONResponse:
    lines = _lines(body.length)
    text = "" if lines == 0 else consoles.console_log(env, ctx, server_id, lines)
    return JSONResponse({"output": _CONTROL.sub("", text)})


def _vnc_url(env: ComputeEnv, ctx: RequestContext, server_id: str, kind: str,
             protocol: str = "vnc") -> str:
    if protocol != "vnc" or kind not in VNC_TYPES:
        raise InvalidInput(f"console protocol {protocol!r} type {kind!r} is not available: "
                           f"{_NO_SUCH}")
    d = consoles.display(env, ctx, server_id)
    return d.url + (f"?VncPassword={quote(d.password, safe='')}" if d.password else "")


def vnc_console(env: ComputeEnv, ctx: RequestContext, server_id: str,
                body: VncConsole) -> JSONResponse:
    return JSONResponse({"console": {"type": body.type,
                                     "url": _vnc_url(env, ctx, server_id, body.type)}})


router = APIRouter(prefix="/compute/v2.1/servers/{server_id}/remote-consoles",
                   tags=["compute"], dependencies=[Depends(microversion)])


@router.post("")
def remote_console(server_id: str, body: RemoteConsole, request: Request,
                   ctx: RequestContext = Depends(context)) -> dict:
    if api_version(request) < (2, 6):  # as Nova: the resource exists from 2.6 on
        raise NotFound("remote-consoles needs microversion 2.6 or later (before it: the "
                       "os-getVNCConsole server action)")
    from kumo.api.routers.servers import _by_id  # servers imports this module

    _by_id(request, ctx, server_id)
    c = body.remote_console
    url = _vnc_url(env_of(request), ctx, server_id, c.type, c.protocol)
    return {"remote_console": {"protocol": c.protocol, "type": c.type, "url": url}}
