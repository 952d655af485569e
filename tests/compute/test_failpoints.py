"""KUMO_FAILPOINT: ``name`` fires at the first time the process reaches it, ``name@N`` at the
N-th (a fleet operation killed midway); unarmed names never fire."""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from kumo.compute import failpoints


@pytest.fixture
def kills(monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(failpoints.os, "kill", lambda pid, sig: sent.append(sig))
    monkeypatch.setattr(failpoints, "_hits", Counter())
    return sent


@pytest.mark.parametrize("armed, reached, fired_at", [
    ("op:step", 3, [1, 2, 3]),  # not counted: every time (the first one kills for real)
    ("op:step@3", 5, [3]),
    ("other:step@1,op:step@2", 3, [2]),
    ("op:other@1", 3, []),
    ("", 3, []),
], ids=["plain", "nth", "listed", "other-name", "unarmed"])
def test_which_reach_fires(kills, monkeypatch, armed, reached, fired_at):
    monkeypatch.setenv("KUMO_FAILPOINT", armed)
    fired = []
    for i in range(1, reached + 1):
        before = len(kills)
        failpoints.failpoint("op:step")
        if len(kills) > before:
            fired.append(i)
    assert fired == fired_at
    assert set(kills) <= {signal.SIGKILL}
