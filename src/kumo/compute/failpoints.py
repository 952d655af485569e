"""Fault injection for the crash-recovery tests. TEST-ONLY: never set KUMO_FAILPOINT in production.

``KUMO_FAILPOINT=create:after-define`` (a comma list) makes the process SIGKILL itself when it
reaches ``failpoint("create:after-define")`` -- the harshest crash there is (no finally blocks, no
atexit, no rollback), so the tests can prove that ``journal.recover()`` on the next start leaves
every instance ACTIVE or ERROR with a reason and nothing orphaned.

The names are ``<operation>:<where>``; each operation documents its failpoints where it calls them.
"""

from __future__ import annotations

import os
import signal

ENV = "KUMO_FAILPOINT"


def failpoint(name: str) -> None:
    armed = os.environ.get(ENV, "")
    if armed and name in (p.strip() for p in armed.split(",")):
        os.kill(os.getpid(), signal.SIGKILL)
