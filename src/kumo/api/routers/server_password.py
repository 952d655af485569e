"""Compute v2.1 os-server-password: a Windows server's admin password, encrypted for its RSA key
pair (kumo.compute.passwords), as ``nova get-password SERVER KEYFILE`` reads it (GET, the
client decrypts it with ``openssl rsautl -decrypt``) and ``nova clear-password`` forgets it
(DELETE, 204: only kumo's copy is dropped, the guest's password stays). As in Nova's default
policy, a project's readers may read it, members clear it (kumo.api.auth)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from kumo.api.auth import context, env_of
from kumo.api.routers.compute import microversion
from kumo.api.routers.servers import _by_id
from kumo.compute import passwords
from kumo.compute.context import RequestContext

router = APIRouter(prefix="/compute/v2.1/servers/{server_id}/os-server-password",
                   tags=["compute"], dependencies=[Depends(microversion)])


@router.get("")
def show(server_id: str, request: Request, ctx: RequestContext = Depends(context)) -> dict:
    _by_id(request, ctx, server_id)
    return {"password": passwords.encrypted_password(env_of(request), ctx, server_id)}


@router.delete("", status_code=204)
def clear(server_id: str, request: Request, ctx: RequestContext = Depends(context)) -> Response:
    _by_id(request, ctx, server_id)
    passwords.clear_encrypted_password(env_of(request), ctx, server_id)
    return Response(status_code=204)
