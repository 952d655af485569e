"""Recovery, continuously: every ``recovery_interval`` seconds, the unfinished journal entries of
controllers that are gone (a dead process here, or any whose lease expired) are taken over and
finished or rolled back (kumo.compute.journal.recover), without waiting for a CLI command."""

from __future__ import annotations

from datetime import datetime

from kumo.compute import journal
from kumo.compute.env import ComputeEnv
from kumo.periodic import Outcome

NAME = "recovery"


def run(env: ComputeEnv, at: datetime | None = None) -> Outcome:
    done = journal.recover(env, at)
    out = Outcome(f"{len(done)} unfinished operation(s) taken over" + "".join(
        f"; {r.operation} of {r.instance_uuid}: {r.outcome}" for r in done))
    for r in done:
        out.count("deferred" if r.outcome.startswith("deferred") else "recovered")
    return out
