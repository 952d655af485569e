"""Hypervisor hosts, their capacity and capabilities, and aggregates of hosts.

Capacity is kept as plain integer columns so a claim is one portable conditional UPDATE
(see kumo.db.claims): ``used + requested <= limit``, where the scheduler computes the limit as
``floor((total - reserved) * ratio)`` with the ratio resolved from the host's aggregates.
An allocation ratio of NULL means the default, ``kumo.db.claims.DEFAULT_RATIOS`` (Nova's
``initial_*_allocation_ratio``: 4.0 vCPU, 1.0 RAM, 1.0 disk). CHECK constraints keep the counters
non-negative, so a buggy release fails loudly instead of silently creating capacity.

``instance_count`` counts the instances holding a claim on the host and ``generation`` is bumped
by every claim and release in the same UPDATE (as OpenStack Placement's resource provider
generation), so a scheduler's cached usage never goes back to an older one.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Column, Double, ForeignKey, Integer,
                        String, Table, Text, false)
from sqlalchemy.ext.associationproxy import AssociationProxy, association_proxy
from sqlalchemy.orm import Mapped, attribute_keyed_dict, mapped_column, relationship

from kumo.db.base import JSONDict, Base, Timestamps, UTCDateTime, check_in, new_uuid

if TYPE_CHECKING:
    from kumo.db.models.instances import Instance
    from kumo.hosts.capabilities import HostCapabilities


class VirtType(StrEnum):
    """Operator override of the libvirt domain type on a QEMU host (Nova's [libvirt]virt_type)."""

    KVM = "kvm"
    QEMU = "qemu"


#: width of one component in the sortable hypervisor version (Windows builds reach 5 digits)
_VERSION_COMPONENT = 1_000_000


def hypervisor_version_key(version: str | tuple[int, ...] | None) -> int | None:
    """A sortable integer for a hypervisor version: major, minor and micro, six digits each.

    ``"7.2.0"`` -> 7_000002_000000; Hyper-V ``"6.3.9600"`` -> 6_000003_009600. Compare keys in
    SQL (``hypervisor_version_key >= hypervisor_version_key("6.3")``) to select capable hosts
    (seed 004).
    """
    if version is None:
        return None
    if isinstance(version, str):
        parts = [int(p) for p in re.findall(r"\d+", version)[:3]]
    else:
        parts = [int(p) for p in version[:3]]
    if not parts:
        return None
    parts += [0] * (3 - len(parts))
    major, minor, micro = parts
    if minor >= _VERSION_COMPONENT or micro >= _VERSION_COMPONENT:
        raise ValueError(f"hypervisor version {version!r} has a component over 6 digits")
    return (major * _VERSION_COMPONENT + minor) * _VERSION_COMPONENT + micro


aggregate_hosts = Table(
    "aggregate_hosts",
    Base.metadata,
    Column("aggregate_id", ForeignKey("aggregates.id", ondelete="CASCADE"), primary_key=True),
    Column("host_id", ForeignKey("hosts.id", ondelete="CASCADE"), primary_key=True,
           index=True),
)


def capabilities_key(value: dict[str, Any] | None) -> str | None:
    """The ``hosts.capabilities_key`` of a capabilities value: the SHA-256 of its canonical JSON
    (sorted keys), None for none."""
    if value is None:
        return None
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _capabilities_key_default(context: Any) -> str | None:
    """The key of the capabilities an INSERT writes (ORM or Core, one row or many)."""
    if context is None:
        return None
    return capabilities_key(context.get_current_parameters().get("capabilities"))


class Host(Timestamps, Base):
    __tablename__ = "hosts"
    __table_args__ = (
        CheckConstraint(check_in("virt_type", VirtType), name="virt_type"),
        CheckConstraint("vcpus >= 0 AND ram_mib >= 0 AND disk_gib >= 0", name="capacity"),
        CheckConstraint("reserved_vcpus >= 0 AND reserved_ram_mib >= 0 AND reserved_disk_gib >= 0",
                        name="reserved"),
        CheckConstraint("used_vcpus >= 0 AND used_ram_mib >= 0 AND used_disk_gib >= 0",
                        name="used"),
        CheckConstraint("instance_count >= 0 AND generation >= 0", name="counters"),
        CheckConstraint("liveness IN ('up', 'down')", name="liveness"),
        CheckConstraint("(cpu_allocation_ratio IS NULL OR cpu_allocation_ratio > 0) AND "
                        "(ram_allocation_ratio IS NULL OR ram_allocation_ratio > 0) AND "
                        "(disk_allocation_ratio IS NULL OR disk_allocation_ratio > 0)",
                        name="ratios"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    #: the exact name; never matched by pattern unless the operator asks (seed 002)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    uri: Mapped[str] = mapped_column(String(1024))
    #: the libvirt daemon the URI reaches (LibvirtHost.daemon_id: its host UUID, or the URI
    #: libvirt resolved for a driver with none): one record per daemon, so no capacity is
    #: counted twice; None for hosts recorded before it was kept
    daemon_id: Mapped[str | None] = mapped_column(String(1024), index=True, unique=True)
    #: as libvirt reports it (kvm, qemu, xen, hyperv, test)
    hypervisor_type: Mapped[str] = mapped_column(String(32))
    hypervisor_version: Mapped[str | None] = mapped_column(String(64))
    #: hypervisor_version_key(hypervisor_version): compare versions in SQL
    hypervisor_version_key: Mapped[int | None] = mapped_column(BigInteger)
    virt_type: Mapped[str | None] = mapped_column(String(8))

    vcpus: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ram_mib: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    disk_gib: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reserved_vcpus: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reserved_ram_mib: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reserved_disk_gib: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cpu_allocation_ratio: Mapped[float | None] = mapped_column(Double)
    ram_allocation_ratio: Mapped[float | None] = mapped_column(Double)
    disk_allocation_ratio: Mapped[float | None] = mapped_column(Double)
    used_vcpus: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    used_ram_mib: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    used_disk_gib: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: instances holding a claim here (the InstanceCount weigher's input)
    instance_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: bumped by every claim and release (kumo.db.claims)
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: when the row last changed, set by the database on every INSERT and UPDATE (triggers of
    #: migration 0005): SQLite numbers changes in commit order (its writers are serialised),
    #: PostgreSQL stores the writing transaction's id. The scheduler reads only the rows whose
    #: number is at or past its watermark (kumo.scheduler.resident); never written by kumo.
    change_seq: Mapped[int] = mapped_column(BigInteger, server_default="0", index=True)

    #: HostCapabilities fields as JSON (tuples as lists); see capabilities()/set_capabilities()
    capabilities_json: Mapped[dict[str, Any] | None] = mapped_column("capabilities", JSONDict)
    #: equal for hosts whose capabilities are equal (a digest): the scheduler's cold start reads
    #: this instead of every host's capabilities JSON, then one JSON per distinct key
    #: (kumo.scheduler.resident). Migration 0022: PostgreSQL computes it in a trigger from the
    #: stored text; on SQLite kumo writes it (``capabilities_key``, the column default and
    #: set_capabilities) and a trigger sets it NULL when the capabilities change without it --
    #: NULL: unknown, the reader falls back to the JSON itself
    capabilities_key: Mapped[str | None] = mapped_column(String(64), index=True,
                                                         default=_capabilities_key_default)
    #: the documents they were read from: virsh domcapabilities / virsh capabilities
    domcaps_xml: Mapped[str | None] = mapped_column(Text)
    caps_xml: Mapped[str | None] = mapped_column(Text)

    availability_zone: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(255))
    forced_down: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the time of the last good contact with the host
    last_heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: the last liveness probe's verdict, up or down, why, and when (kumo.periodic.host_liveness)
    liveness: Mapped[str | None] = mapped_column(String(8))
    liveness_reason: Mapped[str | None] = mapped_column(Text)
    liveness_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: consecutive liveness probes that found it down (0 once it answers): "down N intervals"
    down_probes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: the operator's command that powers the host off (kumo.compute.fencing), argv-split
    fence_command: Mapped[str | None] = mapped_column(Text)
    #: a spare that takes only evacuated instances, chosen first (Masakari's reserved_host)
    reserved: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    aggregates: Mapped[list[Aggregate]] = relationship(
        secondary=aggregate_hosts, back_populates="hosts")
    instances: Mapped[list[Instance]] = relationship(back_populates="host", viewonly=True)

    def capabilities(self) -> "HostCapabilities | None":
        """The stored capabilities as the value rendering and scheduling take."""
        from kumo.hosts.capabilities import HostCapabilities  # a value type; import late, no cycle

        if self.capabilities_json is None:
            return None
        return HostCapabilities.from_json(self.capabilities_json)

    def set_capabilities(self, caps: "HostCapabilities") -> None:
        """Store ``caps`` and the hypervisor type and version they report."""
        self.capabilities_json = caps.to_json()
        self.capabilities_key = capabilities_key(self.capabilities_json)
        self.hypervisor_type = caps.hypervisor
        if caps.hypervisor_version is not None:
            self.set_hypervisor_version(caps.hypervisor_version)

    def set_hypervisor_version(self, version: str | tuple[int, ...]) -> None:
        self.hypervisor_version = (version if isinstance(version, str)
                                   else ".".join(str(p) for p in version))
        self.hypervisor_version_key = hypervisor_version_key(version)

    def __repr__(self) -> str:
        return f"<Host {self.id} {self.name!r} {self.uri!r}>"


class AggregateMetadata(Base):
    __tablename__ = "aggregate_metadata"

    aggregate_id: Mapped[int] = mapped_column(
        ForeignKey("aggregates.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class Aggregate(Timestamps, Base):
    __tablename__ = "aggregates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    availability_zone: Mapped[str | None] = mapped_column(String(255))

    hosts: Mapped[list[Host]] = relationship(secondary=aggregate_hosts,
                                             back_populates="aggregates")
    metadata_items: Mapped[dict[str, AggregateMetadata]] = relationship(
        collection_class=attribute_keyed_dict("key"), cascade="all, delete-orphan",
        passive_deletes=True)
    #: ``aggregate.meta["ssd"] = "true"``: a dict view over aggregate_metadata
    meta: AssociationProxy[dict[str, str]] = association_proxy(
        "metadata_items", "value", creator=lambda k, v: AggregateMetadata(key=k, value=v))

    def __repr__(self) -> str:
        return f"<Aggregate {self.id} {self.name!r}>"


class InventoryEpoch(Base):
    """One row (id 1) whose ``token`` the database sets to a new random value whenever a host
    row is deleted or an aggregate, its metadata or its membership changes (triggers of
    migration 0005): changes the per-row ``hosts.change_seq`` cannot show. A scheduler that
    keeps the inventory resident reloads it whole when the token differs from the one it loaded
    with (or the row is missing)."""

    __tablename__ = "inventory_epoch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    token: Mapped[int] = mapped_column(BigInteger, server_default="0")
