"""Networks: create, list, show, delete (kumo network ...), and how a server's NICs are asked for.

A network is one IPv4 subnet and a mode (kumo.db.models.networks.NetworkMode): ``nat`` (the
default, as libvirt's own ``default`` network: guests reach out through the host, nothing
reaches in), ``route`` (routed by the host without NAT: routed networks reach each other, so
security groups decide), ``isolated`` (guests reach only each other) -- each a libvirt network
with dnsmasq on every host that runs one of its guests -- or ``bridge``: an existing host bridge
(the LAN's own router and DHCP, if any; kumo still assigns the address and writes it to the
config drive).

Validation follows Neutron where it has a rule: the subnet is a network address (``10.0.0.0/24``,
not ``10.0.0.1/24``), the gateway an address inside it other than its network and broadcast
addresses (default: the first host address, Neutron's default too), ``--shared`` is an admin's
(Neutron policy ``create_network:shared``). kumo adds one: the subnets of networks kumo runs
through libvirt may not overlap, since one host would have to route both (libvirt refuses to
start the second: "Network is already in use by interface").

A network with ports (servers' NICs) cannot be deleted (Neutron: NetworkInUse, 409).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from kumo.catalog.names import check_name
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.lookup import _find
from kumo.db.base import new_uuid
from kumo.db.models import Network, NetworkMode, Port, Subnet
from kumo.errors import InvalidInput, NotFound, StateError

#: the shortest and longest IPv4 prefix a subnet may have: a /30 holds a gateway and one guest;
#: a /8 is the largest a dnsmasq range sensibly serves
PREFIX_RANGE = (8, 30)
#: Linux interface names: at most 15 characters (IFNAMSIZ - 1), no '/', ':' or whitespace
_BRIDGE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
MODES = tuple(m.value for m in NetworkMode)


def network_visible(ctx: RequestContext) -> Any:
    """What ``ctx`` may see and attach to: its project's networks and shared ones (an admin:
    all)."""
    if ctx.is_admin:
        return Network.id.is_not(None)
    return or_(Network.project_id == ctx.project_id, Network.shared.is_(True))


def find_network(s: Session, ctx: RequestContext, ref: str) -> Network:
    return _find(s, "network", Network, Network.uuid, Network.name, network_visible(ctx), ref)


def parse_subnet(cidr: str) -> ipaddress.IPv4Network:
    """``cidr`` as an IPv4 network, or InvalidInput naming the value and what is allowed."""
    try:
        net = ipaddress.ip_network(cidr, strict=True)
    except ValueError as e:
        why = "host bits are set" if "host bits" in str(e) else "not an IPv4 CIDR"
        hint = ""
        if "host bits" in str(e):
            hint = f" ({ipaddress.ip_network(cidr, strict=False)}?)"
        raise InvalidInput(f"subnet {cidr!r} is invalid ({why}): allowed an IPv4 network "
                           f"address with its prefix length, such as 10.0.0.0/24{hint}") from None
    if net.version != 4:
        raise InvalidInput(f"subnet {cidr!r} is invalid (IPv6): allowed an IPv4 network address "
                           "with its prefix length, such as 10.0.0.0/24")
    low, high = PREFIX_RANGE
    if not low <= net.prefixlen <= high:
        raise InvalidInput(f"subnet {cidr!r} is invalid (prefix length {net.prefixlen}): "
                           f"allowed /{low} to /{high}")
    if net.is_loopback or net.is_multicast or net.is_link_local or net.is_reserved \
            or net.is_unspecified:
        raise InvalidInput(f"subnet {cidr!r} is invalid (a loopback, link-local, multicast or "
                           "reserved range): allowed a unicast range such as 10.0.0.0/24")
    return net


def parse_gateway(gateway: str | None, net: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    if gateway is None:
        return net.network_address + 1
    try:
        ip = ipaddress.IPv4Address(gateway)
    except ValueError:
        raise InvalidInput(f"gateway {gateway!r} is invalid: allowed an IPv4 address inside "
                           f"{net}") from None
    if ip not in net or ip in (net.network_address, net.broadcast_address):
        raise InvalidInput(f"gateway {gateway} is invalid: allowed an address of {net} other "
                           f"than its network ({net.network_address}) and broadcast "
                           f"({net.broadcast_address}) addresses")
    return ip


def create_network(env: ComputeEnv, ctx: RequestContext, name: str, *, subnet: str | None,
                   gateway: str | None = None, dhcp: bool = True, mode: str = "nat",
                   bridge: str | None = None, shared: bool = False) -> dict[str, Any]:
    """Record a network and its subnet (``subnet`` None: none yet, as the Networking API makes
    them in two steps; ``create_subnet`` adds it); hosts get it when a guest there first needs
    it."""
    check_name("network", name)
    if mode not in MODES:
        raise InvalidInput(f"mode {mode!r} is invalid: allowed {', '.join(MODES)}")
    if mode == NetworkMode.BRIDGE:
        if not bridge:
            raise InvalidInput("mode bridge needs --bridge BR: the existing host bridge its "
                               "guests attach to")
        if not _BRIDGE_NAME.match(bridge):
            raise InvalidInput(f"bridge {bridge!r} is invalid: allowed a Linux interface name "
                               "of 1 to 15 letters, digits, '_', '.' or '-'")
    elif bridge:
        raise InvalidInput(f"--bridge {bridge!r} is only for mode bridge (mode {mode} gets a "
                           "libvirt network with a bridge of its own)")
    if shared:
        ctx.require_admin("creating a shared network (Neutron policy create_network:shared)")
    net = parse_subnet(subnet) if subnet is not None else None
    gw = parse_gateway(gateway, net) if net is not None else None
    with env.db.session_scope() as s:
        if s.scalar(select(Network.id).where(Network.name == name)) is not None:
            raise InvalidInput(f"network name {name!r} is already taken")
        if s.scalar(select(Network.id).where(Network.uuid == name)) is not None:
            raise InvalidInput(f"network name {name!r} is the id of another network: allowed "
                               "a name that is no network's id")
        if mode != NetworkMode.BRIDGE and net is not None:
            _check_no_overlap(s, net)
        uuid = new_uuid()
        # the libvirt network's name: unique per installation, and across installations
        # sharing a daemon, by the uuid
        row = Network(uuid=uuid, name=name, project_id=ctx.project_id, shared=shared,
                      mode=mode, bridge=bridge,
                      libvirt_name=None if mode == NetworkMode.BRIDGE else f"kumo-{uuid}")
        if net is not None:
            row.subnets.append(Subnet(name=f"{name}-subnet", cidr=str(net), gateway_ip=str(gw),
                                      enable_dhcp=dhcp))
        s.add(row)
        s.flush()
        return network_view(row, 0)


def _check_no_overlap(s: Session, net: ipaddress.IPv4Network) -> None:
    rows = s.execute(select(Network.name, Subnet.cidr).join(Subnet)
                     .where(Network.mode != NetworkMode.BRIDGE.value)).all()
    for other, cidr in rows:
        if net.overlaps(ipaddress.ip_network(cidr)):
            raise InvalidInput(f"subnet {net} overlaps network {other!r} ({cidr}): one host "
                               "cannot route both; allowed a subnet no other network uses")


def create_subnet(env: ComputeEnv, ctx: RequestContext, network_ref: str, cidr: str, *,
                  name: str | None = None, gateway: str | None = None,
                  dhcp: bool = True) -> Subnet:
    """Give a network made without one its subnet (the Networking API's second step); kumo
    networks have one IPv4 subnet. The new Subnet, detached."""
    net = parse_subnet(cidr)
    gw = parse_gateway(gateway, net)
    if name is not None:
        check_name("subnet", name)
    with env.db.session_scope() as s:
        row = find_network(s, ctx, network_ref)
        _check_owner(ctx, row, "add a subnet to")
        # the network's row locked: two subnets made at once cannot both be its first
        s.execute(select(Network.id).where(Network.id == row.id).with_for_update())
        s.refresh(row)
        if row.subnets:
            raise InvalidInput(f"network {row.name!r} already has subnet {row.subnets[0].cidr}: "
                               "kumo networks have one IPv4 subnet")
        if row.mode != NetworkMode.BRIDGE:
            _check_no_overlap(s, net)
        subnet = Subnet(name=name or f"{row.name}-subnet", cidr=str(net), gateway_ip=str(gw),
                        enable_dhcp=dhcp)
        row.subnets.append(subnet)
        s.flush()
        s.refresh(subnet)
        s.expunge(subnet)
        return subnet


def delete_subnet(env: ComputeEnv, ctx: RequestContext, subnet_id: str) -> None:
    with env.db.session_scope() as s:
        subnet = s.scalar(select(Subnet).where(Subnet.uuid == subnet_id))
        if subnet is None or s.scalar(select(Network.id).where(
                Network.id == subnet.network_id, network_visible(ctx))) is None:
            raise NotFound(f"subnet {subnet_id!r} not found")
        _check_owner(ctx, subnet.network, "delete the subnet of")
        if s.scalar(select(func.count()).select_from(Port).where(Port.subnet_id == subnet.id)):
            raise StateError(f"subnet {subnet.cidr} has ports (servers' NICs): delete those "
                             "servers first")
        s.delete(subnet)


def list_networks(env: ComputeEnv, ctx: RequestContext) -> list[dict[str, Any]]:
    with env.db.session_scope(readonly=True) as s:
        counts = dict(s.execute(select(Port.network_id, func.count()).group_by(Port.network_id))
                      .all())
        rows = s.scalars(select(Network).where(network_visible(ctx))
                         .order_by(Network.created_at, Network.id))
        return [network_view(n, counts.get(n.id, 0)) for n in rows]


def show_network(env: ComputeEnv, ctx: RequestContext, ref: str) -> dict[str, Any]:
    with env.db.session_scope(readonly=True) as s:
        row = find_network(s, ctx, ref)
        count = s.scalar(select(func.count()).select_from(Port)
                         .where(Port.network_id == row.id)) or 0
        return network_view(row, count)


def delete_network(env: ComputeEnv, ctx: RequestContext, ref: str) -> tuple[str, list[str]]:
    """Delete a network with no ports; its libvirt network is removed from every host that
    has it (kumo.compute.host_networks). Its id, and warnings naming hosts it could not be
    removed from (they keep an unused libvirt network)."""
    from kumo.compute import host_networks

    with env.db.session_scope() as s:
        row = find_network(s, ctx, ref)
        _check_owner(ctx, row, "delete")
        ports = s.scalar(select(func.count()).select_from(Port).where(Port.network_id == row.id))
        if ports:
            raise StateError(f"network {ref!r} has {ports} port{'s' if ports != 1 else ''} "
                             "(servers' NICs): delete those servers first")
        uuid, libvirt_name = row.uuid, row.libvirt_name
        s.delete(row)
    warnings = host_networks.remove_everywhere(env, libvirt_name) if libvirt_name else []
    return uuid, warnings


def _check_owner(ctx: RequestContext, row: Network, action: str) -> None:
    if not ctx.is_admin and row.project_id != ctx.project_id:
        raise StateError(f"cannot {action} network {row.name!r}: it is shared with your "
                         "project, not owned by it")


def network_view(row: Network, ports: int) -> dict[str, Any]:
    subnet = row.subnets[0] if row.subnets else None
    return {
        "id": row.uuid, "name": row.name, "mode": row.mode, "shared": row.shared,
        "subnet": subnet.cidr if subnet else None,
        "gateway": subnet.gateway_ip if subnet else None,
        "dhcp": subnet.enable_dhcp if subnet else None,
        "bridge": row.bridge, "libvirt_network": row.libvirt_name, "mtu": row.mtu,
        "project_id": row.project_id, "ports": ports,
        "subnet_id": subnet.uuid if subnet else None,
        "created": row.created_at.isoformat() if row.created_at else None,
    }


# --- what a create asks for ----------------------------------------------------------------------

@dataclass(frozen=True)
class NicRequest:
    """One ``--network NAME[,v4-fixed-ip=IP]`` of a server create."""

    network: str
    fixed_ip: str | None = None


#: ``--nic none``: the server gets no NIC at all
NO_NICS = "none"


def parse_nic_option(text: str) -> NicRequest:
    """``NAME`` or ``NAME,v4-fixed-ip=IP`` (python-openstackclient's ``--nic net-id=...,
    v4-fixed-ip=...`` keys, with the network given by name or id first)."""
    name, *rest = text.split(",")
    fixed = None
    for part in rest:
        key, sep, value = part.partition("=")
        if key.strip() != "v4-fixed-ip" or not sep or not value.strip():
            raise InvalidInput(f"--network {text!r} is invalid: allowed NAME or "
                               "NAME,v4-fixed-ip=IP")
        fixed = value.strip()
    if not name.strip():
        raise InvalidInput(f"--network {text!r} is invalid: allowed NAME or NAME,v4-fixed-ip=IP")
    return NicRequest(name.strip(), fixed)
