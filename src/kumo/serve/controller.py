"""The ``kumo serve`` process: start, health, graceful stop.

Start: on SQLite, take the single-controller lock (a second ``kumo serve`` on the same file
refuses to start); check the database is migrated (else: run ``kumo db upgrade``); run
libvirt's event loop so host connections are kept alive (kumo.hosts.events) and a dead one
marks its hosts down at once; start the periodic tasks (kumo.serve.tasks) and the HTTP server
(kumo.api.app).

Stop (SIGTERM or SIGINT): stop taking new work -- no new periodic run starts, the HTTP server
stops accepting; wait up to ``shutdown_timeout`` seconds for runs in progress; hand back through
the journal what this controller still owns (kumo.compute.lease.hand_back: another controller
takes it over at its next recovery run, or the next start of this one); exit 0.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text

from kumo import logs, metrics
from kumo.compute import lease
from kumo.compute.env import ComputeEnv
from kumo.compute.hosts import host_state
from kumo.compute.states import now
from kumo.config import Settings
from kumo.db.migrate import current_revision, head_revision
from kumo.db.models import Host, Instance, JournalEntry
from kumo.errors import StateError
from kumo.periodic import (audit, host_failure, host_liveness, image_cache, power_sync, recovery,
                           resize_confirm)
from kumo.serve.locks import SQLiteControllerLock, TaskLocks
from kumo.serve.tasks import Task, TaskRunner

log = logs.get(__name__)


def default_tasks(settings: Settings) -> list[Task]:
    return [
        Task(host_liveness.NAME, settings.host_probe_interval, host_liveness.run),
        Task(power_sync.NAME, settings.sync_power_state_interval, power_sync.run),
        Task(recovery.NAME, settings.recovery_interval, recovery.run),
        Task(image_cache.NAME, settings.image_cache_interval, image_cache.run),
        Task(audit.NAME, settings.audit_interval, audit.run),
        # off by default, as Nova's resize_confirm_window (kumo.periodic.resize_confirm)
        Task(resize_confirm.NAME, resize_confirm.interval(settings.resize_confirm_window),
             resize_confirm.run),
        # off by default: fences and evacuates failed hosts (kumo.periodic.host_failure)
        Task(host_failure.NAME, settings.host_probe_interval if settings.auto_evacuate else 0,
             host_failure.run),
    ]


@dataclass
class Health:
    ok: bool
    body: dict[str, Any] = field(default_factory=dict)


class Controller:
    def __init__(self, settings: Settings, env: ComputeEnv | None = None,
                 clock: Callable[[], datetime] = now):
        self.settings = settings
        self.env = env or ComputeEnv.from_settings(settings)
        self.runner = TaskRunner(self.env, default_tasks(settings), TaskLocks(self.env.db),
                                 clock)
        self._sqlite_lock: SQLiteControllerLock | None = None
        self._stopped = threading.Event()
        self._started = False
        metrics.read_from(self.counts)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start, or raise (StateError: another controller on this SQLite file, or the
        database not migrated) having started nothing."""
        db = self.env.db
        if db.engine.dialect.name == "sqlite" and db.url.database not in (None, "", ":memory:"):
            self._sqlite_lock = SQLiteControllerLock(db.url.database)
            self._sqlite_lock.acquire()
        have, want = current_revision(db.engine), head_revision()
        if have != want:
            if self._sqlite_lock is not None:
                self._sqlite_lock.release()
            raise StateError(f"the database {db.url.render_as_string(hide_password=True)} is at "
                             f"revision {have or 'none (empty)'}, kumo needs {want}: run "
                             "`kumo db upgrade` first")
        from kumo.hosts import events

        events.start(self.settings.host_keepalive_interval, self.settings.host_keepalive_count)
        events.on_close(lambda uri, why: host_liveness.connection_lost(self.env, uri, why))
        self.runner.start()
        self._started = True
        log.info("controller %s started on %s", self.env.owner,
                 db.url.render_as_string(hide_password=True))

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        if not self._started:
            self.env.close()
            return
        log.info("stopping: no new work; waiting up to %g s for runs in progress",
                 self.settings.shutdown_timeout)
        if not self.runner.stop(self.settings.shutdown_timeout):
            log.warning("runs still in progress after %g s: handing them back",
                        self.settings.shutdown_timeout)
        try:
            handed = lease.hand_back(self.env)
            if handed:
                log.warning("handed back %d unfinished journal entr%s for another controller "
                            "to finish", handed, "y" if handed == 1 else "ies")
        finally:
            self.env.close()
            if self._sqlite_lock is not None:
                self._sqlite_lock.release()
        log.info("controller %s stopped", self.env.owner)

    # --- what the HTTP side reads ---------------------------------------------------------------

    def health(self) -> Health:
        """Database reachable and migrated; each host's state. 503 (ok False) when the
        database is not usable: without it this controller can do nothing. A down host is
        reported, not a failure of the controller."""
        reasons: list[str] = []
        body: dict[str, Any] = {"controller": self.env.owner}
        try:
            with self.env.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            have, want = current_revision(self.env.db.engine), head_revision()
            body["database"] = {"reachable": True, "revision": have, "head": want}
            if have != want:
                reasons.append(f"database at revision {have or 'none'}, kumo needs {want}: "
                               "run `kumo db upgrade`")
        except Exception as e:  # unreachable database: the answer is 503, not a traceback
            body["database"] = {"reachable": False}
            reasons.append(f"database unreachable: {type(e).__name__}: {str(e).splitlines()[0]}")
        if not reasons:
            with self.env.db.session_scope(readonly=True) as s:
                body["hosts"] = {
                    h.name: {"state": host_state(h, self.settings.host_probe_interval),
                             "reason": h.liveness_reason,
                             "last_contact": h.last_heartbeat.isoformat()
                             if h.last_heartbeat else None}
                    for h in s.scalars(select(Host).order_by(Host.name))}
        body["status"] = "ok" if not reasons else "failing"
        body["reasons"] = reasons
        return Health(not reasons, body)

    def counts(self) -> dict[str, dict[str, int]]:
        """Hosts by state, live instances by vm_state, journal entries by state (metrics)."""
        out: dict[str, dict[str, int]] = {"hosts": {}, "instances": {}, "journal": {}}
        try:
            with self.env.db.session_scope(readonly=True) as s:
                for h in s.scalars(select(Host)):
                    state = host_state(h, self.settings.host_probe_interval)
                    out["hosts"][state] = out["hosts"].get(state, 0) + 1
                out["instances"] = dict(s.execute(
                    select(Instance.vm_state, func.count()).where(Instance.deleted.is_(False))
                    .group_by(Instance.vm_state)).all())
                out["journal"] = dict(s.execute(
                    select(JournalEntry.state, func.count()).group_by(JournalEntry.state)).all())
        except Exception:
            log.warning("reading counts for the metrics failed", exc_info=True)
        return out
