"""Compute v2.1 os-keypairs over kumo.compute.keypairs -- the functions ``kumo keypair`` calls.

What Nova answers at each microversion (Compute API reference, "Keypairs (keypairs)",
https://docs.openstack.org/api-ref/compute/#keypairs-keypairs):

    2.1   create/import answers 200, delete 202; no ``type`` field
    2.2   ``type`` (ssh | x509) in the body and in every answer; create answers 201, delete 204
    2.10  ``user_id`` in the create body and ``?user_id=`` on list/show/delete: an admin acts on
          another user's key pairs (a member asking for another user: 403)
    2.35  ``?limit=`` and ``?marker=`` (a key pair name) page the list, with ``keypairs_links``
          to the next page when a page is full
    2.92  create no longer generates: ``public_key`` is required (openstackclient generates the
          key itself and imports it); names may also hold ``@`` and ``.``

kumo keeps one name rule at every version (Nova 2.92's, kumo.compute.keypairs), and only
``ssh`` keys (x509 is refused: 400). A generated key's private half is in the create answer
only; it is never stored.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from kumo.api.auth import context, env_of
from kumo.api.routers.compute import api_version, microversion
from kumo.compute import keypairs as service
from kumo.compute.context import RequestContext
from kumo.compute.keypairs import KeyPairInfo
from kumo.errors import InvalidInput

router = APIRouter(prefix="/compute/v2.1", tags=["compute"],
                   dependencies=[Depends(microversion)])


class KeyPairBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=255)
    public_key: str | None = Field(None, max_length=16 * 1024)
    type: str | None = Field(None, max_length=16)
    user_id: str | None = Field(None, min_length=1, max_length=255)


class KeyPairCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keypair: KeyPairBody


def _shape(info: KeyPairInfo, request: Request, *, detail: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": info.name, "public_key": info.public_key,
                           "fingerprint": info.fingerprint}
    if api_version(request) >= (2, 2):
        out["type"] = info.type
    if detail:
        created = info.created_at.isoformat() if info.created_at else None
        out.update({"user_id": info.user_id, "id": info.id, "created_at": created,
                    "updated_at": None, "deleted": False, "deleted_at": None})
    return out


def _user(request: Request, given: str | None) -> str | None:
    """``user_id`` (body or query) from 2.10 on; earlier it is not part of the API."""
    if given is not None and api_version(request) < (2, 10):
        raise InvalidInput("user_id is allowed from microversion 2.10 on")
    return given


@router.get("/os-keypairs")
def list_keypairs(request: Request, ctx: RequestContext = Depends(context),
                  user_id: str | None = Query(None, max_length=255),
                  limit: int | None = Query(None, ge=0, le=10_000),
                  marker: str | None = Query(None, max_length=255)) -> dict:
    paged = api_version(request) >= (2, 35)
    if not paged:  # earlier versions had no paging: the parameters are ignored, as in Nova
        limit = marker = None
    rows = service.list_key_pairs(env_of(request), ctx, user_id=_user(request, user_id),
                                  limit=limit, marker=marker)
    out: dict[str, Any] = {"keypairs": [{"keypair": _shape(r, request, detail=False)}
                                        for r in rows]}
    if paged and limit and len(rows) == limit:
        base = str(request.base_url).rstrip("/")
        query = urlencode({"limit": limit, "marker": rows[-1].name,
                           **({"user_id": user_id} if user_id else {})})
        out["keypairs_links"] = [{"rel": "next",
                                  "href": f"{base}/compute/v2.1/os-keypairs?{query}"}]
    return out


@router.get("/os-keypairs/{name}")
def show_keypair(name: str, request: Request, ctx: RequestContext = Depends(context),
                 user_id: str | None = Query(None, max_length=255)) -> dict:
    info = service.show_key_pair(env_of(request), ctx, name, user_id=_user(request, user_id))
    return {"keypair": _shape(info, request, detail=True)}


@router.post("/os-keypairs")
def create_keypair(body: KeyPairCreate, request: Request, response: Response,
                   ctx: RequestContext = Depends(context)) -> dict:
    k, env, version = body.keypair, env_of(request), api_version(request)
    if k.type is not None and version < (2, 2):
        raise InvalidInput("keypair.type is allowed from microversion 2.2 on")
    user_id = _user(request, k.user_id)
    key_type = k.type or "ssh"
    response.status_code = 201 if version >= (2, 2) else 200
    if k.public_key is None:
        if version >= (2, 92):
            raise InvalidInput("keypair.public_key is required from microversion 2.92 on: "
                               "kumo no longer generates key pairs (generate one with "
                               "ssh-keygen, or ask for an older microversion)")
        # an RSA key, as Nova generated (clients of the old API may expect one)
        created = service.create_key_pair(env, ctx, k.name, kind="rsa", user_id=user_id,
                                          key_type=key_type)
        shaped = _shape(created.keypair, request, detail=False)
        return {"keypair": {**shaped, "user_id": created.keypair.user_id,
                            "private_key": created.private_key}}
    info = service.import_key_pair(env, ctx, k.name, k.public_key, user_id=user_id,
                                   key_type=key_type)
    return {"keypair": {**_shape(info, request, detail=False), "user_id": info.user_id}}


@router.delete("/os-keypairs/{name}")
def delete_keypair(name: str, request: Request, ctx: RequestContext = Depends(context),
                   user_id: str | None = Query(None, max_length=255)) -> Response:
    service.delete_key_pair(env_of(request), ctx, name, user_id=_user(request, user_id))
    return Response(status_code=204 if api_version(request) >= (2, 2) else 202)
