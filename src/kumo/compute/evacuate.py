"""Fencing a failed host and evacuating exactly its instances.

Seed 002: a failed host's instances were evacuated together with ten healthy hosts' because the
tool matched host names by substring. Here a host is named exactly (kumo.compute.lookup.find_host,
whose miss names the nearest hosts), and a host is evacuated only when it is confirmed off:

- ``set_fenced``: ``kumo host set HOST --down`` records the operator's confirmation that the host
  is fenced (powered off), Nova's ``forced_down``; ``--up`` clears it. Each change is a journal
  entry (operation ``host-fence``) naming who did it. A forced-down host takes no new instances
  (the scheduler's ComputeFilter) and gets no heartbeat.
- ``refusal``: a host that answered its last liveness probe is never evacuated (Masakari acts only
  on a host confirmed off: two copies of one guest writing one disk destroy it); a host not
  confirmed fenced is refused unless the operator overrides with a reason, which is journaled with
  who gave it.
- ``evacuate``: each instance on the host is rebuilt, through the normal create path
  (kumo.compute.reschedule.build: journaled steps, the scheduler's alternates), on a host the
  scheduler chooses under the instance's own request spec (its frozen image properties and flavor
  snapshot: request_spec_for_instance), keeping its uuid, name, properties and pinned machine type.
  kumo has no shared instance storage yet, so the root disk is rebuilt from the image (the data on
  it is lost): that needs ``accept_rebuild``. A server whose move is undecided (VERIFY_RESIZE)
  with a copy on the host is not rebuilt: its move is reverted onto its source (the host was
  its target) or confirmed (the host was its source) without asking the host
  (kumo.compute.moves.decide_without).

Resumable and idempotent: the move of one instance -- claim on the target, the source's claim
released, the record pointed at the target, a create journal entry naming ``evacuated_from`` --
commits in one transaction (``scheduler.place(record=...)``), after checking under the row lock that
the instance is still on the failed host. A controller killed at any point leaves each instance
either still on the failed host (a re-run moves it) or on its target with an unfinished create
that recovery finishes or rolls back; a rolled-back evacuee (ERROR on no host, its last create
naming ``evacuated_from``) is picked up again by the re-run. No instance is moved twice, none is
lost. The failed host is never asked anything: it is off.

Failpoints (test-only, kumo.compute.failpoints): evacuate:after-move (one instance's move
committed, nothing built on the target yet), evacuate:after-instance (one instance done).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo import logs
from kumo.compute import heartbeat, journal, records, reschedule, spares, spawn
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.failpoints import failpoint
from kumo.compute.lookup import find_host
from kumo.compute.states import BUILDING, SPAWNING, STOPPED, clear_fault
from kumo.catalog.flavor import Flavor as FlavorValue
from kumo.db.models import Host, Image, Instance, JournalEntry, JournalState
from kumo.db.models import ServerGroup as GroupRow
from kumo.errors import HostError, InvalidInput, KumoError, StateError
from kumo.scheduler import service as scheduler
from kumo.scheduler.claims import Placement
from kumo.scheduler.errors import NoValidHost
from kumo.scheduler.model import RequestSpec, ServerGroup

log = logs.get(__name__)

UP = "up"


# --- fencing -------------------------------------------------------------------------------------

def set_fenced(env: ComputeEnv, ctx: RequestContext, ref: str, fenced: bool,
               reason: str | None = None) -> dict[str, Any]:
    """Record (``fenced``) or clear the operator's confirmation that the host is off; journaled
    with who and why. The host's view."""
    from kumo.compute.hosts import host_view

    ctx.require_admin("fencing a host" if fenced else "clearing a host's fencing")
    if not fenced:
        _clean_before_up(env, ctx, ref)
    with env.db.session_scope() as s:
        host = find_host(s, ref)
        before = host.forced_down
        host.forced_down = fenced
        host.generation += 1  # the scheduler's cached inventory sees it
        s.add(JournalEntry(
            instance_uuid=None, operation="host-fence", step="down" if fenced else "up",
            state=JournalState.DONE.value, owner=env.owner, request_id=ctx.request_id,
            user_id=ctx.user_id, project_id=ctx.project_id,
            payload={"host": host.name, "host_id": host.id, "forced_down": fenced,
                     "was": before, "by": ctx.user_id, "reason": reason}))
        s.flush()
        view = host_view(host, None)
    (log.warning if fenced else log.info)(
        "host %s %s by %s%s", view["name"],
        "confirmed fenced (forced down)" if fenced else "no longer forced down", ctx.user_id,
        f": {reason}" if reason else "", extra={"host": view["name"],
                                                "request_id": ctx.request_id})
    return view


def _clean_before_up(env: ComputeEnv, ctx: RequestContext, ref: str) -> None:
    """A host back in service first loses its stale domains of evacuated instances
    (kumo.compute.evacuated_cleanup); one that does not answer is not cleared."""
    from kumo.compute import evacuated_cleanup

    with env.db.session_scope(readonly=True) as s:
        host = find_host(s, ref)
        host_id, name, fenced = host.id, host.name, host.forced_down
    if not fenced or not evacuated_cleanup.evacuated_away(env, host_id):
        return
    try:
        evacuated_cleanup.clean(env, ctx, host_id)
    except HostError as e:
        raise StateError(f"cannot clear the fencing of host {name!r}: servers were evacuated "
                         f"from it and its stale copies of them must be removed first, but it "
                         f"does not answer ({e}); bring it up, then --up again") from None


def refusal(host: Host, force_unfenced_reason: str | None) -> str | None:
    """Why ``host`` must not be evacuated now, or None."""
    if host.liveness == UP:
        when = (host.liveness_checked_at.isoformat(timespec="seconds")
                if host.liveness_checked_at else "its last probe")
        return (f"host {host.name!r} is up (it answered at {when}): a host that may still run "
                "its guests is never evacuated; power it off and wait for it to be seen down, "
                "or migrate its servers")
    if not host.forced_down and not force_unfenced_reason:
        state = host.liveness or "unknown"
        return (f"host {host.name!r} is {state} but not confirmed fenced: its guests may still "
                f"be running; power it off, then `kumo host set {host.name} --down` "
                "(or --force-unfenced --reason TEXT to override, logged)")
    return None


# --- the plan ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlanItem:
    uuid: str
    name: str
    target: str | None  # the scheduler's choice now (None: no host can take it)
    disk: str  # what happens to the root disk
    skip: str | None = None  # why it is not moved
    #: REBUILD, or DECIDE: an undecided move with a copy on the host, decided without it
    #: (kumo.compute.moves.decide_without: reverted onto its source, or confirmed)
    action: str = "rebuild"

    def view(self) -> dict[str, Any]:
        return {"instance": self.name, "id": self.uuid, "target": self.target or "-",
                "disk": self.disk, "skip": self.skip or ""}


REBUILD, DECIDE = "rebuild", "decide-move"


@dataclass
class Summary:
    host: str
    moved: list[tuple[str, str]] = field(default_factory=list)  # (name, target)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    what: str = "evacuation"  # or "drain" (kumo.compute.drain)

    def line(self) -> str:
        parts = [f"{self.what} of {self.host}: {len(self.moved)} moved, "
                 f"{len(self.skipped)} skipped, {len(self.failed)} failed"]
        parts += [f"skipped {n}: {r}" for n, r in self.skipped]
        parts += [f"failed {n}: {r}" for n, r in self.failed]
        return "\n".join(parts)


def evacuees(s: Session, host: Host) -> list[Instance]:
    """The instances to move off ``host``: those recorded on it, and those a previous
    evacuation of it moved off and then rolled back (ERROR on no host, their last create entry
    naming ``evacuated_from``)."""
    on_host = list(s.scalars(select(Instance).where(
        Instance.host_id == host.id, Instance.deleted.is_(False)).order_by(Instance.name)))
    stranded = []
    for inst in s.scalars(select(Instance).where(Instance.host_id.is_(None),
                                                 Instance.deleted.is_(False))):
        last = _last_evacuation(s, inst.uuid)
        if last is not None and last.payload["evacuated_from"] == host.name:
            stranded.append(inst)
    return on_host + sorted(stranded, key=lambda i: i.name)


def _disk_handling(s: Session, inst: Instance) -> str:
    image = s.get(Image, inst.image_id) if inst.image_id else None
    return (f"root disk rebuilt from image {image.name if image else inst.image_id!r} "
            "(data on it lost: no shared storage)")


def plan(env: ComputeEnv, ctx: RequestContext, ref: str, *,
         force_unfenced_reason: str | None = None, accept_new_tpm: bool = False,
         choose_targets: bool = True) -> tuple[str, list[PlanItem]]:
    """(exact host name, what would happen to each instance), after the fencing checks; the
    scheduler's choice for each unless not ``choose_targets`` (the evacuation itself asks it
    again per instance, as it moves it)."""
    ctx.require_admin("evacuating a host")
    with env.db.session_scope(readonly=True) as s:
        host = find_host(s, ref)
        why = refusal(host, force_unfenced_reason)
        if why:
            raise StateError(f"cannot evacuate: {why}")
        others = targets(s, host)
        items = undecided_moves(s, host)
        deciding = {i.uuid for i in items}
        for inst in evacuees(s, host):
            if inst.uuid in deciding:
                continue
            tpm = None if accept_new_tpm else tpm_reason(env, inst, host)
            skip = _busy(inst) or (f"{tpm}; pass --accept-new-tpm to move it anyway"
                                   if tpm else None)
            target = None
            if skip is None and choose_targets:
                try:
                    spec = move_spec(s, inst)
                    target = scheduler.explain(env.db, spec, scheduler.load_config(
                        settings=env.settings), hosts=others).chosen if others else None
                except KumoError as e:
                    skip = str(e)
            items.append(PlanItem(inst.uuid, inst.name, target, _disk_handling(s, inst), skip))
        return host.name, items


def undecided_moves(s: Session, host: Host) -> list[PlanItem]:
    """The servers with an undecided move (VERIFY_RESIZE) that has a copy on the failed host:
    not rebuilt, their move decided without that host (kumo.compute.moves.decide_without) --
    reverted onto the source when the host was the target, confirmed when it was the source."""
    from kumo.compute import moves

    items = []
    for move in moves.undecided_with(s, host.id):
        inst = s.scalars(select(Instance).where(Instance.uuid == move.instance_uuid)).one()
        if inst.deleted:
            continue
        if moves.decision_without(move, host.name) == "revert":
            target, disk = move.source_node, (
                f"kept: its move reverted onto {move.source_node}, whose copy is as before the "
                f"move (flavor {move.old_flavor.get('flavor_name')}; what was written on "
                f"{host.name} since is lost)")
        else:
            target, disk = move.dest_node, (
                f"kept: it runs on {move.dest_node}; its move from {host.name} confirmed (the "
                f"copy left on {host.name} is removed when it is back)")
        items.append(PlanItem(inst.uuid, inst.name, target, disk, _busy(inst), DECIDE))
    return items


def move_spec(s: Session, inst: Instance, flavor: FlavorValue | None = None) -> RequestSpec:
    """What to place when an instance moves to another host (evacuation, cold migration,
    resize): its own constraints -- its frozen image properties, its flavor snapshot (or the
    new ``flavor`` of a resize), the availability zone it was asked for, and its server group
    with the hosts the group's other members run on (Nova's request spec, kept with the
    instance and re-used by every move)."""
    if flavor is None:
        return scheduler.request_spec_for_instance(
            inst, availability_zone=inst.availability_zone, group=_group_of(s, inst))
    return scheduler.request_spec(dict(inst.image_properties or {}), flavor,
                                  availability_zone=inst.availability_zone,
                                  group=_group_of(s, inst))


def _group_of(s: Session, inst: Instance) -> ServerGroup | None:
    """The instance's server group for the scheduler's ServerGroup filter; None for none, and
    for the soft policies (weighed, never refused: Nova's soft-(anti-)affinity weighers)."""
    if inst.server_group_id is None:
        return None
    group = s.get(GroupRow, inst.server_group_id)
    if group is None or group.policy not in ("affinity", "anti-affinity"):
        return None
    others = s.scalars(select(Host.name).join(Instance, Instance.host_id == Host.id).where(
        Instance.server_group_id == group.id, Instance.uuid != inst.uuid,
        Instance.deleted.is_(False)))
    return ServerGroup(group.name, group.policy, tuple(others),
                       int((group.rules or {}).get("max_server_per_host", 1)))


def claim_elsewhere(env: ComputeEnv, spec: RequestSpec, hosts: list[str],
                    record: Callable[[Session, Any], None]) -> Placement:
    """Claim for ``spec`` on the scheduler's choice among ``hosts``, ``record`` committed with
    the claim; hosts whose heartbeat went stale (no kumo serve probing them) are asked, as a
    create asks them (kumo.compute.heartbeat.refresh_stale), and the place retried. StateError
    naming the scheduler's summary when no host can take it."""
    config = scheduler.load_config(settings=env.settings)
    try:
        return scheduler.place(env.db, spec, config, hosts=hosts, record=record)
    except NoValidHost:
        heartbeat.refresh_stale(env, config, hosts)
        try:
            return scheduler.place(env.db, spec, config, hosts=hosts, record=record)
        except NoValidHost as e:
            raise StateError(f"no host can take it: {e.summary}") from None


def reserved_hosts(env: ComputeEnv, ref: str) -> list[str]:
    """The spares an evacuation of ``ref`` tries first (kumo.compute.spares)."""
    with env.db.session_scope(readonly=True) as s:
        return spares.spares_for(s, find_host(s, ref))


def targets(s: Session, host: Host) -> list[str]:
    """Every other host (the scheduler's filters then decide; the failed host never)."""
    return list(s.scalars(select(Host.name).where(Host.id != host.id).order_by(Host.name)))


def tpm_reason(env: ComputeEnv, inst: Instance, host: Host,
               where: str = "on the failed host's disk") -> str | None:
    """Why a server with a vTPM is not moved: its TPM state (swtpm's files) is on the failed
    host's disk, and kumo has no shared storage for it, so it would boot with a new, empty TPM
    -- BitLocker, Windows Hello and anything else sealed to the old one is lost. Nova refuses
    to evacuate vTPM instances at all (compute/api.py reject_vtpm_instances)."""
    from kumo.compute.instance_request import guest_request
    from kumo.guest.build import build_guest

    try:
        tpm = build_guest(guest_request(env, inst, host)).tpm
    except KumoError:
        return None  # the guest as recorded no longer builds: the move reports why
    if tpm is None:
        return None
    return (f"has a vTPM (TPM {tpm.version}) whose state is {where}: moved, "
            "it boots with a new, empty TPM (BitLocker keys and other secrets sealed to the "
            "old one are lost)")


def _busy(inst: Instance) -> str | None:
    if inst.task_state is not None and inst.host_id is not None:
        return f"busy: task {inst.task_state} in progress"
    return None


# --- doing it ------------------------------------------------------------------------------------

Progress = Callable[[str], None]


def evacuate(env: ComputeEnv, ctx: RequestContext, ref: str, *, accept_rebuild: bool = False,
             force_unfenced_reason: str | None = None, accept_new_tpm: bool = False,
             parallel: int | None = None, progress: Progress | None = None) -> Summary:
    """Move every instance off the failed host ``ref`` (see the module docstring), ``parallel``
    at a time (default the evacuate_parallel setting); a progress line per instance, as each
    finishes, through ``progress``; the Summary."""
    say = progress or (lambda line: None)
    if parallel is not None and parallel < 1:
        raise InvalidInput(f"--parallel {parallel} is invalid: allowed an integer >= 1")
    name, items = plan(env, ctx, ref, force_unfenced_reason=force_unfenced_reason,
                       accept_new_tpm=accept_new_tpm, choose_targets=False)
    rebuilt = [i for i in items if i.action == REBUILD]
    if rebuilt and not accept_rebuild:
        raise InvalidInput(
            f"evacuating {name} rebuilds the root disk of {len(rebuilt)} server(s) from their "
            "images (data on those disks is lost: no shared storage); pass --accept-rebuild "
            "to go ahead, or --dry-run to see the plan")
    with env.db.session_scope() as s:
        host = find_host(s, name)
        reserved = spares.spares_for(s, host)
        entry = journal.begin(s, env, ctx, "evacuate", None, "moving", host=name,
                              host_id=host.id, by=ctx.user_id,
                              instances=[i.uuid for i in items], reserved_hosts=reserved,
                              accept_new_tpm=accept_new_tpm,
                              forced_unfenced=force_unfenced_reason)
        entry_id, source_id = entry.id, host.id
    spare = spares.Spares(env, ctx, name, reserved)
    if force_unfenced_reason:
        log.warning("evacuating unfenced host %s, override by %s: %s", name, ctx.user_id,
                    force_unfenced_reason, extra={"host": name, "request_id": ctx.request_id})
    summary = Summary(name)

    def one(item: PlanItem) -> tuple[str, str]:
        """(outcome, target or reason) of one instance, in a worker thread."""
        if item.skip:
            return "skipped", item.skip
        try:
            if item.action == DECIDE:
                return "moved", _decide_move(env, ctx, item.uuid, name)
            target = _move_one(env, ctx, item.uuid, source_id, name, spare)
        except KumoError as e:
            return "failed", str(e)
        return ("moved", target) if target else ("skipped", f"no longer on {name}")

    # bounded parallelism (Masakari's host_failure_recovery_threads): each move is its own
    # transaction and build; the journal's count and the progress lines are this thread's
    workers = max(1, min(parallel or env.settings.evacuate_parallel, len(items) or 1))
    tally(env, entry_id, items, one, workers, summary, say, "evacuate:after-instance")
    return summary


def tally(env: ComputeEnv, entry_id: int, items: list[PlanItem],
          one: Callable[[PlanItem], tuple[str, str]], workers: int, summary: Summary,
          say: Progress, after_each: str | None = None) -> None:
    """``one`` over ``items``, ``workers`` at a time (an evacuation, a drain): a progress line
    per item as it finishes, each counted in the fleet operation's journal entry (step moving,
    ``done``), the Summary filled; then the entry ends DONE, or FAILED naming what failed."""
    for n, (item, (outcome, detail)) in enumerate(_run(one, items, workers), 1):
        prefix = f"[{n}/{len(items)}] {item.name}"
        if outcome == "moved":
            summary.moved.append((item.name, detail))
            say(f"{prefix}: moved to {detail}")
        else:
            (summary.skipped if outcome == "skipped" else summary.failed).append(
                (item.name, detail))
            say(f"{prefix}: {outcome} ({detail})")
        journal.advance(env, entry_id, "moving", done=n)
        if after_each:
            failpoint(after_each)
    with env.db.session_scope() as s:
        journal.record(s, entry_id, "done", moved=len(summary.moved),
                       skipped=[list(x) for x in summary.skipped],
                       failed=[list(x) for x in summary.failed])
        journal.finish(s, entry_id, JournalState.DONE if not summary.failed
                       else JournalState.FAILED, "; ".join(f"{n}: {r}" for n, r in summary.failed)
                       or None)


def _run(one: Callable[[PlanItem], tuple[str, str]], items: list[PlanItem],
         workers: int) -> Iterator[tuple[PlanItem, tuple[str, str]]]:
    """(item, one(item)) for each item as it finishes: in this thread when ``workers`` is 1,
    else on a pool of that many threads (nothing new starts once the caller stops)."""
    if workers == 1:
        for item in items:
            yield item, one(item)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="kumo-evacuate") as pool:
        futures = {pool.submit(one, item): item for item in items}
        try:
            for done in as_completed(futures):
                yield futures[done], done.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _move_one(env: ComputeEnv, ctx: RequestContext, uuid: str, source_id: int,
              source: str, spare: spares.Spares) -> str | None:
    """Claim a target for the instance and point its record there (``_claim_move``), then
    build it there through the create path; the target's name, or None when the instance is
    no longer the failed host's (moved by an earlier run, or deleted)."""
    entry_id = _claim_move(env, ctx, uuid, source_id, source, spare)
    if entry_id is None:
        return None
    reschedule.build(env, ctx, entry_id, uuid)
    return records.load(env, uuid)[1].name


def _decide_move(env: ComputeEnv, ctx: RequestContext, uuid: str, failed: str) -> str:
    """Revert or confirm the server's undecided move without the failed host; where it runs."""
    from kumo.compute import moves

    try:
        verb = moves.decide_without(env, ctx, uuid, failed)
    except KumoError as e:
        raise StateError(f"its undecided move could not be decided without {failed}: {e}; it "
                         f"stays VERIFY_RESIZE: evacuate {failed} again once that is "
                         "mended") from None
    where = records.load(env, uuid)[1]
    return f"{where.name if where else '?'} ({verb}ed its undecided move)"


def _claim_move(env: ComputeEnv, ctx: RequestContext, uuid: str, source_id: int, source: str,
                spare: spares.Spares | None, target: str | None = None) -> int | None:
    """Claim a target -- ``target``, else a reserved host first (kumo.compute.spares), else
    the scheduler's choice among the other hosts -- and point the record there with its create
    entry, in one transaction; the entry's id, or None when the instance is no longer the
    failed host's. StateError when no host can take it."""
    with env.db.session_scope(readonly=True) as s:
        inst = s.scalars(select(Instance).where(Instance.uuid == uuid)).one()
        others = [target] if target else targets(s, s.get_one(Host, source_id))
        spec = move_spec(s, inst)
    entry_ids: list[int] = []
    gone: list[bool] = []

    def record(s: Session, claim: Any) -> None:
        row = s.scalars(select(Instance).where(Instance.uuid == uuid)
                        .with_for_update()).one()
        if row.deleted or not (row.host_id == source_id or row.host_id is None):
            gone.append(True)  # a re-run: already moved (the claim is given back below)
            return
        host = s.scalars(select(Host).where(Host.name == claim.host)).one()
        keep_stopped = _was_stopped(s, row)
        records.release_claim_of(s, row)  # the failed host's claim: it runs nothing now
        row.host_id, row.node = host.id, host.name
        row.vm_state, row.task_state = BUILDING, SPAWNING
        clear_fault(row)
        entry_ids.append(journal.begin(s, env, ctx, "create", uuid, "claimed",
                                       host_id=host.id, host=host.name,
                                       alternates=[], evacuated_from=source,
                                       **{spawn.KEEP_STOPPED: keep_stopped}).id)

    def attempt(hosts: list[str]) -> Any:
        return scheduler.place(env.db, spec, scheduler.load_config(settings=env.settings),
                               hosts=hosts, record=record)

    placement = spare.place(attempt) if spare is not None and target is None else None
    if placement is None:
        placement = claim_elsewhere(env, spec, others, record)
    if gone:
        scheduler.release(env.db, placement)
        return None
    [entry_id] = entry_ids
    failpoint("evacuate:after-move")
    if placement.alternates and placement.alternates[0]:
        journal.advance(env, entry_id, "claimed", alternates=list(placement.alternates[0]))
    return entry_id


# --- one server (the Compute API's evacuate action) ----------------------------------------------

#: vm_states Nova's evacuate accepts (with no task in progress)
EVACUABLE = ("active", STOPPED, "error")


def evacuate_server(env: ComputeEnv, ctx: RequestContext, ref: str,
                    host: str | None = None) -> tuple[str, int]:
    """Nova's server evacuate: move one server off its failed host, onto ``host`` (exact name)
    or where the scheduler chooses; the checks and the claim now, (uuid, create entry id) for
    the build (``reschedule.build``), which the caller runs. Refused as the host evacuation is:
    a source host that is up or not fenced, a vTPM; and as Nova refuses: another vm_state, a
    task in progress, a target that is the source."""
    from kumo.compute.lookup import find_server

    ctx.require_admin("evacuating a server")
    with env.db.session_scope(readonly=True) as s:
        inst = find_server(s, ctx, ref)
        if inst.vm_state not in EVACUABLE or inst.task_state is not None:
            raise StateError(f"cannot evacuate server {inst.name!r} while it is "
                             f"{inst.vm_state}" + (f" (task {inst.task_state})"
                                                   if inst.task_state else "")
                             + ": allowed active, stopped or error with no task in progress")
        if inst.host_id is None:
            raise StateError(f"cannot evacuate server {inst.name!r}: it is on no host")
        source = s.get_one(Host, inst.host_id)
        why = refusal(source, None)
        if why:
            raise StateError(f"cannot evacuate server {inst.name!r}: {why}")
        tpm = tpm_reason(env, inst, source)
        if tpm:
            raise StateError(f"cannot evacuate server {inst.name!r}: it {tpm}")
        target = None
        if host is not None:
            target = find_host(s, host).name
            if target == source.name:
                raise InvalidInput(f"cannot evacuate server {inst.name!r} to {target!r}: that "
                                   "is the host it is on; name another host or none")
        uuid, source_id, source_name = inst.uuid, source.id, source.name
        spare = (spares.Spares(env, ctx, source_name, spares.spares_for(s, source))
                 if target is None else None)
    entry_id = _claim_move(env, ctx, uuid, source_id, source_name, spare, target)
    if entry_id is None:  # moved meanwhile by another request
        raise StateError(f"server {ref!r} is no longer on host {source_name!r}")
    log.warning("server %s evacuated from %s by %s", uuid, source_name, ctx.user_id,
                extra={"instance": uuid, "host": source_name, "request_id": ctx.request_id})
    return uuid, entry_id


def _was_stopped(s: Session, row: Instance) -> bool:
    """Whether the instance was stopped before the evacuation: its state now, or -- one a
    previous run moved and rolled back (ERROR on no host) -- what that run recorded."""
    if row.host_id is not None:
        return row.vm_state == STOPPED
    last = _last_evacuation(s, row.uuid)
    return bool(last is not None and last.payload.get(spawn.KEEP_STOPPED))


def _last_evacuation(s: Session, uuid: str) -> JournalEntry | None:
    """The instance's latest create entry of an evacuation (alternates' attempts do not repeat
    ``evacuated_from``)."""
    creates = s.scalars(select(JournalEntry).where(
        JournalEntry.instance_uuid == uuid, JournalEntry.operation == "create")
        .order_by(JournalEntry.id.desc()))
    return next((e for e in creates if "evacuated_from" in e.payload), None)


def recover_evacuate(env: ComputeEnv, entry: JournalEntry) -> str:
    """A controller died mid-evacuation: each instance is either still on the failed host or
    has its own create entry, which recovery finishes or rolls back; re-running the evacuation
    moves the rest. The host-level entry ends FAILED saying so."""
    host = entry.payload.get("host")
    reason = (f"evacuation of {host} interrupted after {entry.payload.get('done', 0)} "
              f"instance(s); run `kumo host evacuate {host} --accept-rebuild` again to finish")
    with env.db.session_scope() as s:
        journal.finish(s, entry.id, JournalState.FAILED, reason)
    return reason
