"""Compute services (Nova's os-services): each host kumo manages is one ``nova-compute`` service.

kumo runs no agent on its hosts; the controller talks to each libvirt daemon itself. A host
record therefore stands for what Nova splits into a compute service and a compute node: the
service's id is the host's uuid (the hypervisor's id too, kumo.compute.hypervisors), its
``host`` the host's exact name, its binary ``nova-compute`` -- the name operators' scripts and
``openstack compute service set --down HOST nova-compute`` use.

What each field means is decided elsewhere, once:

- ``state`` up/down is the scheduler's ComputeUp rule (Nova's servicegroup API): down when
  forced down or when the last heartbeat is older than ``service_down_time``
  (kumo.scheduler.filters.host, kumo.compute.heartbeat);
- ``status`` enabled/disabled and its reason is ``kumo host enable|disable``
  (kumo.compute.hosts.set_enabled);
- ``forced_down`` is ``kumo host set --down|--up``, the operator's confirmation that the host is
  fenced, journaled with who did it (kumo.compute.evacuate.set_fenced);
- ``zone`` is the scheduler's zone of the host (kumo.scheduler.inventory.zone_of).

Admin-only, as Nova's default policy (os_compute_api:os-services:*).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from kumo.catalog.names import check_text, short
from kumo.compute import heartbeat
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.states import now
from kumo.db.models import Host
from kumo.errors import InvalidInput, NotFound
from kumo.scheduler import service as scheduler
from kumo.scheduler.inventory import zone_of
from kumo.scheduler.plugins import FILTERS

BINARY = "nova-compute"
ENABLED, DISABLED = "enabled", "disabled"
UP, DOWN = "up", "down"
#: Nova's limit on disabled_reason (services.disabled_reason String(255))
REASON_MAX = 255
POLICY = "os_compute_api:os-services"


@dataclass(frozen=True)
class ServiceChange:
    """A ``PUT /os-services/{id}`` (Nova 2.53+): any of status, its reason, forced_down."""

    status: str | None = None
    disabled_reason: str | None = None
    forced_down: bool | None = None

    def check(self) -> None:
        if self.status is None and self.forced_down is None:
            raise InvalidInput("nothing to change: give status (enabled or disabled) and/or "
                               "forced_down (true or false)")
        if self.status not in (None, ENABLED, DISABLED):
            raise InvalidInput(f"status={short(self.status)} is invalid: allowed enabled, "
                               "disabled")
        if self.disabled_reason is not None:
            if self.status != DISABLED:
                raise InvalidInput("disabled_reason is allowed only with status disabled")
            check_text("disabled_reason", self.disabled_reason)
            if not 1 <= len(self.disabled_reason) <= REASON_MAX:
                raise InvalidInput(f"disabled_reason of {len(self.disabled_reason)} characters "
                                   f"is invalid: allowed 1 to {REASON_MAX} characters")


def down_time_s(env: ComputeEnv) -> float:
    """The ComputeUp window the scheduler applies (its default when the filter is off)."""
    window = heartbeat.down_time(scheduler.load_config(settings=env.settings))
    return window if window is not None else float(
        FILTERS["ComputeUp"].OPTIONS["service_down_time"])


def service_state(host: Host, window_s: float, at: datetime | None = None) -> str:
    """up or down as the scheduler's ComputeUp filter sees the host (module docstring)."""
    if host.forced_down or host.last_heartbeat is None:
        return DOWN
    age = ((at or now()) - host.last_heartbeat).total_seconds()
    return UP if age <= window_s else DOWN


def service_view(host: Host, window_s: float, at: datetime | None = None) -> dict[str, Any]:
    return {"id": host.uuid, "binary": BINARY, "host": host.name, "zone": zone_of(host),
            "status": ENABLED if host.enabled else DISABLED,
            "state": service_state(host, window_s, at),
            "disabled_reason": None if host.enabled else host.disabled_reason,
            "forced_down": bool(host.forced_down),
            "updated_at": host.last_heartbeat.isoformat() if host.last_heartbeat else None}


def list_services(env: ComputeEnv, ctx: RequestContext, *, host: str | None = None,
                  binary: str | None = None) -> list[dict[str, Any]]:
    """Every compute service, or those of the host named exactly ``host`` and of ``binary``
    (Nova filters both on the server: `compute service set` relies on it)."""
    ctx.require_admin(f"listing compute services (Nova policy {POLICY}:list)")
    if binary is not None and binary != BINARY:
        return []
    window, at = down_time_s(env), now()
    with env.db.session_scope(readonly=True) as s:
        stmt = select(Host).options(selectinload(Host.aggregates)).order_by(Host.name)
        if host is not None:
            stmt = stmt.where(Host.name == host)
        return [service_view(h, window, at) for h in s.scalars(stmt)]


def _host_of(env: ComputeEnv, service_id: str) -> Host:
    with env.db.session_scope(readonly=True) as s:
        row = s.scalar(select(Host).where(Host.uuid == service_id))
        if row is None:
            raise NotFound(f"Service {short(service_id)} could not be found.")
        return row


def update_service(env: ComputeEnv, ctx: RequestContext, service_id: str,
                   change: ServiceChange) -> dict[str, Any]:
    """Enable or disable the service (with a reason) and/or force it down or up, through the
    functions ``kumo host enable|disable`` and ``kumo host set --down|--up`` call."""
    from kumo.compute import evacuate, hosts

    ctx.require_admin(f"changing a compute service (Nova policy {POLICY}:update)")
    change.check()
    host = _host_of(env, service_id)
    if change.status is not None:
        hosts.set_enabled(env, ctx, host.uuid, change.status == ENABLED,
                          change.disabled_reason)
    if change.forced_down is not None:
        evacuate.set_fenced(env, ctx, host.uuid, change.forced_down,
                            "through the Compute API (os-services forced_down)")
    return show_service(env, ctx, service_id)


def show_service(env: ComputeEnv, ctx: RequestContext, service_id: str) -> dict[str, Any]:
    ctx.require_admin(f"showing a compute service (Nova policy {POLICY}:list)")
    window = down_time_s(env)
    with env.db.session_scope(readonly=True) as s:
        row = s.scalar(select(Host).options(selectinload(Host.aggregates))
                       .where(Host.uuid == service_id))
        if row is None:
            raise NotFound(f"Service {short(service_id)} could not be found.")
        return service_view(row, window)


def delete_service(env: ComputeEnv, ctx: RequestContext, service_id: str) -> str:
    """Remove the compute service: the host, as ``kumo host delete`` (refused while servers are
    on it, as Nova refuses a compute service that still hosts instances)."""
    from kumo.compute.host_admin import delete_host

    ctx.require_admin(f"deleting a compute service (Nova policy {POLICY}:delete)")
    return delete_host(env, ctx, _host_of(env, service_id).uuid)
