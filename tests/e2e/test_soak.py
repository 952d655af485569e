"""The crash soak on the real libvirtd (tests/support/soak.py): 200 SIGKILLs of ``kumo``
processes at random moments while 20 tiny servers are created, deleted, rebuilt, hard-rebooted,
stopped and started; then recovery, and every server must be ACTIVE, SHUTOFF, ERROR with a
reason, or gone; the host's usage the sum of its recorded instances; no orphan domain or volume,
neither as ``kumo host orphans`` nor as libvirt itself lists them. ``-s`` shows the counts; they
are in the assertion messages too. KUMO_SOAK_KILLS / KUMO_SOAK_SEED change the run."""

from __future__ import annotations

import os

import pytest

from tests.support.soak import soak

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_200_kills_leave_every_server_settled_and_nothing_leaked(tmp_path, system_libvirt):
    kills = int(os.environ.get("KUMO_SOAK_KILLS", "200"))
    seed = int(os.environ.get("KUMO_SOAK_SEED", "8"))
    census = soak(tmp_path, system_libvirt, kills=kills, seed=seed,
                  log=tmp_path / "soak.log")
    report = census.lines() + f"\n(seed {seed}; command log {tmp_path / 'soak.log'})"
    print("\n" + report)
    assert census.kills == kills, report
    assert census.unsettled == [], report
    assert census.usage_counted == census.usage_recorded, report
    assert [row["status"] for row in census.audit] == ["ok"], report
    assert census.orphans == [], report
    assert census.stray == [], report
