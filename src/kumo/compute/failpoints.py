"""Fault injection for the crash-recovery tests. TEST-ONLY: never set KUMO_FAILPOINT in production.

``KUMO_FAILPOINT=create:after-define`` (a comma list) makes the process SIGKILL itself when it
reaches ``failpoint("create:after-define")`` -- the harshest crash there is (no finally blocks, no
atexit, no rollback), so the tests can prove that ``journal.recover()`` on the next start leaves
every instance ACTIVE or ERROR with a reason and nothing orphaned.

The names are ``<operation>:<where>``; each operation documents its failpoints where it calls them.

``name@N`` fires at the N-th time the process reaches ``name`` (``evacuate:after-move@20``: in
the middle of a long evacuation), not the first.

Two more variables, for the tests of several controllers: ``KUMO_FAILPOINT_ACTION=stop`` sends
SIGSTOP instead (the process freezes where it stands, holding its database connections and
leases as a hung machine would, until the test kills or continues it), and
``KUMO_FAILPOINT_ONCE=FILE`` fires only in the first process to create FILE (the others, armed
alike, pass), so the test need not know which controller will get there first.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter

ENV = "KUMO_FAILPOINT"

_hits: Counter[str] = Counter()
_lock = threading.Lock()


def failpoint(name: str) -> None:
    armed = os.environ.get(ENV, "")
    if not armed:
        return
    for point in (p.strip() for p in armed.split(",")):
        wanted, _, nth = point.partition("@")
        if wanted != name:
            continue
        if not nth:
            break
        with _lock:
            _hits[name] += 1
            if _hits[name] == int(nth):
                break
    else:
        return
    once = os.environ.get("KUMO_FAILPOINT_ONCE")
    if once:
        try:
            os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            return  # another process fired it
    stop = os.environ.get("KUMO_FAILPOINT_ACTION") == "stop"
    os.kill(os.getpid(), signal.SIGSTOP if stop else signal.SIGKILL)
