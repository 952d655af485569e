"""Heartbeats kept by the controller (SQLite and PostgreSQL): only stale, enabled, not forced-down
hosts are asked before a placement; those that answer get a fresh heartbeat, those that do not
stay stale and ComputeUp explains them as down; talking to a host successfully refreshes it, at
most once per report interval."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from kumo.compute import flavors, heartbeat, images, servers
from kumo.compute.env import _default_connect
from kumo.db.models import Host
from kumo.scheduler import SchedulerConfig
from kumo.scheduler.errors import NoValidHost
from tests.support.hosts import add_host
from tests.compute.records import add_instance

UNREACHABLE = "qemu+tcp://127.0.0.1:1/system"
REFUSED = (f"host {UNREACHABLE} does not answer: unable to connect to server at "
           "'127.0.0.1:1': Connection refused")


def ago(seconds: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(seconds=seconds)


def heartbeats(db) -> dict[str, datetime | None]:
    with db.session_scope(readonly=True) as s:
        return {h.name: h.last_heartbeat for h in s.scalars(select(Host))}


def fresh(when: datetime | None, within_s: float = 5.0) -> bool:
    return when is not None and datetime.now(timezone.utc) - when < timedelta(seconds=within_s)


@pytest.fixture
def asked(env) -> list[str]:
    """The URIs the controller opened a connection to."""
    uris: list[str] = []

    def connect(uri: str):
        uris.append(uri)
        return _default_connect(uri)

    env.connect = connect
    return uris


def test_only_stale_usable_hosts_are_asked(env, asked):
    add_host(env.db, "fresh", "test:///fresh-uri-never-opened", last_heartbeat=ago(5))
    add_host(env.db, "stale", last_heartbeat=ago(600))
    add_host(env.db, "never")
    add_host(env.db, "silent", UNREACHABLE, last_heartbeat=ago(600))
    add_host(env.db, "off", "test:///off-uri-never-opened", last_heartbeat=ago(600),
             enabled=False)
    add_host(env.db, "forced", "test:///forced-uri-never-opened", last_heartbeat=ago(600),
             forced_down=True)
    before = heartbeats(env.db)
    silent = heartbeat.refresh_stale(env, SchedulerConfig())
    assert silent == {"silent": REFUSED}
    assert asked == ["test:///default", UNREACHABLE]  # each URI once; 'stale' and 'never' share
    after = heartbeats(env.db)
    assert fresh(after["stale"]) and fresh(after["never"])
    for name in ("fresh", "silent", "off", "forced"):
        assert after[name] == before[name], name


@pytest.mark.parametrize("config, age_s, asked_uris", [
    (SchedulerConfig(), 45, []),  # fresh enough for the next 10 s
    (SchedulerConfig(), 55, ["test:///default"]),  # would go stale within one report interval
    (SchedulerConfig(options={"ComputeUp": {"service_down_time": 300}}), 200, []),
    (SchedulerConfig(filters=("HostEnabled", "RAM")), 6000, []),  # nobody reads heartbeats
], ids=["fresh", "nearly-stale", "longer-window", "no-ComputeUp"])
def test_stale_means_older_than_the_window_less_one_interval(env, asked, config, age_s,
                                                             asked_uris):
    add_host(env.db, "h", last_heartbeat=ago(age_s))
    assert heartbeat.refresh_stale(env, config) == {}
    assert asked == asked_uris


def test_only_named_hosts_are_asked(env, asked):
    add_host(env.db, "a", last_heartbeat=ago(600))
    add_host(env.db, "b", UNREACHABLE, last_heartbeat=ago(600))
    assert heartbeat.refresh_stale(env, SchedulerConfig(), ["a"]) == {}
    assert asked == ["test:///default"]


def test_touch_writes_at_most_once_per_report_interval(env):
    add_host(env.db, "recent", last_heartbeat=ago(5))
    add_host(env.db, "older", last_heartbeat=ago(20))
    before = heartbeats(env.db)
    with env.db.session_scope() as s:
        ids = list(s.scalars(select(Host.id)))
        heartbeat.touch(s, ids)
    after = heartbeats(env.db)
    assert after["recent"] == before["recent"]
    assert fresh(after["older"], 1.0)


@pytest.fixture
def catalog(env, admin, image_file):
    images.create_image(env, admin, "linux", file=image_file, disk_format="qcow2",
                        properties={"os_type": "linux"}, visibility="public")
    flavors.create_flavor(env, admin, "tiny", vcpus=1, ram_mib=256, disk_gib=1)
    return env


def test_a_stale_host_that_answers_is_placed_on(catalog, admin):
    env = catalog
    add_host(env.db, "kvm-1", last_heartbeat=ago(600))  # past the 60 s window
    instance, host = servers.new_instance(env, admin, "web", image="linux", flavor="tiny")
    servers.schedule_and_record(env, admin, instance, host=host)
    assert servers.show_server(env, admin, instance.uuid)["host"] == "kvm-1"
    assert fresh(heartbeats(env.db)["kvm-1"])


def test_a_stale_host_that_does_not_answer_is_compute_down(catalog, admin):
    env = catalog
    add_host(env.db, "kvm-1", UNREACHABLE, last_heartbeat=ago(600))
    summary = "0/1 hosts: 1 compute down (no heartbeat for 60 s)"
    with pytest.raises(NoValidHost) as e:
        servers.create_server(env, admin, "web", image="linux", flavor="tiny")
    assert str(e.value) == f"no valid host: {summary}"
    [server] = servers.list_servers(env, admin)
    assert (server["status"], server["fault"]["message"]) == ("ERROR", summary)
    assert heartbeats(env.db)["kvm-1"] < ago(500)  # still stale


def test_operations_that_reach_the_host_refresh_its_heartbeat(env, admin):
    add_host(env.db, "kvm-1", last_heartbeat=ago(600))
    uuid = add_instance(env, admin, "kvm-1")
    servers.delete_server(env, admin, uuid)  # the test driver answers: nothing to remove
    assert fresh(heartbeats(env.db)["kvm-1"])
