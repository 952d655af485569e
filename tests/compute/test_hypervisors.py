"""Hypervisors (os-hypervisors): the substring search Nova's clients rely on -- literal, and
never the way kumo itself names a host -- servers per hypervisor, ids, admin-only."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kumo.compute import hypervisors, naming
from kumo.compute.lookup import find_host, search_hosts
from kumo.db.models import Host, Instance
from kumo.errors import Forbidden, NotFound
from tests.support.hosts import add_host

NAMES = ["XXXX-HOST-YYYY34", *(f"XXXX-HOST-YYYY34{i}" for i in range(10)), "node_a", "nodeXa"]


@pytest.fixture
def fleet(db):
    for i, name in enumerate(NAMES):
        add_host(db, name, uri=f"test:///h{i}")
    return db


@pytest.mark.parametrize("pattern, expected", [
    ("YYYY34", NAMES[:11]),  # seed 002: the failed host's name matches ten healthy hosts too
    ("yyyy341", ["XXXX-HOST-YYYY341"]),  # case-insensitive, as on Nova's MySQL
    ("node_a", ["node_a"]),  # '_' is no wildcard here (Nova's LIKE would match nodeXa too)
    ("%", []),
    ("HOST-YYYY349", ["XXXX-HOST-YYYY349"]),
], ids=["seed-002-substring", "case", "underscore-literal", "percent-literal", "one"])
def test_search_is_a_literal_substring(fleet, pattern, expected):
    with fleet.session_scope(readonly=True) as s:
        assert [h.name for h in search_hosts(s, pattern)] == expected


def test_the_exact_resolver_takes_only_the_one_host(fleet):
    with fleet.session_scope(readonly=True) as s:
        assert find_host(s, "XXXX-HOST-YYYY34").name == "XXXX-HOST-YYYY34"


def test_list_with_servers_and_show(env, admin, fleet):
    with env.db.session_scope() as s:
        host = s.scalar(select(Host).where(Host.name == "XXXX-HOST-YYYY34"))
        host.hypervisor_version, host.instance_count, host.used_vcpus = "7.2.0", 1, 2
        s.add(Instance(uuid="11111111-1111-1111-1111-111111111111", name="vm", project_id="p",
                       user_id="u", host_id=host.id, vcpus=2, ram_mib=64, disk_gib=1,
                       flavor_name="f"))
        host_uuid = host.uuid
    found = hypervisors.list_hypervisors(env, admin, pattern="YYYY34", with_servers=True)
    assert len(found) == 11
    first = found[0]
    assert (first["id"], first["hypervisor_hostname"], first["hypervisor_version"],
            first["vcpus"], first["vcpus_used"], first["running_vms"], first["status"]) == (
        host_uuid, "XXXX-HOST-YYYY34", 7002000, 8, 2, 1, "enabled")
    assert first["servers"] == [{"uuid": "11111111-1111-1111-1111-111111111111",
                                 "name": naming.domain_name(
                                     "11111111-1111-1111-1111-111111111111")}]
    assert first["service"] == {"host": "XXXX-HOST-YYYY34", "id": host_uuid,
                                "disabled_reason": None}
    assert [h["servers"] for h in found[1:]] == [[]] * 10
    assert hypervisors.list_hypervisors(env, admin)[0]["servers"] is None  # not asked
    shown = hypervisors.show_hypervisor(env, admin, host_uuid)
    assert shown["hypervisor_hostname"] == "XXXX-HOST-YYYY34"


def test_no_match_name_as_id_and_member(env, admin, alice, fleet):
    with pytest.raises(NotFound, match="No hypervisor matching 'nope' could be found"):
        hypervisors.list_hypervisors(env, admin, pattern="nope")
    with pytest.raises(NotFound, match="Hypervisor 'node_a' could not be found"):
        hypervisors.show_hypervisor(env, admin, "node_a")  # a name is no id (clients fall back)
    with pytest.raises(Forbidden, match="os_compute_api:os-hypervisors"):
        hypervisors.list_hypervisors(env, alice)


@pytest.mark.parametrize("uri, ip", [("qemu:///system", None),
                                     ("qemu+ssh://root@10.0.0.5/system", "10.0.0.5"),
                                     ("test:///default", None)])
def test_host_ip(uri, ip):
    assert hypervisors.host_ip(uri) == ip


@pytest.mark.parametrize("version, number", [("7.2.0", 7002000), ("6.3.9600", 6012600),
                                             ("9.0", 9000000), (None, None)])
def test_version_int(version, number):
    # 6.3.9600: Nova's convert_version_to_int gives 6*10^6 + 3*10^3 + 9600 too
    assert hypervisors.version_int(version) == number
