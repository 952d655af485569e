"""Who is asking: the ``X-Auth-Token`` header, validated against the Identity service, as a
RequestContext (kumo.compute.context) -- the same context the CLI builds, so the service layer
applies one set of rules (tenancy, admin-only actions) to both."""

from __future__ import annotations

from fastapi import Request

from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.errors import Unauthorized
from kumo.identity import service as identity


def env_of(request: Request) -> ComputeEnv:
    return request.app.state.controller.env


def context(request: Request) -> RequestContext:
    """FastAPI dependency: the caller's context, or 401."""
    token = request.headers.get("x-auth-token", "")
    if not token:
        raise Unauthorized(identity.UNAUTHORIZED + " (no X-Auth-Token header)")
    issued = identity.validate_token(env_of(request).db, token)
    req_id = request.headers.get("x-openstack-request-id")
    ctx = issued.context()
    if req_id and req_id.startswith("req-") and len(req_id) <= 64:
        ctx = RequestContext(ctx.user_id, ctx.project_id, ctx.roles, request_id=req_id)
    return ctx
