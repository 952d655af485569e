"""Compute v2.1 os-aggregates over kumo.compute.aggregates (admin-only, as Nova's default policy).

An aggregate is addressed by its id (an integer) or uuid; a name is 404, as Nova answers, and
the clients then find it in the list. Actions: add_host, remove_host, set_metadata.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from kumo.api.auth import context, env_of
from kumo.api.routers.compute import microversion
from kumo.compute import aggregates as service
from kumo.compute.context import RequestContext
from kumo.errors import InvalidInput, NotFound

router = APIRouter(prefix="/compute/v2.1/os-aggregates", tags=["compute"],
                   dependencies=[Depends(microversion)])


def nova_aggregate(view: dict[str, Any]) -> dict[str, Any]:
    return {**view, "deleted": False, "deleted_at": None}


def _by_id(request: Request, ctx: RequestContext, aggregate_id: str) -> dict[str, Any]:
    view = service.show_aggregate(env_of(request), ctx, aggregate_id)
    if aggregate_id not in (str(view["id"]), view["uuid"]):
        raise NotFound(f"Aggregate {aggregate_id} could not be found.")
    return view


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AggregateFields(_Strict):
    name: str | None = Field(None, min_length=1, max_length=255)
    availability_zone: str | None = Field(None, max_length=255)


class AggregateCreateFields(AggregateFields):
    name: str = Field(..., min_length=1, max_length=255)


class AggregateCreate(_Strict):
    aggregate: AggregateCreateFields


class AggregateUpdate(_Strict):
    aggregate: AggregateFields


class HostRef(_Strict):
    host: str = Field(..., min_length=1, max_length=255)


class Metadata(_Strict):
    metadata: dict[str, str | None] = Field(..., max_length=128)


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid")

    add_host: HostRef | None = None
    remove_host: HostRef | None = None
    set_metadata: Metadata | None = None


@router.get("")
def list_aggregates(request: Request, ctx: RequestContext = Depends(context)) -> dict:
    return {"aggregates": [nova_aggregate(v)
                           for v in service.list_aggregates(env_of(request), ctx)]}


@router.post("")
def create_aggregate(body: AggregateCreate, request: Request,
                     ctx: RequestContext = Depends(context)) -> dict:
    a = body.aggregate
    return {"aggregate": nova_aggregate(service.create_aggregate(
        env_of(request), ctx, a.name, a.availability_zone))}


@router.get("/{aggregate_id}")
def show_aggregate(aggregate_id: str, request: Request,
                   ctx: RequestContext = Depends(context)) -> dict:
    return {"aggregate": nova_aggregate(_by_id(request, ctx, aggregate_id))}


@router.put("/{aggregate_id}")
def update_aggregate(aggregate_id: str, body: AggregateUpdate, request: Request,
                     ctx: RequestContext = Depends(context)) -> dict:
    view = _by_id(request, ctx, aggregate_id)
    a = body.aggregate
    return {"aggregate": nova_aggregate(service.update_aggregate(
        env_of(request), ctx, view["id"], name=a.name, availability_zone=a.availability_zone))}


@router.delete("/{aggregate_id}")
def delete_aggregate(aggregate_id: str, request: Request,
                     ctx: RequestContext = Depends(context)) -> Response:
    view = _by_id(request, ctx, aggregate_id)
    service.delete_aggregate(env_of(request), ctx, view["id"])
    return Response(status_code=200)


@router.post("/{aggregate_id}/action")
def aggregate_action(aggregate_id: str, body: Action, request: Request,
                     ctx: RequestContext = Depends(context)) -> dict:
    given = body.model_fields_set
    name = next(iter(given)) if len(given) == 1 else None
    if name is None or getattr(body, name) is None:
        raise InvalidInput("the body must name exactly one action, with its arguments: "
                           "allowed add_host, remove_host, set_metadata")
    view = _by_id(request, ctx, aggregate_id)
    env, agg = env_of(request), view["id"]
    if body.add_host is not None:
        out = service.add_host(env, ctx, agg, body.add_host.host)
    elif body.remove_host is not None:
        out = service.remove_host(env, ctx, agg, body.remove_host.host)
    else:
        assert body.set_metadata is not None
        out = service.set_metadata(env, ctx, agg, body.set_metadata.metadata)
    return {"aggregate": nova_aggregate(out)}
