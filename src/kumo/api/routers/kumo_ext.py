"""kumo's own operations over HTTP, under the ``kumo`` service of the catalog (``/kumo/v1``), so
the ``kumo`` command can ask a remote controller with ``--os-cloud NAME``, as the openstack
client asks Nova. Each route is the function the local command calls, with the caller's
context: the same rules (placement explain is an admin's) whoever asks.

    GET  /kumo/v1                          version document
    GET  /kumo/v1/placement/explain        ?image=&flavor=[&availability_zone=][&host=...]
    POST /kumo/v1/lint                     {"image": ID | NAME | {Glance image document},
                                            "flavor": "VCPUS,RAM_MIB,DISK_GIB" | FLAVOR}
                                           -> {"findings": [...], "errors": N}

Lint through the API lints an image of this catalog as the caller may see it (or a document
given whole) for the embedded default host, as ``kumo lint --image FILE`` does.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from kumo.api.auth import context, env_of, own_context
from kumo.compute import placement
from kumo.compute.context import RequestContext

router = APIRouter(prefix="/kumo/v1", tags=["kumo"])


@router.get("")
@router.get("/")
def version(request: Request) -> dict:
    base = str(request.base_url).rstrip("/")
    return {"version": {"id": "v1", "status": "CURRENT",
                        "links": [{"rel": "self", "href": f"{base}/kumo/v1/"}]}}


@router.get("/placement/explain")
def placement_explain(request: Request, ctx: RequestContext = Depends(context)) -> dict:
    q = request.query_params
    image, flavor = q.get("image"), q.get("flavor")
    if not image or not flavor:
        from kumo.errors import InvalidInput

        raise InvalidInput("image and flavor are required query parameters (an id or exact "
                           "name each)")
    return placement.explain_placement(env_of(request), ctx, image, flavor,
                                       availability_zone=q.get("availability_zone"),
                                       hosts=tuple(q.getlist("host")))


class LintRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str | dict[str, Any] = Field(...)
    flavor: str | None = Field(None, max_length=255)


@router.post("/lint")
def lint(body: LintRequest, request: Request,
         ctx: RequestContext = Depends(own_context)) -> dict:
    """(A reader may lint: it changes nothing, though it is a POST.)"""
    from kumo.compute.lint import lint_image

    findings = lint_image(env_of(request), ctx, body.image, body.flavor)
    return {"findings": findings,
            "errors": sum(1 for f in findings if f["severity"] == "error")}
