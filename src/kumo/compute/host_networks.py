"""A server's ports on its host: the libvirt network, the DHCP reservation, the filters.

``plug`` runs right before the domain is defined (kumo.compute.spawn.define_and_start: create,
rebuild, recovery and a move to another host all pass there), and every step is idempotent: the
network is defined and started on the host the first time one of its guests lands there (an
existing one is left as it is), each port's reservation ``<host mac ip>`` is added (kept when
already there), its security groups' filters and its own filter defined. So a create killed
anywhere is finished or rolled back by running the same steps again.

``unplug`` (rollback, delete) removes the port's reservation and filter; the libvirt network
stays on the host for its other guests, and goes when the kumo network is deleted
(``remove_everywhere``). A group's changed rules are sent to every host with a port in it
(``update_group``); libvirt re-applies a redefined filter to the running guests.
"""

from __future__ import annotations

from sqlalchemy import select

from kumo import logs
from kumo.backends.libvirt_xml.network import (DhcpHost, NetworkDef, RuleDef, dhcp_host_xml,
                                               group_filter_xml, network_xml,
                                               port_filter_name, port_filter_xml)
from kumo.compute import ipam
from kumo.compute.env import ComputeEnv
from kumo.db.models import (Host, Instance, Network, NetworkMode, Port, SecurityGroup,
                            Subnet, port_security_groups)
from kumo.errors import KumoError, NotFound
from kumo.hosts.protocol import HostConnection

log = logs.get(__name__)


def network_def(network: Network, subnet: Subnet) -> NetworkDef:
    assert network.libvirt_name is not None
    return NetworkDef(name=network.libvirt_name, uuid=network.uuid, mode=network.mode,
                      cidr=subnet.cidr, gateway=subnet.gateway_ip or "", dhcp=subnet.enable_dhcp,
                      mtu=network.mtu)


def dhcp_host(port: Port) -> DhcpHost:
    return DhcpHost(port.mac_address, port.ip_address, None)


def group_rules(group: SecurityGroup) -> list[RuleDef]:
    return [RuleDef(r.direction, r.protocol, r.port_range_min, r.port_range_max,
                    r.remote_ip_prefix) for r in group.rules]


def plug(env: ComputeEnv, conn: HostConnection, instance_uuid: str) -> None:
    """The instance's networks, reservations and filters on ``conn`` (idempotent)."""
    for port in ipam.ports_of(env, instance_uuid):
        network, subnet = port.network, port.subnet
        if network.mode != NetworkMode.BRIDGE:
            if conn.ensure_network(network_xml(network_def(network, subnet))):
                log.info("defined network %s (%s) on %s", network.name, network.libvirt_name,
                         conn.uri)
            if subnet.enable_dhcp:
                conn.add_dhcp_host(network.libvirt_name or "", dhcp_host_xml(dhcp_host(port)))
        for group in port.security_groups:
            conn.define_nwfilter(group_filter_xml(group.uuid, group_rules(group)))
        conn.define_nwfilter(port_filter_xml(port.uuid, port.mac_address, port.ip_address,
                                             [g.uuid for g in port.security_groups]))


def unplug(env: ComputeEnv, conn: HostConnection, instance_uuid: str) -> None:
    """Remove the instance's reservations and port filters from ``conn`` (idempotent; call
    after its domain is gone: libvirt keeps a filter a running guest uses)."""
    for port in ipam.ports_of(env, instance_uuid):
        network = port.network
        if network.mode != NetworkMode.BRIDGE and network.libvirt_name:
            try:
                conn.delete_dhcp_host(network.libvirt_name, dhcp_host_xml(dhcp_host(port)))
            except NotFound:
                pass  # the network never reached this host
        try:
            conn.undefine_nwfilter(port_filter_name(port.uuid))
        except NotFound:
            pass


def update_group(env: ComputeEnv, group_id: int) -> list[str]:
    """Redefine the group's filter on every host with a port in it; the hosts that could not
    be reached or refused (named in the returned warnings and logged): their guests get the new
    rules at the next plug (hard reboot, rebuild)."""
    with env.db.session_scope(readonly=True) as s:
        group = s.get_one(SecurityGroup, group_id)
        xml = group_filter_xml(group.uuid, group_rules(group))
        uris = list(s.scalars(
            select(Host.uri).distinct().join(Instance, Instance.host_id == Host.id)
            .join(Port, Port.instance_uuid == Instance.uuid)
            .join(port_security_groups, port_security_groups.c.port_id == Port.id)
            .where(port_security_groups.c.security_group_id == group_id,
                   Instance.deleted.is_(False))))
    warnings = []
    for uri in uris:
        try:
            env.host(uri).define_nwfilter(xml)
        except KumoError as e:
            warnings.append(f"host {uri}: {e}")
            log.warning("security group filter not updated on %s: %s", uri, e)
    return warnings


def remove_everywhere(env: ComputeEnv, libvirt_name: str) -> list[str]:
    """Stop and undefine the libvirt network on every host that has it; warnings for hosts
    that could not be reached (the network stays defined there, with no guest on it)."""
    with env.db.session_scope(readonly=True) as s:
        uris = list(s.scalars(select(Host.uri).order_by(Host.id)))
    warnings = []
    for uri in uris:
        try:
            env.host(uri).delete_network(libvirt_name)
        except NotFound:
            pass
        except KumoError as e:
            warnings.append(f"host {uri}: {e}")
            log.warning("network %s not removed from %s: %s", libvirt_name, uri, e)
    return warnings

