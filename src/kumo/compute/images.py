"""Images: create (with data checked by qemu-img and stored), list, show, set/unset, delete.

Properties are validated by the catalog (``ImageProperties.parse``: every bad one named with its
value and what is allowed) and stored verbatim, custom ones included (CERN's release_date,
recommended). Glance's core attributes that also arrive as properties (disk_format,
container_format, min_ram, min_disk) are lifted into their columns. Everything is checked before
anything is written: a bad property or a file that is not what its disk_format says leaves no
row and no stored file.

Functions return Glance-v2-shaped dicts (core attributes and properties side by side), which the
CLI prints and the Image API will serve.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from kumo.catalog.properties import CORE_ATTRIBUTES, ImageProperties
from kumo.catalog.flavor import MAX_INT
from kumo.catalog.names import check_name, check_pairs, check_text
from kumo.catalog.schema import CONTAINER_FORMATS, DISK_FORMATS
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.failpoints import failpoint
from kumo.compute.image_staging import StagingArea
from kumo.compute.image_store import ImageStore, StoreEvent
from kumo.compute.lookup import check_unclaimed, find_image, image_visible
from kumo.db.models import PROPERTY_VALUE_MAX, Image, ImageStatus, Visibility
from kumo.db.base import new_uuid
from kumo.db.queries import image_query
from kumo.errors import Forbidden, InvalidInput

#: schema properties that are Glance core attributes: stored in columns, not property rows
COLUMN_PROPERTIES = ("disk_format", "container_format", "min_ram", "min_disk")
#: attributes never settable as properties (they have their own options or are kumo's)
RESERVED = (CORE_ATTRIBUTES | {"store_path", "user_id", "deleted_at"}) - set(COLUMN_PROPERTIES)


def store(env: ComputeEnv) -> ImageStore:
    return ImageStore.of(env.settings)


def create_image(env: ComputeEnv, ctx: RequestContext, name: str, *,
                 file: str | Path | None = None, disk_format: str | None = None,
                 container_format: str | None = None,
                 properties: Mapping[str, Any] | None = None,
                 visibility: str = Visibility.SHARED.value, min_ram: int | None = None,
                 min_disk: int | None = None, protected: bool = False) -> dict[str, Any]:
    """A new image owned by ctx's project; with ``file``, its data is checked and stored."""
    check_name("image", name)
    props = dict(properties or {})
    cols = _lift_columns(props, disk_format=disk_format, container_format=container_format,
                         min_ram=min_ram, min_disk=min_disk)
    _check_properties(props)
    _check_visibility(ctx, visibility)
    if file is not None and not cols["disk_format"]:
        raise InvalidInput("an image with data needs a disk_format: allowed "
                           f"{', '.join(DISK_FORMATS)}")
    image_id = new_uuid()
    # data first (locked .part, checked after it is copied in: the copy is what guests will
    # boot from), then the row, then the rename: a kill at any point leaves what
    # ImageStore.recover finishes or removes (kumo.compute.image_store)
    pending = (store(env).write(image_id, file, cols["disk_format"])
               if file is not None else None)
    try:
        if pending is not None:
            failpoint("image-create:written")
        with env.db.session_scope() as s:
            check_unclaimed(s, "image", name=name)
            image = Image(id=image_id, name=name, project_id=ctx.project_id, user_id=ctx.user_id,
                          visibility=visibility, protected=protected,
                          status=(ImageStatus.ACTIVE if pending else ImageStatus.QUEUED).value,
                          disk_format=cols["disk_format"],
                          container_format=cols["container_format"] or "bare",
                          min_ram=cols["min_ram"] or 0, min_disk=cols["min_disk"] or 0)
            if pending is not None:
                stored = pending.stored
                image.store_path, image.size = stored.store_path, stored.size
                image.checksum, image.virtual_size = stored.checksum, stored.virtual_size
                image.os_hash_algo, image.os_hash_value = stored.os_hash_algo, stored.os_hash_value
            image.properties.update({k: str(v) for k, v in props.items()})
            s.add(image)
            s.flush()
            view = image_view(image)
    except BaseException:
        if pending is not None:
            pending.discard()
        raise
    if pending is not None:
        failpoint("image-create:committed")
        pending.publish()
    return view


def list_images(env: ComputeEnv, ctx: RequestContext,
                filters: Mapping[str, str | Sequence[str]] | None = None,
                sort_key: str | Sequence[str] = "created_at", sort_dir: str = "desc",
                limit: int | None = None) -> list[dict[str, Any]]:
    """Images ctx may see, filtered on any core attribute or property, custom ones included."""
    for key, value in (filters or {}).items():
        check_text("filter", key)
        for v in [value] if isinstance(value, str) else value:
            check_text(f"filter {key}", v)
    for key in [sort_key] if isinstance(sort_key, str) else sort_key:
        check_text("sort key", key)
    if limit is not None and not 0 <= limit <= MAX_INT:
        raise InvalidInput(f"limit={limit!r} is invalid: allowed an integer from 0 to {MAX_INT}")
    stmt = (image_query(filters, sort_key, sort_dir).where(image_visible(ctx))
            .options(selectinload(Image.property_rows)))
    if limit is not None:
        stmt = stmt.limit(limit)
    with env.db.session_scope(readonly=True) as s:
        return [image_view(i) for i in s.scalars(stmt)]


def show_image(env: ComputeEnv, ctx: RequestContext, ref: str) -> dict[str, Any]:
    with env.db.session_scope(readonly=True) as s:
        return image_view(find_image(s, ctx, ref))


def update_image(env: ComputeEnv, ctx: RequestContext, ref: str, *,
                 set_properties: Mapping[str, Any] | None = None,
                 unset: Iterable[str] = (), name: str | None = None,
                 visibility: str | None = None, protected: bool | None = None,
                 min_ram: int | None = None, min_disk: int | None = None) -> dict[str, Any]:
    """Set and unset properties (re-validated as a whole) and attributes; owner or admin."""
    changes = dict(set_properties or {})
    unset = list(unset)
    for key in list(changes) + unset:
        if key in ("disk_format", "container_format"):
            raise InvalidInput(f"{key} cannot change once the image exists: create a new image")
    cols = _lift_columns(changes, min_ram=min_ram, min_disk=min_disk)
    if visibility is not None:
        _check_visibility(ctx, visibility)
    with env.db.session_scope() as s:
        image = _owned_image(s, ctx, ref, "change")
        merged = dict(image.properties)
        missing = [k for k in unset if k not in merged and k not in ("min_ram", "min_disk")]
        if missing:
            raise InvalidInput(f"image {ref!r} has no propert{'y' if len(missing) == 1 else 'ies'}"
                               f" {', '.join(missing)} to unset")
        for key in unset:
            merged.pop(key, None)
            if key in ("min_ram", "min_disk"):
                setattr(image, key, 0)
        merged.update({k: str(v) for k, v in changes.items()})
        _check_properties(merged)
        for key in unset:
            image.properties.pop(key, None)
        image.properties.update({k: str(v) for k, v in changes.items()})
        for key in ("min_ram", "min_disk"):
            if cols[key] is not None:
                setattr(image, key, cols[key])
        if name is not None:
            check_name("image", name)
            check_unclaimed(s, "image", name=name)
            image.name = name
        if visibility is not None:
            image.visibility = visibility
        if protected is not None:
            image.protected = protected
        s.flush()
        return image_view(image)


def delete_image(env: ComputeEnv, ctx: RequestContext, ref: str) -> str:
    """Delete the image and its stored data; instances booted from it keep their snapshot."""
    with env.db.session_scope() as s:
        image = _owned_image(s, ctx, ref, "delete")
        if image.protected:
            raise Forbidden(f"image {ref!r} is protected: unprotect it first "
                            "(kumo image set --unprotected)")
        image_id, store_path = image.id, image.store_path
        # the data is set aside (locked) before the row goes and removed after the commit; a
        # kill in between is finished or undone by recover_store
        with store(env).deleting(store_path):
            failpoint("image-delete:set-aside")
            s.delete(image)
            s.flush()
            s.commit()
            failpoint("image-delete:committed")
    # staged data of an image never imported goes with it (recovery removes it after a kill)
    StagingArea.of(env.settings).remove(image_id)
    return image_id


def image_data_path(env: ComputeEnv, ctx: RequestContext, ref: str) -> Path | None:
    """Where the data of an image ctx may see is stored; None if it has none yet."""
    with env.db.session_scope(readonly=True) as s:
        image = find_image(s, ctx, ref)
        return store(env).path(image.store_path) if image.store_path else None


def recover_store(env: ComputeEnv) -> list[StoreEvent]:
    """Finish or undo the image creates and deletes a killed command left in the store."""
    def committed(image_id: str) -> bool:
        """The image's row holds its data: a create or upload committed, a delete did not."""
        with env.db.session_scope(readonly=True) as s:
            image = s.get(Image, image_id)
            return image is not None and image.store_path is not None
    events = store(env).recover(committed)
    dropped = [e.image_id for e in events if e.kind == "part"]
    if dropped:  # an upload into a queued image died half-way: it may be uploaded again
        with env.db.session_scope() as s:
            s.execute(update(Image).where(
                Image.id.in_(dropped), Image.status == ImageStatus.SAVING.value,
                Image.store_path.is_(None)).values(status=ImageStatus.QUEUED.value))
    return events


def store_orphans(env: ComputeEnv, ctx: RequestContext) -> list[StoreEvent]:
    """Store files with no image row, in-flight files, and active images without their file
    (reported, never deleted: the database may be a restored one)."""
    ctx.require_admin("looking for orphans in the image store")

    def ids() -> set[str]:
        with env.db.session_scope(readonly=True) as s:
            return set(s.scalars(select(Image.id)))

    def paths() -> dict[str, str]:
        with env.db.session_scope(readonly=True) as s:
            return {i: p for i, p in s.execute(select(Image.id, Image.store_path)
                                               .where(Image.store_path.is_not(None)))}
    return store(env).orphans(ids, paths)


def boot_properties(image: Image) -> dict[str, str]:
    """The properties an instance freezes at boot: the image's, plus the core attributes the
    guest policy reads (disk_format, container_format, min_ram, min_disk)."""
    props = dict(image.properties)
    for key in COLUMN_PROPERTIES:
        value = getattr(image, key)
        if value not in (None, 0):
            props[key] = str(value)
    return props


def image_view(image: Image) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": image.id, "name": image.name, "status": image.status,
        "visibility": image.visibility, "owner": image.project_id,
        "disk_format": image.disk_format, "container_format": image.container_format,
        "size": image.size, "virtual_size": image.virtual_size, "checksum": image.checksum,
        "os_hash_algo": image.os_hash_algo, "os_hash_value": image.os_hash_value,
        "min_ram": image.min_ram, "min_disk": image.min_disk, "protected": image.protected,
        "created_at": image.created_at.isoformat() if image.created_at else None,
        "updated_at": image.updated_at.isoformat() if image.updated_at else None,
    }
    view["properties"] = dict(sorted(image.properties.items()))
    return view


def _owned_image(s: Session, ctx: RequestContext, ref: str, action: str) -> Image:
    image = find_image(s, ctx, ref)
    if not ctx.owns(image.project_id):
        raise Forbidden(f"image {ref!r} belongs to project {image.project_id!r}: only its owner "
                        f"or an admin may {action} it")
    return image


def _lift_columns(props: dict[str, Any], **given: Any) -> dict[str, Any]:
    """Move core attributes out of ``props``; an attribute given both ways must agree."""
    out: dict[str, Any] = {}
    for key in COLUMN_PROPERTIES:
        value = given.get(key)
        if key in props:
            as_prop = props.pop(key)
            if value is not None and str(value) != str(as_prop):
                raise InvalidInput(f"{key} given twice with different values: {value!r} and "
                                   f"property {key}={as_prop!r}")
            value = as_prop
        out[key] = value
    for key, allowed in (("disk_format", DISK_FORMATS), ("container_format", CONTAINER_FORMATS)):
        if out[key] is not None and out[key] not in allowed:
            raise InvalidInput(f"{key}={out[key]!r} is invalid: allowed {', '.join(allowed)}")
    for key in ("min_ram", "min_disk"):
        if out[key] is not None:
            try:
                out[key] = int(out[key])
                if not 0 <= out[key] <= MAX_INT:
                    raise ValueError
            except ValueError:
                raise InvalidInput(f"{key}={out[key]!r} is invalid: allowed an integer from 0 "
                                   f"to {MAX_INT}") from None
    return out


def _check_properties(props: Mapping[str, Any]) -> None:
    reserved = sorted(k for k in props if k in RESERVED)
    if reserved:
        what = "it is an image attribute" if len(reserved) == 1 else "they are image attributes"
        raise InvalidInput(f"{', '.join(reserved)} cannot be set as a property: {what}")
    check_pairs("property", props)
    for key, value in props.items():
        if len(str(value)) > PROPERTY_VALUE_MAX:
            raise InvalidInput(f"property {key} is {len(str(value))} characters long: allowed at "
                               f"most {PROPERTY_VALUE_MAX}")
    ImageProperties.parse(props)  # InvalidProperty naming every bad one


def _check_visibility(ctx: RequestContext, visibility: str) -> None:
    allowed = [v.value for v in Visibility]
    if visibility not in allowed:
        raise InvalidInput(f"visibility={visibility!r} is invalid: allowed {', '.join(allowed)}")
    if visibility == Visibility.PUBLIC.value:
        ctx.require_admin("publishing an image (visibility=public)")
