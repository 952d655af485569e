"""Where a new instance goes: a simple capacity check and an atomic claim.

A stand-in until kumo.scheduler's filters and weighers are wired in: ``pick`` is the one function
to swap. It considers the enabled, not forced-down hosts with the most free RAM first (or only the
host the operator named). ``place`` then claims on that host inside the unit of work that records
the instance (kumo.db.claims: one conditional UPDATE, so two controllers never over-fill a host),
so the claim and the record commit or roll back together.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.db.claims import AllocationRatios, Resources, claim
from kumo.db.models import Host
from kumo.errors import StateError
from kumo.scheduler.errors import NoValidHost

#: resource label, unit, Resources field, Host columns (used, total, reserved, ratio), and the
#: AllocationRatios field claim() uses when the host's ratio is NULL
_RESOURCES = (
    ("vCPU", "", "vcpus", ("used_vcpus", "vcpus", "reserved_vcpus", "cpu_allocation_ratio",
                           "cpu")),
    ("RAM", " MiB", "ram_mib", ("used_ram_mib", "ram_mib", "reserved_ram_mib",
                                "ram_allocation_ratio", "ram")),
    ("disk", " GiB", "disk_gib", ("used_disk_gib", "disk_gib", "reserved_disk_gib",
                                  "disk_allocation_ratio", "disk")),
)
_DEFAULT_RATIOS = AllocationRatios()


def usable(host: Host) -> str | None:
    """Why ``host`` takes no new instances, or None when it does."""
    if not host.enabled:
        return f"disabled ({host.disabled_reason})" if host.disabled_reason else "disabled"
    if host.forced_down:
        return "forced down"
    return None


def pick(session: Session, request: Resources, host: Host | None = None) -> Host:
    """The host for a new instance, judged on recorded usage; NoValidHost saying why each host
    was passed over. Claims nothing."""
    if host is not None:
        why = usable(host)
        if why:
            raise StateError(f"host {host.name!r} takes no new instances: {why}")
        candidates = [host]
    else:
        candidates = sorted(session.scalars(select(Host).order_by(Host.name)),
                            key=lambda h: -_free(h, _RESOURCES[1][3]))
    if not candidates:
        raise NoValidHost("0/0 hosts: no host is registered (kumo host add)")
    reasons = []
    for h in candidates:
        why = usable(h) or _short(h, request)
        if not why:
            return h
        reasons.append(f"{h.name}: {why}")
    raise NoValidHost(f"0/{len(candidates)} hosts can take {request.vcpus} vCPU, "
                      f"{request.ram_mib} MiB RAM, {request.disk_gib} GiB disk: "
                      + "; ".join(reasons))


def place(session: Session, request: Resources, host: Host) -> None:
    """Claim ``request`` on ``host``; NoValidHost when another claim took the room first."""
    if not claim(session, host.id, request):
        raise NoValidHost(f"0/1 hosts: {host.name}: lost a concurrent claim "
                          f"({_short(host, request) or 'usage changed'}); try again")


def _free(host: Host, cols: tuple[str, str, str, str, str]) -> float:
    used, total, reserved, ratio = (getattr(host, c) for c in cols[:4])
    if ratio is None:
        ratio = getattr(_DEFAULT_RATIOS, cols[4])
    return (total - reserved) * ratio - used


def _short(host: Host, request: Resources) -> str:
    short = []
    for label, unit, field, cols in _RESOURCES:
        want, free = getattr(request, field), _free(host, cols)
        if want and want > free:
            short.append(f"insufficient {label} ({want}{unit} requested, {max(free, 0):g}{unit} "
                         "free)")
    return ", ".join(short)
