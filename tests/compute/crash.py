"""SIGKILL as a unit test can have it: ``Killed`` is raised where the controller would die. It is
a BaseException, not an Exception, so no ``except Exception`` rollback or cleanup runs -- none
runs under SIGKILL either -- and the test then recovers as the next process would
(``journal.recover``). One definition for every test of tests/compute that kills."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import pytest


class Killed(BaseException):
    """The controller dies here: nothing after this point runs in it."""


def kill_at_failpoint(monkeypatch: pytest.MonkeyPatch, module: ModuleType,
                      point: str | None = None, nth: int = 1) -> list[str]:
    """``module.failpoint`` raises Killed the ``nth`` time ``point`` is reached, as
    ``KUMO_FAILPOINT=point@nth`` would SIGKILL the process (``point`` None: the first failpoint
    reached, whichever). Returns the list of the names reached, for the test to read."""
    reached: list[str] = []

    def failpoint(name: str) -> None:
        if point is None or name == point:
            reached.append(name)
            if len(reached) == nth:
                raise Killed(name)
    monkeypatch.setattr(module, "failpoint", failpoint)
    return reached


@contextmanager
def dies_at_host_call(host, op: str) -> Iterator[None]:
    """The controller dies when the fake host's (kumo.hosts.fake) call ``op`` arrives, before the
    host acts: the body must be killed there (pytest.raises(Killed)); the hook goes after it."""
    def die(call) -> None:
        if call.op == op:
            raise Killed(op)
    host.hooks.insert(0, die)
    try:
        with pytest.raises(Killed):
            yield
    finally:
        host.hooks.remove(die)
