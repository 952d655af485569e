"""Compute v2.1 (``/compute/v2.1``): Nova's version document, microversions, and flavors.

Microversions: kumo advertises 2.1 to 2.95 and always answers in the latest shapes (uuids,
embedded flavors), which every client accepts whatever it asked for. The version asked is read
from ``OpenStack-API-Version: compute X.Y`` or, as novaclient sends below 2.27 only that,
``X-OpenStack-Nova-API-Version: X.Y``; one outside the range is 406, as Nova answers.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from kumo.api.auth import context, env_of
from kumo.compute import flavors as flavor_service
from kumo.compute.context import RequestContext
from kumo.errors import InvalidInput, NotFound

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 95)
_VERSION = re.compile(r"^\s*(\d+)\.(\d+)\s*$")


def requested_version(request: Request) -> tuple[int, int] | str | None:
    """The microversion the request asks for: a (major, minor), "latest", or None (2.1)."""
    value = None
    header = request.headers.get("openstack-api-version", "")
    for part in header.split(","):
        service, _, version = part.strip().partition(" ")
        if service.lower() == "compute":
            value = version.strip()
    if value is None:
        value = request.headers.get("x-openstack-nova-api-version")
    if value is None:
        return None
    if value.lower() == "latest":
        return "latest"
    m = _VERSION.match(value)
    if not m:
        return value  # refused by the dependency below
    return int(m.group(1)), int(m.group(2))


def api_version(request: Request) -> tuple[int, int]:
    """The microversion this request is answered at: the one asked, "latest" the maximum, none
    2.1 (as Nova). Call only behind the ``microversion`` dependency (it refuses the rest)."""
    v = requested_version(request)
    if v is None:
        return MIN_VERSION
    if v == "latest" or isinstance(v, str):
        return MAX_VERSION
    return v


def paged(request: Request, rows: list[dict], key: str, what: str) -> list[dict]:
    """``rows`` after the one whose ``key`` is the ``marker`` query parameter, at most
    ``limit`` of them (Nova's paging); a marker that names no row, or a limit that is no
    integer, is 400."""
    marker, limit = request.query_params.get("marker"), request.query_params.get("limit")
    if marker is not None:
        keys = [r[key] for r in rows]
        if marker not in keys:
            raise InvalidInput(f"marker {marker!r} is invalid: no {what} has this {key}")
        rows = rows[keys.index(marker) + 1:]
    if limit is not None:
        if not limit.isdigit():
            raise InvalidInput(f"limit={limit!r} is invalid: allowed an integer >= 0")
        rows = rows[:int(limit)]
    return rows


async def microversion(request: Request) -> None:
    v = requested_version(request)
    if isinstance(v, str) and v != "latest" or isinstance(v, tuple) and not (
            MIN_VERSION <= v <= MAX_VERSION):
        shown = v if isinstance(v, str) else f"{v[0]}.{v[1]}"
        raise _NotAcceptable(f"Version {shown} is not supported by the API. Minimum is "
                             f"{MIN_VERSION[0]}.{MIN_VERSION[1]} and maximum is "
                             f"{MAX_VERSION[0]}.{MAX_VERSION[1]}.")


class _NotAcceptable(InvalidInput):
    status = 406


router = APIRouter(prefix="/compute/v2.1", tags=["compute"], dependencies=[Depends(microversion)])


def _version_doc(request: Request) -> dict:
    base = str(request.base_url).rstrip("/")
    return {"id": "v2.1", "status": "CURRENT", "updated": "2013-07-23T11:33:21Z",
            "version": f"{MAX_VERSION[0]}.{MAX_VERSION[1]}",
            "min_version": f"{MIN_VERSION[0]}.{MIN_VERSION[1]}",
            "links": [{"rel": "self", "href": f"{base}/compute/v2.1/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.compute+json;version=2.1"}]}


@router.get("")
@router.get("/")
def version(request: Request) -> dict:
    return {"version": _version_doc(request)}


# --- flavors -------------------------------------------------------------------------------------

def nova_flavor(view: dict, request: Request) -> dict:
    base = str(request.base_url).rstrip("/")
    return {"id": view["id"], "name": view["name"], "vcpus": view["vcpus"], "ram": view["ram"],
            "disk": view["disk"], "swap": 0, "rxtx_factor": 1.0,
            "OS-FLV-EXT-DATA:ephemeral": view["ephemeral"], "OS-FLV-DISABLED:disabled": False,
            "os-flavor-access:is_public": view["is_public"],
            "description": view.get("description"), "extra_specs": view["extra_specs"],
            "links": [{"rel": "self",
                       "href": f"{base}/compute/v2.1/flavors/{view['id']}"}]}


def _flavor_by_id(request: Request, ctx: RequestContext, flavor_id: str) -> dict:
    """The flavor with exactly this id (a name is 404: the clients fall back to a list)."""
    view = flavor_service.show_flavor(env_of(request), ctx, flavor_id)
    if view["id"] != flavor_id:
        raise NotFound(f"Flavor {flavor_id} could not be found.")
    return view


@router.get("/flavors/detail")
@router.get("/flavors")
def list_flavors(request: Request, ctx: RequestContext = Depends(context)) -> dict:
    rows = flavor_service.list_flavors(env_of(request), ctx)
    detail = request.url.path.rstrip("/").endswith("/detail")
    flavors = [nova_flavor(r, request) for r in rows]
    if not detail:
        flavors = [{k: f[k] for k in ("id", "name", "description", "links")} for f in flavors]
    return {"flavors": flavors}


@router.get("/flavors/{flavor_id}")
def show_flavor(flavor_id: str, request: Request, ctx: RequestContext = Depends(context)) -> dict:
    return {"flavor": nova_flavor(_flavor_by_id(request, ctx, flavor_id), request)}


@router.get("/flavors/{flavor_id}/os-extra_specs")
def flavor_extra_specs(flavor_id: str, request: Request,
                       ctx: RequestContext = Depends(context)) -> dict:
    return {"extra_specs": _flavor_by_id(request, ctx, flavor_id)["extra_specs"]}


class FlavorBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(..., min_length=1, max_length=255)
    ram: int = Field(..., ge=1, le=2**31)
    vcpus: int = Field(..., ge=1, le=4096)
    disk: int = Field(0, ge=0, le=2**31)
    id: str | None = Field(None, max_length=255)
    swap: int | str = Field(0)
    ephemeral: int = Field(0, ge=0, le=2**31, alias="OS-FLV-EXT-DATA:ephemeral")
    is_public: bool = Field(True, alias="os-flavor-access:is_public")
    rxtx_factor: float = Field(1.0, ge=0)
    description: str | None = Field(None, max_length=65535)


class FlavorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flavor: FlavorBody


@router.post("/flavors")
def create_flavor(body: FlavorCreate, request: Request,
                  ctx: RequestContext = Depends(context)) -> dict:
    f = body.flavor
    if f.swap not in (0, ""):
        raise InvalidInput(f"swap={f.swap!r} is invalid: kumo flavors have no swap disk "
                           "(allowed 0)")
    view = flavor_service.create_flavor(
        env_of(request), ctx, f.name, vcpus=f.vcpus, ram_mib=f.ram, disk_gib=f.disk,
        ephemeral_gib=f.ephemeral, flavorid=f.id, is_public=f.is_public,
        description=f.description)
    return {"flavor": nova_flavor(view, request)}


@router.delete("/flavors/{flavor_id}", status_code=202)
def delete_flavor(flavor_id: str, request: Request,
                  ctx: RequestContext = Depends(context)) -> Response:
    _flavor_by_id(request, ctx, flavor_id)
    flavor_service.delete_flavor(env_of(request), ctx, flavor_id)
    return Response(status_code=202)


