"""The scheduler's error. ``NoValidHost`` is a ``kumo.errors.UserError``: nothing was claimed,
and ``str(err)`` carries the one-line summary of why every host was rejected."""

from __future__ import annotations

from kumo.errors import UserError


class NoValidHost(UserError):
    """No host passed the filters (or every claim lost its race). ``summary`` is the
    Kubernetes-FitError-style line: '0/12 hosts: 7 insufficient RAM (...), 5 ...'."""

    def __init__(self, summary: str, note: str = ""):
        self.summary = summary
        self.note = note
        super().__init__(f"no valid host: {summary}" + (f" ({note})" if note else ""))
