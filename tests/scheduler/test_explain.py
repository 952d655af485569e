"""explain: a row per host with every reason or its weights, and the summary."""

from __future__ import annotations

import json

from kumo.scheduler import InMemoryClaimStore, Scheduler, SchedulerConfig

from tests.scheduler.helpers import NOW, host, request

HOSTS = [host("big", ram_mib=65536), host("small", ram_mib=16384),
         host("old", hv="hyperv", version=(6, 2)), host("off", enabled=False, ram_mib=1024)]


def test_explain_rows_and_table():
    s = Scheduler(SchedulerConfig(weighers={"FreeRAM": 1.0}), HOSTS,
                  InMemoryClaimStore.from_hosts(HOSTS))
    e = s.explain(request(ram=8192, props={"hypervisor_version_requires": ">=6.3"}), now=NOW)
    assert e.chosen == "big"
    assert [(r.host, r.passed, r.total) for r in e.rows] == [
        ("big", True, 1.0), ("small", True, 0.0), ("off", False, None), ("old", False, None)]
    off = e.rows[2]
    assert [str(f) for f in off.failed] == [
        "HostEnabled: host disabled",
        "RAM: insufficient RAM (requested 8192 MiB, free 1024 MiB: used 0 of 1024 MiB)"]
    assert e.summary == "2/4 hosts: 1 Hyper-V version 6.2 < 6.3, 1 host disabled"
    table = e.table().splitlines()
    assert table[0].split() == ["HOST", "RESULT", "WEIGHT", "REASONS", "/", "WEIGHTS"]
    assert table[1].split()[:3] == ["big", "chosen", "1.0000"]
    assert "FreeRAM 1.000x1" in table[1]
    assert table[-1] == e.summary
    doc = json.loads(json.dumps(e.to_dict()))
    assert doc["hosts"][2]["failed"][1]["reasons"][0] == {
        "type": "InsufficientResource", "text": "insufficient RAM (requested 8192 MiB, free 1024 "
        "MiB: used 0 of 1024 MiB)", "resource": "RAM", "requested": 8192, "used": 0,
        "capacity": 1024, "unit": "MiB", "ratio": 1.0, "limit": 1024}


def test_explain_does_not_claim():
    s = Scheduler(SchedulerConfig(), HOSTS, InMemoryClaimStore.from_hosts(HOSTS))
    s.explain(request(ram=8192), now=NOW)
    assert s.claims.usage()["big"].ram_mib == 0
