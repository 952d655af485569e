"""Fence commands: powering a failed host off by the operator's own command, journaled.

A host may carry a fence command (``kumo host set HOST --fence-command '...'``): typically an
IPMI power-off through ipmitool (``ipmitool -I lanplus -H BMC -U USER -E chassis power off``,
the password in IPMI_PASSWORD), or any program that powers the host off and exits 0 only once
it is off. ``fence`` runs it -- argv split as a shell would, but without a shell (no pipes or
``&&``: put those in a script) -- with the host's name and URI in ``KUMO_FENCE_HOST`` and
``KUMO_FENCE_URI``, in a session of its own, killed with its whole process group after
``fence_timeout`` seconds.

The journal (operation ``host-fence``, step ``fence-command``) holds the command, the exit
status, stdout and stderr (the last 4000 characters of each) and whether it timed out; the entry
is written before the command runs, so a controller killed meanwhile leaves an entry recovery
ends FAILED ("result unknown"). Exit 0 marks the host fenced (``forced_down``, as
``kumo host set --down`` does) in the transaction that ends the entry; any other outcome (a
non-zero exit, a timeout, a command that cannot be started) leaves the host as it was --
unfenced -- and the entry FAILED with the reason. This is Masakari's rule: only a host confirmed
off is evacuated.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from kumo import logs
from kumo.catalog.names import check_text
from kumo.compute import journal
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.lookup import find_host
from kumo.db.models import Host, JournalEntry, JournalState
from kumo.errors import HostError, InvalidInput, StateError

log = logs.get(__name__)

OPERATION, STEP = "host-fence", "fence-command"
#: characters of stdout/stderr kept in the journal (the end: where errors are)
KEPT = 4000


@dataclass(frozen=True)
class FenceResult:
    host: str
    command: str
    fenced: bool
    exit_status: int | None  # None: never started, or killed at the timeout
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float
    reason: str | None  # why it did not fence (None when it did)

    def payload(self) -> dict[str, Any]:
        return {"command": self.command, "exit_status": self.exit_status,
                "stdout": self.stdout, "stderr": self.stderr, "timed_out": self.timed_out,
                "seconds": round(self.seconds, 3), "fenced": self.fenced}


def parse_command(command: str) -> list[str]:
    """The argv of a fence command; InvalidInput naming the problem."""
    check_text("fence command", command)
    try:
        argv = shlex.split(command)
    except ValueError as e:
        raise InvalidInput(f"fence command {command!r} is invalid: {e}; allowed a command "
                           "line split as a shell would (quotes, no pipes)") from None
    if not argv:
        raise InvalidInput(f"fence command {command!r} is invalid: allowed a command line "
                           "naming a program ('' removes the fence command)")
    return argv


def set_fence_command(env: ComputeEnv, ctx: RequestContext, ref: str,
                      command: str | None) -> None:
    """Store (or, with '' / None, remove) the host's fence command."""
    ctx.require_admin("setting a host's fence command")
    if command:
        parse_command(command)
    with env.db.session_scope() as s:
        host = find_host(s, ref)
        host.fence_command = command or None
        name = host.name
    log.info("host %s fence command %s by %s", name, "set" if command else "removed",
             ctx.user_id, extra={"host": name, "request_id": ctx.request_id})


def fence(env: ComputeEnv, ctx: RequestContext, ref: str, *,
          refuse_up: bool = True) -> FenceResult:
    """Run the host's fence command (see the module docstring); the result. StateError when the
    host has none or answered its last probe (``refuse_up``: a host running guests is not
    powered off from here)."""
    ctx.require_admin("fencing a host")
    with env.db.session_scope() as s:
        host = find_host(s, ref)
        if not host.fence_command:
            raise StateError(f"host {host.name!r} has no fence command: set one with `kumo host "
                             f"set {host.name} --fence-command '...'`, or power it off and "
                             f"confirm with `kumo host set {host.name} --down`")
        if refuse_up and host.liveness == "up":
            raise StateError(f"host {host.name!r} is up (it answered its last probe): kumo "
                             "fences only a host seen down; migrate its servers off instead")
        name, uri, command, host_id = host.name, host.uri, host.fence_command, host.id
        entry = journal.begin(s, env, ctx, OPERATION, None, STEP, host=name, host_id=host_id,
                              command=command, by=ctx.user_id)
        s.flush()
        entry_id = entry.id
    log.warning("fencing host %s: running %s", name, command,
                extra={"host": name, "request_id": ctx.request_id})
    result = run_command(name, uri, command, env.settings.fence_timeout)
    with env.db.session_scope() as s:
        journal.record(s, entry_id, STEP, **result.payload())
        if result.fenced:
            host = s.get_one(Host, host_id)
            host.forced_down = True
            host.generation += 1  # the scheduler's cached inventory sees it
        journal.finish(s, entry_id, JournalState.DONE if result.fenced else JournalState.FAILED,
                       result.reason)
    if result.fenced:
        log.warning("host %s fenced by its fence command (%.1f s)", name, result.seconds,
                    extra={"host": name, "request_id": ctx.request_id})
    else:
        log.error("host %s NOT fenced: %s", name, result.reason,
                  extra={"host": name, "request_id": ctx.request_id})
    return result


def run_command(name: str, uri: str, command: str, timeout: float) -> FenceResult:
    """Run ``command`` for host ``name`` (see the module docstring)."""
    argv = parse_command(command)
    environ = dict(os.environ, KUMO_FENCE_HOST=name, KUMO_FENCE_URI=uri)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=environ, start_new_session=True)
    except OSError as e:
        return FenceResult(name, command, False, None, "", "", False,
                           time.monotonic() - started,
                           f"fence command {argv[0]!r} could not be started: "
                           f"{e.strerror or e}; host {name!r} stays unfenced")
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the command and whatever it started
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
    seconds = time.monotonic() - started
    stdout, stderr = (_text(out), _text(err))
    status = None if timed_out else proc.returncode
    if timed_out:
        reason = (f"fence command timed out after {timeout:g} s (killed); host {name!r} stays "
                  "unfenced")
    elif status != 0:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else "no output on stderr"
        reason = (f"fence command exited with status {status} ({last}); host {name!r} stays "
                  "unfenced")
    else:
        reason = None
    return FenceResult(name, command, reason is None, status, stdout, stderr, timed_out,
                       seconds, reason)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")[-KEPT:]


def recover_fence(env: ComputeEnv, entry: JournalEntry) -> str:
    """The controller died while the fence command ran: its result is unknown, so the host
    stays unfenced (fence again, or confirm with --down)."""
    host = entry.payload.get("host")
    reason = (f"fencing of host {host} interrupted (the controller stopped while the command "
              "ran): result unknown, the host stays unfenced; run `kumo host fence "
              f"{host}` again or confirm with `kumo host set {host} --down`")
    with env.db.session_scope() as s:
        journal.finish(s, entry.id, JournalState.FAILED, reason)
    return reason


def refuse_failed(result: FenceResult) -> None:
    """HostError for a fence that did not fence (the CLI's exit status for a host error)."""
    if not result.fenced:
        raise HostError(result.reason or "not fenced")
