"""Networking v2.0 (Neutron's API), the subset kumo's networks are: networks, subnets, ports (read:
a port is made by a server create), security groups and their rules, over kumo.compute.networks,
kumo.compute.ipam and kumo.compute.secgroups -- the same functions ``kumo network`` calls.

``openstack network create/list/show/delete``, ``openstack subnet create --network N
--subnet-range CIDR``, ``openstack port list --server S``, ``openstack security group
[rule] create/list/show/delete`` and, with the Compute API, ``openstack server create --network
NAME`` use it. A network made here is a ``nat`` network (no provider attributes) with at most
one IPv4 subnet. Responses carry Neutron's fields; filters on list requests (``?name=``,
``?id=``, ``?network_id=``, ``?device_id=``, ...) match the fields exactly.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from kumo.api.auth import context, env_of
from kumo.compute import networks as service
from kumo.compute import secgroups
from kumo.compute.context import RequestContext
from kumo.db.models import Network, Port, Subnet
from kumo.errors import InvalidInput, NotFound

router = APIRouter(prefix="/network", tags=["network"])


def _time(value: Any) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _filtered(request: Request, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Neutron's list filters: every query parameter naming a field must equal it."""
    out = rows
    for key, value in request.query_params.multi_items():
        if key in ("fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"):
            continue
        out = [r for r in out if key in r and _text(r[key]) == value]
    return out


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


# --- views ---------------------------------------------------------------------------------------

def network_doc(n: Network) -> dict[str, Any]:
    return {"id": n.uuid, "name": n.name, "tenant_id": n.project_id, "project_id": n.project_id,
            "status": "ACTIVE", "admin_state_up": True, "shared": n.shared,
            "subnets": [s.uuid for s in n.subnets], "mtu": n.mtu, "router:external": False,
            "port_security_enabled": True, "description": "", "availability_zones": [],
            "availability_zone_hints": [], "ipv4_address_scope": None,
            "ipv6_address_scope": None, "is_default": False, "tags": [], "revision_number": 0,
            "provider:network_type": "flat" if n.mode == "bridge" else "local",
            "provider:physical_network": n.bridge, "provider:segmentation_id": None,
            "created_at": _time(n.created_at), "updated_at": _time(n.updated_at)}


def subnet_doc(s: Subnet, n: Network) -> dict[str, Any]:
    net = ipaddress.ip_network(s.cidr)
    hosts = [h for h in (net.network_address + 1, net.broadcast_address - 1)]
    first = hosts[0] + 1 if str(hosts[0]) == s.gateway_ip else hosts[0]
    last = hosts[1] - 1 if str(hosts[1]) == s.gateway_ip else hosts[1]
    return {"id": s.uuid, "name": s.name or "", "network_id": n.uuid, "tenant_id": n.project_id,
            "project_id": n.project_id, "ip_version": 4, "cidr": s.cidr,
            "gateway_ip": s.gateway_ip, "enable_dhcp": s.enable_dhcp,
            "allocation_pools": [{"start": str(first), "end": str(last)}],
            "dns_nameservers": [], "host_routes": [], "description": "",
            "ipv6_ra_mode": None, "ipv6_address_mode": None, "subnetpool_id": None,
            "service_types": [], "tags": [], "revision_number": 0,
            "created_at": _time(s.created_at), "updated_at": _time(s.updated_at)}


def port_doc(p: Port) -> dict[str, Any]:
    return {"id": p.uuid, "name": "", "network_id": p.network.uuid, "tenant_id": p.project_id,
            "project_id": p.project_id, "mac_address": p.mac_address,
            "fixed_ips": [{"subnet_id": p.subnet.uuid, "ip_address": p.ip_address}],
            "device_id": p.instance_uuid or "",
            "device_owner": "compute:nova" if p.instance_uuid else "",
            "status": "ACTIVE", "admin_state_up": True,
            "security_groups": [g.uuid for g in p.security_groups],
            "binding:vnic_type": "normal", "port_security_enabled": True,
            "allowed_address_pairs": [], "extra_dhcp_opts": [], "description": "", "tags": [],
            "revision_number": 0, "created_at": _time(p.created_at),
            "updated_at": _time(p.updated_at)}


def rule_doc(view: dict[str, Any], group_id: str, project_id: str) -> dict[str, Any]:
    low, _, high = (view["port_range"] or "").partition(":")
    return {"id": view["id"], "security_group_id": group_id, "direction": view["direction"],
            "ethertype": view["ethertype"],
            "protocol": None if view["protocol"] == "any" else view["protocol"],
            "port_range_min": int(low) if low else None,
            "port_range_max": int(high or low) if low else None,
            "remote_ip_prefix": view["remote_ip_prefix"], "remote_group_id": None,
            "tenant_id": project_id, "project_id": project_id, "description": "",
            "revision_number": 0}


def group_doc(view: dict[str, Any]) -> dict[str, Any]:
    return {"id": view["id"], "name": view["name"], "description": view["description"] or "",
            "tenant_id": view["project_id"], "project_id": view["project_id"],
            "stateful": True, "tags": [], "revision_number": 0,
            "security_group_rules": [rule_doc(r, view["id"], view["project_id"])
                                     for r in view["rules"]]}


# --- versions ------------------------------------------------------------------------------------

@router.get("")
@router.get("/")
def versions(request: Request) -> dict:
    base = str(request.base_url).rstrip("/")
    return {"versions": [{"id": "v2.0", "status": "CURRENT",
                          "links": [{"rel": "self", "href": f"{base}/network/v2.0/"}]}]}


@router.get("/v2.0")
@router.get("/v2.0/")
def resources(request: Request) -> dict:
    base = str(request.base_url).rstrip("/")
    return {"resources": [{"name": n, "collection": f"{n}s", "links": [
        {"rel": "self", "href": f"{base}/network/v2.0/{n}s"}]}
        for n in ("network", "subnet", "port", "security-group", "security-group-rule")]}


@router.get("/v2.0/extensions")
def extensions() -> dict:
    return {"extensions": []}


# --- networks ------------------------------------------------------------------------------------

class NetworkBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(..., min_length=1, max_length=255)
    shared: bool = False


class NetworkCreate(BaseModel):
    network: NetworkBody


def _networks(request: Request, ctx: RequestContext) -> list[Network]:
    with env_of(request).db.session_scope(readonly=True) as s:
        rows = list(s.scalars(select(Network).where(service.network_visible(ctx))
                              .options(selectinload(Network.subnets)).order_by(Network.id)))
        s.expunge_all()
    return rows


def _network(request: Request, ctx: RequestContext, network_id: str) -> Network:
    for n in _networks(request, ctx):
        if n.uuid == network_id:
            return n
    raise NotFound(f"Network {network_id} could not be found.")


@router.get("/v2.0/networks")
def list_networks(request: Request, ctx: RequestContext = Depends(context)) -> dict:
    return {"networks": _filtered(request, [network_doc(n) for n in _networks(request, ctx)])}


@router.get("/v2.0/networks/{network_id}")
def show_network(network_id: str, request: Request,
                 ctx: RequestContext = Depends(context)) -> dict:
    return {"network": network_doc(_network(request, ctx, network_id))}


@router.post("/v2.0/networks", status_code=201)
def create_network(body: NetworkCreate, request: Request,
                   ctx: RequestContext = Depends(context)) -> dict:
    view = service.create_network(env_of(request), ctx, body.network.name, subnet=None,
                                  shared=body.network.shared)
    return {"network": network_doc(_network(request, ctx, view["id"]))}


@router.delete("/v2.0/networks/{network_id}", status_code=204)
def delete_network(network_id: str, request: Request,
                   ctx: RequestContext = Depends(context)) -> Response:
    _network(request, ctx, network_id)
    service.delete_network(env_of(request), ctx, network_id)
    return Response(status_code=204)


# --- subnets -------------------------------------------------------------------------------------

class SubnetBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    network_id: str = Field(..., min_length=1, max_length=36)
    cidr: str = Field(..., min_length=1, max_length=64)
    ip_version: int = 4
    name: str | None = Field(None, max_length=255)
    gateway_ip: str | None = Field(None, max_length=64)
    enable_dhcp: bool = True


class SubnetCreate(BaseModel):
    subnet: SubnetBody


def _subnets(request: Request, ctx: RequestContext) -> list[dict[str, Any]]:
    return [subnet_doc(s, n) for n in _networks(request, ctx) for s in n.subnets]


@router.get("/v2.0/subnets")
def list_subnets(request: Request, ctx: RequestContext = Depends(context)) -> dict:
    return {"subnets": _filtered(request, _subnets(request, ctx))}


@router.get("/v2.0/subnets/{subnet_id}")
def show_subnet(subnet_id: str, request: Request,
                ctx: RequestContext = Depends(context)) -> dict:
    for doc in _subnets(request, ctx):
        if doc["id"] == subnet_id:
            return {"subnet": doc}
    raise NotFound(f"Subnet {subnet_id} could not be found.")


@router.post("/v2.0/subnets", status_code=201)
def create_subnet(body: SubnetCreate, request: Request,
                  ctx: RequestContext = Depends(context)) -> dict:
    b = body.subnet
    if b.ip_version != 4:
        raise InvalidInput(f"ip_version {b.ip_version} is invalid: allowed 4 (kumo networks "
                           "are IPv4)")
    network = _network(request, ctx, b.network_id)
    subnet = service.create_subnet(env_of(request), ctx, network.uuid, b.cidr, name=b.name,
                                   gateway=b.gateway_ip, dhcp=b.enable_dhcp)
    return {"subnet": subnet_doc(subnet, network)}


@router.delete("/v2.0/subnets/{subnet_id}", status_code=204)
def delete_subnet(subnet_id: str, request: Request,
                  ctx: RequestContext = Depends(context)) -> Response:
    service.delete_subnet(env_of(request), ctx, subnet_id)
    return Response(status_code=204)


# --- ports (read only: a server create makes them) --------------------------------------------

def _ports(request: Request, ctx: RequestContext) -> list[dict[str, Any]]:
    with env_of(request).db.session_scope(readonly=True) as s:
        query = select(Port).options(selectinload(Port.security_groups)).order_by(Port.id)
        if not ctx.is_admin:
            query = query.where(Port.project_id == ctx.project_id)
        return [port_doc(p) for p in s.scalars(query)]


@router.get("/v2.0/ports")
def list_ports(request: Request, ctx: RequestContext = Depends(context)) -> dict:
    return {"ports": _filtered(request, _ports(request, ctx))}


@router.get("/v2.0/ports/{port_id}")
def show_port(port_id: str, request: Request, ctx: RequestContext = Depends(context)) -> dict:
    for doc in _ports(request, ctx):
        if doc["id"] == port_id:
            return {"port": doc}
    raise NotFound(f"Port {port_id} could not be found.")


# --- security groups -----------------------------------------------------------------------------

class GroupBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(..., min_length=1, max_length=255)
    description: str | None = Field(None, max_length=255)


class GroupCreate(BaseModel):
    security_group: GroupBody


class RuleBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    security_group_id: str = Field(..., min_length=1, max_length=36)
    direction: str = Field(..., max_length=8)
    ethertype: str = Field("IPv4", max_length=8)
    protocol: str | None = Field(None, max_length=8)
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ip_prefix: str | None = Field(None, max_length=64)


class RuleCreate(BaseModel):
    security_group_rule: RuleBody


def _groups(request: Request, ctx: RequestContext) -> list[dict[str, Any]]:
    return [group_doc(g) for g in secgroups.list_groups(env_of(request), ctx)]


def _group(request: Request, ctx: RequestContext, group_id: str) -> dict[str, Any]:
    for doc in _groups(request, ctx):
        if doc["id"] == group_id:
            return doc
    raise NotFound(f"Security group {group_id} could not be found.")


@router.get("/v2.0/security-groups")
def list_groups(request: Request, ctx: RequestContext = Depends(context)) -> dict:
    return {"security_groups": _filtered(request, _groups(request, ctx))}


@router.get("/v2.0/security-groups/{group_id}")
def show_group(group_id: str, request: Request, ctx: RequestContext = Depends(context)) -> dict:
    return {"security_group": _group(request, ctx, group_id)}


@router.post("/v2.0/security-groups", status_code=201)
def create_group(body: GroupCreate, request: Request,
                 ctx: RequestContext = Depends(context)) -> dict:
    view = secgroups.create_group(env_of(request), ctx, body.security_group.name,
                                  body.security_group.description)
    return {"security_group": group_doc(view)}


@router.delete("/v2.0/security-groups/{group_id}", status_code=204)
def delete_group(group_id: str, request: Request,
                 ctx: RequestContext = Depends(context)) -> Response:
    _group(request, ctx, group_id)
    secgroups.delete_group(env_of(request), ctx, group_id)
    return Response(status_code=204)


@router.get("/v2.0/security-group-rules")
def list_rules(request: Request, ctx: RequestContext = Depends(context)) -> dict:
    rules = [r for g in _groups(request, ctx) for r in g["security_group_rules"]]
    return {"security_group_rules": _filtered(request, rules)}


@router.get("/v2.0/security-group-rules/{rule_id}")
def show_rule(rule_id: str, request: Request, ctx: RequestContext = Depends(context)) -> dict:
    for g in _groups(request, ctx):
        for r in g["security_group_rules"]:
            if r["id"] == rule_id:
                return {"security_group_rule": r}
    raise NotFound(f"Security group rule {rule_id} could not be found.")


@router.post("/v2.0/security-group-rules", status_code=201)
def create_rule(body: RuleCreate, request: Request,
                ctx: RequestContext = Depends(context)) -> dict:
    b = body.security_group_rule
    if b.ethertype != "IPv4":
        raise InvalidInput(f"ethertype {b.ethertype!r} is invalid: allowed IPv4")
    group = _group(request, ctx, b.security_group_id)
    ports = None
    if b.port_range_min is not None:
        ports = f"{b.port_range_min}:{b.port_range_max or b.port_range_min}"
    rule = secgroups.parse_rule(b.direction, b.protocol, ports, b.remote_ip_prefix)
    view = secgroups.add_rule(env_of(request), ctx, group["id"], rule)
    return {"security_group_rule": rule_doc(view, group["id"], group["project_id"])}


@router.delete("/v2.0/security-group-rules/{rule_id}", status_code=204)
def delete_rule(rule_id: str, request: Request,
                ctx: RequestContext = Depends(context)) -> Response:
    show_rule(rule_id, request, ctx)
    secgroups.delete_rule(env_of(request), ctx, rule_id)
    return Response(status_code=204)

