"""Fault injection for the crash-recovery tests. TEST-ONLY: never set KUMO_FAILPOINT in production.

``KUMO_FAILPOINT=create:after-define`` (a comma list) makes the process SIGKILL itself when it
reaches ``failpoint("create:after-define")`` -- the harshest crash there is (no finally blocks, no
atexit, no rollback), so the tests can prove that ``journal.recover()`` on the next start leaves
every instance ACTIVE or ERROR with a reason and nothing orphaned.

The names are ``<operation>:<where>``; each operation documents its failpoints where it calls them.

Two more variables, for the tests of several controllers: ``KUMO_FAILPOINT_ACTION=stop`` sends
SIGSTOP instead (the process freezes where it stands, holding its database connections and
leases as a hung machine would, until the test kills or continues it), and
``KUMO_FAILPOINT_ONCE=FILE`` fires only in the first process to create FILE (the others, armed
alike, pass), so the test need not know which controller will get there first.
"""

from __future__ import annotations

import os
import signal

ENV = "KUMO_FAILPOINT"


def failpoint(name: str) -> None:
    armed = os.environ.get(ENV, "")
    if not armed or name not in (p.strip() for p in armed.split(",")):
        return
    once = os.environ.get("KUMO_FAILPOINT_ONCE")
    if once:
        try:
            os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            return  # another process fired it
    stop = os.environ.get("KUMO_FAILPOINT_ACTION") == "stop"
    os.kill(os.getpid(), signal.SIGSTOP if stop else signal.SIGKILL)
