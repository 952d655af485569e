"""The scheduler's error. ``NoValidHost`` is a ``kumo.errors.UserError``: nothing was claimed,
and ``str(err)`` carries the one-line summary of why every host was rejected."""

from __future__ import annotations

import threading
from typing import Callable

from kumo.errors import UserError


class NoValidHost(UserError):
    """No host passed the filters (or every claim lost its race). ``summary`` is the
    Kubernetes-FitError-style line: '0/12 hosts: 7 insufficient RAM (...), 5 ...'.

    The summary may be given as a function: it is then built on first use (``summary``,
    ``str(err)``), once. Counting every host's first failing filter costs far more than finding
    that none passes (at 100,000 hosts, ~100x), and a caller that retries elsewhere or only
    counts failures never reads it; the engine hands in a function over a snapshot of the usage
    it decided on, so a late read says what was true at the decision."""

    def __init__(self, summary: str | Callable[[], str], note: str = ""):
        self._summary = summary
        self._once = threading.Lock()
        self.note = note
        super().__init__()

    @property
    def summary(self) -> str:
        if callable(self._summary):
            with self._once:
                if callable(self._summary):
                    self._summary = self._summary()
        assert isinstance(self._summary, str)
        return self._summary

    def __str__(self) -> str:
        return f"no valid host: {self.summary}" + (f" ({self.note})" if self.note else "")

    def __repr__(self) -> str:
        return f"NoValidHost({str(self)!r})"

    def __reduce__(self):  # picklable (a summary function is not): send the text
        return (NoValidHost, (self.summary, self.note))
