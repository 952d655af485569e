"""Journal leases: a controller owns the entries it works on until their lease expires.

A journal entry's ``owner`` names the controller process working on it and
``lease_expires_at`` until when it holds it. The owner renews the lease of every unfinished
entry it owns every third of ``journal_lease`` seconds (``Renewer``, a daemon thread per
ComputeEnv, started by the first entry it begins or takes over), and each journaled step renews
it too. Another controller may take an entry over (kumo.compute.journal.recover) when

* its owner is a process of this machine that is no longer running (no need to wait), or
* its lease expired -- the owner died, or its machine did, or it lost the database for longer
  than the lease; a process of this machine that still runs is never taken over from.

An owner that comes back after losing its entry finds out at its next step
(``journal.advance`` raises LeaseLost) and stops: the entry is the new owner's.

Times are the controllers' clocks (UTC): keep them in NTP sync; a skew eats into the lease.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy import or_, update

from kumo import logs
from kumo.compute.env import ComputeEnv, owner_gone
from kumo.compute.states import now as utcnow
from kumo.db.models import UNFINISHED_STATES, JournalEntry

log = logs.get(__name__)


def expiry(env: ComputeEnv, at: datetime | None = None) -> datetime:
    return (at or utcnow()) + timedelta(seconds=env.settings.journal_lease)


def orphaned(env: ComputeEnv, entry: JournalEntry, at: datetime | None = None) -> bool:
    """True if ``entry`` (unfinished) may be taken over by this controller (module docstring).
    An entry written before leases (no lease) counts from its last change."""
    if entry.owner == env.owner:
        return False
    gone = owner_gone(entry.owner)
    if gone is not None:
        return gone
    at = at or utcnow()
    until = entry.lease_expires_at or (
        entry.updated_at + timedelta(seconds=env.settings.journal_lease))
    return until < at


def renew(env: ComputeEnv, at: datetime | None = None) -> int:
    """Extend the lease of every unfinished entry this controller owns; how many."""
    with env.db.session_scope() as s:
        stmt = (update(JournalEntry)
                .where(JournalEntry.owner == env.owner,
                       JournalEntry.state.in_(UNFINISHED_STATES))
                .values(lease_expires_at=expiry(env, at))
                .execution_options(synchronize_session=False))
        return s.execute(stmt).rowcount


def hand_back(env: ComputeEnv) -> int:
    """Give up every unfinished entry this controller owns (graceful shutdown): owner cleared,
    so the next controller's recovery takes it over at once."""
    with env.db.session_scope() as s:
        stmt = (update(JournalEntry)
                .where(JournalEntry.owner == env.owner,
                       or_(JournalEntry.state.in_(UNFINISHED_STATES)))
                .values(owner=None, lease_expires_at=None)
                .execution_options(synchronize_session=False))
        return s.execute(stmt).rowcount


class Renewer:
    """Renews this controller's leases every ``journal_lease / 3`` seconds while it owns
    unfinished entries; the thread ends when it owns none and starts again with the next entry
    begun or taken over (so a finished CLI command keeps no thread, nor a connection)."""

    def __init__(self, env: ComputeEnv):
        self.env = env
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._kicked = False
        self._lock = threading.Lock()

    def ensure_running(self) -> None:
        with self._lock:
            self._kicked = True  # an entry was just begun: renew at least once more
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="kumo-lease-renewer",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        period = self.env.settings.journal_lease / 3
        while not self._stop.wait(period):
            try:
                owned = renew(self.env)
            except Exception as e:  # the database may be briefly away: try again next period
                log.warning("renewing journal leases failed: %s", e)
                owned = 1
            with self._lock:
                if owned == 0 and not self._kicked:
                    self._thread = None
                    return
                self._kicked = False
        with self._lock:
            self._thread = None

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
