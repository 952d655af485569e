"""Security groups: the default group, rule validation with one-line errors, and a changed group
reaching the filters of the hosts that run its ports (in-memory hosts)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from lxml import etree
from sqlalchemy import func, select

from kumo.compute import networks, secgroups, servers
from kumo.compute.networks import NicRequest
from kumo.db.models import SecurityGroup
from kumo.errors import InvalidInput, StateError
from kumo.hosts.fake import Fault
from tests.compute.fakehost import fake_cloud

BAD_RULES = [
    pytest.param(("inward", "tcp", None, None), "direction 'inward' is invalid: allowed "
                 "ingress, egress", id="direction"),
    pytest.param(("ingress", "sctp", None, None), "protocol 'sctp' is invalid: allowed tcp, "
                 "udp, icmp, any", id="protocol"),
    pytest.param(("ingress", "icmp", "22", None), "--dst-port '22' needs protocol tcp or udp",
                 id="port-without-tcp"),
    pytest.param(("ingress", "tcp", "ssh", None), "--dst-port 'ssh' is invalid: allowed PORT "
                 "or MIN:MAX, 1 to 65535", id="port-name"),
    pytest.param(("ingress", "tcp", "90:80", None), "--dst-port '90:80' is invalid: allowed "
                 "PORT or MIN:MAX with 1 <= MIN <= MAX <= 65535", id="range-reversed"),
    pytest.param(("ingress", "tcp", "0", None), "--dst-port '0' is invalid", id="port-zero"),
    pytest.param(("ingress", "tcp", "22", "10.0.0.0/33"), "--remote-ip '10.0.0.0/33' is "
                 "invalid: allowed an IPv4 CIDR such as 10.0.0.0/24", id="cidr"),
    pytest.param(("ingress", "tcp", "22", "fd00::/8"), "--remote-ip 'fd00::/8' is invalid "
                 "(IPv6)", id="ipv6"),
]


@pytest.mark.parametrize("args, message", BAD_RULES)
def test_bad_rules_are_refused_with_one_line(args, message):
    with pytest.raises(InvalidInput) as e:
        secgroups.parse_rule(*args)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_rule_view():
    rule = secgroups.parse_rule("ingress", "tcp", "8000:8080", "10.0.0.7")
    assert {k: v for k, v in secgroups.rule_view(rule).items() if k != "id"} == {
        "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
        "port_range": "8000:8080", "remote_ip_prefix": "10.0.0.7/32"}


def test_default_group_made_once_even_when_raced(env, alice):
    with ThreadPoolExecutor(4) as pool:
        ids = set(pool.map(lambda _: secgroups.ensure_default(env, alice.project_id), range(8)))
    assert len(ids) == 1
    [group] = secgroups.list_groups(env, alice)
    assert group["name"] == "default"
    assert [{k: r[k] for k in ("direction", "protocol", "remote_ip_prefix")}
            for r in group["rules"]] == [
        {"direction": "egress", "protocol": "any", "remote_ip_prefix": "0.0.0.0/0"}]
    with env.db.session_scope(readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(SecurityGroup)) == 1


def test_default_and_used_groups_cannot_be_deleted(env, admin, image_file, fake_hosts):
    fake_cloud(env, admin, image_file, fake_hosts)
    networks.create_network(env, admin, "net", subnet="10.20.0.0/24")
    servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    with pytest.raises(StateError, match="the default security group cannot be deleted"):
        secgroups.delete_group(env, admin, "default")
    other = secgroups.create_group(env, admin, "web", "for web servers")
    assert secgroups.delete_group(env, admin, "web") == other["id"]


def test_duplicate_rule_refused(env, alice):
    secgroups.add_rule(env, alice, "default", secgroups.parse_rule("ingress", "tcp", "22", None))
    with pytest.raises(InvalidInput, match="security group 'default' already has this rule"):
        secgroups.add_rule(env, alice, "default",
                           secgroups.parse_rule("ingress", "tcp", "22", None))


def test_changed_group_reaches_the_running_guests_host(env, admin, image_file, fake_hosts):
    host = fake_cloud(env, admin, image_file, fake_hosts)
    networks.create_network(env, admin, "net", subnet="10.21.0.0/24")
    servers.create_server(env, admin, "web", image="linux", flavor="tiny",
                          networks=[NicRequest("net")])
    group_id = secgroups.show_group(env, admin, "default")["id"]
    name = f"kumo-sg-{group_id}"
    assert [r.find("*").tag for r in etree.fromstring(host.nwfilters[name].encode())
            .iterfind("rule")] == ["all"]
    view = secgroups.add_rule(env, admin, "default",
                              secgroups.parse_rule("ingress", "tcp", "22", "10.9.0.0/16"))
    rules = list(etree.fromstring(host.nwfilters[name].encode()).iterfind("rule"))
    assert [(r.get("direction"), r.find("*").attrib) for r in rules] == [
        ("out", {}),
        ("in", {"srcipaddr": "10.9.0.0", "srcipmask": "16", "dstportstart": "22",
                "dstportend": "22"})]
    # a host that does not answer: the change is recorded, the host named in a warning
    host.fail("define_nwfilter", Fault.CONNECTION_LOST)
    view = secgroups.add_rule(env, admin, "default",
                              secgroups.parse_rule("ingress", "icmp", None, None))
    assert len(view["warnings"]) == 1 and "fake:///kvm-1" in view["warnings"][0]
    host.heal()
    secgroups.delete_rule(env, admin, view["id"])
    assert len(list(etree.fromstring(host.nwfilters[name].encode()).iterfind("rule"))) == 2


def test_server_ports_get_the_groups_asked_for(env, admin, image_file, fake_hosts):
    host = fake_cloud(env, admin, image_file, fake_hosts)
    networks.create_network(env, admin, "net", subnet="10.22.0.0/24")
    web = secgroups.create_group(env, admin, "web")
    servers.create_server(env, admin, "a", image="linux", flavor="tiny",
                          security_groups=["web"])
    from kumo.db.models import Port
    with env.db.session_scope(readonly=True) as s:
        [port] = s.scalars(select(Port)).all()
        assert [g.uuid for g in port.security_groups] == [web["id"]]
        port_id = port.uuid
    refs = [f.get("filter") for f in etree.fromstring(
        host.nwfilters[f"kumo-port-{port_id}"].encode()).iterfind("filterref")]
    assert refs == [f"kumo-sg-{web['id']}"]
    with pytest.raises(Exception, match="security group 'nope' not found"):
        servers.create_server(env, admin, "b", image="linux", flavor="tiny",
                              security_groups=["nope"])
    with pytest.raises(InvalidInput, match="--security-group needs a port"):
        servers.create_server(env, admin, "c", image="linux", flavor="tiny", networks="none",
                              security_groups=["web"])
    with pytest.raises(StateError, match="in use by ports"):
        secgroups.delete_group(env, admin, "web")
