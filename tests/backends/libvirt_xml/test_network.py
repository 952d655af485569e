"""libvirt network and nwfilter XML for kumo's networks and security groups: the exact documents,
and libvirt's own schema (virt-xml-validate) accepting them."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from kumo.backends.libvirt_xml.network import (DhcpHost, NetworkDef, RuleDef, dhcp_hosts,
                                               group_filter_xml, network_xml, port_filter_xml)

NET = NetworkDef(name="kumo-n1", uuid="11111111-2222-3333-4444-555555555555", mode="nat",
                 cidr="10.0.0.0/26", gateway="10.0.0.1", dhcp=True)
PORT = "99999999-8888-7777-6666-555555555555"
GROUP = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


@pytest.mark.parametrize("mode, forward", [("nat", "<forward mode=\"nat\"/>"),
                                           ("route", "<forward mode=\"route\"/>"),
                                           ("isolated", None)], ids=["nat", "route", "isolated"])
def test_network_xml(mode, forward):
    from dataclasses import replace

    xml = network_xml(replace(NET, mode=mode), [DhcpHost("fa:16:3e:00:00:01", "10.0.0.5")])
    expected = (
        "<network>\n  <name>kumo-n1</name>\n  <uuid>11111111-2222-3333-4444-555555555555</uuid>\n"
        + (f"  {forward}\n" if forward else "")
        + "  <bridge stp=\"on\" delay=\"0\"/>\n  <mtu size=\"1500\"/>\n"
          "  <ip address=\"10.0.0.1\" prefix=\"26\">\n    <dhcp>\n"
          "      <host mac=\"fa:16:3e:00:00:01\" ip=\"10.0.0.5\"/>\n    </dhcp>\n  </ip>\n"
          "</network>\n")
    assert xml == expected
    assert dhcp_hosts(xml) == [DhcpHost("fa:16:3e:00:00:01", "10.0.0.5")]


def test_no_dhcp_no_dhcp_element():
    from dataclasses import replace

    assert "<dhcp" not in network_xml(replace(NET, dhcp=False))


def test_group_filter_xml():
    xml = group_filter_xml(GROUP, [
        RuleDef("egress", None),
        RuleDef("ingress", "tcp", 22, 22, "10.1.0.0/16"),
        RuleDef("ingress", "udp", 5000, 5010),
        RuleDef("ingress", "icmp", remote="192.168.1.7/32"),
        RuleDef("egress", "tcp", 443, 443, "0.0.0.0/0"),
    ])
    assert xml == (
        f'<filter name="kumo-sg-{GROUP}" chain="root">\n  <uuid>{GROUP}</uuid>\n'
        '  <rule action="accept" direction="out" priority="500">\n    <all/>\n  </rule>\n'
        '  <rule action="accept" direction="in" priority="500">\n'
        '    <tcp srcipaddr="10.1.0.0" srcipmask="16" dstportstart="22" dstportend="22"/>\n'
        '  </rule>\n'
        '  <rule action="accept" direction="in" priority="500">\n'
        '    <udp dstportstart="5000" dstportend="5010"/>\n  </rule>\n'
        '  <rule action="accept" direction="in" priority="500">\n'
        '    <icmp srcipaddr="192.168.1.7" srcipmask="32"/>\n  </rule>\n'
        '  <rule action="accept" direction="out" priority="500">\n'
        '    <tcp dstportstart="443" dstportend="443"/>\n  </rule>\n'
        '</filter>\n')


def test_port_filter_xml():
    xml = port_filter_xml(PORT, "fa:16:3e:00:00:01", "10.0.0.5", [GROUP])
    assert xml == (
        f'<filter name="kumo-port-{PORT}" chain="root">\n  <uuid>{PORT}</uuid>\n'
        '  <rule action="drop" direction="out" priority="-700">\n'
        '    <mac match="no" srcmacaddr="fa:16:3e:00:00:01"/>\n  </rule>\n'
        '  <rule action="accept" direction="out" priority="90">\n'
        '    <udp srcipaddr="0.0.0.0" srcportstart="68" dstportstart="67"/>\n  </rule>\n'
        '  <rule action="drop" direction="out" priority="95">\n'
        '    <all match="no" srcipaddr="10.0.0.5"/>\n  </rule>\n'
        '  <rule action="accept" direction="out" priority="100">\n'
        '    <udp srcportstart="68" dstportstart="67"/>\n  </rule>\n'
        '  <rule action="accept" direction="in" priority="100">\n'
        '    <udp srcportstart="67" dstportstart="68"/>\n  </rule>\n'
        f'  <filterref filter="kumo-sg-{GROUP}"/>\n'
        '  <rule action="drop" direction="inout" priority="1000">\n    <all/>\n  </rule>\n'
        '</filter>\n')


@pytest.mark.skipif(shutil.which("virt-xml-validate") is None,
                    reason="virt-xml-validate (libvirt-clients) not installed")
@pytest.mark.parametrize("kind, xml", [
    ("network", network_xml(NET, [DhcpHost("fa:16:3e:00:00:01", "10.0.0.5", "web")])),
    ("nwfilter", group_filter_xml(GROUP, [RuleDef("ingress", "tcp", 22, 22, "10.1.0.0/16"),
                                          RuleDef("egress", None)])),
    ("nwfilter", port_filter_xml(PORT, "fa:16:3e:00:00:01", "10.0.0.5", [GROUP])),
], ids=["network", "group-filter", "port-filter"])
def test_libvirt_schema_accepts(tmp_path, kind, xml):
    path = tmp_path / f"{kind}.xml"
    path.write_text(xml)
    result = subprocess.run(["virt-xml-validate", str(path), kind], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
