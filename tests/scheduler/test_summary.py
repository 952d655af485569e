"""The one-line summary a failed placement carries, Kubernetes FitError style."""

from __future__ import annotations

import pytest

from kumo.errors import UserError
from kumo.scheduler import (HostUsage, InMemoryClaimStore, InsufficientResource, NoValidHost,
                            ReferenceScheduler, Scheduler, SchedulerConfig, VersionMismatch,
                            ZoneMismatch, format_summary)

from tests.scheduler.helpers import NOW, host, request

# 7 KVM hosts short of RAM (the largest has 4096 MiB free), 5 Hyper-V 6.2 hosts with room
TWELVE = ([host(f"kvm-{i}", ram_mib=16384, ram_mib_used=16384 - 1024 * (i % 5)) for i in range(6)]
          + [host("kvm-6", ram_mib=16384, ram_mib_used=12288)]
          + [host(f"hv-{i}", hv="hyperv", version=(6, 2), ram_mib=65536) for i in range(5)])
SEED_004 = request(ram=8192, props={"hypervisor_version_requires": ">=6.3"})
EXPECTED = ("0/12 hosts: 7 insufficient RAM (requested 8192 MiB, largest free 4096 MiB), "
            "5 Hyper-V version 6.2 < 6.3")


@pytest.mark.parametrize("engine", [Scheduler, ReferenceScheduler], ids=["columnar", "reference"])
def test_no_valid_host_carries_the_summary(engine):
    s = engine(SchedulerConfig(), TWELVE, InMemoryClaimStore.from_hosts(TWELVE))
    with pytest.raises(NoValidHost) as err:
        s.select(SEED_004, now=NOW)
    assert err.value.summary == EXPECTED
    assert str(err.value) == "no valid host: " + EXPECTED
    assert isinstance(err.value, UserError)


def test_explain_has_the_same_summary_and_a_row_per_host():
    s = Scheduler(SchedulerConfig(), TWELVE, InMemoryClaimStore.from_hosts(TWELVE))
    e = s.explain(SEED_004, now=NOW)
    assert e.summary == EXPECTED
    assert e.chosen is None and len(e.rows) == 12
    hv = next(r for r in e.rows if r.host == "hv-0")
    assert [(f.plugin, str(x)) for f in hv.failed for x in f.reasons] == [
        ("ImageProperties", "Hyper-V version 6.2 < 6.3")]


def test_summary_counts_passing_hosts_and_orders_by_count_then_text():
    pairs = [(ZoneMismatch("az2", "az1"), 1), (ZoneMismatch("az2", "az3"), 1),
             (VersionMismatch("hypervisor_version_requires", ">=6.3", "6.2", "Hyper-V"), 2),
             (InsufficientResource("RAM", 8192, 0, 4096, "MiB", 1.0, 4096), 1)]
    assert format_summary(3, 8, pairs) == (
        "3/8 hosts: 2 Hyper-V version 6.2 < 6.3, 2 not in availability zone az2, "
        "1 insufficient RAM (requested 8192 MiB, largest free 4096 MiB)")
    assert format_summary(0, 0, []) == "0/0 hosts"


def test_a_host_counts_once_under_its_first_failing_filter():
    hosts = [host("a", ram_mib=1024, enabled=False), host("b", ram_mib=1024)]
    s = Scheduler(SchedulerConfig(), hosts, InMemoryClaimStore.from_hosts(hosts))
    with pytest.raises(NoValidHost) as err:
        s.select(request(ram=8192), now=NOW)
    assert err.value.summary == ("0/2 hosts: 1 host disabled, "
                                 "1 insufficient RAM (requested 8192 MiB, largest free 1024 MiB)")


def test_a_summary_read_late_describes_the_decision_not_later_changes():
    """Summaries are built when read; a read after the usage or liveness changed still says what
    the decision saw (the fleet is copied at the first change while a summary is unread)."""
    s = Scheduler(SchedulerConfig(), TWELVE, InMemoryClaimStore.from_hosts(TWELVE))
    errors = []
    for _ in range(2):  # two unread summaries share the copy
        with pytest.raises(NoValidHost) as err:
            s.select(SEED_004, now=NOW)
        errors.append(err.value)
    full = HostUsage(vcpus=0, ram_mib=16384, disk_gib=0, instances=3, generation=5)
    s.apply_changes({"kvm-6": full}, {"kvm-0": (NOW, True)})
    with pytest.raises(NoValidHost) as now:
        s.select(SEED_004, now=NOW)
    assert now.value.summary == (
        "0/12 hosts: 6 insufficient RAM (requested 8192 MiB, largest free 4096 MiB), "
        "5 Hyper-V version 6.2 < 6.3, 1 compute forced down")
    assert [e.summary for e in errors] == [EXPECTED, EXPECTED]


def test_a_summary_read_before_any_change_reads_the_live_fleet():
    s = Scheduler(SchedulerConfig(), TWELVE, InMemoryClaimStore.from_hosts(TWELVE))
    with pytest.raises(NoValidHost) as err:
        s.select(SEED_004, now=NOW)
    assert err.value.summary == EXPECTED
    s.apply_changes({}, {"kvm-0": (NOW, True)})
    assert err.value.summary == EXPECTED  # built once


def test_a_flavor_larger_than_every_host_fails_without_running_the_static_filters():
    """The usual NoValidHost (a flavor no host has room for) costs no static mask: the guest
    policy is not run for it; its summary, when read, still counts every host."""
    s = Scheduler(SchedulerConfig(), TWELVE, InMemoryClaimStore.from_hosts(TWELVE))
    policy = next(f for f in s.filters if f.NAME == "GuestPolicy")
    with pytest.raises(NoValidHost) as err:
        s.select(request(ram=100_000), now=NOW)
    assert not policy._answers
    assert err.value.summary == (
        "0/12 hosts: 12 insufficient RAM (requested 100000 MiB, largest free 65536 MiB)")
    s.select(request(ram=60_000), now=NOW)  # one that fits runs them
    assert policy._answers
