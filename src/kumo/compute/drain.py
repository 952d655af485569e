"""Draining a live host for maintenance: ``kumo host drain HOST``.

The host (named exactly, as for evacuation: kumo.compute.lookup.find_host) is first disabled, so
the scheduler places nothing new on it (Nova's ``openstack compute service set --disable``), then
every server on it is cold-migrated (kumo.compute.moves: the scheduler's choice under each
server's own constraints, its disks copied, its domain defined there from its record) and, unless
``confirm`` is False, confirmed at once -- a drain is done when the host holds nothing, and an
unconfirmed move keeps the server's stopped copy and claim on it. With ``confirm=False`` the
servers are left VERIFY_RESIZE for the operator to check and confirm (or revert).

Live migration is not offered: kumo has no shared storage and copies disks with the guest
stopped; a live move would need QEMU's block migration between the two libvirt daemons.

Resumable: the drain's own journal entry (operation ``drain``, no instance) records the servers
it found; each move has its own entry, which recovery finishes or rolls back. Re-running the
drain moves what is still on the host and confirms the moves off it a previous run left
VERIFY_RESIZE; nothing is moved twice. Servers it cannot move (ERROR, building, busy, no host
can take them) are skipped or failed with the reason in the summary and stay where they are.
A host that is down is refused: its servers' disks cannot be copied; evacuate it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from kumo import logs
from kumo.compute import journal, moves
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.evacuate import PlanItem, Summary, tally
from kumo.compute.lookup import find_host
from kumo.compute.states import RESIZED, status
from kumo.db.models import Host, Instance, JournalEntry, JournalState
from kumo.db.models.moves import Move, MoveStatus
from kumo.errors import InvalidInput, KumoError, StateError

log = logs.get(__name__)

Progress = Callable[[str], None]


def plan(env: ComputeEnv, ctx: RequestContext, ref: str) -> tuple[str, list[PlanItem]]:
    """(exact host name, each server to move off it and why one would be skipped)."""
    ctx.require_admin("draining a host")
    with env.db.session_scope(readonly=True) as s:
        host = find_host(s, ref)
        if host.liveness == "down" or host.forced_down:
            raise StateError(f"cannot drain host {host.name!r}: it is down (its servers' disks "
                             f"cannot be copied off it); evacuate it instead: `kumo host "
                             f"evacuate {host.name}`")
        items = []
        on_host = s.scalars(select(Instance).where(
            Instance.host_id == host.id, Instance.deleted.is_(False)).order_by(Instance.name))
        for inst in on_host:
            items.append(PlanItem(inst.uuid, inst.name, None, "copied", _skip(inst)))
        # moved off by an earlier drain and left VERIFY_RESIZE: confirmed now
        left = s.scalars(select(Instance).join(Move, Move.instance_uuid == Instance.uuid).where(
            Move.source_host_id == host.id, Move.status == MoveStatus.FINISHED.value,
            Instance.vm_state == RESIZED, Instance.deleted.is_(False)).order_by(Instance.name))
        for inst in left:
            items.append(PlanItem(inst.uuid, inst.name, inst.node, "moved, to confirm", None))
        return host.name, items


def _skip(inst: Instance) -> str | None:
    if inst.vm_state == RESIZED:  # the operator's or owner's decision, not the drain's
        return ("it was moved onto this host and waits for confirm or revert (VERIFY_RESIZE): "
                "confirm or revert it, then drain again")
    if inst.vm_state not in moves.MOVABLE or inst.task_state is not None:
        return (f"it is {status(inst)}: only ACTIVE or SHUTOFF servers with no task in "
                "progress are migrated; fix or delete it, then drain again")
    return None


def drain(env: ComputeEnv, ctx: RequestContext, ref: str, *, confirm: bool = True,
          parallel: int | None = None, accept_new_tpm: bool = False,
          progress: Progress | None = None) -> Summary:
    """Disable the host, then move every server off it (see the module docstring), ``parallel``
    at a time (default the evacuate_parallel setting); a progress line per server as it
    finishes; the Summary."""
    say = progress or (lambda line: None)
    if parallel is not None and parallel < 1:
        raise InvalidInput(f"--parallel {parallel} is invalid: allowed an integer >= 1")
    name, items = plan(env, ctx, ref)
    with env.db.session_scope() as s:
        host = find_host(s, name)
        if host.enabled or not (host.disabled_reason or "").startswith("draining"):
            host.enabled = False
            host.disabled_reason = f"draining (kumo host drain by {ctx.user_id})"
            host.generation += 1  # the scheduler's cached inventory sees it
        entry_id = journal.begin(s, env, ctx, "drain", None, "moving", host=name,
                                 host_id=host.id, by=ctx.user_id, confirm=confirm,
                                 instances=[i.uuid for i in items]).id
    log.warning("host %s disabled and being drained by %s", name, ctx.user_id,
                extra={"host": name, "request_id": ctx.request_id})
    summary = Summary(name, what="drain")

    def one(item: PlanItem) -> tuple[str, str]:
        if item.skip:
            return "skipped", item.skip
        try:
            return "moved", _move_one(env, ctx, item, name, confirm, accept_new_tpm)
        except KumoError as e:
            return "failed", str(e)

    workers = max(1, min(parallel or env.settings.evacuate_parallel, len(items) or 1))
    tally(env, entry_id, items, one, workers, summary, say)
    return summary


def _move_one(env: ComputeEnv, ctx: RequestContext, item: PlanItem, host: str, confirm: bool,
              accept_new_tpm: bool) -> str:
    """Move one server off ``host`` (or finish what an earlier run left); where it is now."""
    with env.db.session_scope(readonly=True) as s:
        inst = s.scalars(select(Instance).where(Instance.uuid == item.uuid)).one()
        vm_state, node = inst.vm_state, inst.node
        move = moves.pending(s, inst.uuid)
        source = (s.get_one(Host, move.source_host_id).name if move is not None else None)
    if vm_state == RESIZED and source == host:  # moved off by an earlier run
        if not confirm:
            return f"{node} (VERIFY_RESIZE)"
        moves.confirm(env, ctx, item.uuid)
        return f"{node} (confirmed)"
    started = moves.start(env, ctx, item.uuid, accept_new_tpm=accept_new_tpm)
    moves.run(env, started)
    if not confirm:
        return f"{started.target} (VERIFY_RESIZE)"
    moves.confirm(env, ctx, item.uuid)
    return started.target


def recover_drain(env: ComputeEnv, entry: JournalEntry) -> str:
    """A controller died mid-drain: each server's own move is recovered by its entry; the
    drain's entry ends FAILED saying how to finish (the host stays disabled)."""
    host = entry.payload.get("host")
    reason = (f"drain of {host} interrupted after {entry.payload.get('done', 0)} server(s); "
              f"run `kumo host drain {host}` again to finish")
    with env.db.session_scope() as s:
        journal.finish(s, entry.id, JournalState.FAILED, reason)
    return reason


def views(summary: Summary) -> dict[str, Any]:
    return {"host": summary.host, "moved": [list(x) for x in summary.moved],
            "skipped": [list(x) for x in summary.skipped],
            "failed": [list(x) for x in summary.failed]}
