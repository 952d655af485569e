"""Compute v2.1 os-hypervisors and os-services, over kumo.compute.hypervisors and
kumo.compute.services (the functions behind ``kumo host ...``). Admin-only, as Nova's default
policy.

Microversions, as Nova defines them (nova/api/openstack/compute/hypervisors.py, services.py):
ids are uuids and the search is the ``hypervisor_hostname_pattern`` query parameter from 2.53
(below it, ``/os-hypervisors/{pattern}/search`` and ``/{pattern}/servers``, 404 from 2.53);
the capacity and usage fields (vcpus, memory_mb, local_gb, their ``_used``, running_vms, ...)
are shown below 2.88 and dropped from 2.88, which shows ``uptime`` instead; ``PUT
/os-services/{id}`` with status/disabled_reason/forced_down is 2.53, and below it ``PUT
/os-services/{disable,disable-log-reason,enable,force-down}`` with host and binary (force-down
from 2.11).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from kumo.api.auth import context, env_of
from kumo.api.routers.compute import api_version, microversion, paged
from kumo.compute import hypervisors as hv
from kumo.compute import services as svc
from kumo.compute.context import RequestContext
from kumo.errors import InvalidInput, NotFound

router = APIRouter(prefix="/compute/v2.1", tags=["compute"],
                   dependencies=[Depends(microversion)])

V2_53, V2_88 = (2, 53), (2, 88)
_TRUE = {"1", "t", "true", "on", "y", "yes"}
_FALSE = {"0", "f", "false", "off", "n", "no"}
_OLD_FIELDS = ("vcpus", "vcpus_used", "memory_mb", "memory_mb_used", "local_gb",
               "local_gb_used", "running_vms")


def _flag(request: Request, name: str) -> bool:
    """A boolean query parameter as oslo's bool_from_string(strict=True) reads it."""
    raw = request.query_params.get(name)
    if raw is None:
        return False
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise InvalidInput(f"{name}={raw!r} is invalid: allowed true or false")


def nova_hypervisor(view: dict[str, Any], request: Request, detail: bool) -> dict[str, Any]:
    out = {k: view[k] for k in ("id", "hypervisor_hostname", "state", "status")}
    if detail:
        out.update({k: view[k] for k in ("hypervisor_type", "hypervisor_version", "host_ip",
                                          "service")})
        if api_version(request) >= V2_88:
            out["uptime"] = None  # kumo asks no host for it (Nova: the driver's, or None)
        else:
            out.update({k: view[k] for k in _OLD_FIELDS})
            out.update({"free_ram_mb": view["memory_mb"] - view["memory_mb_used"],
                        "free_disk_gb": view["local_gb"] - view["local_gb_used"],
                        "current_workload": 0, "disk_available_least": None,
                        "cpu_info": {}})
    if view["servers"]:  # Nova leaves the key out for a hypervisor without servers
        out["servers"] = view["servers"]
    return out


def _list(request: Request, ctx: RequestContext, detail: bool) -> dict:
    pattern = request.query_params.get("hypervisor_hostname_pattern")
    if pattern is not None and api_version(request) < V2_53:
        raise InvalidInput("hypervisor_hostname_pattern needs microversion 2.53 or later; "
                           "below it, use /os-hypervisors/{pattern}/search")
    if pattern is not None and ({"limit", "marker"} & set(request.query_params)):
        raise InvalidInput("Paging over hypervisors with the hypervisor_hostname_pattern "
                           "query parameter is not supported.")
    views = hv.list_hypervisors(env_of(request), ctx, pattern=pattern,
                                with_servers=_flag(request, "with_servers"))
    return {"hypervisors": [nova_hypervisor(v, request, detail) for v in paged(request, views, "id", "hypervisor")]}


@router.get("/os-hypervisors")
def list_hypervisors(request: Request, ctx: RequestContext = Depends(context)) -> dict:
    return _list(request, ctx, detail=False)


@router.get("/os-hypervisors/detail")
def list_hypervisors_detail(request: Request, ctx: RequestContext = Depends(context)) -> dict:
    return _list(request, ctx, detail=True)


class _NotImplemented(InvalidInput):
    status = 501


def _below_2_88(request: Request, what: str) -> None:
    if api_version(request) >= V2_88:
        raise NotFound(f"no such resource: {request.url.path} ({what} was removed in "
                       "microversion 2.88)")


@router.get("/os-hypervisors/statistics")
def hypervisor_statistics(request: Request, ctx: RequestContext = Depends(context)) -> dict:
    """The fleet's totals (``nova hypervisor-stats``), below 2.88 as Nova: the sums of the
    per-hypervisor fields of the detail view."""
    _below_2_88(request, "os-hypervisors/statistics")
    views = hv.list_hypervisors(env_of(request), ctx)
    total = {k: sum(v[k] for v in views) for k in _OLD_FIELDS}
    total.update({"count": len(views),
                  "free_ram_mb": total["memory_mb"] - total["memory_mb_used"],
                  "free_disk_gb": total["local_gb"] - total["local_gb_used"],
                  "current_workload": 0, "disk_available_least": 0})
    return {"hypervisor_statistics": total}


@router.get("/os-hypervisors/{hypervisor_id}/uptime")
def hypervisor_uptime(hypervisor_id: str, request: Request,
                      ctx: RequestContext = Depends(context)) -> dict:
    """Below 2.88. kumo asks no host for its uptime, so the answer is Nova's for a virt driver
    without one: 501 -- the one error openstackclient's ``hypervisor show`` tolerates there."""
    _below_2_88(request, "os-hypervisors/{id}/uptime")
    hv.show_hypervisor(env_of(request), ctx, hypervisor_id)  # 404/403 first, as Nova
    raise _NotImplemented("Virt driver does not implement uptime function.")


@router.get("/os-hypervisors/{hypervisor_id}")
def show_hypervisor(hypervisor_id: str, request: Request,
                    ctx: RequestContext = Depends(context)) -> dict:
    view = hv.show_hypervisor(env_of(request), ctx, hypervisor_id,
                              with_servers=_flag(request, "with_servers"))
    return {"hypervisor": nova_hypervisor(view, request, detail=True)}


@router.get("/os-hypervisors/{pattern}/search")
@router.get("/os-hypervisors/{pattern}/servers")
def legacy_search(pattern: str, request: Request,
                  ctx: RequestContext = Depends(context)) -> dict:
    """Below 2.53 only (Nova removed both routes there)."""
    if api_version(request) >= V2_53:
        raise NotFound(f"no such resource: {request.url.path} (removed in microversion 2.53: "
                       "use ?hypervisor_hostname_pattern=)")
    servers = request.url.path.endswith("/servers")
    views = hv.list_hypervisors(env_of(request), ctx, pattern=pattern, with_servers=servers)
    return {"hypervisors": [nova_hypervisor(v, request, detail=False) for v in views]}


# --- os-services ---------------------------------------------------------------------------------

def nova_service(view: dict[str, Any], request: Request) -> dict[str, Any]:
    out = dict(view)
    if api_version(request) < (2, 11):
        out.pop("forced_down")
    return out


@router.get("/os-services")
def list_services(request: Request, ctx: RequestContext = Depends(context)) -> dict:
    rows = svc.list_services(env_of(request), ctx, host=request.query_params.get("host"),
                             binary=request.query_params.get("binary"))
    return {"services": [nova_service(r, request) for r in rows]}


class ServiceUpdate(BaseModel):
    """2.53 on: status/disabled_reason/forced_down of the service in the path. Below 2.53 the
    path names an action (``disable``, ``disable-log-reason``, ``enable``, ``force-down``)
    and the body the service by ``host`` and ``binary``, as Nova's legacy os-services."""

    model_config = ConfigDict(extra="forbid")

    status: str | None = Field(None, max_length=16)
    disabled_reason: str | None = Field(None, max_length=svc.REASON_MAX)
    forced_down: bool | None = None
    host: str | None = Field(None, max_length=255)
    binary: str | None = Field(None, max_length=255)


#: legacy action -> (the change it asks, the fields it answers), Nova's services.py
_LEGACY = {"enable": ("status", "enabled"), "disable": ("status", "disabled"),
           "disable-log-reason": ("status", "disabled"), "force-down": ("forced_down", None)}


@router.put("/os-services/{service_id}")
def update_service(service_id: str, body: ServiceUpdate, request: Request,
                   ctx: RequestContext = Depends(context)) -> dict:
    if api_version(request) < V2_53:
        return _legacy_action(service_id, body, request, ctx)
    if body.host is not None or body.binary is not None:
        raise InvalidInput("host and binary name the service below microversion 2.53 only; "
                           "from 2.53 the path names it by id")
    view = svc.update_service(env_of(request), ctx, service_id, svc.ServiceChange(
        body.status, body.disabled_reason, body.forced_down))
    return {"service": nova_service(view, request)}


def _legacy_action(action: str, body: ServiceUpdate, request: Request,
                   ctx: RequestContext) -> dict:
    """``PUT /os-services/{action}`` below 2.53: the service of ``host`` and ``binary``
    changed as the action says; the answer names host, binary and what changed (Nova)."""
    if action not in _LEGACY or (action == "force-down" and api_version(request) < (2, 11)):
        raise NotFound(f"no such resource: PUT {request.url.path} (below microversion 2.53 "
                       "allowed disable, disable-log-reason, enable, and force-down from 2.11)")
    if not body.host or not body.binary:
        raise InvalidInput(f"os-services {action} needs host and binary in the body")
    if body.status is not None:
        raise InvalidInput("status is given by the action in the path below microversion 2.53")
    reason = body.disabled_reason
    if (reason is not None) != (action == "disable-log-reason"):
        raise InvalidInput("disabled_reason goes with disable-log-reason (and is required "
                           "there)")
    if (body.forced_down is None) != (action != "force-down"):
        raise InvalidInput("forced_down goes with force-down (and is required there)")
    env = env_of(request)
    found = svc.list_services(env, ctx, host=body.host, binary=body.binary)
    if not found:
        raise NotFound(f"Service {body.binary} on host {body.host} could not be found.")
    field, status = _LEGACY[action]
    change = (svc.ServiceChange(status, reason, None) if field == "status"
              else svc.ServiceChange(None, None, body.forced_down))
    view = svc.update_service(env, ctx, found[0]["id"], change)
    out = {"host": view["host"], "binary": view["binary"]}
    if field == "status":
        out["status"] = view["status"]
        if reason is not None:
            out["disabled_reason"] = view["disabled_reason"]
    else:
        out["forced_down"] = view["forced_down"]
    return {"service": out}


@router.delete("/os-services/{service_id}", status_code=204)
def delete_service(service_id: str, request: Request,
                   ctx: RequestContext = Depends(context)) -> Response:
    svc.delete_service(env_of(request), ctx, service_id)
    return Response(status_code=204)
