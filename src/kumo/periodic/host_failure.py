"""Automatic host-failure handling in ``kumo serve`` (``auto_evacuate = true``; off by default).

Every ``host_probe_interval`` seconds, after the liveness probes (kumo.periodic.host_liveness),
each host that

1. is **down** -- not ``unknown``: a host no controller has probed lately is never acted on
   (Masakari's engine ignores host_status UNKNOWN for the same reason: nobody knows whether its
   guests still run), nor one that is up;
2. has been down for ``auto_evacuate_after`` probes in a row (``hosts.down_probes``: one missed
   probe is not a failure), and
3. has servers to move (kumo.compute.evacuate's evacuees),

is fenced -- unless already confirmed fenced (``kumo host set --down``) -- by its fence command
(kumo.compute.fencing); a host without one, or whose fence fails, is left alone and logged:
**only a host confirmed off is evacuated** (Masakari acts only on a host whose IPMI power status
is off). A fenced host is then evacuated as ``kumo host evacuate HOST --accept-rebuild`` would:
turning the automatic mode on is the operator's acceptance that root disks are rebuilt from
their images (kumo has no shared instance storage). Each step is journaled as the manual commands
journal it, by user ``kumo-serve``. A server no host can take stays where it is and is retried
at the next run.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from kumo import logs
from kumo.compute import evacuate, fencing
from kumo.compute.context import service_context
from kumo.compute.env import ComputeEnv
from kumo.compute.hosts import host_state
from kumo.compute.states import now
from kumo.db.models import Host
from kumo.errors import KumoError
from kumo.periodic import Outcome

NAME = "host-failure"

log = logs.get(__name__)


def run(env: ComputeEnv, at: datetime | None = None) -> Outcome:
    settings = env.settings
    if not settings.auto_evacuate:
        return Outcome("automatic evacuation off (auto_evacuate = false)")
    at = at or now()
    with env.db.session_scope(readonly=True) as s:
        candidates = []
        for host in s.scalars(select(Host).order_by(Host.name)):
            state = host_state(host, settings.host_probe_interval, at)
            if state != "down" or host.down_probes < settings.auto_evacuate_after:
                continue
            if evacuate.evacuees(s, host):
                candidates.append((host.name, host.forced_down, host.fence_command is not None,
                                   host.down_probes))
    out = Outcome(f"{len(candidates)} failed host(s) with servers")
    ctx = service_context()
    for name, fenced, has_command, probes in candidates:
        with logs.log_context(host=name):
            if not fenced:
                if not has_command:
                    out.count("not-fenced")
                    log.warning("host %s down for %d probes with servers on it, not evacuated: "
                                "no fence command and not confirmed fenced (power it off, then "
                                "`kumo host set %s --down`)", name, probes, name)
                    continue
                result = fencing.fence(env, ctx, name)
                if not result.fenced:
                    out.count("fence-failed")
                    continue
                out.count("fenced")
            try:
                summary = evacuate.evacuate(env, ctx, name, accept_rebuild=True,
                                            progress=lambda line: log.info("%s", line))
            except KumoError as e:
                out.count("evacuate-refused")
                log.error("host %s not evacuated: %s", name, e)
                continue
            out.count("evacuated")
            (log.warning if summary.failed else log.info)("%s", summary.line())
    return out
