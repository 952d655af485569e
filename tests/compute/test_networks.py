"""Networks, ports and IPAM on in-memory hosts (kumo.hosts.fake), SQLite and PostgreSQL: a server's
NIC is a port with a MAC and an address from the database, reserved in the host's libvirt
network's DHCP, written to the config drive and freed on delete; a full subnet refuses with
"no free address" and leaves nothing behind, also under 100 concurrent creates."""

from __future__ import annotations

import io
import json
import socket
from concurrent.futures import ThreadPoolExecutor

import pycdlib
import pytest
from lxml import etree
from sqlalchemy import func, select

from kumo.compute import journal, naming, networks, servers
from kumo.compute.networks import NO_NICS, NicRequest
from kumo.db.models import Host, Instance, JournalEntry, Network, Port
from kumo.errors import HostError, InvalidInput, NoFreeAddress, StateError
from kumo.hosts.fake import Fault
from tests.compute.fakehost import fake_cloud

URI = "fake:///kvm-1"
DEAD = f"{socket.gethostname()}:999999999:0"  # a controller process that is gone


@pytest.fixture
def cloud(env, admin, image_file, fake_hosts):
    host = fake_cloud(env, admin, image_file, fake_hosts)
    with env.db.session_scope() as s:  # room for 100 tiny servers
        h = s.scalars(select(Host).where(Host.name == "kvm-1")).one()
        h.vcpus, h.ram_mib, h.disk_gib = 64, 65536, 1000
    return host


def count(env, model, *where) -> int:
    with env.db.session_scope(readonly=True) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def config_drive_file(host, uuid: str, path: str) -> dict:
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(host.uploaded[naming.volume_name(uuid, naming.CONFIG)]))
    out = io.BytesIO()
    iso.get_file_from_iso_fp(out, rr_path="/" + path)
    iso.close()
    return json.loads(out.getvalue())


# --- network create: one-line errors -------------------------------------------------------------

BAD_NETWORKS = [
    pytest.param({"subnet": "10.0.0.1/24"}, "subnet '10.0.0.1/24' is invalid (host bits are "
                 "set): allowed an IPv4 network address with its prefix length, such as "
                 "10.0.0.0/24 (10.0.0.0/24?)", id="host-bits"),
    pytest.param({"subnet": "banana"}, "subnet 'banana' is invalid (not an IPv4 CIDR)",
                 id="garbage"),
    pytest.param({"subnet": "fd00::/64"}, "subnet 'fd00::/64' is invalid (IPv6)", id="ipv6"),
    pytest.param({"subnet": "10.0.0.0/31"}, "subnet '10.0.0.0/31' is invalid (prefix length "
                 "31): allowed /8 to /30", id="too-small"),
    pytest.param({"subnet": "127.0.0.0/24"}, "subnet '127.0.0.0/24' is invalid (a loopback",
                 id="loopback"),
    pytest.param({"subnet": "10.0.0.0/24", "gateway": "10.0.1.1"}, "gateway 10.0.1.1 is "
                 "invalid: allowed an address of 10.0.0.0/24 other than its network (10.0.0.0) "
                 "and broadcast (10.0.0.255) addresses", id="gateway-outside"),
    pytest.param({"subnet": "10.0.0.0/24", "gateway": "10.0.0.255"}, "gateway 10.0.0.255 is "
                 "invalid", id="gateway-broadcast"),
    pytest.param({"subnet": "10.0.0.0/24", "gateway": "x"}, "gateway 'x' is invalid: allowed "
                 "an IPv4 address inside 10.0.0.0/24", id="gateway-garbage"),
    pytest.param({"subnet": "10.0.0.0/24", "mode": "vxlan"}, "mode 'vxlan' is invalid: "
                 "allowed nat, route, isolated, bridge", id="mode"),
    pytest.param({"subnet": "10.0.0.0/24", "mode": "bridge"}, "mode bridge needs --bridge BR",
                 id="bridge-missing"),
    pytest.param({"subnet": "10.0.0.0/24", "mode": "bridge", "bridge": "br0 evil"},
                 "bridge 'br0 evil' is invalid", id="bridge-name"),
    pytest.param({"subnet": "10.0.0.0/24", "bridge": "br0"}, "--bridge 'br0' is only for "
                 "mode bridge", id="bridge-with-nat"),
]


@pytest.mark.parametrize("kw, message", BAD_NETWORKS)
def test_network_create_refuses_with_one_line(env, admin, kw, message):
    with pytest.raises(InvalidInput) as e:
        networks.create_network(env, admin, "net", **kw)
    assert str(e.value).startswith(message)
    assert "\n" not in str(e.value)
    assert count(env, Network) == 0


def test_overlapping_subnets_and_taken_names_are_refused(env, admin):
    networks.create_network(env, admin, "a", subnet="10.1.0.0/16")
    with pytest.raises(InvalidInput, match=r"^subnet 10\.1\.2\.0/24 overlaps network 'a' "
                                           r"\(10\.1\.0\.0/16\)"):
        networks.create_network(env, admin, "b", subnet="10.1.2.0/24")
    with pytest.raises(InvalidInput, match="network name 'a' is already taken"):
        networks.create_network(env, admin, "a", subnet="10.2.0.0/24")
    # a host bridge's LAN is not routed by kumo's hosts: it may overlap
    networks.create_network(env, admin, "lan", subnet="10.1.0.0/24", mode="bridge",
                            bridge="br0")


def test_shared_network_is_an_admins(env, alice):
    with pytest.raises(Exception, match="shared network"):
        networks.create_network(env, alice, "n", subnet="10.0.0.0/24", shared=True)


def test_network_view(env, admin):
    view = networks.create_network(env, admin, "net", subnet="10.5.0.0/26", dhcp=False,
                                   mode="isolated")
    assert {k: view[k] for k in ("name", "mode", "subnet", "gateway", "dhcp", "ports")} == {
        "name": "net", "mode": "isolated", "subnet": "10.5.0.0/26", "gateway": "10.5.0.1",
        "dhcp": False, "ports": 0}
    assert view["libvirt_network"] == f"kumo-{view['id']}"


@pytest.mark.parametrize("text, expected", [
    ("net", NicRequest("net")),
    ("net,v4-fixed-ip=10.0.0.9", NicRequest("net", "10.0.0.9")),
])
def test_parse_nic_option(text, expected):
    assert networks.parse_nic_option(text) == expected


@pytest.mark.parametrize("text", ["", ",v4-fixed-ip=1.2.3.4", "net,ip=1.2.3.4", "net,v4-fixed-ip="])
def test_parse_nic_option_refuses(text):
    with pytest.raises(InvalidInput, match="allowed NAME or NAME,v4-fixed-ip=IP"):
        networks.parse_nic_option(text)


# --- a server's port -----------------------------------------------------------------------------

def test_port_address_reservation_filter_and_config_drive(env, admin, cloud):
    net = networks.create_network(env, admin, "net", subnet="10.7.0.0/26")
    view = servers.create_server(env, admin, "web", image="linux", flavor="tiny",
                                 networks=[NicRequest("net")]).server
    assert view["addresses"] == {"net": ["10.7.0.2"]}  # the gateway keeps .1
    with env.db.session_scope(readonly=True) as s:
        port = s.scalars(select(Port)).one()
        mac, port_id, groups = port.mac_address, port.uuid, [g.name for g in port.security_groups]
    assert mac.startswith("fa:16:3e:") and groups == ["default"]
    libvirt_name = net["libvirt_network"]
    # the network on the host, started, dnsmasq answering only the reservation
    assert libvirt_name in cloud.active_networks
    root = etree.fromstring(cloud.networks[libvirt_name].encode())
    assert root.find("forward").get("mode") == "nat"
    assert root.find("ip").attrib == {"address": "10.7.0.1", "prefix": "26"}
    assert root.find("ip/dhcp/range") is None
    assert [h.attrib for h in root.iterfind("ip/dhcp/host")] == [{"mac": mac, "ip": "10.7.0.2"}]
    # the domain's NIC: on that network, with the port's MAC and filter
    dom = etree.fromstring(cloud.domains[naming.domain_name(view["id"])].xml.encode())
    [nic] = dom.iterfind("devices/interface")
    assert nic.get("type") == "network"
    assert nic.find("source").get("network") == libvirt_name
    assert nic.find("mac").get("address") == mac
    assert nic.find("model").get("type") == "virtio"
    assert nic.find("filterref").get("filter") == f"kumo-port-{port_id}"
    assert f"kumo-port-{port_id}" in cloud.nwfilters
    # network_data.json as cloud-init reads it
    doc = config_drive_file(cloud, view["id"], "openstack/latest/network_data.json")
    assert doc == {
        "links": [{"id": f"tap{port_id[:11]}", "vif_id": port_id, "type": "bridge",
                   "ethernet_mac_address": mac, "mtu": 1500}],
        "networks": [{"id": "network0", "link": f"tap{port_id[:11]}",
                      "network_id": net["id"], "type": "ipv4_dhcp"}],
        "services": []}


def test_static_network_data_without_dhcp(env, admin, cloud):
    net = networks.create_network(env, admin, "st", subnet="10.8.0.0/24", dhcp=False,
                                  gateway="10.8.0.254")
    view = servers.create_server(env, admin, "web", image="linux", flavor="tiny",
                                 networks=[NicRequest("st", "10.8.0.20")]).server
    assert view["addresses"] == {"st": ["10.8.0.20"]}
    doc = config_drive_file(cloud, view["id"], "openstack/latest/network_data.json")
    [n] = doc["networks"]
    assert {k: n[k] for k in ("type", "ip_address", "netmask", "routes", "network_id")} == {
        "type": "ipv4", "ip_address": "10.8.0.20", "netmask": "255.255.255.0",
        "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.8.0.254"}],
        "network_id": net["id"]}
    root = etree.fromstring(cloud.networks[net["libvirt_network"]].encode())
    assert root.find("ip/dhcp") is None


def test_two_nics_in_order_and_bridge_mode(env, admin, cloud):
    networks.create_network(env, admin, "a", subnet="10.9.0.0/24")
    networks.create_network(env, admin, "lan", subnet="192.168.50.0/24", mode="bridge",
                            bridge="br0")
    view = servers.create_server(env, admin, "web", image="linux", flavor="tiny",
                                 networks=[NicRequest("lan"), NicRequest("a")]).server
    assert view["addresses"] == {"lan": ["192.168.50.2"], "a": ["10.9.0.2"]}
    dom = etree.fromstring(cloud.domains[naming.domain_name(view["id"])].xml.encode())
    nics = list(dom.iterfind("devices/interface"))
    assert [(n.get("type"), n.find("source").attrib) for n in nics] == [
        ("bridge", {"bridge": "br0"}), ("network", {"network": mock_name(env, "a")})]


def mock_name(env, name: str) -> str:
    with env.db.session_scope(readonly=True) as s:
        return s.scalars(select(Network.libvirt_name).where(Network.name == name)).one()


def test_nic_none_and_the_default(env, admin, cloud):
    # no networks at all: QEMU's user-mode NIC, as before
    plain = servers.create_server(env, admin, "plain", image="linux", flavor="tiny").server
    assert nic_types(cloud, plain["id"]) == ["user"]
    none = servers.create_server(env, admin, "none", image="linux", flavor="tiny",
                                 networks=NO_NICS).server
    assert nic_types(cloud, none["id"]) == []
    networks.create_network(env, admin, "only", subnet="10.10.0.0/24")
    auto = servers.create_server(env, admin, "auto", image="linux", flavor="tiny").server
    assert auto["addresses"] == {"only": ["10.10.0.2"]}
    networks.create_network(env, admin, "second", subnet="10.11.0.0/24")
    with pytest.raises(InvalidInput, match=r"^several networks are available \(only, second\): "
                                           r"choose with --network NAME \(repeatable\) or "
                                           r"--nic none$"):
        servers.create_server(env, admin, "ambiguous", image="linux", flavor="tiny")
    # hard reboot regenerates the same NICs from the record
    servers.reboot_server(env, admin, "auto", hard=True)
    assert nic_types(cloud, auto["id"]) == ["network"]
    servers.reboot_server(env, admin, "none", hard=True)
    assert nic_types(cloud, none["id"]) == []


def nic_types(host, uuid: str) -> list[str]:
    dom = etree.fromstring(host.domains[naming.domain_name(uuid)].xml.encode())
    return [n.get("type") for n in dom.iterfind("devices/interface")]


FIXED_REFUSED = [
    pytest.param("10.12.0.300", "v4-fixed-ip '10.12.0.300' is invalid: allowed an IPv4 address "
                 "of 10.12.0.0/24", id="garbage"),
    pytest.param("10.13.0.5", "v4-fixed-ip 10.13.0.5 is invalid: allowed an address of "
                 "10.12.0.0/24 other than its network, broadcast and gateway (10.12.0.1) "
                 "addresses", id="outside"),
    pytest.param("10.12.0.1", "v4-fixed-ip 10.12.0.1 is invalid", id="gateway"),
    pytest.param("10.12.0.255", "v4-fixed-ip 10.12.0.255 is invalid", id="broadcast"),
]


@pytest.mark.parametrize("ip, message", FIXED_REFUSED)
def test_bad_fixed_ip_records_nothing(env, admin, cloud, ip, message):
    networks.create_network(env, admin, "net", subnet="10.12.0.0/24")
    with pytest.raises(InvalidInput) as e:
        servers.create_server(env, admin, "web", image="linux", flavor="tiny",
                              networks=[NicRequest("net", ip)])
    assert str(e.value).startswith(message)
    assert count(env, Instance) == 0 and count(env, Port) == 0


def test_fixed_ip_in_use_is_refused_and_nothing_recorded(env, admin, cloud):
    networks.create_network(env, admin, "net", subnet="10.12.0.0/24")
    first = servers.create_server(env, admin, "a", image="linux", flavor="tiny",
                                  networks=[NicRequest("net", "10.12.0.9")]).server
    with pytest.raises(InvalidInput, match=rf"^v4-fixed-ip 10\.12\.0\.9 on network 'net' is "
                                           rf"in use \(server {first['id']}\)"):
        servers.create_server(env, admin, "b", image="linux", flavor="tiny",
                              networks=[NicRequest("net", "10.12.0.9")])
    assert count(env, Instance) == 1 and count(env, Port) == 1
    assert used_instances(env) == 1


def used_instances(env) -> int:
    with env.db.session_scope(readonly=True) as s:
        return s.scalars(select(Host.instance_count).where(Host.name == "kvm-1")).one()


def test_unknown_network_is_refused(env, admin, cloud):
    with pytest.raises(Exception, match="network 'nope' not found"):
        servers.create_server(env, admin, "web", image="linux", flavor="tiny",
                              networks=[NicRequest("nope")])
    assert count(env, Instance) == 0


def test_delete_releases_the_port_and_the_reservation(env, admin, cloud):
    net = networks.create_network(env, admin, "net", subnet="10.14.0.0/29")
    a = servers.create_server(env, admin, "a", image="linux", flavor="tiny").server
    with pytest.raises(StateError, match=r"^network 'net' has 1 port \(servers' NICs\): "
                                         r"delete those servers first$"):
        networks.delete_network(env, admin, "net")
    with env.db.session_scope(readonly=True) as s:
        port_id = s.scalars(select(Port.uuid)).one()
    servers.delete_server(env, admin, "a")
    assert count(env, Port) == 0
    root = etree.fromstring(cloud.networks[net["libvirt_network"]].encode())
    assert root.findall("ip/dhcp/host") == []
    assert f"kumo-port-{port_id}" not in cloud.nwfilters
    # the address is free again
    b = servers.create_server(env, admin, "b", image="linux", flavor="tiny").server
    assert b["addresses"] == {"net": [a["addresses"]["net"][0]]}
    servers.delete_server(env, admin, "b")
    uuid, warnings = networks.delete_network(env, admin, "net")
    assert (uuid, warnings) == (net["id"], [])
    assert net["libvirt_network"] not in cloud.networks


def test_failed_build_removes_reservation_and_frees_the_address(env, admin, cloud):
    net = networks.create_network(env, admin, "net", subnet="10.15.0.0/29")
    cloud.fail("start", Fault.START_ERROR)
    with pytest.raises(HostError):
        servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    assert count(env, Port) == 0  # the create gave up: its address is free
    root = etree.fromstring(cloud.networks[net["libvirt_network"]].encode())
    assert root.findall("ip/dhcp/host") == []
    assert not [f for f in cloud.nwfilters if f.startswith("kumo-port-")]
    [row] = servers.list_servers(env, admin)
    assert row["status"] == "ERROR" and row["addresses"] == {}


def test_recovery_of_a_killed_create_releases_its_port(env, admin, cloud):
    networks.create_network(env, admin, "net", subnet="10.16.0.0/29")
    instance, host = servers.new_instance(env, admin, "web", image="linux", flavor="tiny",
                                          networks=None)
    entry_id = servers.schedule_and_record(env, admin, instance, host=host)
    assert count(env, Port) == 1  # recorded with the claim ... and the controller dies here
    with env.db.session_scope() as s:
        s.get_one(JournalEntry, entry_id).owner = DEAD
    [outcome] = [r for r in journal.recover(env) if r.operation == "create"]
    assert outcome.outcome.endswith("; its ports released")
    assert count(env, Port) == 0 and used_instances(env) == 0


# --- a full subnet -------------------------------------------------------------------------------

def test_full_subnet_refuses_and_leaves_nothing(env, admin, cloud):
    networks.create_network(env, admin, "small", subnet="10.17.0.0/29")  # 6 hosts - gateway
    for i in range(5):
        servers.create_server(env, admin, f"s{i}", image="linux", flavor="tiny")
    with pytest.raises(NoFreeAddress) as e:
        servers.create_server(env, admin, "s5", image="linux", flavor="tiny")
    assert str(e.value) == ("no free address on subnet 10.17.0.0/29 of network 'small': all 5 "
                            "addresses are in use; delete servers on it or use another network")
    assert count(env, Instance) == 5 and count(env, Port) == 5 and used_instances(env) == 5
    assert count(env, JournalEntry) == 5


def test_100_concurrent_creates_on_a_26(env, admin, cloud):
    """The issue's must-show: 61 addresses (a /26 less network, broadcast and gateway), 100
    creates at once: 61 servers with 61 distinct addresses and MACs, 39 clear refusals, and
    nothing half-created (no instance, port, claim or journal entry for a refused one)."""
    networks.create_network(env, admin, "n26", subnet="10.18.0.0/26")

    def create(i: int) -> str:
        try:
            servers.create_server(env, admin, f"c{i:03}", image="linux", flavor="tiny",
                                  networks=[NicRequest("n26")])
            return "ok"
        except NoFreeAddress as e:
            return str(e)

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(create, range(100)))
    refused = [r for r in results if r != "ok"]
    assert results.count("ok") == 61
    assert set(refused) == {"no free address on subnet 10.18.0.0/26 of network 'n26': all 61 "
                            "addresses are in use; delete servers on it or use another network"}
    with env.db.session_scope(readonly=True) as s:
        ips = list(s.scalars(select(Port.ip_address)))
        macs = list(s.scalars(select(Port.mac_address)))
        states = list(s.scalars(select(Instance.vm_state)))
    assert len(ips) == len(set(ips)) == 61 and len(set(macs)) == 61
    assert sorted(ips, key=lambda ip: int(ip.rsplit(".", 1)[1])) == [
        f"10.18.0.{i}" for i in range(2, 63)]
    assert states == ["active"] * 61
    assert used_instances(env) == 61 and count(env, JournalEntry) == 61
    root = etree.fromstring(cloud.networks[mock_name(env, "n26")].encode())
    assert sorted(h.get("ip") for h in root.iterfind("ip/dhcp/host")) == sorted(ips)


def test_failed_upload_frees_the_address(env, admin, cloud):
    networks.create_network(env, admin, "net", subnet="10.19.0.0/29")
    cloud.fail("upload_volume", Fault.STORAGE)
    with pytest.raises(HostError):
        servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    assert count(env, Port) == 0
