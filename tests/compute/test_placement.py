"""Placement until the scheduler is wired in: most free RAM first, disabled hosts skipped, an
atomic claim, and a summary of why each host was passed over."""

from __future__ import annotations

import pytest

from kumo.compute import placement
from kumo.db.claims import Resources
from kumo.db.models import Host
from kumo.errors import StateError
from kumo.hosts.capabilities import default_host_caps
from kumo.scheduler.errors import NoValidHost

HOSTS = [("a", 4096, True), ("b", 8192, True), ("c", 32768, False)]


@pytest.fixture
def hosts(db):
    with db.session_scope() as s:
        for name, ram, enabled in HOSTS:
            h = Host(name=name, uri="test:///default", vcpus=4, ram_mib=ram, disk_gib=10,
                     enabled=enabled, disabled_reason=None if enabled else "broken fan")
            h.set_capabilities(default_host_caps())
            s.add(h)
    return db


def test_most_free_ram_first_and_claim(hosts):
    with hosts.session_scope() as s:
        host = placement.pick(s, Resources(1, 2048, 1))
        assert host.name == "b"
        placement.place(s, Resources(1, 2048, 1), host)
    with hosts.session_scope(readonly=True) as s:
        b = s.query(Host).filter_by(name="b").one()
        assert (b.used_vcpus, b.used_ram_mib, b.used_disk_gib) == (1, 2048, 1)


def test_no_valid_host_says_why(hosts):
    with hosts.session_scope(readonly=True) as s, pytest.raises(NoValidHost) as e:
        placement.pick(s, Resources(1, 16384, 1))
    assert str(e.value) == (
        "no valid host: 0/3 hosts can take 1 vCPU, 16384 MiB RAM, 1 GiB disk: "
        "c: disabled (broken fan); b: insufficient RAM (16384 MiB requested, 8192 MiB free); "
        "a: insufficient RAM (16384 MiB requested, 4096 MiB free)")


def test_named_disabled_host_is_refused(hosts):
    with hosts.session_scope(readonly=True) as s, pytest.raises(StateError) as e:
        placement.pick(s, Resources(1, 512, 1), s.query(Host).filter_by(name="c").one())
    assert str(e.value) == "host 'c' takes no new instances: disabled (broken fan)"
