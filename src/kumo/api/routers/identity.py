"""Identity v3 (``/identity``): version discovery and tokens, as the OpenStack clients use them.

Only the Default domain exists (domain names and ids in requests are accepted and ignored);
scope is a project. The catalog points at this same server: ``/identity``, ``/image``
(unversioned: glanceclient discovers the version itself) and ``/compute/v2.1`` (versioned:
novaclient needs it so).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from kumo.api.auth import context, env_of, own_context
from kumo.compute.context import RequestContext
from kumo.errors import InvalidInput, Unauthorized
from kumo.identity import service as identity

router = APIRouter(prefix="/identity", tags=["identity"])

DOMAIN = {"id": "default", "name": "Default"}
REGION = "RegionOne"


# --- request bodies (Keystone v3 POST /auth/tokens) ----------------------------------------------

class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Named(_Lenient):
    id: str | None = Field(None, max_length=64)
    name: str | None = Field(None, max_length=255)


class PasswordUser(Named):
    password: str = Field(..., max_length=identity.PASSWORD_MAX)
    domain: Named | None = None


class PasswordMethod(_Lenient):
    user: PasswordUser


class TokenMethod(_Lenient):
    id: str = Field(..., max_length=255)


class Identity(_Lenient):
    methods: list[str] = Field(..., min_length=1, max_length=2)
    password: PasswordMethod | None = None
    token: TokenMethod | None = None


class ProjectScope(Named):
    domain: Named | None = None


class Scope(_Lenient):
    project: ProjectScope | None = None


class Auth(_Lenient):
    identity: Identity
    scope: Scope | None = None


class AuthRequest(_Lenient):
    auth: Auth


# --- discovery -----------------------------------------------------------------------------------

def _v3(request: Request) -> dict:
    return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.identity-v3+json"}],
            "links": [{"rel": "self", "href": f"{base_url(request)}/identity/v3/"}]}


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("")
@router.get("/")
def versions(request: Request) -> JSONResponse:
    # 300 Multiple Choices, as Keystone answers its root (keystoneauth accepts 200 or 300)
    return JSONResponse({"versions": {"values": [_v3(request)]}}, status_code=300)


@router.get("/v3")
@router.get("/v3/")
def version(request: Request) -> dict:
    return {"version": _v3(request)}


# --- tokens --------------------------------------------------------------------------------------

@router.post("/v3/auth/tokens", status_code=201)
def issue(body: AuthRequest, request: Request, response: Response) -> dict:
    db, settings = env_of(request).db, env_of(request).settings
    ident, scope = body.auth.identity, body.auth.scope
    project = scope.project if scope else None
    pid, pname = (project.id, project.name) if project else (None, None)
    if "password" in ident.methods:
        if ident.password is None:
            raise InvalidInput("auth.identity.password is required with method 'password'")
        user = ident.password.user
        if user.name is None and user.id is None:
            raise InvalidInput("auth.identity.password.user needs a name or an id")
        issued = identity.issue_password_token(
            db, user.name or "", user.password, pid, pname, settings.token_expiration,
            user_id=user.id)
    elif "token" in ident.methods:
        if ident.token is None:
            raise InvalidInput("auth.identity.token is required with method 'token'")
        issued = identity.issue_token_from_token(db, ident.token.id, pid, pname)
    else:
        raise InvalidInput(f"auth methods {ident.methods!r} are not supported: allowed "
                           "password, token")
    response.headers["X-Subject-Token"] = issued.token
    return token_body(request, issued, ident.methods)


@router.get("/v3/auth/tokens")
def check(request: Request, ctx: RequestContext = Depends(context)) -> dict:
    """Validate the token in X-Subject-Token (any valid token may validate itself; an admin
    any token)."""
    subject = request.headers.get("x-subject-token", "")
    issued = identity.validate_token(env_of(request).db, subject)
    if not ctx.is_admin and issued.user_id != ctx.user_id:
        raise Unauthorized(identity.UNAUTHORIZED)
    return token_body(request, issued, ["token"])


@router.delete("/v3/auth/tokens", status_code=204)
def revoke(request: Request, ctx: RequestContext = Depends(own_context)) -> Response:
    subject = request.headers.get("x-subject-token", "")
    db = env_of(request).db
    issued = identity.validate_token(db, subject)
    if not ctx.is_admin and issued.user_id != ctx.user_id:
        raise Unauthorized(identity.UNAUTHORIZED)
    identity.revoke_token(db, subject)
    return Response(status_code=204)


def _time(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def catalog(request: Request) -> list[dict]:
    base = base_url(request)

    def entry(kind: str, name: str, path: str) -> dict:
        return {"type": kind, "name": name, "id": kind,
                "endpoints": [{"id": f"{kind}-{iface}", "interface": iface, "region": REGION,
                               "region_id": REGION, "url": f"{base}{path}"}
                              for iface in ("public", "internal", "admin")]}

    return [entry("identity", "keystone", "/identity"), entry("image", "glance", "/image"),
            entry("compute", "nova", "/compute/v2.1"), entry("kumo", "kumo", "/kumo/v1"),
            entry("network", "neutron", "/network")]


def token_body(request: Request, t: identity.IssuedToken, methods: list[str]) -> dict:
    return {"token": {
        "methods": methods, "audit_ids": [t.audit_id],
        "issued_at": _time(t.issued_at), "expires_at": _time(t.expires_at),
        "user": {"id": t.user_id, "name": t.user_name, "domain": DOMAIN,
                 "password_expires_at": None},
        "project": {"id": t.project_id, "name": t.project_name, "domain": DOMAIN},
        "is_domain": False,
        "roles": [{"id": r, "name": r} for r in t.roles],
        "catalog": catalog(request),
    }}
