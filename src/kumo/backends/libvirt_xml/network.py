"""libvirt network and nwfilter XML for kumo's networks, ports and security groups.

Network (https://libvirt.org/formatnetwork.html): ``<forward mode='nat'|'route'/>`` or none
(isolated), a bridge libvirt names itself (``virbrN``: no clash with another installation's),
the gateway as the host's address on it, and a ``<dhcp>`` with no ``<range>``: dnsmasq then
answers only the ``<host mac ip>`` reservations kumo adds per port (libvirt writes
``dhcp-range=GW,static``), so no address is ever leased that kumo's IPAM did not allocate.

Filters (https://libvirt.org/formatnwfilter.html), as Nova's libvirt firewall driver made them
(``nova-instance-<name>-<mac>`` referencing ``nova-secgroup-<id>`` filters):

* ``kumo-sg-<group uuid>``: one ``accept`` rule per group rule. ``direction='in'`` is traffic to
  the guest; libvirt adds connection-state matching, so an accepted connection's replies pass
  the other way (stateful, as security groups are).
* ``kumo-port-<port uuid>``: the port's own rules -- its MAC and IPv4 address only (no spoofing),
  DHCP to and from the network's dnsmasq -- the ``filterref`` of each of its groups, and a final
  ``drop`` of all other IPv4 traffic in both directions (nwfilter's chains otherwise let
  unmatched traffic through). ARP passes (ebtables, not the IPv4 rules).

Redefining a filter makes libvirt re-instantiate it on every running guest that references it,
so a changed group reaches running guests without touching their domains.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

#: nwfilter priorities (-1000..1000, lower first): anti-spoofing, DHCP, group rules, final drop
PRIO_SPOOF, PRIO_DHCP, PRIO_GROUP, PRIO_DROP = -700, 100, 500, 1000


@dataclass(frozen=True)
class DhcpHost:
    mac: str
    ip: str
    name: str | None = None


@dataclass(frozen=True)
class NetworkDef:
    """What a kumo network is on a host."""

    name: str          # the libvirt network's name (kumo-<uuid>)
    uuid: str
    mode: str          # nat | route | isolated
    cidr: str
    gateway: str
    dhcp: bool
    mtu: int = 1500


@dataclass(frozen=True)
class RuleDef:
    direction: str     # ingress | egress
    protocol: str | None  # tcp | udp | icmp | None (any)
    port_min: int | None = None
    port_max: int | None = None
    remote: str | None = None  # CIDR


def network_xml(n: NetworkDef, hosts: Iterable[DhcpHost] = ()) -> str:
    root = etree.Element("network")
    etree.SubElement(root, "name").text = n.name
    etree.SubElement(root, "uuid").text = n.uuid
    if n.mode in ("nat", "route"):
        etree.SubElement(root, "forward", mode=n.mode)
    etree.SubElement(root, "bridge", stp="on", delay="0")
    etree.SubElement(root, "mtu", size=str(n.mtu))
    net = ipaddress.ip_network(n.cidr)
    ip = etree.SubElement(root, "ip", address=n.gateway, prefix=str(net.prefixlen))
    if n.dhcp:
        dhcp = etree.SubElement(ip, "dhcp")
        for h in hosts:
            dhcp.append(dhcp_host_element(h))
    return etree.tostring(root, encoding="unicode", pretty_print=True)


def dhcp_host_element(h: DhcpHost) -> etree._Element:
    attrs = {"mac": h.mac, "ip": h.ip}
    if h.name:
        attrs["name"] = h.name
    return etree.Element("host", attrs)


def dhcp_host_xml(h: DhcpHost) -> str:
    """The ``<host>`` element virNetworkUpdate adds or deletes."""
    return etree.tostring(dhcp_host_element(h), encoding="unicode")


def dhcp_hosts(xml: str) -> list[DhcpHost]:
    """The reservations in a network's XML."""
    root = etree.fromstring(xml.encode())
    return [DhcpHost(h.get("mac", ""), h.get("ip", ""), h.get("name"))
            for h in root.iterfind("ip/dhcp/host")]


def group_filter_name(group_uuid: str) -> str:
    return f"kumo-sg-{group_uuid}"


def port_filter_name(port_uuid: str) -> str:
    return f"kumo-port-{port_uuid}"


def group_filter_xml(group_uuid: str, rules: Iterable[RuleDef]) -> str:
    root = etree.Element("filter", name=group_filter_name(group_uuid), chain="root")
    # the uuid makes a redefinition an update (libvirt refuses a filter of the same name with
    # another uuid, and makes up a new one when none is given)
    etree.SubElement(root, "uuid").text = group_uuid
    for r in rules:
        rule = etree.SubElement(root, "rule", action="accept",
                                direction="in" if r.direction == "ingress" else "out",
                                priority=str(PRIO_GROUP))
        attrs: dict[str, str] = {}
        if r.remote and r.remote != "0.0.0.0/0":
            peer = ipaddress.ip_network(r.remote)
            side = "src" if r.direction == "ingress" else "dst"
            attrs[f"{side}ipaddr"] = str(peer.network_address)
            attrs[f"{side}ipmask"] = str(peer.prefixlen)
        if r.protocol in ("tcp", "udp") and r.port_min is not None:
            attrs["dstportstart"] = str(r.port_min)
            attrs["dstportend"] = str(r.port_max if r.port_max is not None else r.port_min)
        etree.SubElement(rule, r.protocol or "all", attrs)
    return etree.tostring(root, encoding="unicode", pretty_print=True)


def port_filter_xml(port_uuid: str, mac: str, ip: str, groups: Iterable[str]) -> str:
    """The port's filter; ``groups``: the uuids of its security groups."""
    root = etree.Element("filter", name=port_filter_name(port_uuid), chain="root")
    etree.SubElement(root, "uuid").text = port_uuid

    def rule(action: str, direction: str, priority: int, proto: str, **attrs: str) -> None:
        el = etree.SubElement(root, "rule", action=action, direction=direction,
                              priority=str(priority))
        etree.SubElement(el, proto, attrs)

    # no spoofing: frames from another MAC, IPv4 from another address (but DHCP's 0.0.0.0)
    rule("drop", "out", PRIO_SPOOF, "mac", match="no", srcmacaddr=mac)
    rule("accept", "out", PRIO_DHCP - 10, "udp", srcipaddr="0.0.0.0", srcportstart="68",
         dstportstart="67")
    rule("drop", "out", PRIO_DHCP - 5, "all", match="no", srcipaddr=ip)
    # DHCP with the network's dnsmasq (an answer to a broadcast is no tracked reply)
    rule("accept", "out", PRIO_DHCP, "udp", srcportstart="68", dstportstart="67")
    rule("accept", "in", PRIO_DHCP, "udp", srcportstart="67", dstportstart="68")
    for g in groups:
        etree.SubElement(root, "filterref", filter=group_filter_name(g))
    rule("drop", "inout", PRIO_DROP, "all")
    return etree.tostring(root, encoding="unicode", pretty_print=True)
