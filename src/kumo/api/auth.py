"""Who is asking: the ``X-Auth-Token`` header, validated against the Identity service, as a
RequestContext (kumo.compute.context) -- the same context the CLI builds, so the service layer
applies one set of rules (tenancy, admin-only actions) to both.

A reader (a token whose roles are only ``reader``) may read and change nothing: every request
but GET and HEAD is refused here, for every router, before any service function runs (Nova's,
Glance's and Keystone's default "project reader" persona). The one exception is ``own_context``:
revoking one's own token, which Keystone allows every user.
"""

from __future__ import annotations

from fastapi import Request

from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.errors import Unauthorized
from kumo.identity import service as identity

#: methods that change nothing (RFC 9110 safe methods)
READ_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))


def env_of(request: Request) -> ComputeEnv:
    return request.app.state.controller.env


def own_context(request: Request) -> RequestContext:
    """FastAPI dependency: the caller's context, or 401 -- whatever its roles."""
    token = request.headers.get("x-auth-token", "")
    if not token:
        raise Unauthorized(identity.UNAUTHORIZED + " (no X-Auth-Token header)")
    issued = identity.validate_token(env_of(request).db, token)
    req_id = request.headers.get("x-openstack-request-id")
    ctx = issued.context()
    if req_id and req_id.startswith("req-") and len(req_id) <= 64:
        ctx = RequestContext(ctx.user_id, ctx.project_id, ctx.roles, request_id=req_id)
    return ctx


def context(request: Request) -> RequestContext:
    """FastAPI dependency: the caller's context, or 401; 403 for a change asked by a reader."""
    ctx = own_context(request)
    if request.method not in READ_METHODS:
        ctx.require_change(f"{request.method} {request.url.path}")
    return ctx
