"""Image v2 (``/image``): Glance's API over kumo.compute.images, as the clients use it.

Glance shows properties as top-level keys of the image, beside the core attributes; the
service layer keeps them apart (``properties``), so this module only flattens and unflattens.
Every rule (property validation by the catalog, tenancy, protected images, formats) is the
service's.

Discovery: glanceclient needs 200 on ``/image/versions`` (it treats 300 as an error); the SDK
takes ``/image``. Both answer 200 here.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kumo.api.auth import context, env_of
from kumo.api.faults import validation_message
from kumo.catalog.schema import CONTAINER_FORMATS, DISK_FORMATS
from kumo.compute import image_data
from kumo.compute import images as service
from kumo.compute.context import RequestContext
from kumo.db.models import Visibility
from kumo.errors import InvalidInput, NotFound
from kumo.private_files import open_private, private_dir

router = APIRouter(prefix="/image", tags=["image"])

PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
#: the attributes Glance computes or owns: never a property, never patched
READ_ONLY = {"id", "status", "owner", "size", "virtual_size", "checksum", "os_hash_algo",
             "os_hash_value", "created_at", "updated_at", "file", "self", "schema",
             "direct_url", "locations", "os_hidden", "stores"}
#: attributes kept in columns and set through the service's own arguments
ATTRIBUTES = ("name", "visibility", "protected", "min_ram", "min_disk")
LIST_LIMIT_MAX = 1000


# --- documents -----------------------------------------------------------------------------------

def _versions(request: Request) -> dict:
    base = str(request.base_url).rstrip("/")
    return {"versions": [{"id": "v2.9", "status": "CURRENT",
                          "links": [{"rel": "self", "href": f"{base}/image/v2/"}]}]}


@router.get("")
@router.get("/")
@router.get("/versions")
def versions(request: Request) -> dict:
    return _versions(request)


def _nullable(kind: str) -> dict:
    return {"type": ["null", kind]}


IMAGE_SCHEMA: dict[str, Any] = {
    "name": "image",
    # custom properties are strings (values are stored verbatim, validated by kumo's catalog)
    "additionalProperties": {"type": "string"},
    "links": [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"},
              {"rel": "describedby", "href": "{schema}"}],
    "properties": {
        "id": {"type": "string", "description": "An identifier for the image"},
        "name": _nullable("string"),
        "status": {"type": "string", "enum": ["queued", "saving", "active", "killed", "deleted",
                                              "uploading", "importing", "pending_delete",
                                              "deactivated"]},
        "visibility": {"type": "string", "enum": [v.value for v in Visibility]},
        "protected": {"type": "boolean"},
        "os_hidden": {"type": "boolean"},
        "checksum": _nullable("string"),
        "os_hash_algo": _nullable("string"),
        "os_hash_value": _nullable("string"),
        "owner": _nullable("string"),
        "size": _nullable("integer"),
        "virtual_size": _nullable("integer"),
        "min_ram": _nullable("integer"),
        "min_disk": _nullable("integer"),
        "disk_format": {"type": ["null", "string"], "enum": [None, *DISK_FORMATS]},
        "container_format": {"type": ["null", "string"], "enum": [None, *CONTAINER_FORMATS]},
        "created_at": {"type": "string"},
        "updated_at": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}},
        "self": {"type": "string"},
        "file": {"type": "string"},
        "schema": {"type": "string"},
        "direct_url": {"type": "string"},
        "locations": {"type": "array", "items": {"type": "object"}},
        "stores": {"type": "string"},
    },
}


@router.get("/v2/schemas/image")
def image_schema() -> dict:
    return IMAGE_SCHEMA


@router.get("/v2/schemas/images")
def images_schema() -> dict:
    return {"name": "images", "properties": {
        "images": {"type": "array", "items": IMAGE_SCHEMA},
        "schema": {"type": "string"}, "first": {"type": "string"}, "next": {"type": "string"}},
        "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                  {"rel": "describedby", "href": "{schema}"}]}


def glance_view(view: dict[str, Any]) -> dict[str, Any]:
    """The service's image as Glance shows it: properties flattened to top-level keys."""
    out = {k: v for k, v in view.items() if k != "properties"}
    out.update(view.get("properties", {}))
    out.setdefault("tags", [])
    out["os_hidden"] = False
    out["self"] = f"/v2/images/{view['id']}"
    out["file"] = f"/v2/images/{view['id']}/file"
    out["schema"] = "/v2/schemas/image"
    return out


# --- images --------------------------------------------------------------------------------------

class ImageCreate(BaseModel):
    """POST /v2/images: the core attributes, and any other key as a string property."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(None, max_length=255)
    disk_format: str | None = Field(None, max_length=16)
    container_format: str | None = Field(None, max_length=16)
    visibility: str = Field(Visibility.SHARED.value, max_length=16)
    protected: bool = False
    min_ram: int | None = Field(None, ge=0, le=2**31)
    min_disk: int | None = Field(None, ge=0, le=2**31)
    #: kumo keeps no tags yet: an image created with some is refused rather than losing them
    tags: list[str] = Field(default_factory=list, max_length=0)
    id: str | None = Field(None, max_length=36)


def _properties_of(body: BaseModel) -> dict[str, str]:
    props = {}
    for key, value in (body.model_extra or {}).items():
        if key in READ_ONLY:
            raise InvalidInput(f"{key} is read-only: Glance computes it")
        if not isinstance(value, str):
            raise InvalidInput(f"property {key}={value!r} is invalid: allowed a string (image "
                               "properties are strings)")
        props[key] = value
    return props


@router.get("/v2/images")
def list_images(request: Request, ctx: RequestContext = Depends(context)) -> dict:
    """Filters: any core attribute or property (``?os_type=windows``), ``id=in:a,b``;
    ``sort_key``/``sort_dir`` or ``sort=key:dir,...``; ``limit``. Ignored: marker (one page)."""
    q = request.query_params
    filters: dict[str, Any] = {}
    for key in q:
        if key in ("limit", "marker", "sort_key", "sort_dir", "sort", "member_status"):
            continue
        values = q.getlist(key)
        if len(values) != 1:
            raise InvalidInput(f"filter {key} given {len(values)} times: allowed once "
                               "(use in:a,b for any of several values)")
        value = values[0]
        if key == "visibility" and value == "all":
            continue
        filters[key] = value[3:].split(",") if value.startswith("in:") else value
    sort_keys, sort_dir = _sort(q)
    limit = None
    if "limit" in q:
        try:
            limit = int(q["limit"])
            if not 0 <= limit:
                raise ValueError
        except ValueError:
            raise InvalidInput(f"limit={q['limit']!r} is invalid: allowed an integer >= 0"
                               ) from None
    limit = min(limit if limit is not None else LIST_LIMIT_MAX, LIST_LIMIT_MAX)
    rows = service.list_images(env_of(request), ctx, filters, sort_keys, sort_dir, limit)
    return {"images": [glance_view(r) for r in rows], "schema": "/v2/schemas/images",
            "first": "/v2/images"}


def _sort(q) -> tuple[list[str], str]:
    if "sort" in q:
        keys, dirs = [], set()
        for part in q["sort"].split(","):
            key, _, direction = part.strip().partition(":")
            keys.append(key)
            dirs.add(direction or "desc")
        if len(dirs) > 1:
            raise InvalidInput(f"sort={q['sort']!r} mixes directions: kumo sorts every key one "
                               "way (allowed asc or desc for all)")
        return keys, dirs.pop()
    keys = q.getlist("sort_key") or ["created_at"]
    dirs = set(q.getlist("sort_dir") or ["desc"])
    if len(dirs) > 1:
        raise InvalidInput("sort_dir given with different directions: allowed one, asc or desc")
    return keys, dirs.pop()


@router.get("/v2/images/{image_id}")
def show_image(image_id: str, request: Request, ctx: RequestContext = Depends(context)) -> dict:
    return glance_view(_by_id(request, ctx, image_id))


def _by_id(request: Request, ctx: RequestContext, image_id: str) -> dict[str, Any]:
    """The image with exactly this id: a name is no id here (the clients look up by GET and
    fall back to ?name= on 404, so a name found here would be the wrong contract)."""
    view = service.show_image(env_of(request), ctx, image_id)
    if view["id"] != image_id:
        raise NotFound(f"No image found with ID {image_id}")
    return view


@router.post("/v2/images", status_code=201)
def create_image(body: ImageCreate, request: Request,
                 ctx: RequestContext = Depends(context)) -> dict:
    if body.id is not None:
        raise InvalidInput("id cannot be chosen: kumo assigns image ids")
    view = service.create_image(
        env_of(request), ctx, body.name or "", disk_format=body.disk_format,
        container_format=body.container_format, properties=_properties_of(body),
        visibility=body.visibility, min_ram=body.min_ram, min_disk=body.min_disk,
        protected=body.protected)
    return glance_view(view)


class PatchOp(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: str = Field(..., pattern="^(add|replace|remove)$")
    path: str = Field(..., pattern=r"^/[^/]+$", max_length=256)
    value: Any = None


@router.patch("/v2/images/{image_id}")
async def update_image(image_id: str, request: Request,
                       ctx: RequestContext = Depends(context)) -> dict:
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    if ctype != PATCH_TYPE:
        return _unsupported(request, ctype)
    try:
        ops = [PatchOp.model_validate(op) for op in _json_list(await request.body())]
    except ValidationError as e:
        raise InvalidInput(validation_message(e.errors())) from None
    changes = _patch_changes(ops)
    env = env_of(request)
    await run_in_threadpool(_by_id, request, ctx, image_id)
    view = await run_in_threadpool(lambda: service.update_image(env, ctx, image_id, **changes))
    return glance_view(view)


def _json_list(raw: bytes) -> list:
    try:
        body = json.loads(raw)
    except ValueError as e:
        raise InvalidInput(f"the body is not JSON: {e}") from None
    if not isinstance(body, list) or len(body) > 256:
        raise InvalidInput("a JSON patch is a list of at most 256 operations")
    return body


def _patch_changes(ops: list[PatchOp]) -> dict[str, Any]:
    """JSON-patch operations as the service's arguments. ``add`` of an existing key replaces it
    (openstacksdk sends ``add`` for every key it sets)."""
    props: dict[str, str] = {}
    unset: list[str] = []
    attrs: dict[str, Any] = {}
    for op in ops:
        key = op.path[1:].replace("~1", "/").replace("~0", "~")
        if key in READ_ONLY or key == "tags":
            raise InvalidInput(f"/{key} cannot be changed: it is read-only")
        if op.op == "remove":
            if key in ATTRIBUTES:
                raise InvalidInput(f"/{key} cannot be removed: it is an image attribute")
            unset.append(key)
            props.pop(key, None)
            continue
        if key in ATTRIBUTES:
            attrs[key] = op.value
        elif not isinstance(op.value, str):
            raise InvalidInput(f"property {key}={op.value!r} is invalid: allowed a string")
        else:
            props[key] = op.value
            if key in unset:
                unset.remove(key)
    for key, kind in (("protected", bool), ("min_ram", int), ("min_disk", int)):
        if key in attrs and (not isinstance(attrs[key], kind) or
                             (kind is int and isinstance(attrs[key], bool))):
            raise InvalidInput(f"{key}={attrs[key]!r} is invalid: allowed "
                               f"{'true or false' if kind is bool else 'an integer >= 0'}")
    for key in ("name", "visibility"):
        if key in attrs and not isinstance(attrs[key], str):
            raise InvalidInput(f"{key}={attrs[key]!r} is invalid: allowed a string")
    return {"set_properties": props, "unset": unset, **attrs}


def _unsupported(request: Request, ctype: str) -> JSONResponse:
    from kumo.api.faults import fault

    return fault(request, 415, f"Content-Type {ctype or '(none)'!r} is not supported for an "
                               f"image update: allowed {PATCH_TYPE}")


@router.delete("/v2/images/{image_id}", status_code=204)
def delete_image(image_id: str, request: Request,
                 ctx: RequestContext = Depends(context)) -> Response:
    _by_id(request, ctx, image_id)
    service.delete_image(env_of(request), ctx, image_id)
    return Response(status_code=204)


async def _from_body(request: Request, ctx: RequestContext, image_id: str, action) -> None:
    """The request body streamed to a private file in the image store (never held in memory),
    then given to ``action(env, ctx, image_id, path)`` in a worker thread; the file is removed
    afterwards whatever happened."""
    env = env_of(request)
    await run_in_threadpool(_by_id, request, ctx, image_id)
    directory = service.store(env).directory
    await run_in_threadpool(private_dir, directory)
    tmp = directory / f".upload-{image_id}-{secrets.token_hex(4)}"
    try:
        with open_private(tmp, "wb") as f:
            async for chunk in request.stream():
                await run_in_threadpool(f.write, chunk)
        await run_in_threadpool(action, env, ctx, image_id, tmp)
    finally:
        tmp.unlink(missing_ok=True)


@router.put("/v2/images/{image_id}/file", status_code=204)
async def upload(image_id: str, request: Request,
                 ctx: RequestContext = Depends(context)) -> Response:
    """The data, checked and stored by the service (qemu-img against the image's disk_format)."""
    await _from_body(request, ctx, image_id, functools.partial(
        image_data.upload_image, set_format_hint="set it on the image first",
        what="the uploaded data"))
    return Response(status_code=204)


@router.put("/v2/images/{image_id}/stage", status_code=204)
async def stage(image_id: str, request: Request,
                ctx: RequestContext = Depends(context)) -> Response:
    """Glance's interoperable import, step 1 (Image API 2.6): the data is staged; the image
    goes uploading until ``POST .../import`` checks and stores it."""
    await _from_body(request, ctx, image_id, functools.partial(
        image_data.stage_image, set_format_hint="set it on the image first",
        what="the staged data"))
    return Response(status_code=204)


class _ImportMethod(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str


class _ImportBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    method: _ImportMethod


@router.post("/v2/images/{image_id}/import", status_code=202)
def import_(image_id: str, body: _ImportBody, request: Request,
            ctx: RequestContext = Depends(context)) -> Response:
    """Step 2: import the staged data (method glance-direct). Glance runs the import as a task
    and answers 202 at once; kumo imports before answering (the image is active when the 202
    arrives), which a client polling the image's status cannot tell apart."""
    _by_id(request, ctx, image_id)
    image_data.import_image(env_of(request), ctx, image_id, body.method.name)
    return Response(status_code=202)


@router.get("/v2/info/import")
def import_info() -> dict:
    """The import methods offered (GET /v2/info/import), read by `openstack image import`."""
    return {"import-methods": {"description": "Import methods available.", "type": "array",
                               "value": list(image_data.IMPORT_METHODS)}}


@router.get("/v2/images/{image_id}/file", response_model=None)
def download(image_id: str, request: Request,
             ctx: RequestContext = Depends(context)) -> Response:
    view = _by_id(request, ctx, image_id)
    path = service.image_data_path(env_of(request), ctx, image_id)
    if path is None or not os.path.exists(path):
        return Response(status_code=204)
    headers = {"Content-MD5": view["checksum"]} if view.get("checksum") else {}
    return FileResponse(path, media_type="application/octet-stream", headers=headers)


