"""Flavors, their extra specs and, for private flavors, the projects allowed to use them.

The API id is ``flavorid``, a string as in Nova (devstack's flavors are "1", "2", ...; kumo
generates a uuid when none is given); ``id`` is internal.
"""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.ext.associationproxy import AssociationProxy, association_proxy
from sqlalchemy.orm import Mapped, attribute_keyed_dict, mapped_column, relationship

from kumo.db.base import Base, Timestamps, new_uuid


class FlavorExtraSpec(Base):
    __tablename__ = "flavor_extra_specs"

    flavor_id: Mapped[int] = mapped_column(
        ForeignKey("flavors.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class FlavorProject(Base):
    """A project given access to a non-public flavor."""

    __tablename__ = "flavor_projects"

    flavor_id: Mapped[int] = mapped_column(
        ForeignKey("flavors.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class Flavor(Timestamps, Base):
    __tablename__ = "flavors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flavorid: Mapped[str] = mapped_column(String(255), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    vcpus: Mapped[int] = mapped_column(Integer)
    ram_mib: Mapped[int] = mapped_column(Integer)
    disk_gib: Mapped[int] = mapped_column(Integer, default=0)
    ephemeral_gib: Mapped[int] = mapped_column(Integer, default=0)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(Text)

    extra_spec_rows: Mapped[dict[str, FlavorExtraSpec]] = relationship(
        collection_class=attribute_keyed_dict("key"), cascade="all, delete-orphan",
        passive_deletes=True)
    #: ``flavor.extra_specs["hw:disk_bus"] = "scsi"``: a dict view over flavor_extra_specs
    extra_specs: AssociationProxy[dict[str, str]] = association_proxy(
        "extra_spec_rows", "value", creator=lambda k, v: FlavorExtraSpec(key=k, value=v))
    projects: Mapped[list[FlavorProject]] = relationship(cascade="all, delete-orphan",
                                                         passive_deletes=True)

    def __repr__(self) -> str:
        return f"<Flavor {self.flavorid} {self.name!r}>"
