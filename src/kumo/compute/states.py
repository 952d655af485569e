"""Instance states, as Nova names them, and the server view the CLI and API show.

vm_state is where the instance stands (building, active, stopped, error, deleted); task_state
what is being done to it right now (None when idle); power_state what the hypervisor last
reported (kumo.db.models.PowerState). ``status`` is the Compute API's one-word summary.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import inspect

from kumo.db.models import Instance, PowerState
from kumo.hosts.protocol import DomainState

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from kumo.compute.context import RequestContext

BUILDING, ACTIVE, STOPPED, ERROR, DELETED = "building", "active", "stopped", "error", "deleted"
#: moved by a cold migration or resize, waiting for confirm or revert (status VERIFY_RESIZE)
RESIZED = "resized"

SCHEDULING, SPAWNING = "scheduling", "spawning"
POWERING_ON, POWERING_OFF = "powering-on", "powering-off"
REBOOTING, REBOOTING_HARD = "rebooting", "rebooting_hard"
REBUILDING, DELETING = "rebuilding", "deleting"
#: a cold migration or resize (kumo.compute.moves), as Nova names its task states
RESIZE_PREP, RESIZE_MIGRATING = "resize_prep", "resize_migrating"
RESIZE_FINISH = "resize_finish"
RESIZE_CONFIRMING, RESIZE_REVERTING = "resize_confirming", "resize_reverting"

#: (vm_state, task_state) -> Compute API status; task None matches any task not listed
_STATUS = {
    (ACTIVE, REBOOTING): "REBOOT", (ACTIVE, REBOOTING_HARD): "HARD_REBOOT",
    (STOPPED, REBOOTING_HARD): "HARD_REBOOT", (ERROR, REBOOTING_HARD): "HARD_REBOOT",
    (ACTIVE, REBUILDING): "REBUILD", (STOPPED, REBUILDING): "REBUILD",
    (ERROR, REBUILDING): "REBUILD",
    # Nova's api/openstack/common.py _STATE_MAP: RESIZE while moving, REVERT_RESIZE while
    # reverting, VERIFY_RESIZE otherwise once moved (confirming included)
    **{(vm, task): "RESIZE" for vm in (ACTIVE, STOPPED)
       for task in (RESIZE_PREP, RESIZE_MIGRATING, RESIZE_FINISH)},
    (RESIZED, RESIZE_REVERTING): "REVERT_RESIZE",
}
VM_STATUS = {BUILDING: "BUILD", ACTIVE: "ACTIVE", STOPPED: "SHUTOFF", ERROR: "ERROR",
              DELETED: "DELETED", RESIZED: "VERIFY_RESIZE"}

#: the domain state a host reports -> power state (as Nova's libvirt driver maps them,
#: nova/virt/libvirt/driver.py LIBVIRT_POWER_STATE)
HOST_POWER = {DomainState.NOSTATE: PowerState.NOSTATE, DomainState.RUNNING: PowerState.RUNNING,
              DomainState.BLOCKED: PowerState.RUNNING, DomainState.PAUSED: PowerState.PAUSED,
              DomainState.SHUTDOWN: PowerState.SHUTDOWN,
              DomainState.SHUTOFF: PowerState.SHUTDOWN,
              DomainState.CRASHED: PowerState.CRASHED,
              DomainState.PMSUSPENDED: PowerState.SUSPENDED,
              DomainState.UNKNOWN: PowerState.NOSTATE}


class ServerFields(Protocol):
    """What the server view reads: an Instance record, or a Core row of these columns
    (kumo.compute.server_reads.VIEW_COLUMNS)."""

    uuid: str
    name: str
    vm_state: str
    task_state: str | None
    power_state: int
    image_id: str | None
    flavor_name: str | None
    vcpus: int
    ram_mib: int
    disk_gib: int
    project_id: str
    user_id: str
    key_name: str | None
    server_metadata: dict[str, Any] | None
    user_data: str | None
    fault_code: int | None
    fault_reason: str | None
    fault_details: str | None
    notes: str | None
    config_digest: str | None
    machine_type: str | None
    pending_restart: str | None
    image_properties: dict[str, Any] | None
    created_at: datetime | None
    launched_at: datetime | None


def now() -> datetime:
    return datetime.now(timezone.utc)


def status(instance: Instance) -> str:
    return _STATUS.get((instance.vm_state, instance.task_state),
                       VM_STATUS.get(instance.vm_state, instance.vm_state.upper()))


def set_fault(instance: Instance, reason: str, details: str | None = None,
              code: int = 500) -> None:
    instance.vm_state, instance.task_state = ERROR, None
    instance.fault_code, instance.fault_reason, instance.fault_details = code, reason, details


def clear_fault(instance: Instance) -> None:
    instance.fault_code = instance.fault_reason = instance.fault_details = None


def server_view(instance: Instance, ctx: RequestContext | None = None) -> dict[str, Any]:
    """The server as ``ctx`` may see it (None: an admin's view), of an Instance record (the
    lists and the API's show read Core rows instead: kumo.compute.server_reads)."""
    host = instance.host.name if instance.host_id and instance.host else None
    return view_of(instance, host, addresses(instance), ctx, inspect(instance).session)


def view_of(fields: ServerFields, host: str | None, addrs: dict[str, list[str]],
            ctx: RequestContext | None, session: Session | None) -> dict[str, Any]:
    """The one server view, of an Instance record or a Core row with its columns. A member sees
    no host name, only Nova's ``hostId``: sha224 of project id and host name, the same for two
    servers of the project on one host and telling nothing about the host (Nova policy
    SERVER_HOST), and no user data (base64; Nova's os-extended-server-attributes policy: admin
    only). ``session`` reads the host names a member's fault is cleaned of."""
    view = _admin_view(fields, host, addrs)
    if ctx is not None and not ctx.is_admin:
        view["host"] = None
        view.pop("user_data")  # an admin's, as Nova's OS-EXT-SRV-ATTR:user_data
        view["host_id"] = host_id_hash(fields.project_id, host)
        if view["fault"]:  # a failed create names each host it tried and why
            fault = view["fault"]
            view["fault"] = {**fault, "message": _without_hosts(session, fault["message"]),
                             "details": None}
    return view


def _without_hosts(session: Session | None, text: str | None) -> str | None:
    """``text`` with every host's name replaced by "a host" (the names read once per
    session): what a member may read of a fault."""
    import re

    from sqlalchemy import select

    from kumo.db.models import Host

    if not text or session is None:
        return text
    pattern = session.info.get("kumo_host_names")
    if pattern is None:
        names = sorted(session.scalars(select(Host.name)), key=len, reverse=True)
        pattern = (re.compile("(?<![\\w.-])(?:" + "|".join(map(re.escape, names)) +
                              ")(?![\\w.-])") if names else False)
        session.info["kumo_host_names"] = pattern
    return pattern.sub("a host", text) if pattern else text


#: PowerState code -> the view's name of it (looked up per server of a list)
_POWER_NAMES = {p.value: p.name.lower() for p in PowerState}


@functools.lru_cache(maxsize=4096)  # a list of 1,000 servers shares a few (project, host) pairs
def host_id_hash(project_id: str, host: str | None) -> str:
    """Nova's ``hostId``: sha224 of the project id and the host name ("" for no host) -- the
    same for a project's servers on one host, telling nothing about the host itself."""
    return hashlib.sha224(f"{project_id}{host}".encode()).hexdigest() if host else ""


def addresses(instance: Instance) -> dict[str, list[str]]:
    """network name -> the server's fixed addresses on it, in NIC order (Nova's
    ``addresses``)."""
    out: dict[str, list[str]] = {}
    for port in getattr(instance, "ports", None) or ():
        out.setdefault(port.network.name, []).append(port.ip_address)
    return out


def _admin_view(instance: ServerFields, host: str | None,
                addrs: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "id": instance.uuid, "name": instance.name, "status": status(instance),
        "vm_state": instance.vm_state, "task_state": instance.task_state,
        "power_state": _POWER_NAMES[instance.power_state],
        "host": host,
        "image": instance.image_id, "flavor": instance.flavor_name,
        "vcpus": instance.vcpus, "ram": instance.ram_mib, "disk": instance.disk_gib,
        "project_id": instance.project_id, "user_id": instance.user_id,
        "key_name": instance.key_name,
        "addresses": addrs,
        "metadata": dict(sorted((instance.server_metadata or {}).items())),
        "user_data": instance.user_data,
        "fault": ({"code": instance.fault_code, "message": instance.fault_reason,
                   "details": instance.fault_details} if instance.fault_reason else None),
        "notes": instance.notes,
        "config_digest": instance.config_digest,
        "machine_type": instance.machine_type,
        # a reconcile run whose configuration the running guest gets at its next stop/reboot
        "pending_restart": instance.pending_restart,
        "image_properties": dict(sorted((instance.image_properties or {}).items())),
        "created": instance.created_at.isoformat() if instance.created_at else None,
        "launched_at": instance.launched_at.isoformat() if instance.launched_at else None,
    }
