"""Which instances a fleet command acts on: ``--host``, ``--instance``, ``--all-projects``.

One rule for every fleet-wide command (kumo reconcile, kumo audit), as Nova's ``server list``
scopes a listing: without ``--all-projects`` the requester's own project only; with it, every
project's (an admin's). ``--instance`` names servers exactly (id or name, kumo.compute.lookup),
``--host`` names hosts exactly (never a prefix: seed 002) and is an admin's, as host details
are; given together they narrow each other (the named servers that are on the named hosts).
Deleted instances are never selected. The order is stable: by host name, then by creation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from kumo.compute.context import HYPERVISORS, RequestContext
from kumo.compute.lookup import find_host, find_server, instance_visible
from kumo.db.models import Host, Instance


@dataclass(frozen=True)
class Selection:
    hosts: tuple[str, ...] = ()
    instances: tuple[str, ...] = ()
    all_projects: bool = False

    @classmethod
    def of(cls, hosts: Iterable[str] = (), instances: Iterable[str] = (),
           all_projects: bool = False) -> "Selection":
        return cls(tuple(dict.fromkeys(hosts)), tuple(dict.fromkeys(instances)), all_projects)

    def as_dict(self) -> dict[str, object]:
        return {"hosts": list(self.hosts), "instances": list(self.instances),
                "all_projects": self.all_projects}


def select_instances(s: Session, ctx: RequestContext, sel: Selection) -> list[Instance]:
    """The instances ``sel`` names, as ``ctx`` may see them (module docstring). NotFound for a
    host or server reference that names none; Forbidden for --host or --all-projects without
    the admin role."""
    if sel.all_projects:
        ctx.require_admin("--all-projects (every project's servers)")
    if sel.hosts:
        ctx.require_admin(f"selecting servers by host (--host; Nova policy {HYPERVISORS})")
    scope = instance_visible(ctx) if sel.all_projects else and_(
        Instance.deleted.is_(False), Instance.project_id == ctx.project_id)
    where = [Instance.deleted.is_(False)]
    if sel.instances:
        uuids = [find_server(s, ctx, ref).uuid for ref in sel.instances]
        where.append(Instance.uuid.in_(uuids))
    else:
        where.append(scope)
    if sel.hosts:
        where.append(Instance.host_id.in_([find_host(s, ref).id for ref in sel.hosts]))
    stmt = (select(Instance).outerjoin(Host, Host.id == Instance.host_id).where(*where)
            .order_by(Host.name, Instance.created_at, Instance.id))
    return list(s.scalars(stmt))
