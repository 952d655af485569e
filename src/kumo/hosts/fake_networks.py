"""FakeHost's networks and network filters (kumo.hosts.protocol.HostNetworks), in memory;
mixed into FakeHost. Networks keep their XML with the DHCP reservations in it, as libvirt does;
``running_filters`` tells which filters the running domains reference."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any, Callable

import libvirt
from lxml import etree

from kumo.errors import KumoError


class FakeNetworks:
    """Needs FakeHost's ``_run`` and ``_error``; state in ``networks`` and ``nwfilters``."""

    networks: dict[str, str]
    active_networks: set[str]
    nwfilters: dict[str, str]

    def _run(self, op: str, act: Callable[[], Any], **args: Any) -> Any: ...  # pragma: no cover

    def _error(self, code: int, message: str, action: str) -> KumoError: ...  # pragma: no cover

    def _init_networks(self) -> None:
        self.networks = {}
        self.active_networks = set()
        self.nwfilters = {}

    def _net(self, name: str, action: str) -> etree._Element:
        if name not in self.networks:
            raise self._error(libvirt.VIR_ERR_NO_NETWORK,
                              f"Network not found: no network with matching name '{name}'",
                              action)
        return etree.fromstring(self.networks[name].encode())

    def network_exists(self, name: str) -> bool:
        return self._run("network_exists", lambda: name in self.networks, name=name)

    def ensure_network(self, xml: str) -> bool:
        name = etree.fromstring(xml.encode()).findtext("name") or ""

        def act() -> bool:
            created = name not in self.networks
            if created:
                self.networks[name] = xml
            self.active_networks.add(name)
            return created
        return self._run("ensure_network", act, name=name, xml=xml)

    def network_xml(self, name: str) -> str:
        return self._run("network_xml", lambda: etree.tostring(
            self._net(name, "read network"), encoding="unicode"), name=name)

    def add_dhcp_host(self, network: str, host_xml: str) -> None:
        def act() -> None:
            root = self._net(network, "add a DHCP reservation")
            new = etree.fromstring(host_xml.encode())
            dhcp = root.find("ip/dhcp")
            if dhcp is None:
                raise self._error(libvirt.VIR_ERR_OPERATION_INVALID,
                                  "Requested operation is not valid: dhcp is not enabled",
                                  "add a DHCP reservation")
            for h in dhcp.findall("host"):
                if h.get("mac") == new.get("mac"):
                    dhcp.remove(h)
            dhcp.append(new)
            self.networks[network] = etree.tostring(root, encoding="unicode")
        self._run("add_dhcp_host", act, network=network, host_xml=host_xml)

    def delete_dhcp_host(self, network: str, host_xml: str) -> None:
        def act() -> None:
            root = self._net(network, "remove a DHCP reservation")
            mac = etree.fromstring(host_xml.encode()).get("mac")
            for h in root.iterfind("ip/dhcp/host"):
                if h.get("mac") == mac:
                    h.getparent().remove(h)
            self.networks[network] = etree.tostring(root, encoding="unicode")
        self._run("delete_dhcp_host", act, network=network, host_xml=host_xml)

    def delete_network(self, name: str) -> None:
        def act() -> None:
            self._net(name, "delete network")
            del self.networks[name]
            self.active_networks.discard(name)
        self._run("delete_network", act, name=name)

    def list_networks(self) -> list[str]:
        return self._run("list_networks", lambda: sorted(self.networks))

    def define_nwfilter(self, xml: str) -> None:
        name = etree.fromstring(xml.encode()).get("name") or ""

        def act() -> None:
            old = self.nwfilters.get(name)
            root = etree.fromstring(xml.encode())
            new_uuid = root.findtext("uuid")
            if old is not None:
                old_uuid = etree.fromstring(old.encode()).findtext("uuid")
                if new_uuid != old_uuid:
                    raise self._error(libvirt.VIR_ERR_OPERATION_FAILED,
                                      f"operation failed: filter '{name}' already exists with "
                                      f"uuid {old_uuid}", "define network filter")
            if new_uuid is None:  # libvirt makes one up, so a second define without it fails
                etree.SubElement(root, "uuid").text = str(uuidlib.uuid4())
            self.nwfilters[name] = etree.tostring(root, encoding="unicode")
        self._run("define_nwfilter", act, name=name, xml=xml)

    def _filter(self, name: str, action: str) -> str:
        if name not in self.nwfilters:
            raise self._error(libvirt.VIR_ERR_NO_NWFILTER, "Network filter not found: no "
                              f"nwfilter with matching name '{name}'", action)
        return self.nwfilters[name]

    def undefine_nwfilter(self, name: str) -> None:
        def act() -> None:
            self._filter(name, "undefine network filter")
            del self.nwfilters[name]
        self._run("undefine_nwfilter", act, name=name)

    def nwfilter_xml(self, name: str) -> str:
        return self._run("nwfilter_xml", lambda: self._filter(name, "look up network filter"),
                         name=name)

    def list_nwfilters(self) -> list[str]:
        return self._run("list_nwfilters", lambda: sorted(self.nwfilters))
