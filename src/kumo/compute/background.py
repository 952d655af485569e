"""Finishing an operation in a detached process, for ``--no-wait``.

kumo has no long-running service the CLI could hand work to, and a thread of the CLI process
would die with it. So a command that should return at once records its operation as always
(instance state and journal entry in one unit of work, owned by this process), then starts a
detached ``kumo server _finish ENTRY OWNER`` process (its own session: it survives the
terminal) and returns once that process owns the journal entry. The hand-over is the same
conditional UPDATE recovery uses (journal._take_over), so exactly one process carries the work
on: the finisher, or -- if the finisher dies, or never takes over because this process died
first -- the next ``kumo server`` command, which recovers it as it recovers any dead
controller's work. The finisher's output goes to ``<data dir>/background.log``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any, Callable

from kumo.compute import journal
from kumo.compute.env import ComputeEnv
from kumo.db.models import JournalEntry
from kumo.errors import KumoError

#: how long the caller waits for the finisher to take the entry over
HAND_OVER_S = 30.0


def _finishers() -> dict[str, Callable[[ComputeEnv, JournalEntry], Any]]:
    from kumo.compute import power, teardown
    return {
        "create": _create,
        "start": lambda env, e: power.run(env, e.id, e.instance_uuid, "start"),
        "stop": lambda env, e: power.run(env, e.id, e.instance_uuid, "stop",
                                         e.payload.get("timeout_override")),
        "reboot": lambda env, e: power.run(env, e.id, e.instance_uuid, "reboot",
                                           e.payload.get("timeout_override")),
        "reboot-hard": lambda env, e: power.run(env, e.id, e.instance_uuid, "reboot-hard"),
        "delete": lambda env, e: teardown.run_delete(env, e.id, e.instance_uuid),
        "migrate": _move,
        "resize": _move,
    }


def _move(env: ComputeEnv, entry: JournalEntry) -> Any:
    from kumo.compute import moves
    return moves.run(env, moves.entry_started(entry))


def _create(env: ComputeEnv, entry: JournalEntry) -> Any:
    """The build a waited create runs (kumo.compute.reschedule.build: on the recorded host,
    then the scheduler's alternates; then a delete queued meanwhile), journaled as the request
    that recorded it."""
    from kumo.compute import reschedule
    return reschedule.build(env, journal.context_of(entry), entry.id, entry.instance_uuid)


OPERATIONS = ("create", "start", "stop", "reboot", "reboot-hard", "delete", "migrate", "resize")


def hand_over(env: ComputeEnv, entry_id: int) -> None:
    """Start the finisher for ``entry_id`` (owned by this process) and return once it owns
    the entry. KumoError if it exits first (the entry stays this process's: finish it)."""
    log = env.settings.data_dir / "background.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kumo.cli.main", "server", "_finish", str(entry_id),
             env.owner], stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            start_new_session=True, env=dict(os.environ))
    deadline = time.monotonic() + HAND_OVER_S
    while time.monotonic() < deadline:
        if owner(env, entry_id) != env.owner:
            return
        code = proc.poll()
        if code is not None:
            raise KumoError(f"the background process exited (code {code}) before taking the "
                            f"work over; see {log}")
        time.sleep(0.02)
    proc.kill()
    raise KumoError(f"the background process did not take the work over within "
                    f"{HAND_OVER_S:g} s; see {log}")


def shows_password(env: ComputeEnv, uuid: str) -> bool:
    """True if building the recorded instance generates an admin password (Windows): it is
    shown once, by the process that builds it, so such a create cannot be left to a finisher
    whose output nobody reads."""
    from kumo.compute import records
    from kumo.compute.instance_request import guest_request
    from kumo.guest.build import build_guest
    instance, host = records.load(env, uuid)
    if host is None:
        return False
    try:
        return bool(build_guest(guest_request(env, instance, host)).credentials.admin_password)
    except KumoError:
        return False  # the build will fail; the finisher records why


def owner(env: ComputeEnv, entry_id: int) -> str | None:
    with env.db.session_scope(readonly=True) as s:
        return s.get_one(JournalEntry, entry_id).owner


def finish(env: ComputeEnv, entry_id: int, from_owner: str) -> bool:
    """In the finisher: take the entry over from ``from_owner`` and carry the operation out.
    False (nothing done) if someone else owns it now."""
    if not journal.take_over(env, entry_id, from_owner):
        return False
    carry_out(env, entry_id)
    return True


def carry_out(env: ComputeEnv, entry_id: int) -> Any:
    """Carry out the recorded operation of the entry (begun by servers.begin_operation or
    servers.schedule_and_record) in this process: the finisher's work, an API's worker
    thread's, or the command's own when no finisher took it over; a create's admin password
    (or None)."""
    entry = _detached(env, entry_id)
    return _finishers()[entry.operation](env, entry)


def _detached(env: ComputeEnv, entry_id: int) -> JournalEntry:
    with env.db.session_scope(readonly=True) as s:
        entry = s.get_one(JournalEntry, entry_id)
        s.expunge(entry)
    return entry


def carry_out_in_thread(env: ComputeEnv, entry_id: int) -> None:
    """``carry_out`` on a worker thread of this process (an API request that answers at once:
    the EC2 API's lifecycle actions, a queued delete the request itself took); a failure is
    recorded on the server by the operation itself, and logged here."""
    import threading

    from kumo import logs

    entry = _detached(env, entry_id)

    def run() -> None:
        try:
            _finishers()[entry.operation](env, entry)
        except KumoError as e:
            logs.get(__name__).warning("%s of server %s failed: %s", entry.operation,
                                       entry.instance_uuid, e)

    threading.Thread(target=run, name=f"{entry.operation}-{(entry.instance_uuid or '')[:8]}",
                     daemon=True).start()
