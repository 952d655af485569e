"""``kumo audit``: the selected instances checked against their records, images and hosts.

The database is read once (kumo.audit.snapshot); then the hosts are audited in parallel, at most
``parallel`` at a time, each on its one connection (kumo.audit.host) -- libvirt calls wait on the
network and the daemon, not on this process. ``progress`` is told each instance done (a progress
bar over large fleets). Nothing is written: the audit only reads.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from kumo.audit import properties
from kumo.audit.expected import Expected
from kumo.audit.findings import Finding, order, worst
from kumo.audit.host import HostJob, audit_host
from kumo.audit.snapshot import read
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.selection import Selection

#: hosts audited at once by default (each one libvirt connection)
DEFAULT_PARALLEL = 8


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    instances: int = 0
    hosts: int = 0
    seconds: float = 0.0
    #: distinct configurations rendered, domain XML documents parsed (kumo.audit.expected)
    renders: int = 0
    parses: int = 0

    @property
    def worst(self) -> str | None:
        return worst(self.findings)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for f in self.findings:
            out[f.severity] += 1
        return dict(out)

    def summary(self) -> str:
        c = self.counts()
        found = ", ".join(f"{c[s]} {s}{'s' if c[s] != 1 else ''}"
                          for s in ("error", "warning", "info") if c.get(s)) or "no findings"
        return (f"{self.instances} instance{'s' if self.instances != 1 else ''} on "
                f"{self.hosts} host{'s' if self.hosts != 1 else ''} audited in "
                f"{self.seconds:.1f} s: {found}")


def _without_host(f: Finding) -> Finding:
    """The finding as a project member may read it: no host name, in the fields or the text."""
    if f.host is None:
        return f

    def hide(text: str) -> str:
        for named, shown in ((f"kumo host show {f.host}; ", ""), (f" --host {f.host}", ""),
                             (f"host {f.host}", "its host")):
            text = text.replace(named, shown)
        return text
    message = f.message
    if f.id == "host-unreachable":  # the host's own error names it (its URI)
        message = message.split(" not audited (", 1)[0] + " not audited"
    return replace(f, host=None, message=hide(message), fix=hide(f.fix))


def audit(env: ComputeEnv, ctx: RequestContext, sel: Selection = Selection(), *,
          parallel: int = DEFAULT_PARALLEL, guest_clock: bool = True,
          started: Callable[[int], None] = lambda total: None,
          progress: Callable[[int], None] = lambda n: None) -> Report:
    """Audit the selection; ``started(total)`` once the instances are counted, ``progress(n)``
    as they are done; ``guest_clock``: read the clocks of guests with the agent."""
    t0 = time.perf_counter()
    snap = read(env, ctx, sel)
    started(len(snap.instances))
    exp = Expected(env)
    by_host: dict[int, list] = {h: [] for h in snap.hosts}
    for i in snap.instances:
        by_host[i.host_id].append(i)
    report = Report(instances=len(snap.instances), hosts=len(by_host))
    for i in snap.instances:
        report.findings += properties.check(exp, i, snap.hosts[i.host_id],
                                            snap.images.get(i.image_id or ""),
                                            snap.overrides.get(i.uuid, {}))
    jobs = [HostJob(snap.hosts[h], members, snap.busy, snap.installation, snap.placed,
                    guest_clock) for h, members in by_host.items()]
    workers = max(1, min(parallel, len(jobs)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="audit") as pool:
        for found in pool.map(lambda job: audit_host(env.host, env.forget_host, exp, job,
                                                     progress), jobs):
            report.findings += found
    if not ctx.is_admin:  # where a server runs is an admin's (Nova's os-extended-server-attributes)
        report.findings = [_without_host(f) for f in report.findings]
    report.findings.sort(key=order)
    report.renders, report.parses = exp.renders, exp.parses
    report.seconds = time.perf_counter() - t0
    return report
