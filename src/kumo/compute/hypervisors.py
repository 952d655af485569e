"""Hypervisors (Nova's os-hypervisors): each host kumo manages, as a compute node.

The hypervisor's id is the host's uuid, as is its compute service's (kumo.compute.services: one
record stands for both); ``state`` and ``status`` are that service's. Capacity and usage are the
host's claim counters (kumo.db.claims), the same numbers the scheduler places by. A server on
a hypervisor is named by its libvirt domain name, as Nova names it by its instance name.

Search: ``search`` is Nova's ``hypervisor_hostname_pattern``, a substring match
(kumo.compute.lookup.search_hosts); no match is NotFound with Nova's wording. Admin-only, as
Nova's default policy (os_compute_api:os-hypervisors:*).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kumo.catalog.names import short
from kumo.compute import naming
from kumo.compute.context import HYPERVISORS, RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.lookup import search_hosts
from kumo.compute.services import down_time_s, service_view
from kumo.compute.states import now
from kumo.db.models import Host, Instance
from kumo.errors import NotFound


@dataclass(frozen=True)
class ServerRef:
    uuid: str
    name: str  # the libvirt domain name (Nova: the instance name, instance-0000000a)


def version_int(version: str | None) -> int | None:
    """Nova's integer hypervisor version: major * 1,000,000 + minor * 1,000 + micro
    (oslo versionutils.convert_version_to_int): QEMU 7.2.0 is 7002000."""
    if not version:
        return None
    parts = [int(p) for p in re.findall(r"\d+", version)[:3]]
    parts += [0] * (3 - len(parts))
    return parts[0] * 1_000_000 + parts[1] * 1_000 + parts[2]


def host_ip(uri: str) -> str | None:
    """The host a libvirt URI reaches (qemu+ssh://10.0.0.5/system), None for a local one."""
    try:
        return urlsplit(uri).hostname or None
    except ValueError:
        return None


def hypervisor_view(host: Host, service: dict[str, Any],
                    servers: list[ServerRef] | None) -> dict[str, Any]:
    """Everything the API shows of one hypervisor; ``servers`` None when not asked for."""
    return {
        "id": host.uuid, "hypervisor_hostname": host.name,
        "state": service["state"], "status": service["status"],
        "hypervisor_type": host.hypervisor_type,
        "hypervisor_version": version_int(host.hypervisor_version),
        "host_ip": host_ip(host.uri),
        "service": {"host": host.name, "id": service["id"],
                    "disabled_reason": service["disabled_reason"]},
        "vcpus": host.vcpus, "vcpus_used": host.used_vcpus,
        "memory_mb": host.ram_mib, "memory_mb_used": host.used_ram_mib,
        "local_gb": host.disk_gib, "local_gb_used": host.used_disk_gib,
        "running_vms": host.instance_count,
        "servers": None if servers is None else [{"uuid": s.uuid, "name": s.name}
                                                 for s in servers],
    }


def _servers(s: Session, host_ids: list[int]) -> dict[int, list[ServerRef]]:
    out: dict[int, list[ServerRef]] = {i: [] for i in host_ids}
    rows = s.execute(select(Instance.host_id, Instance.uuid).where(
        Instance.host_id.in_(host_ids), Instance.deleted.is_(False))
        .order_by(Instance.created_at, Instance.id))
    for host_id, uuid in rows:
        out[host_id].append(ServerRef(uuid, naming.domain_name(uuid)))
    return out


def _views(env: ComputeEnv, s: Session, hosts: list[Host],
           with_servers: bool) -> list[dict[str, Any]]:
    window, at = down_time_s(env), now()
    servers = _servers(s, [h.id for h in hosts]) if with_servers else {}
    return [hypervisor_view(h, service_view(h, window, at),
                            servers.get(h.id) if with_servers else None) for h in hosts]


def list_hypervisors(env: ComputeEnv, ctx: RequestContext, *, pattern: str | None = None,
                     with_servers: bool = False) -> list[dict[str, Any]]:
    """Every hypervisor by name, or those whose name contains ``pattern`` (NotFound if none)."""
    ctx.require_admin(f"listing hypervisors (Nova policy {HYPERVISORS})")
    with env.db.session_scope(readonly=True) as s:
        if pattern is None:
            hosts = list(s.scalars(select(Host).options(selectinload(Host.aggregates))
                                   .order_by(Host.name)))
        else:
            hosts = search_hosts(s, pattern)
            if not hosts:
                raise NotFound(f"No hypervisor matching {short(pattern)} could be found.")
        return _views(env, s, hosts, with_servers)


def show_hypervisor(env: ComputeEnv, ctx: RequestContext, hypervisor_id: str, *,
                    with_servers: bool = False) -> dict[str, Any]:
    """The hypervisor with this id (a host's name is no id: NotFound, as Nova answers)."""
    ctx.require_admin(f"showing a hypervisor (Nova policy {HYPERVISORS})")
    with env.db.session_scope(readonly=True) as s:
        host = s.scalar(select(Host).options(selectinload(Host.aggregates))
                        .where(Host.uuid == hypervisor_id))
        if host is None:
            raise NotFound(f"Hypervisor {short(hypervisor_id)} could not be found.")
        return _views(env, s, [host], with_servers)[0]
