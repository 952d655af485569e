"""The crash soak on the real libvirtd (tests/support/soak.py): SIGKILLs of ``kumo`` processes
while 20 tiny servers are created, deleted, rebuilt, hard-rebooted, stopped and started -- first
one kill at every kill site (each failpoint of each operation, each operation after a random
delay), then seeded-random kills up to KUMO_SOAK_KILLS (default 40; 200 or more for a long run)
-- then recovery, and every server must be ACTIVE, SHUTOFF, ERROR with a reason, or gone; the
host's usage the sum of its recorded instances; no orphan domain or volume, neither as ``kumo
host orphans`` nor as libvirt itself lists them. ``-s`` shows the counts (kills per site
included); they are in the assertion messages too. KUMO_SOAK_KILLS / KUMO_SOAK_SEED change the
run."""

from __future__ import annotations

import os

import pytest

from tests.support.soak import SITES, soak

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_kill_at_every_site_and_random_kills_leave_every_server_settled_and_nothing_leaked(
        tmp_path, system_libvirt):
    kills = max(int(os.environ.get("KUMO_SOAK_KILLS", "40")), len(SITES))
    seed = int(os.environ.get("KUMO_SOAK_SEED", "8"))
    census = soak(tmp_path, system_libvirt, kills=kills, seed=seed,
                  log=tmp_path / "soak.log")
    report = census.lines() + f"\n(seed {seed}; command log {tmp_path / 'soak.log'})"
    print("\n" + report)
    assert census.missed == [], report
    assert sorted(census.sites) == sorted(f"{op}@{point or 'delay'}" for op, point in SITES), \
        report
    assert census.kills == kills, report
    assert census.unsettled == [], report
    assert census.usage_counted == census.usage_recorded, report
    assert [row["status"] for row in census.audit] == ["ok"], report
    assert census.orphans == [], report
    assert census.stray == [], report
