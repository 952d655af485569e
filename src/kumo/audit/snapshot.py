"""What an audit reads from the database, once, before it asks any host.

One read-only unit of work loads the selected instances (detached: the hosts are asked after it
ends), their hosts, their images' current properties with when each got its value, the
set-property overrides made on them, which of them an operation is working on, and -- for the
orphan check -- where every live instance of the installation is.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kumo.catalog.schema import REFERENCES
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.images import COLUMN_PROPERTIES
from kumo.compute.installation import installation_id
from kumo.compute.lookup import find_host
from kumo.compute.selection import Selection, select_instances
from kumo.db.models import (UNFINISHED_STATES, Host, Image, ImageStatus, Instance,
                            JournalEntry)


@dataclass(frozen=True)
class ImageNow:
    """An image as it is now: the properties an instance booting it would freeze
    (kumo.compute.images.boot_properties, references as image ids) and when each got its
    value (None: not recorded)."""

    id: str
    name: str | None
    properties: dict[str, str]
    changed: dict[str, datetime | None]
    updated_at: datetime | None


@dataclass(frozen=True)
class Override:
    """A set-property change of one key on one instance (the latest)."""

    when: datetime
    #: the request that made it (kumo server event show)
    request_id: str | None
    value: str | None


@dataclass
class Snapshot:
    installation: str
    instances: list[Instance]
    hosts: dict[int, Host]
    images: dict[str, ImageNow]
    #: instance uuid -> property -> the latest set-property change of it
    overrides: dict[str, dict[str, Override]] = field(default_factory=dict)
    #: instance uuid -> the operation in flight on it
    busy: dict[str, str] = field(default_factory=dict)
    #: every live instance uuid of this installation -> its host's id (None: no orphan check)
    placed: dict[str, int | None] | None = None


def read(env: ComputeEnv, ctx: RequestContext, sel: Selection) -> Snapshot:
    """The snapshot of the instances ``sel`` selects (kumo.compute.selection: the one rule
    kumo reconcile selects by too) that are on a host."""
    with env.db.session_scope(readonly=True) as s:
        instances = [i for i in select_instances(s, ctx, sel) if i.host_id is not None]
        # the orphan check needs every record of the hosts audited: not when servers are named
        whole_hosts = not sel.instances and ctx.is_admin
        host_ids = {i.host_id for i in instances}
        if sel.hosts:
            host_ids |= {find_host(s, ref).id for ref in sel.hosts}  # an empty host too
        elif whole_hosts and sel.all_projects:
            host_ids |= set(s.scalars(select(Host.id)))
        hosts = {h.id: h for h in s.scalars(select(Host).where(Host.id.in_(host_ids)))}
        uuids = {i.uuid for i in instances}
        snap = Snapshot(installation=installation_id(env.db, s), instances=instances,
                        hosts=hosts, images=_images(s, {i.image_id for i in instances
                                                        if i.image_id}))
        for e in s.scalars(select(JournalEntry).where(JournalEntry.operation == "set-property")
                           .order_by(JournalEntry.id)):
            if e.instance_uuid not in uuids:
                continue
            mine = snap.overrides.setdefault(e.instance_uuid, {})
            payload = e.payload or {}
            for key in [*(payload.get("set") or {}), *(payload.get("unset") or [])]:
                mine[key] = Override(e.created_at, e.request_id,
                                     (payload.get("set") or {}).get(key))
        for uuid, op in s.execute(select(JournalEntry.instance_uuid, JournalEntry.operation)
                                  .where(JournalEntry.state.in_(UNFINISHED_STATES))):
            if uuid in uuids:
                snap.busy[uuid] = op
        if whole_hosts:
            snap.placed = dict(s.execute(select(Instance.uuid, Instance.host_id)
                                         .where(Instance.deleted.is_(False))).all())
        s.expunge_all()
    return snap


def _images(s: Session, ids: set[str]) -> dict[str, ImageNow]:
    if not ids:
        return {}
    rows = list(s.scalars(select(Image).where(Image.id.in_(ids))
                          .options(selectinload(Image.property_rows))))
    names = _reference_names(s, rows)
    out = {}
    for image in rows:
        if image.status in (ImageStatus.DELETED.value, ImageStatus.PENDING_DELETE.value):
            continue
        props = {name: row.value for name, row in image.property_rows.items()}
        changed = {name: row.updated_at for name, row in image.property_rows.items()}
        for key in COLUMN_PROPERTIES:  # as boot_properties adds them at boot
            value = getattr(image, key)
            if value not in (None, 0):
                props[key], changed[key] = str(value), None
        for prop in REFERENCES:  # frozen as the id of the image named (boot_source)
            if props.get(prop) in names:
                props[prop] = names[props[prop]]
        out[image.id] = ImageNow(image.id, image.name, props, changed, image.updated_at)
    return out


def _reference_names(s: Session, images: list[Image]) -> dict[str, str]:
    """Image name or id -> id, for the values of reference properties (kernel_id, ...) that
    name exactly one image."""
    refs = {row.value for i in images for name, row in i.property_rows.items()
            if name in REFERENCES}
    if not refs:
        return {}
    found: dict[str, list[str]] = defaultdict(list)
    for image_id, name in s.execute(select(Image.id, Image.name).where(
            Image.id.in_(refs) | Image.name.in_(refs))):
        found[image_id].append(image_id)
        if name in refs:
            found[name].append(image_id)
    return {ref: ids[0] for ref, ids in found.items() if len(set(ids)) == 1}
