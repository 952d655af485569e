"""Networks, their subnets, ports (a server's NICs with their fixed addresses) and security groups.

    networks               Network              project_id (shared: every project may attach)
    subnets                Subnet               (network; one IPv4 subnet a network for now)
    ports                  Port                 (network, subnet, instance): MAC + fixed IP
    security_groups        SecurityGroup        project_id
    security_group_rules   SecurityGroupRule    (group)
    port_security_groups   (association)        (port, group)

IPAM is the database's: a port's address is unique on its subnet by the constraint
``uq_ports_subnet_id_ip_address`` (and its MAC unique everywhere), so two controllers racing for
one address cannot both commit it, whatever the backend (kumo.compute.ipam).

A network lives on each host as a libvirt network named ``libvirt_name`` (NAT, routed or isolated:
dnsmasq hands out each port's address by a DHCP host reservation) or as an existing host bridge
(``mode = bridge``), defined there by kumo the first time a guest on that host needs it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import (Boolean, CheckConstraint, Column, ForeignKey, Integer, String, Table,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from kumo.db.base import Base, Timestamps, check_in, new_uuid

if TYPE_CHECKING:
    from kumo.db.models.instances import Instance


class NetworkMode(StrEnum):
    """How a network reaches the world (libvirt's <forward mode>, or none)."""

    NAT = "nat"            # guests reach out through the host's address; nothing reaches in
    ROUTE = "route"        # routed by the host, no NAT: other routed networks reach it
    ISOLATED = "isolated"  # guests reach only each other (and the host's dnsmasq)
    BRIDGE = "bridge"      # an existing host bridge; its own DHCP, if any, is the LAN's


class RuleDirection(StrEnum):
    INGRESS = "ingress"
    EGRESS = "egress"


port_security_groups = Table(
    "port_security_groups", Base.metadata,
    Column("port_id", ForeignKey("ports.id", ondelete="CASCADE"), primary_key=True),
    Column("security_group_id", ForeignKey("security_groups.id", ondelete="CASCADE"),
           primary_key=True),
)


class Network(Timestamps, Base):
    __tablename__ = "networks"
    __table_args__ = (CheckConstraint(check_in("mode", NetworkMode), name="mode"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    mode: Mapped[str] = mapped_column(String(16))
    #: the host bridge a ``bridge`` network's NICs attach to
    bridge: Mapped[str | None] = mapped_column(String(15))
    #: the libvirt network's name on every host (None for ``bridge``)
    libvirt_name: Mapped[str | None] = mapped_column(String(64), unique=True)
    mtu: Mapped[int] = mapped_column(Integer, default=1500)

    subnets: Mapped[list[Subnet]] = relationship(back_populates="network",
                                                 cascade="all, delete-orphan",
                                                 order_by="Subnet.id")

    def __repr__(self) -> str:
        return f"<Network {self.uuid} {self.name!r} {self.mode}>"


class Subnet(Timestamps, Base):
    __tablename__ = "subnets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id", ondelete="CASCADE"),
                                            index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    ip_version: Mapped[int] = mapped_column(Integer, default=4)
    cidr: Mapped[str] = mapped_column(String(64))
    gateway_ip: Mapped[str | None] = mapped_column(String(64))
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True)

    network: Mapped[Network] = relationship(back_populates="subnets")


class SecurityGroup(Timestamps, Base):
    __tablename__ = "security_groups"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    description: Mapped[str | None] = mapped_column(String(255))

    rules: Mapped[list[SecurityGroupRule]] = relationship(
        back_populates="group", cascade="all, delete-orphan", order_by="SecurityGroupRule.id")


class SecurityGroupRule(Timestamps, Base):
    __tablename__ = "security_group_rules"
    __table_args__ = (
        CheckConstraint(check_in("direction", RuleDirection), name="direction"),
        CheckConstraint("protocol IS NULL OR protocol IN ('tcp', 'udp', 'icmp')",
                        name="protocol"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    security_group_id: Mapped[int] = mapped_column(
        ForeignKey("security_groups.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(8))
    ethertype: Mapped[str] = mapped_column(String(8), default="IPv4")
    #: tcp | udp | icmp; None: any
    protocol: Mapped[str | None] = mapped_column(String(8))
    port_range_min: Mapped[int | None] = mapped_column(Integer)
    port_range_max: Mapped[int | None] = mapped_column(Integer)
    #: the peer's prefix (source for ingress, destination for egress); None: anywhere
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(64))

    group: Mapped[SecurityGroup] = relationship(back_populates="rules")


class Port(Timestamps, Base):
    __tablename__ = "ports"
    __table_args__ = (UniqueConstraint("subnet_id", "ip_address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"), index=True)
    subnet_id: Mapped[int] = mapped_column(ForeignKey("subnets.id"))
    #: the server it is a NIC of (deleted with it); None: not attached
    instance_uuid: Mapped[str | None] = mapped_column(
        ForeignKey("instances.uuid", ondelete="CASCADE"), index=True)
    #: the NIC's order on its server (0: first)
    device_index: Mapped[int] = mapped_column(Integer, default=0)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    mac_address: Mapped[str] = mapped_column(String(17), unique=True)
    ip_address: Mapped[str] = mapped_column(String(64))

    network: Mapped[Network] = relationship(lazy="joined")
    subnet: Mapped[Subnet] = relationship(lazy="joined")
    security_groups: Mapped[list[SecurityGroup]] = relationship(
        secondary=port_security_groups, order_by="SecurityGroup.id")
    instance: Mapped[Instance | None] = relationship(
        backref=backref("ports", order_by="Port.device_index", lazy="selectin",
                        passive_deletes=True))

    def __repr__(self) -> str:
        return f"<Port {self.uuid} {self.ip_address} {self.mac_address}>"
