"""kumo network create/list/show/delete and kumo security-group: output and one-line refusals."""

from __future__ import annotations

import pytest

from tests.cli.compute_fixtures import *  # noqa: F401,F403
from tests.cli.compute_fixtures import as_json


def test_create_list_show_delete(kumo):
    code, out, err = kumo("network", "create", "net1", "--subnet", "10.30.0.0/24", "-f", "json")
    assert (code, err) == (0, "")
    view = as_json(out)
    assert {k: view[k] for k in ("name", "mode", "subnet", "gateway", "dhcp", "shared",
                                 "ports", "bridge")} == {
        "name": "net1", "mode": "nat", "subnet": "10.30.0.0/24", "gateway": "10.30.0.1",
        "dhcp": True, "shared": False, "ports": 0, "bridge": None}
    code, out, _ = kumo("network", "list", "-f", "value", "-c", "name", "-c", "subnet")
    assert (code, out) == (0, "net1 10.30.0.0/24\n")
    code, out, _ = kumo("network", "show", "net1", "-f", "value", "-c", "libvirt_network")
    assert out == f"kumo-{view['id']}\n"
    code, out, _ = kumo("network", "delete", "net1")
    assert (code, out) == (0, f"deleted network {view['id']}\n")


@pytest.mark.parametrize("argv, message", [
    (("--subnet", "10.0.0.1/24"), "subnet '10.0.0.1/24' is invalid (host bits are set): "
     "allowed an IPv4 network address with its prefix length, such as 10.0.0.0/24 "
     "(10.0.0.0/24?)"),
    (("--subnet", "10.0.0.0/24", "--mode", "bridge"), "mode bridge needs --bridge BR: the "
     "existing host bridge its guests attach to"),
    (("--subnet", "10.0.0.0/24", "--gateway", "10.0.0.0"), "gateway 10.0.0.0 is invalid: "
     "allowed an address of 10.0.0.0/24 other than its network (10.0.0.0) and broadcast "
     "(10.0.0.255) addresses"),
], ids=["host-bits", "bridge-missing", "gateway-network"])
def test_create_refusals_are_one_line(kumo, argv, message):
    assert kumo("network", "create", "n", *argv) == (2, "", f"kumo: error: {message}\n")
    assert kumo("network", "list", "-f", "value")[1] == ""


def test_server_create_nic_options_exclude_each_other(kumo):
    assert kumo("server", "create", "s", "--image", "i", "--flavor", "f", "--nic", "none",
                "--network", "n") == (
        2, "", "kumo: error: --nic none and --network exclude each other: a server with no NIC "
               "has no network\n")
    code, _, err = kumo("server", "create", "s", "--image", "i", "--flavor", "f",
                        "--network", "n,mac=x")
    assert (code, err) == (2, "kumo: error: --network 'n,mac=x' is invalid: allowed NAME or "
                              "NAME,v4-fixed-ip=IP\n")


def test_security_group_rules(kumo):
    code, out, _ = kumo("security-group", "rule", "create", "default", "--protocol", "tcp",
                        "--dst-port", "22", "--remote-ip", "10.0.0.0/8", "-f", "json")
    assert code == 0
    rule = as_json(out)
    assert {k: rule[k] for k in ("direction", "protocol", "port_range", "remote_ip_prefix")} \
        == {"direction": "ingress", "protocol": "tcp", "port_range": "22",
            "remote_ip_prefix": "10.0.0.0/8"}
    code, out, _ = kumo("security-group", "show", "default", "-f", "json")
    assert [r["id"] for r in as_json(out)["rules"]][1:] == [rule["id"]]
    assert kumo("security-group", "rule", "create", "default", "--protocol", "icmp",
                "--dst-port", "1") == (2, "", "kumo: error: --dst-port '1' needs protocol tcp "
                                              "or udp\n")
    assert kumo("security-group", "rule", "delete", rule["id"]) == (
        0, f"deleted rule {rule['id']}\n", "")
