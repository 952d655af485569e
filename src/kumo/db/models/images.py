"""Images (Glance's model), their properties, tags and members.

Every image property, schema-defined or custom, is one row of ``image_properties``
(image_id, name, value): one place per fact, indexed on (name, value) so filtering and sorting on
any property is a plain SQL query (kumo.db.queries.image_query). Values are stored verbatim as
text; validating and typing them is the catalog's job, not the database's.

``image.properties`` is a dict view over those rows: ``image.properties["recommended"] = "true"``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String,
                        Text)
from sqlalchemy.ext.associationproxy import AssociationProxy, association_proxy
from sqlalchemy.orm import Mapped, attribute_keyed_dict, mapped_column, relationship

from kumo.db.base import Base, Timestamps, UTCDateTime, check_in, new_uuid, utcnow


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    SHARED = "shared"
    COMMUNITY = "community"


class ImageStatus(StrEnum):
    """Glance v2's image statuses."""

    QUEUED = "queued"
    SAVING = "saving"
    UPLOADING = "uploading"
    IMPORTING = "importing"
    ACTIVE = "active"
    DEACTIVATED = "deactivated"
    KILLED = "killed"
    PENDING_DELETE = "pending_delete"
    DELETED = "deleted"


class MemberStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


#: the longest property value kept, in characters (Nova's limit on metadata values). It keeps every
#: (name, value) pair within PostgreSQL's btree entry limit (~2.7 kB), so the index can hold any
#: row and both backends accept and refuse the same values.
PROPERTY_VALUE_MAX = 255


class ImageProperty(Base):
    __tablename__ = "image_properties"
    __table_args__ = (
        Index(None, "name", "value"),
        CheckConstraint(f"length(value) <= {PROPERTY_VALUE_MAX}", name="value_length"),
    )

    image_id: Mapped[str] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: verbatim, at most PROPERTY_VALUE_MAX characters (validate before, for a friendly error)
    value: Mapped[str] = mapped_column(Text)
    #: when the property got this value (set on insert and on each change; kumo audit says when
    #: an image gained or changed a property); None for rows older than migration 0010
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=utcnow,
                                                        onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<ImageProperty {self.name}={self.value!r}>"


class ImageTag(Base):
    __tablename__ = "image_tags"
    __table_args__ = (Index(None, "value"),)

    image_id: Mapped[str] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), primary_key=True)


class ImageMember(Timestamps, Base):
    """A project an image with visibility=shared is shared with (Glance's image members)."""

    __tablename__ = "image_members"
    __table_args__ = (CheckConstraint(check_in("status", MemberStatus), name="status"),)

    image_id: Mapped[str] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default=MemberStatus.PENDING.value)


class Image(Timestamps, Base):
    __tablename__ = "images"
    __table_args__ = (
        CheckConstraint(check_in("visibility", Visibility), name="visibility"),
        CheckConstraint(check_in("status", ImageStatus), name="status"),
        Index(None, "status", "visibility"),
    )

    #: the Glance image id (a uuid), which is also what instances record as image_id
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str | None] = mapped_column(String(255), index=True)
    #: the owner project (Glance's ``owner``); NULL for an image no project owns
    project_id: Mapped[str | None] = mapped_column(String(64), index=True)
    user_id: Mapped[str | None] = mapped_column(String(64))
    visibility: Mapped[str] = mapped_column(String(16), default=Visibility.SHARED.value)
    status: Mapped[str] = mapped_column(String(16), default=ImageStatus.QUEUED.value)
    disk_format: Mapped[str | None] = mapped_column(String(16))
    container_format: Mapped[str | None] = mapped_column(String(16))
    size: Mapped[int | None] = mapped_column(BigInteger)
    virtual_size: Mapped[int | None] = mapped_column(BigInteger)
    #: md5 hex digest (Glance's legacy ``checksum``)
    checksum: Mapped[str | None] = mapped_column(String(32))
    os_hash_algo: Mapped[str | None] = mapped_column(String(64))
    os_hash_value: Mapped[str | None] = mapped_column(String(128))
    min_ram: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    min_disk: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: where the data is in the image store (relative to Settings.image_dir unless absolute)
    store_path: Mapped[str | None] = mapped_column(String(1024))
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    property_rows: Mapped[dict[str, ImageProperty]] = relationship(
        collection_class=attribute_keyed_dict("name"), cascade="all, delete-orphan",
        passive_deletes=True)
    properties: AssociationProxy[dict[str, str]] = association_proxy(
        "property_rows", "value", creator=lambda k, v: ImageProperty(name=k, value=v))
    tag_rows: Mapped[list[ImageTag]] = relationship(cascade="all, delete-orphan",
                                                    passive_deletes=True)
    tags: AssociationProxy[list[str]] = association_proxy(
        "tag_rows", "value", creator=lambda v: ImageTag(value=v))
    members: Mapped[list[ImageMember]] = relationship(cascade="all, delete-orphan",
                                                      passive_deletes=True)

    def __repr__(self) -> str:
        return f"<Image {self.id} {self.name!r} {self.status}>"
