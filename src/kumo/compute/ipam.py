"""IPAM: a server's ports (NICs) with their MAC and fixed IPv4 address, kept in the database.

``plan`` (before anything is recorded) resolves a create's ``--network`` / ``--nic none`` into
``NicPlan`` values, refusing unknown networks and fixed addresses outside their subnet, so a bad
request records nothing. ``allocate`` runs inside the transaction that commits the scheduler's
claim with the instance record (kumo.compute.servers.schedule_and_record), so a server is
recorded with its ports or not at all: when a subnet is full, NoFreeAddress rolls the claim and
the record back together -- nothing is half-created.

Concurrency: the subnet's row is locked (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
write transactions are serial: kumo begins them IMMEDIATE) before the used addresses are read, so
concurrent creates on one subnet take addresses one after another; the unique constraint
``(subnet_id, ip_address)`` is the backstop that makes a double allocation impossible whatever
the code does. Subnets are locked in id order, so two creates asking for the same subnets cannot
deadlock.

The default without ``--network`` or ``--nic none`` (``plan``): the one network the project can
use, as Nova attaches a server to the only network available; with several it is refused
(Nova: "Multiple possible networks found, use a Network ID to be more specific"); with none, the
guest keeps QEMU's user-mode NIC as before networks existed (outbound-only, no address from
kumo), so a cloud without networks still boots guests that reach out.

Ports are released when their server is deleted (teardown, in the transaction that marks it
deleted), when a create gives up for good (reschedule) and when recovery rolls back a create a
dead controller left (spawn.recover_create).
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.networks import NO_NICS, NicRequest, find_network, network_visible
from kumo.db.models import Instance, Network, Port, SecurityGroup, Subnet
from kumo.errors import InvalidInput, NoFreeAddress

#: Neutron's default base_mac (fa:16:3e:00:00:00): locally administered, unicast
MAC_PREFIX = "fa:16:3e"

#: Instance.nics values: how the server's NICs are made (None: QEMU user-mode, as before)
NICS_PORTS = "ports"
NICS_NONE = "none"


@dataclass(frozen=True)
class NicPlan:
    """One NIC a create will get: the network and subnet (database ids), and the address asked
    for (None: the first free one)."""

    network_id: int
    network: str
    subnet_id: int
    cidr: str
    fixed_ip: str | None = None


def plan(s: Session, ctx: RequestContext,
         requests: Sequence[NicRequest] | str | None) -> tuple[list[NicPlan], str | None]:
    """The NICs a create asks for (``requests``: the --network options, NO_NICS, or None for the
    default) and the instance's ``nics`` mode. Refuses what allocation would refuse on any
    subnet state: unknown networks, addresses outside their subnet, one address twice."""
    if requests == NO_NICS:
        return [], NICS_NONE
    if not requests:
        visible = list(s.scalars(select(Network).where(network_visible(ctx))
                                 .order_by(Network.id)))
        if not visible:
            return [], None
        if len(visible) > 1:
            names = ", ".join(n.name for n in visible[:5]) + (", ..." if len(visible) > 5 else "")
            raise InvalidInput(f"several networks are available ({names}): choose with "
                               "--network NAME (repeatable) or --nic none")
        requests = [NicRequest(visible[0].uuid)]
    plans: list[NicPlan] = []
    asked: set[tuple[int, str]] = set()
    assert not isinstance(requests, str)
    for req in requests:
        net = find_network(s, ctx, req.network)
        if not net.subnets:
            raise InvalidInput(f"network {net.name!r} has no subnet: give it one before "
                               "attaching servers")
        subnet = net.subnets[0]
        fixed = None
        if req.fixed_ip is not None:
            fixed = str(_check_fixed(req.fixed_ip, subnet))
            if (subnet.id, fixed) in asked:
                raise InvalidInput(f"v4-fixed-ip {fixed} is asked for twice on network "
                                   f"{net.name!r}: allowed each address once")
            asked.add((subnet.id, fixed))
        plans.append(NicPlan(net.id, net.name, subnet.id, subnet.cidr, fixed))
    return plans, NICS_PORTS


def _check_fixed(text: str, subnet: Subnet) -> ipaddress.IPv4Address:
    net = ipaddress.ip_network(subnet.cidr)
    try:
        ip = ipaddress.IPv4Address(text)
    except ValueError:
        raise InvalidInput(f"v4-fixed-ip {text!r} is invalid: allowed an IPv4 address of "
                           f"{net}") from None
    if ip not in net or ip in (net.network_address, net.broadcast_address) \
            or str(ip) == subnet.gateway_ip:
        raise InvalidInput(f"v4-fixed-ip {ip} is invalid: allowed an address of {net} other "
                           f"than its network, broadcast and gateway ({subnet.gateway_ip}) "
                           "addresses")
    return ip


def allocate(s: Session, instance: Instance, plans: Sequence[NicPlan],
             groups: Sequence[SecurityGroup] = ()) -> list[Port]:
    """Ports for ``instance`` in the caller's transaction (the claim's), one per plan, in
    order. NoFreeAddress when a subnet has no free address; InvalidInput when a fixed address
    is taken."""
    for subnet_id in sorted({p.subnet_id for p in plans}):
        s.execute(select(Subnet.id).where(Subnet.id == subnet_id).with_for_update())
    used_macs: set[str] = set()
    ports = []
    for index, p in enumerate(plans):
        subnet = s.get_one(Subnet, p.subnet_id)
        used = set(s.scalars(select(Port.ip_address).where(Port.subnet_id == p.subnet_id)))
        if p.fixed_ip is not None:
            if p.fixed_ip in used:
                holder = s.scalar(select(Port.instance_uuid).where(
                    Port.subnet_id == p.subnet_id, Port.ip_address == p.fixed_ip))
                raise InvalidInput(f"v4-fixed-ip {p.fixed_ip} on network {p.network!r} is in "
                                   f"use (server {holder}): allowed a free address")
            address = p.fixed_ip
        else:
            address = _first_free(subnet, used)
            if address is None:
                raise NoFreeAddress(f"no free address on subnet {subnet.cidr} of network "
                                    f"{p.network!r}: all {_capacity(subnet)} addresses are "
                                    "in use; delete servers on it or use another network")
        port = Port(network_id=p.network_id, subnet_id=p.subnet_id,
                    instance_uuid=instance.uuid, device_index=index,
                    project_id=instance.project_id, ip_address=address,
                    mac_address=_new_mac(s, used_macs))
        port.security_groups.extend(groups)
        s.add(port)
        ports.append(port)
    s.flush()  # the unique constraints speak now, inside the claim's transaction
    return ports


def _first_free(subnet: Subnet, used: set[str]) -> str | None:
    for ip in ipaddress.ip_network(subnet.cidr).hosts():
        text = str(ip)
        if text != subnet.gateway_ip and text not in used:
            return text
    return None


def _capacity(subnet: Subnet) -> int:
    """Addresses a subnet hands out: its host addresses less the gateway."""
    net = ipaddress.ip_network(subnet.cidr)
    hosts = net.num_addresses - 2 if net.prefixlen < 31 else net.num_addresses
    return hosts - (1 if subnet.gateway_ip else 0)


def _new_mac(s: Session, taken: set[str]) -> str:
    while True:
        mac = MAC_PREFIX + "".join(f":{b:02x}" for b in secrets.token_bytes(3))
        if mac not in taken and s.scalar(select(Port.id).where(Port.mac_address == mac)) is None:
            taken.add(mac)
            return mac


def release_in(s: Session, instance_uuid: str) -> int:
    """Delete the instance's ports in the caller's transaction; how many there were."""
    result = s.execute(delete(Port).where(Port.instance_uuid == instance_uuid))
    return result.rowcount or 0


def release(env: ComputeEnv, instance_uuid: str) -> int:
    with env.db.session_scope() as s:
        return release_in(s, instance_uuid)


def ports_of(env: ComputeEnv, instance_uuid: str) -> list[Port]:
    """The instance's ports (detached, with network, subnet and groups loaded), NIC order."""
    from sqlalchemy.orm import selectinload

    with env.db.session_scope(readonly=True) as s:
        rows = list(s.scalars(select(Port).where(Port.instance_uuid == instance_uuid)
                              .options(selectinload(Port.security_groups)
                                       .selectinload(SecurityGroup.rules))
                              .order_by(Port.device_index)))
        for r in rows:
            r.network.subnets  # noqa: B018 -- loaded before the session closes
        s.expunge_all()
    return rows
