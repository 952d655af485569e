"""Instances, the key pairs and server groups they use.

An instance keeps everything its guest configuration is made from, so hard reboot, reconcile and
evacuation regenerate it from this row alone (seed 001's cure, without hand-editing a database):

* a snapshot of the flavor (vcpus, ram, disk, ephemeral, name, id, extra specs), and
* the image properties frozen at boot (``image_properties``: name -> value, as Nova keeps its
  ``image_*`` system metadata).

``image_id`` and ``flavor_id`` are the API ids without foreign keys: the image or flavor may be
deleted while the instance lives on; the snapshot is the record.

Concurrent writers: ``version`` is SQLAlchemy's version counter, so two sessions that loaded the
same instance and both flush a change get StaleDataError for the second instead of a lost update.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kumo.db.base import JSONDict, Base, Timestamps, UTCDateTime, check_in, new_uuid

if TYPE_CHECKING:
    from kumo.db.models.hosts import Host


class PowerState(IntEnum):
    """Nova's power_state codes (the Compute API's ``OS-EXT-STS:power_state``)."""

    NOSTATE = 0
    RUNNING = 1
    PAUSED = 3
    SHUTDOWN = 4
    CRASHED = 6
    SUSPENDED = 7


class ServerGroupPolicy(StrEnum):
    AFFINITY = "affinity"
    ANTI_AFFINITY = "anti-affinity"
    SOFT_AFFINITY = "soft-affinity"
    SOFT_ANTI_AFFINITY = "soft-anti-affinity"


class KeyPair(Timestamps, Base):
    __tablename__ = "key_pairs"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16), default="ssh")
    public_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(128))
    #: when kumo generated the key: the SHA-1 of its private half (kumo.compute.keys
    #: GeneratedKey.private_fingerprint), the one fact about it that cannot be computed later;
    #: None for an imported key
    private_fingerprint: Mapped[str | None] = mapped_column(String(64))

    def __repr__(self) -> str:
        return f"<KeyPair {self.name!r} user={self.user_id}>"


class ServerGroup(Timestamps, Base):
    __tablename__ = "server_groups"
    __table_args__ = (CheckConstraint(check_in("policy", ServerGroupPolicy), name="policy"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    policy: Mapped[str] = mapped_column(String(32))
    #: policy rules (Nova 2.64: {"max_server_per_host": 2})
    rules: Mapped[dict[str, Any]] = mapped_column(JSONDict, default=dict)

    #: membership is Instance.server_group_id: one place for the fact
    members: Mapped[list[Instance]] = relationship(back_populates="server_group")

    def __repr__(self) -> str:
        return f"<ServerGroup {self.uuid} {self.name!r} {self.policy}>"


#: instance columns that may hold a secret of the user's, cleared when the instance is deleted
#: (the row itself stays, for the event history): the public key names who may log in, user
#: data often carries passwords or tokens for cloud-init, a pending password is one
SCRUBBED_ON_DELETE = ("public_key", "user_data", "pending_admin_password")


class Instance(Timestamps, Base):
    __tablename__ = "instances"
    __table_args__ = (
        Index(None, "project_id", "deleted"),
        Index(None, "host_id", "deleted"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64), index=True)

    image_id: Mapped[str | None] = mapped_column(String(36), index=True)
    #: the image's properties as of boot (name -> verbatim value)
    image_properties: Mapped[dict[str, Any]] = mapped_column(JSONDict, default=dict)

    flavor_id: Mapped[str | None] = mapped_column(String(255))
    flavor_name: Mapped[str | None] = mapped_column(String(255))
    vcpus: Mapped[int] = mapped_column(Integer)
    ram_mib: Mapped[int] = mapped_column(Integer)
    disk_gib: Mapped[int] = mapped_column(Integer, default=0)
    ephemeral_gib: Mapped[int] = mapped_column(Integer, default=0)
    flavor_extra_specs: Mapped[dict[str, Any]] = mapped_column(JSONDict, default=dict)

    host_id: Mapped[int | None] = mapped_column(ForeignKey("hosts.id"))
    #: the hypervisor node on that host (libvirt's hostname)
    node: Mapped[str | None] = mapped_column(String(255))
    server_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("server_groups.id", ondelete="SET NULL"), index=True)
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    #: the reservation of a multi-instance create (EC2 RunInstances' r-..., as Nova's
    #: instances.reservation_id); None: the instance is its own (kumo.ec2.ids.reservation_of)
    reservation_id: Mapped[str | None] = mapped_column(String(32))

    #: how its NICs are made: 'ports' (kumo.compute.ipam: one a port, kumo's addresses),
    #: 'none' (no NIC: --nic none), None (QEMU user-mode NIC, as before networks existed)
    nics: Mapped[str | None] = mapped_column(String(8))

    #: the key pair's name and its OpenSSH public key line as of create (a copy, as Nova keeps
    #: it: deleting the key pair later changes no server)
    key_name: Mapped[str | None] = mapped_column(String(255))
    public_key: Mapped[str | None] = mapped_column(Text)
    #: user data, base64 as the Compute API carries it (at most 65535 characters: Nova's
    #: limit), written decoded to the config drive's openstack/latest/user_data
    user_data: Mapped[str | None] = mapped_column(Text)
    #: server metadata (Nova's instance metadata: key -> value), the config drive's ``meta``
    server_metadata: Mapped[dict[str, Any]] = mapped_column(JSONDict, default=dict)
    #: a hash only; the plaintext lives in memory during the build and is never stored
    admin_password_hash: Mapped[str | None] = mapped_column(String(255))
    #: the admin password encrypted with the key pair's RSA public key (PKCS#1 v1.5, base64),
    #: as EC2's GetPasswordData and Nova's os-server-password hand it out: only the holder of
    #: the private key can read it (kumo.compute.passwords.seal_for_key)
    password_data: Mapped[str | None] = mapped_column(Text)
    #: a password set for the next rebuild's config drive (no guest agent to set it now)
    pending_admin_password: Mapped[str | None] = mapped_column(Text)
    #: what the operator should know that is not a fault (the server may be ACTIVE)
    notes: Mapped[str | None] = mapped_column(Text)
    #: the guest's VNC display password (kumo.compute.consoles), in clear: libvirt needs it to
    #: define the domain; shown only by ``kumo server console url --password``, never logged
    display_password: Mapped[str | None] = mapped_column(Text)

    #: the versioned machine type pinned at create (kumo.guest.policy.machine); None: not pinned
    machine_type: Mapped[str | None] = mapped_column(String(64))
    #: a reconcile run whose change is in the domain's definition but not yet in the running
    #: guest (``kumo reconcile --reboot on-next-stop``): the next stop, reboot or hard reboot
    #: applies it and clears this (kumo.compute.power, spawn)
    pending_restart: Mapped[str | None] = mapped_column(String(36))
    #: sha256 hex of the native config last rendered and the backend that rendered it
    config_digest: Mapped[str | None] = mapped_column(String(64))
    backend: Mapped[str | None] = mapped_column(String(32))

    vm_state: Mapped[str] = mapped_column(String(32), default="building")
    task_state: Mapped[str | None] = mapped_column(String(32))
    power_state: Mapped[int] = mapped_column(Integer, default=PowerState.NOSTATE.value)

    fault_code: Mapped[int | None] = mapped_column(Integer)
    fault_reason: Mapped[str | None] = mapped_column(Text)
    fault_details: Mapped[str | None] = mapped_column(Text)

    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(Integer, server_default="1")
    __mapper_args__ = {"version_id_col": version}

    host: Mapped[Host | None] = relationship(back_populates="instances")
    server_group: Mapped[ServerGroup | None] = relationship(back_populates="members")

    def __repr__(self) -> str:
        return f"<Instance {self.uuid} {self.name!r} {self.vm_state}/{self.task_state}>"
