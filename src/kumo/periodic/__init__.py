"""The periodic work ``kumo serve`` does, one module per task:

    power_sync      records what each host reports about its guests (Nova's _sync_power_states)
    host_liveness   probes each host: up or down, with the time of the last good contact
    recovery        takes over unfinished journal entries of controllers that are gone
    image_cache     removes cached image volumes unused on a host for longer than the max age
    resize_confirm  confirms moves left in VERIFY_RESIZE longer than resize_confirm_window

Each task is a function ``run(env, at) -> Outcome`` over a ComputeEnv, with the time passed in
(tests give a fake clock). kumo.serve.tasks runs them on an interval, one controller at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Outcome:
    """What one run did: a one-line summary and the corrections it made, by kind."""

    summary: str
    corrections: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str) -> None:
        self.corrections[kind] = self.corrections.get(kind, 0) + 1
