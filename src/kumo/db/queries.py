"""Generic queries the services build on. No business rules: which images a project may see,
which property values are valid, what an unfinished operation means for an instance -- those are
the service layer's; these only turn a request into SQL.

Images: filter and sort on core columns and on any property, custom ones included, in SQL:

    image_query({"os_type": "windows", "recommended": "true"}, sort_key="release_date")

A filter key that names a core column (name, status, visibility, disk_format, owner, min_ram,
protected, ...) compares that column; any other key is an image property, matched exactly
(values are stored verbatim). A list or tuple value means "any of". Property sorting is textual
(ISO dates sort right; numbers stored as text do not); images without the sort property, and
NULL core values, come last in both directions. Ties are broken by created_at, then id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Integer, Select, and_, exists, select
from sqlalchemy.orm import Session, aliased, selectinload

from kumo.db.models import UNFINISHED_STATES, Image, ImageProperty, JournalEntry
from kumo.errors import InvalidInput

#: filter/sort key -> Image column (``owner`` is Glance's name for the owner project)
IMAGE_COLUMNS: dict[str, Any] = {
    "id": Image.id, "name": Image.name, "owner": Image.project_id,
    "project_id": Image.project_id, "status": Image.status, "visibility": Image.visibility,
    "disk_format": Image.disk_format, "container_format": Image.container_format,
    "size": Image.size, "virtual_size": Image.virtual_size, "checksum": Image.checksum,
    "os_hash_algo": Image.os_hash_algo, "os_hash_value": Image.os_hash_value,
    "min_ram": Image.min_ram, "min_disk": Image.min_disk, "protected": Image.protected,
    "created_at": Image.created_at, "updated_at": Image.updated_at,
}
_UNFILTERABLE = {"created_at", "updated_at"}  # timestamps sort, they are not matched exactly
SORT_DIRS = ("asc", "desc")

FilterValue = str | Sequence[str]


def image_query(filters: Mapping[str, FilterValue] | None = None,
                sort_key: str | Sequence[str] = "created_at",
                sort_dir: str = "desc") -> Select[tuple[Image]]:
    """A SELECT of images matching ``filters``, sorted; add tenancy conditions and a limit."""
    stmt = select(Image)
    for key, value in (filters or {}).items():
        stmt = stmt.where(_image_filter(key, value))
    if sort_dir not in SORT_DIRS:
        raise InvalidInput(f"sort direction {sort_dir!r} is invalid: allowed asc or desc")
    keys = [sort_key] if isinstance(sort_key, str) else list(sort_key)
    for i, key in enumerate(keys + [k for k in ("created_at", "id") if k not in keys]):
        if key in IMAGE_COLUMNS:
            column = IMAGE_COLUMNS[key]
        else:
            prop = aliased(ImageProperty, name=f"sort_{i}")
            stmt = stmt.outerjoin(prop, and_(prop.image_id == Image.id, prop.name == key))
            column = prop.value
        ordered = column.asc() if sort_dir == "asc" else column.desc()
        stmt = stmt.order_by(ordered.nulls_last())
    return stmt


def filter_images(session: Session, filters: Mapping[str, FilterValue] | None = None,
                  sort_key: str | Sequence[str] = "created_at", sort_dir: str = "desc",
                  limit: int | None = None) -> list[Image]:
    """The images image_query selects, with their properties loaded."""
    stmt = image_query(filters, sort_key, sort_dir).options(selectinload(Image.property_rows))
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def _image_filter(key: str, value: FilterValue) -> ColumnElement[bool]:
    values = [value] if isinstance(value, str) else list(value)
    if key not in IMAGE_COLUMNS:
        return exists().where(ImageProperty.image_id == Image.id, ImageProperty.name == key,
                              ImageProperty.value.in_(values) if len(values) != 1
                              else ImageProperty.value == values[0])
    if key in _UNFILTERABLE:
        raise InvalidInput(f"images cannot be filtered on {key!r}: it can only be sorted on")
    column = IMAGE_COLUMNS[key]
    typed = [_typed(key, column.type, v) for v in values]
    return column.in_(typed) if len(typed) != 1 else column == typed[0]


def _typed(key: str, type_: Any, value: str) -> Any:
    if isinstance(type_, Boolean):
        low = str(value).lower()
        if low in ("true", "false"):
            return low == "true"
        raise InvalidInput(f"image filter {key}={value!r} is invalid: allowed true or false")
    if isinstance(type_, Integer):  # BigInteger too
        try:
            return int(value)
        except ValueError:
            raise InvalidInput(
                f"image filter {key}={value!r} is invalid: allowed an integer") from None
    return value


def unfinished_operations_query() -> Select[tuple[JournalEntry]]:
    """Journal entries still pending or in progress, oldest first: one query on
    ix_journal_state_id. Which of them this controller should recover is the caller's choice."""
    return (select(JournalEntry).where(JournalEntry.state.in_(UNFINISHED_STATES))
            .order_by(JournalEntry.id))


def unfinished_operations(session: Session) -> list[JournalEntry]:
    return list(session.scalars(unfinished_operations_query()))
