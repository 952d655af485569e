"""LibvirtHost's networks and network filters (kumo.hosts.protocol.HostNetworks), through
libvirt-python's virNetwork and virNWFilter APIs; mixed into LibvirtHost.

DHCP reservations change through virNetworkUpdate on the live network and its persistent
config at once (VIR_NETWORK_UPDATE_AFFECT_LIVE | _CONFIG), so dnsmasq learns a new guest's
address without restarting the network and the reservation survives a libvirtd restart.
"""

from __future__ import annotations

import contextlib
import threading

import libvirt
from lxml import etree

from kumo.errors import NotFound

_UPDATE_FLAGS = (libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE
                 | libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG)
#: one define-and-start at a time per process: a second define of a network being started
#: would replace its persistent config (and the reservations added meanwhile)
_ENSURE_LOCK = threading.Lock()


class LibvirtNetworks:
    """Needs the host's ``_connection()`` and ``_translating(action)``."""

    uri: str

    def _connection(self) -> libvirt.virConnect: ...  # pragma: no cover - LibvirtHost's

    def _translating(self, action: str) -> contextlib.AbstractContextManager[None]:
        ...  # pragma: no cover - LibvirtHost's

    def _network(self, name: str) -> libvirt.virNetwork:
        conn = self._connection()
        with self._translating(f"look up network {name!r}"):
            return conn.networkLookupByName(name)

    def network_exists(self, name: str) -> bool:
        try:
            self._network(name)
            return True
        except NotFound:
            return False

    def ensure_network(self, xml: str) -> bool:
        """The network ``xml`` describes defined, started and autostarted; True when this call
        defined it (an existing one is left as it is: its reservations are live state)."""
        name = etree.fromstring(xml.encode()).findtext("name") or ""
        conn = self._connection()
        with _ENSURE_LOCK:
            created = False
            try:
                net = self._network(name)
            except NotFound:
                with self._translating(f"define network {name!r}"):
                    net = conn.networkDefineXML(xml)
                created = True
            with self._translating(f"start network {name!r}"):
                if not net.isActive():
                    with contextlib.suppress(libvirt.libvirtError):  # started by another
                        net.create()
                    if not net.isActive():
                        net.create()  # raises the real reason
                if not net.autostart():
                    net.setAutostart(1)
        return created

    def network_xml(self, name: str) -> str:
        net = self._network(name)
        with self._translating(f"read network {name!r}"):
            return net.XMLDesc(0)

    def add_dhcp_host(self, network: str, host_xml: str) -> None:
        """Add a ``<host mac ip [name]>`` reservation; one for the same MAC is replaced."""
        net = self._network(network)
        mac = etree.fromstring(host_xml.encode()).get("mac")
        current = etree.fromstring(net.XMLDesc(0).encode())
        for h in current.iterfind("ip/dhcp/host"):
            if h.get("mac") == mac:
                if etree.tostring(h) == etree.tostring(etree.fromstring(host_xml.encode())):
                    return
                self.delete_dhcp_host(network, etree.tostring(h, encoding="unicode"))
        with self._translating(f"add a DHCP reservation to network {network!r}"):
            net.update(libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST,
                       libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST, -1, host_xml, _UPDATE_FLAGS)

    def delete_dhcp_host(self, network: str, host_xml: str) -> None:
        """Remove the reservation of ``host_xml``'s MAC, if the network has it."""
        net = self._network(network)
        mac = etree.fromstring(host_xml.encode()).get("mac")
        current = etree.fromstring(net.XMLDesc(0).encode())
        for h in current.iterfind("ip/dhcp/host"):
            if h.get("mac") == mac:
                with self._translating(f"remove a DHCP reservation from network {network!r}"):
                    net.update(libvirt.VIR_NETWORK_UPDATE_COMMAND_DELETE,
                               libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST, -1,
                               etree.tostring(h, encoding="unicode"), _UPDATE_FLAGS)

    def delete_network(self, name: str) -> None:
        """Stop and undefine the network; NotFound when there is none."""
        net = self._network(name)
        with self._translating(f"delete network {name!r}"):
            if net.isActive():
                net.destroy()
            with contextlib.suppress(libvirt.libvirtError):  # transient: gone with destroy
                net.undefine()

    def list_networks(self) -> list[str]:
        conn = self._connection()
        with self._translating("list networks"):
            return sorted(conn.listNetworks() + conn.listDefinedNetworks())

    # --- network filters (nwfilter) -----------------------------------------------------------

    def define_nwfilter(self, xml: str) -> None:
        """Define (or redefine: libvirt re-applies it to running guests) a network filter."""
        conn = self._connection()
        name = etree.fromstring(xml.encode()).get("name")
        with self._translating(f"define network filter {name!r}"):
            conn.nwfilterDefineXML(xml)

    def undefine_nwfilter(self, name: str) -> None:
        """Undefine a filter; NotFound when there is none (InvalidInput while a running guest
        still uses it)."""
        conn = self._connection()
        try:
            f = conn.nwfilterLookupByName(name)
        except libvirt.libvirtError as e:
            if e.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:  # test:///: no filters at all
                raise NotFound(f"no network filter {name!r} on {self.uri}: its driver has "
                               "none") from e
            with self._translating(f"look up network filter {name!r}"):
                raise
        with self._translating(f"undefine network filter {name!r}"):
            f.undefine()

    def nwfilter_xml(self, name: str) -> str:
        conn = self._connection()
        with self._translating(f"look up network filter {name!r}"):
            return conn.nwfilterLookupByName(name).XMLDesc(0)

    def list_nwfilters(self) -> list[str]:
        conn = self._connection()
        with self._translating("list network filters"):
            return sorted(conn.listNWFilters())
