"""Cold migration and resize: a server moves to another host, then the move is confirmed or
reverted (Nova's migrate / resize, VERIFY_RESIZE, confirmResize / revertResize).

    kumo server migrate SERVER [--host H]      openstack server migrate [--host H] SERVER
    kumo server resize SERVER FLAVOR           openstack server resize --flavor F SERVER
    kumo server migrate|resize confirm SERVER  openstack server migration|resize confirm SERVER
    kumo server migrate|resize revert SERVER   openstack server migration|resize revert SERVER

The target is the scheduler's choice among the other hosts (or the one named, its filters still
applied) under the instance's own constraints -- frozen image properties, flavor (the new one
for a resize), availability zone, server group, aggregates -- the request evacuation uses
(kumo.compute.evacuate.move_spec and claim_elsewhere). A resize never stays on its host (Nova's
``allow_resize_to_same_host`` default, False): the guest's domain and volumes are named for the
instance, so the old and new copies need two hosts to be kept side by side until confirm.

migrate (journal operation ``migrate``, ``resize`` for a resize; step = the step about to be
taken):

    claimed    target claimed (a ``migrations`` row holds the claim, kumo.db.models.moves),
               server RESIZE (task resize_prep) -- one transaction with the claim
    shutdown   the guest stopped on the source (graceful, its shutdown timeout, then off)
    upload     the boot images into the target's pool (kumo.compute.image_cache)
    volumes    the root overlay, ephemeral disk and config drive copied byte for byte through
               the controller (virStorageVolDownload -> virStorageVolUpload; the qcow2
               overlay names its image by the pool path, which is the same on every host), the
               root and ephemeral disks grown to a resize's new flavor
    define     the domain rendered from the record as it will be on the target
               (domain_config.desired: same identity, frozen properties, pinned machine type,
               ports) and defined there, the ports plugged there
    start      started, if it ran before (a stopped server stays stopped)
    then       recorded on the target with its new flavor, VERIFY_RESIZE (vm_state resized);
               the migration row now holds the source's claim; entry DONE

The source's domain and volumes are kept, stopped, until confirm (``migrate-confirm``:
source's domain undefined and volumes deleted, the source claim released: ACTIVE or SHUTOFF)
or revert (``migrate-revert``: the target's copy destroyed and removed first, then the source's
guest started again if it ran, the record back on the source with its old flavor, the target's
claim released). A guest never runs on both hosts: the source is stopped before the target
starts, and a revert or rollback starts the source only once the target's copy is gone.

A failure before the server is recorded on the target rolls the move back (the target's copy
removed, its claim released, the source's guest started again if it ran): the server is as
before the move, the journal entry ROLLED_BACK with the reason, the migration row ``error``.
When the target does not answer after its domain was defined, nothing is started on the source
(the guest may run there): the server ends ERROR on its source with the reason, the target's
claim kept.

Recovery (a controller killed): before ``define`` the move is rolled back as above; from
``define`` on it is finished (define again, start if it ran). Confirm and revert are idempotent
and are run again from their start.

Failpoints (test-only): migrate:after-claim, migrate:after-shutdown, migrate:after-volumes,
migrate:after-define, migrate:after-start, migrate-confirm:after-cleanup,
migrate-revert:after-cleanup.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo import logs
from kumo.catalog.flavor import Flavor as FlavorValue
from kumo.compute import (domain_config, heartbeat, host_networks, image_cache, journal, naming,
                          records, spawn)
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.evacuate import claim_elsewhere, move_spec, targets, tpm_reason
from kumo.compute.failpoints import failpoint
from kumo.compute.lookup import find_flavor, find_host, find_server
from kumo.compute.power import shutdown_timeout
from kumo.compute.states import (ACTIVE, RESIZE_CONFIRMING, RESIZE_FINISH, RESIZE_MIGRATING,
                                 RESIZE_PREP, RESIZE_REVERTING, RESIZED, STOPPED, VM_STATUS,
                                 clear_fault, set_fault, status)
from kumo.compute.teardown import is_running, remove_from_host
from kumo.db.claims import Resources, release
from kumo.db.models import Host, Instance, JournalEntry, JournalState, PowerState
from kumo.db.models.moves import Move, MoveKind, MoveStatus
from kumo.errors import InvalidInput, KumoError, StateError
from kumo.scheduler.service import released_elsewhere

log = logs.get(__name__)

#: vm_states a server may be migrated or resized from (Nova: ACTIVE, STOPPED)
MOVABLE = (ACTIVE, STOPPED)
#: the instance columns a flavor change rewrites (its flavor snapshot)
FLAVOR_FIELDS = ("flavor_id", "flavor_name", "vcpus", "ram_mib", "disk_gib", "ephemeral_gib",
                 "flavor_extra_specs")
#: volumes a move carries (the console log starts anew on the target)
CARRIED = (naming.ROOT, naming.EPHEMERAL, naming.CONFIG)
#: journal steps from which recovery finishes the move instead of rolling it back
FORWARD_STEPS = ("define", "start")
#: decision-entry payload key: the fenced host of one copy, not asked (decide_without)
EVACUATED_FROM = "evacuated_from"


def operation_of(kind: MoveKind) -> str:
    """A move's journal operation: ``resize`` for a resize, ``migrate`` for a cold migration
    (entries before resize had its own name say ``migrate`` with payload kind ``resize``: both
    are recovered by recover_move, which reads the kind from the migration row)."""
    return "resize" if kind is MoveKind.RESIZE else "migrate"


def entry_started(entry: JournalEntry) -> Started:
    """The move a migrate or resize entry journals (for a finisher that takes it over)."""
    return Started(entry.instance_uuid or "", entry.id, entry.payload["move_id"],
                   entry.payload.get("target", ""))


def snapshot(inst: Instance) -> dict[str, Any]:
    """The instance's flavor as recorded (a migration row's old/new flavor)."""
    snap = {f: getattr(inst, f) for f in FLAVOR_FIELDS}
    snap["flavor_extra_specs"] = dict(snap["flavor_extra_specs"] or {})
    snap["ephemeral_gib"] = snap["ephemeral_gib"] or 0
    return snap


def _apply(inst: Instance, snap: dict[str, Any]) -> None:
    for f in FLAVOR_FIELDS:
        setattr(inst, f, snap[f])


def _held(snap: dict[str, Any]) -> Resources:
    """What an instance of this flavor claims (records.resources: root plus ephemeral)."""
    return Resources(vcpus=snap["vcpus"], ram_mib=snap["ram_mib"],
                     disk_gib=snap["disk_gib"] + (snap["ephemeral_gib"] or 0))


def _flavor_value(snap: dict[str, Any]) -> FlavorValue:
    return FlavorValue(snap["vcpus"], snap["ram_mib"], snap["disk_gib"],
                       name=snap["flavor_name"] or "custom",
                       ephemeral_gib=snap["ephemeral_gib"] or 0,
                       extra_specs=dict(snap["flavor_extra_specs"] or {}))


# --- starting a move ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Started:
    uuid: str
    entry_id: int
    move_id: int
    target: str


def start(env: ComputeEnv, ctx: RequestContext, ref: str, *, host: str | None = None,
          flavor: str | None = None, accept_new_tpm: bool = False) -> Started:
    """The checks, then the target's claim, the migration row and the journal entry in one
    transaction (server RESIZE); the host-side work is ``run``'s. ``flavor`` makes it a resize.
    Migrating is an admin's action (Nova's os-migrate-server policy); resizing the owner's."""
    kind = MoveKind.RESIZE if flavor is not None else MoveKind.MIGRATION
    verb = "resize" if kind is MoveKind.RESIZE else "migrate"
    if kind is MoveKind.MIGRATION:
        ctx.require_admin("migrating a server")
    if host is not None and kind is MoveKind.RESIZE:
        ctx.require_admin("naming the host of a resize")
    with env.db.session_scope(readonly=True) as s:
        inst = find_server(s, ctx, ref)
        name = inst.name
        if inst.vm_state not in MOVABLE or inst.task_state is not None:
            raise StateError(f"cannot {verb} server {name!r} while it is {status(inst)}: "
                             f"allowed from {', '.join(VM_STATUS[v] for v in MOVABLE)} with no "
                             "task in progress")
        if inst.host_id is None:
            raise StateError(f"cannot {verb} server {name!r}: it is on no host")
        source = s.get_one(Host, inst.host_id)
        if source.liveness == "down" or source.forced_down:
            raise StateError(f"cannot {verb} server {name!r}: its host {source.name!r} is "
                             "down, and a cold migration copies its disks from there; evacuate "
                             "it instead (`kumo host evacuate`)")
        old = snapshot(inst)
        new = dict(old)
        if flavor is not None:
            new = _new_flavor(s, ctx, inst, flavor)
        hosts = targets(s, source)
        if host is not None:
            target = find_host(s, host).name
            if target == source.name:
                raise InvalidInput(f"cannot {verb} server {name!r} to host {target!r}: that is "
                                   "the host it is on; name another host or none")
            hosts = [target]
        if not accept_new_tpm:
            tpm = tpm_reason(env, inst, source, "on its host's disk")
            if tpm:
                raise StateError(f"cannot {verb} server {name!r}: it {tpm}; pass "
                                 "--accept-new-tpm to move it anyway")
        spec = move_spec(s, inst, _flavor_value(new))
        uuid, source_id, was = inst.uuid, source.id, inst.vm_state
    if not hosts:
        raise StateError(f"cannot {verb} server {name!r}: there is no other host")
    started: list[Started] = []

    def record(s: Session, claim: Any) -> None:
        from kumo.compute.servers import lock_idle

        row = lock_idle(s, ctx, uuid)  # busy meanwhile: refused, the claim rolled back
        if row.host_id != source_id or row.vm_state not in MOVABLE:
            raise StateError(f"server {name!r} changed while its {verb} was being placed "
                             f"(now {status(row)}); try again")
        dest = s.scalars(select(Host).where(Host.name == claim.host)).one()
        move = Move(instance_uuid=uuid, kind=kind.value, status=MoveStatus.PRE_MIGRATING.value,
                    source_host_id=source_id, source_node=row.node or "",
                    dest_host_id=dest.id, dest_node=dest.name, old_flavor=old, new_flavor=new,
                    old_vm_state=was, held_host_id=dest.id, held_vcpus=claim.vcpus,
                    held_ram_mib=claim.ram_mib, held_disk_gib=claim.disk_gib)
        s.add(move)
        s.flush()
        row.task_state = RESIZE_PREP
        entry = journal.begin(s, env, ctx, operation_of(kind), uuid, "claimed",
                              move_id=move.id,
                              kind=kind.value, source=row.node, target=dest.name,
                              old_vm_state=was, source_digest=row.config_digest,
                              source_backend=row.backend)
        move.journal_id = entry.id
        started.append(Started(uuid, entry.id, move.id, dest.name))

    try:
        claim_elsewhere(env, spec, hosts, record)
    except StateError as e:
        if started:
            raise
        raise StateError(f"cannot {verb} server {name!r}: {e}") from None
    [done] = started
    log.info("%s of server %s to %s begun", kind.value, uuid, done.target,
             extra={"instance": uuid, "request_id": ctx.request_id, "host": done.target})
    failpoint("migrate:after-claim")
    return done


def _new_flavor(s: Session, ctx: RequestContext, inst: Instance, ref: str) -> dict[str, Any]:
    """The resize's new flavor snapshot, refused as Nova refuses it: the same flavor
    (CannotResizeToSameFlavor), a smaller root or ephemeral disk (a disk is never shrunk:
    the guest's filesystem would be cut)."""
    flavor = find_flavor(s, ctx, ref)
    new = {"flavor_id": flavor.flavorid, "flavor_name": flavor.name, "vcpus": flavor.vcpus,
           "ram_mib": flavor.ram_mib,
           "disk_gib": flavor.disk_gib or inst.disk_gib,  # 0: the image's size, as at create
           "ephemeral_gib": flavor.ephemeral_gib or 0,
           "flavor_extra_specs": dict(flavor.extra_specs)}
    if inst.flavor_id is not None and flavor.flavorid == inst.flavor_id:
        raise InvalidInput(f"cannot resize server {inst.name!r} to flavor {flavor.name!r}: it "
                           "already has that flavor; name another flavor")
    if new["disk_gib"] < inst.disk_gib:
        raise InvalidInput(f"cannot resize server {inst.name!r} to flavor {flavor.name!r}: its "
                           f"root disk would shrink from {inst.disk_gib} GiB to "
                           f"{new['disk_gib']} GiB; allowed a flavor with a disk of at least "
                           f"{inst.disk_gib} GiB")
    if new["ephemeral_gib"] < (inst.ephemeral_gib or 0):
        raise InvalidInput(f"cannot resize server {inst.name!r} to flavor {flavor.name!r}: its "
                           f"ephemeral disk would shrink from {inst.ephemeral_gib} GiB to "
                           f"{new['ephemeral_gib']} GiB; allowed at least "
                           f"{inst.ephemeral_gib} GiB")
    return new


# --- moving it ------------------------------------------------------------------------------------

@dataclass
class _Ctx:
    """Detached copies of what one move works with."""

    move: Move
    inst: Instance
    source: Host
    dest: Host


def _load(env: ComputeEnv, move_id: int) -> _Ctx:
    with env.db.session_scope(readonly=True) as s:
        move = s.get_one(Move, move_id)
        inst = s.scalars(select(Instance).where(Instance.uuid == move.instance_uuid)).one()
        out = _Ctx(move, inst, s.get_one(Host, move.source_host_id),
                   s.get_one(Host, move.dest_host_id))
        s.expunge_all()
    return out


def _progress(env: ComputeEnv, entry_id: int, move_id: int, step: str, task: str,
              status_: MoveStatus) -> None:
    """The journal's next step, the server's task and the migration's status, committed."""
    journal.advance(env, entry_id, step)
    with env.db.session_scope() as s:
        move = s.get_one(Move, move_id)
        move.status = status_.value
        s.scalars(select(Instance).where(Instance.uuid == move.instance_uuid)
                  .with_for_update()).one().task_state = task


def run(env: ComputeEnv, started: Started) -> None:
    """The host-side work of a move (the module docstring); VERIFY_RESIZE when done. On a
    failure the move is rolled back and the error raised."""
    try:
        _forward(env, started.entry_id, started.move_id)
    except Exception as e:
        c = _load(env, started.move_id)
        _roll_back(env, started.entry_id, started.move_id,
                   f"{c.move.kind} of server {c.inst.name!r} to {c.dest.name} failed: {e}")
        raise


def _forward(env: ComputeEnv, entry_id: int, move_id: int, *, from_step: str | None = None
             ) -> None:
    c = _load(env, move_id)
    uuid, name = c.inst.uuid, naming.domain_name(c.inst.uuid)
    sconn, tconn = env.host(c.source.uri), env.host(c.dest.uri)
    if from_step not in FORWARD_STEPS:
        _progress(env, entry_id, move_id, "shutdown", RESIZE_MIGRATING, MoveStatus.MIGRATING)
        tconn.node_info()  # the target answers before the guest is stopped
        if is_running(sconn, name):
            sconn.shutdown(name, shutdown_timeout(env, c.inst))
        failpoint("migrate:after-shutdown")
        journal.advance(env, entry_id, "upload")
        tconn.ensure_pool(env.pool_name, env.pool_path)
        for image_id in spawn.boot_images(c.inst):
            image_cache.ensure(env, tconn, c.dest.id, image_id, needed_by=uuid)
        present = set(sconn.list_volumes(env.pool_name))
        carried = [naming.volume_name(uuid, k) for k in CARRIED
                   if naming.volume_name(uuid, k) in present]
        journal.advance(env, entry_id, "volumes", volumes=carried)
        for volume in carried:
            copy_volume(env, sconn, tconn, volume)
        _grow(env, tconn, uuid, c.move)
        failpoint("migrate:after-volumes")
    moved = c.inst
    moved.host_id, moved.node = c.dest.id, c.dest.name
    _apply(moved, c.move.new_flavor)
    config = domain_config.desired(env, moved, c.dest)  # the one answer (audit, reconcile)
    _progress(env, entry_id, move_id, "define", RESIZE_FINISH, MoveStatus.MIGRATING)
    host_networks.plug(env, tconn, uuid)
    tconn.define(config.text)
    failpoint("migrate:after-define")
    run_it = c.move.old_vm_state == ACTIVE
    if run_it:
        journal.advance(env, entry_id, "start")
        if not is_running(tconn, name):
            tconn.start(name)
        failpoint("migrate:after-start")
    _finished(env, entry_id, move_id, config, run_it)


def copy_volume(env: ComputeEnv, sconn: Any, tconn: Any, volume: str) -> None:
    """One volume from the source's pool to the target's, the same bytes in the same format,
    through a temporary file of the controller (libvirt streams one connection at a time;
    a file, not memory, whatever the disk's size). A volume of that name left on the target by
    an earlier attempt of this same move is replaced."""
    info = sconn.volume_info(env.pool_name, volume)
    if volume in set(tconn.list_volumes(env.pool_name)):
        tconn.delete_volume(env.pool_name, volume)
    with tempfile.TemporaryFile(prefix="kumo-move-") as fh:
        sconn.download_volume(env.pool_name, volume, fh)
        fh.seek(0)
        tconn.upload_volume(env.pool_name, volume, fh, info.format or "raw")


def _grow(env: ComputeEnv, tconn: Any, uuid: str, move: Move) -> None:
    """A resize's bigger root and ephemeral disks (the guest grows its filesystem, as after
    Nova's resize: cloud-init growpart)."""
    old, new = move.old_flavor, move.new_flavor
    if new["disk_gib"] > old["disk_gib"]:
        tconn.resize_volume(env.pool_name, naming.volume_name(uuid, naming.ROOT),
                            new["disk_gib"])
    eph = naming.volume_name(uuid, naming.EPHEMERAL)
    if new["ephemeral_gib"] > (old["ephemeral_gib"] or 0):
        if old["ephemeral_gib"]:
            tconn.resize_volume(env.pool_name, eph, new["ephemeral_gib"])
        else:
            tconn.create_volume(env.pool_name, eph, new["ephemeral_gib"])


def _finished(env: ComputeEnv, entry_id: int, move_id: int, config: Any, running: bool) -> None:
    """Recorded on the target with its new flavor, VERIFY_RESIZE; the migration now holds the
    source's claim (the old flavor) and the instance the target's: no counter moves."""
    with env.db.session_scope() as s:
        move = s.get_one(Move, move_id, with_for_update=True)
        row = s.scalars(select(Instance).where(Instance.uuid == move.instance_uuid)
                        .with_for_update()).one()
        row.host_id, row.node = move.dest_host_id, move.dest_node
        _apply(row, move.new_flavor)
        row.vm_state, row.task_state = RESIZED, None
        row.power_state = (PowerState.RUNNING if running else PowerState.SHUTDOWN).value
        row.config_digest, row.backend = config.digest, config.backend
        row.pending_restart = None
        clear_fault(row)
        held = _held(move.old_flavor)
        move.held_host_id = move.source_host_id
        move.held_vcpus, move.held_ram_mib, move.held_disk_gib = (held.vcpus, held.ram_mib,
                                                                  held.disk_gib)
        move.status = MoveStatus.FINISHED.value
        heartbeat.touch(s, [move.dest_host_id])
        journal.finish(s, entry_id, JournalState.DONE)
    log.info("server %s moved to %s: VERIFY_RESIZE", move.instance_uuid, move.dest_node,
             extra={"instance": move.instance_uuid})


def _roll_back(env: ComputeEnv, entry_id: int, move_id: int, reason: str) -> None:
    """Undo a move not yet recorded on its target: the target's copy removed, its claim
    released, the source's guest started again if it ran; the server as before the move. When
    the target does not answer after its domain was defined, the source is not started."""
    step, _state, payload = journal.snapshot(env, entry_id)
    failed_at = payload.get("failed_at") if step == "rollback" else step
    journal.advance(env, entry_id, "rollback", failed_at=failed_at)
    c = _load(env, move_id)
    uuid, name = c.inst.uuid, naming.domain_name(c.inst.uuid)
    try:
        remove_from_host(env, env.host(c.dest.uri), uuid)
    except KumoError as e:
        if failed_at in FORWARD_STEPS or failed_at == "rollback":
            reason = (f"{reason}; removing its copy from {c.dest.name} failed ({e}), so it was "
                      f"not started again on {c.source.name} (it may be running on "
                      f"{c.dest.name}): when {c.dest.name} answers, `kumo server reboot --hard` "
                      "it (or delete it)")
            _end(env, entry_id, move_id, reason, release_target=False, error=True)
            return
        reason = f"{reason}; its partial copy on {c.dest.name} could not be removed ({e})"
    power = PowerState.SHUTDOWN
    if c.move.old_vm_state == ACTIVE:
        try:
            sconn = env.host(c.source.uri)
            if not is_running(sconn, name):
                sconn.start(name)
            power = PowerState.RUNNING
        except KumoError as e:
            reason = (f"{reason}; starting it again on {c.source.name} failed ({e}): "
                      "`kumo server reboot --hard` it")
            _end(env, entry_id, move_id, reason, release_target=True, error=True)
            return
    _end(env, entry_id, move_id, reason, release_target=True, error=False, power=power)


def _end(env: ComputeEnv, entry_id: int, move_id: int, reason: str, *, release_target: bool,
         error: bool, power: PowerState | None = None) -> None:
    """The rolled-back move's record: the server on its source as before (or ERROR with the
    reason), the target's claim released (unless its copy may still be there), the migration
    ``error``, the entry ROLLED_BACK (FAILED with ``error``)."""
    with env.db.session_scope() as s:
        move = s.get_one(Move, move_id, with_for_update=True)
        row = s.scalars(select(Instance).where(Instance.uuid == move.instance_uuid)
                        .with_for_update()).one()
        if release_target:
            _release_hold(s, move)
        move.status, move.error = MoveStatus.ERROR.value, reason
        row.task_state = None
        if error:
            set_fault(row, reason)
        else:
            row.vm_state = move.old_vm_state
        if power is not None:
            row.power_state = power.value
        journal.finish(s, entry_id, JournalState.FAILED if error else JournalState.ROLLED_BACK,
                       reason)
    released_elsewhere(env.db)
    log.warning("%s", reason, extra={"instance": move.instance_uuid})


def _release_hold(s: Session, move: Move) -> None:
    """Give the claim the move holds back to its host (in the caller's unit of work)."""
    if move.held_host_id is not None:
        release(s, move.held_host_id, Resources(move.held_vcpus, move.held_ram_mib,
                                                move.held_disk_gib))
        move.held_host_id = None


def recover_move(env: ComputeEnv, entry: JournalEntry) -> str:
    """A controller died mid-move: finished from ``define`` on, rolled back before."""
    move_id = entry.payload.get("move_id")
    if move_id is None:  # killed before the claim's transaction: nothing was done
        with env.db.session_scope() as s:
            journal.finish(s, entry.id, JournalState.ROLLED_BACK, "interrupted before placing")
        return "move interrupted before it was placed: nothing to undo"
    if entry.step in FORWARD_STEPS:
        try:
            _forward(env, entry.id, move_id, from_step=entry.step)
            return f"move interrupted at step {entry.step}: finished, server VERIFY_RESIZE"
        except KumoError as e:
            reason = f"move interrupted at step {entry.step}; finishing it failed ({e})"
    else:
        reason = f"move interrupted at step {entry.step} (the controller stopped)"
    _roll_back(env, entry.id, move_id, f"{reason}; rolled back")
    return f"{reason}; rolled back: the server is on its source host as before"


# --- confirm and revert ---------------------------------------------------------------------------

def pending(s: Session, uuid: str) -> Move | None:
    """The instance's move waiting for confirm or revert (or being confirmed/reverted)."""
    return s.scalars(select(Move).where(
        Move.instance_uuid == uuid, Move.status.in_((
            MoveStatus.FINISHED.value, MoveStatus.CONFIRMING.value,
            MoveStatus.REVERTING.value))).order_by(Move.id.desc()).limit(1)).first()


def _begin_decision(env: ComputeEnv, ctx: RequestContext, ref: str, operation: str,
                    task: str, status_: MoveStatus, failed: str | None = None
                    ) -> tuple[int, int]:
    from kumo.compute.servers import lock_idle

    verb = operation.removeprefix("migrate-")
    with env.db.session_scope() as s:
        row = lock_idle(s, ctx, ref)
        move = pending(s, row.uuid)
        if row.vm_state != RESIZED or move is None:
            raise StateError(f"cannot {verb} the move of server {row.name!r}: it is "
                             f"{status(row)}, not VERIFY_RESIZE (nothing to {verb})")
        if failed is not None and failed not in (move.source_node, move.dest_node):
            raise StateError(f"the move of server {row.name!r} is between {move.source_node} "
                             f"and {move.dest_node}, not {failed}")
        row.task_state = task
        move.status = status_.value
        extra = {EVACUATED_FROM: failed} if failed is not None else {}
        entry = journal.begin(s, env, ctx, operation, row.uuid, "begin", move_id=move.id,
                              source=move.source_node, target=move.dest_node, **extra)
        return entry.id, move.id


def confirm(env: ComputeEnv, ctx: RequestContext, ref: str) -> str:
    """Confirm a move (Nova's confirmResize): the source's stopped copy removed, its claim
    released; ACTIVE (or SHUTOFF). The server's uuid."""
    return _decide(env, ctx, ref, "confirm")


def _decide(env: ComputeEnv, ctx: RequestContext, ref: str, verb: str,
            failed: str | None = None) -> str:
    """Confirm or revert: journaled and marked, then done; a failure leaves it VERIFY_RESIZE.
    ``failed``: the host of one copy is fenced and not asked (``decide_without``)."""
    task, status_, act = {"confirm": (RESIZE_CONFIRMING, MoveStatus.CONFIRMING, _confirm),
                          "revert": (RESIZE_REVERTING, MoveStatus.REVERTING, _revert)}[verb]
    entry_id, move_id = _begin_decision(env, ctx, ref, f"migrate-{verb}", task, status_,
                                        failed)
    try:
        return act(env, entry_id, move_id, failed)
    except Exception as e:
        _undecided(env, entry_id, move_id, f"{verb} failed: {e}; {verb} it again")
        raise


def _confirm(env: ComputeEnv, entry_id: int, move_id: int, failed: str | None = None) -> str:
    c = _load(env, move_id)
    source_failed = failed == c.source.name
    journal.advance(env, entry_id, "source-cleanup")
    if not source_failed:  # else removed when that host is back (kumo.compute.evacuated_cleanup)
        remove_from_host(env, env.host(c.source.uri), c.inst.uuid)
    failpoint("migrate-confirm:after-cleanup")
    with env.db.session_scope() as s:
        move = s.get_one(Move, move_id, with_for_update=True)
        row = s.scalars(select(Instance).where(Instance.uuid == move.instance_uuid)
                        .with_for_update()).one()
        _release_hold(s, move)
        move.status = MoveStatus.CONFIRMED.value
        row.vm_state = ACTIVE if row.power_state == PowerState.RUNNING.value else STOPPED
        row.task_state = None
        if not source_failed:  # it answered
            heartbeat.touch(s, [move.source_host_id])
        journal.finish(s, entry_id, JournalState.DONE)
    released_elsewhere(env.db)
    return c.inst.uuid


def revert(env: ComputeEnv, ctx: RequestContext, ref: str) -> str:
    """Revert a move (Nova's revertResize): the target's copy destroyed and removed, then the
    source's guest started again if it ran before; the server back on its source with its old
    flavor, the target's claim released. The server's uuid."""
    return _decide(env, ctx, ref, "revert")


def _revert(env: ComputeEnv, entry_id: int, move_id: int, failed: str | None = None) -> str:
    c = _load(env, move_id)
    uuid, name = c.inst.uuid, naming.domain_name(c.inst.uuid)
    journal.advance(env, entry_id, "target-cleanup")
    if failed != c.dest.name:  # a fenced target runs nothing; its copy goes when it is back
        remove_from_host(env, env.host(c.dest.uri), uuid)  # first: never two running copies
    failpoint("migrate-revert:after-cleanup")
    journal.advance(env, entry_id, "start")
    sconn = env.host(c.source.uri)
    back = c.inst
    back.host_id, back.node = c.source.id, c.source.name
    _apply(back, c.move.old_flavor)
    config = domain_config.desired(env, back, c.source)
    host_networks.plug(env, sconn, uuid)
    sconn.define(config.text)  # as it was (the same record renders the same domain)
    running = c.move.old_vm_state == ACTIVE
    if running and not is_running(sconn, name):
        sconn.start(name)
    with env.db.session_scope() as s:
        move = s.get_one(Move, move_id, with_for_update=True)
        row = s.scalars(select(Instance).where(Instance.uuid == uuid).with_for_update()).one()
        if row.host_id == move.dest_host_id:
            records.release_claim_of(s, row)  # the target's claim (the new flavor)
        row.host_id, row.node = move.source_host_id, move.source_node
        _apply(row, move.old_flavor)
        move.held_host_id = None  # the source's claim is the instance's own again
        move.status = MoveStatus.REVERTED.value
        row.vm_state, row.task_state = move.old_vm_state, None
        row.power_state = (PowerState.RUNNING if running else PowerState.SHUTDOWN).value
        row.config_digest, row.backend = config.digest, config.backend
        heartbeat.touch(s, [move.source_host_id])
        journal.finish(s, entry_id, JournalState.DONE)
    released_elsewhere(env.db)
    return uuid


def _undecided(env: ComputeEnv, entry_id: int, move_id: int, reason: str) -> None:
    """A confirm or revert that failed: still VERIFY_RESIZE, the migration ``finished``, the
    entry FAILED with the reason (run it again)."""
    with env.db.session_scope() as s:
        move = s.get_one(Move, move_id, with_for_update=True)
        move.status = MoveStatus.FINISHED.value
        row = s.scalars(select(Instance).where(Instance.uuid == move.instance_uuid)
                        .with_for_update()).one()
        row.task_state = None
        journal.finish(s, entry_id, JournalState.FAILED, reason)


def recover_decision(env: ComputeEnv, entry: JournalEntry) -> str:
    """A confirm or revert a dead controller left: run again from its start (idempotent)."""
    move_id, failed = entry.payload["move_id"], entry.payload.get(EVACUATED_FROM)
    if entry.operation == "migrate-confirm":
        _confirm(env, entry.id, move_id, failed)
        return f"confirm interrupted at step {entry.step}: finished"
    _revert(env, entry.id, move_id, failed)
    return f"revert interrupted at step {entry.step}: finished, server back on its source"


def decide_without(env: ComputeEnv, ctx: RequestContext, uuid: str, failed: str) -> str:
    """An undecided move with a copy on ``failed``, a fenced host being evacuated, decided
    without asking that host (kumo.compute.evacuate); ``confirm`` or ``revert``, what was done.

    The failed host is the move's target -- the server recorded there, its running copy lost
    with the host: the move is reverted onto its source, which keeps a complete stopped copy of
    it as it was before the move (its disks, old flavor and claim); started again if it ran.
    What was written on the target since the move is lost, as in any evacuation here, but not
    the disks (an evacuation rebuilds them from the image). Nova's evacuate refuses a server in
    VERIFY_RESIZE (compute/api.py: active, stopped, error only), and Masakari resets it to
    error to evacuate it by a rebuild (host_failure.py); the source's copy is the better spare.

    The failed host is the move's source -- its kept stopped copy unusable, a revert impossible:
    the move is confirmed; the server runs on where it is, the source's claim is released.

    The failed host is not asked: the copy left on it is removed when it answers again, before
    its fencing is cleared (kumo.compute.evacuated_cleanup: the entry names it
    ``evacuated_from``)."""
    with env.db.session_scope(readonly=True) as s:
        move = pending(s, uuid)
        # no undecided move (decided meanwhile): the confirm refuses, saying so
        verb = decision_without(move, failed) if move is not None else "confirm"
    _decide(env, ctx, uuid, verb, failed)
    return verb


def decision_without(move: Move, failed: str) -> str:
    """How ``decide_without`` decides an undecided move with a copy on the fenced host
    ``failed``: ``revert`` when that host is its target, ``confirm`` when it is its source (the
    one rule: an evacuation's plan shows what this decides)."""
    return "revert" if move.dest_node == failed else "confirm"


def undecided_with(s: Session, host_id: int) -> list[Move]:
    """The moves waiting for confirm or revert with a copy on the host (source or target)."""
    return list(s.scalars(select(Move).where(
        Move.status == MoveStatus.FINISHED.value,
        (Move.source_host_id == host_id) | (Move.dest_host_id == host_id)).order_by(Move.id)))


# --- what others need to know of moves ------------------------------------------------------------

def kept_on(s: Session, host_id: int) -> set[str]:
    """Instances with a copy on the host through a move (the source's kept copy, a target's
    copy being made): not orphans there."""
    return set(s.scalars(select(Move.instance_uuid).where(
        Move.status.in_((MoveStatus.PRE_MIGRATING.value, MoveStatus.MIGRATING.value,
                         MoveStatus.FINISHED.value, MoveStatus.CONFIRMING.value,
                         MoveStatus.REVERTING.value)),
        (Move.source_host_id == host_id) | (Move.dest_host_id == host_id))))


def forget_host(s: Session, host: Host) -> None:
    """Before a host is deleted: refused while a move holds a claim there or is undecided;
    the history of its finished moves goes with it."""
    busy = s.scalars(select(Move).where(
        (Move.held_host_id == host.id) | ((Move.status.in_((
            MoveStatus.PRE_MIGRATING.value, MoveStatus.MIGRATING.value,
            MoveStatus.FINISHED.value, MoveStatus.CONFIRMING.value,
            MoveStatus.REVERTING.value))) & ((Move.source_host_id == host.id)
                                              | (Move.dest_host_id == host.id))))).first()
    if busy is not None:
        raise StateError(f"cannot delete host {host.name!r}: server {busy.instance_uuid} is "
                         f"being moved {'from' if busy.source_host_id == host.id else 'to'} it "
                         "(VERIFY_RESIZE); confirm or revert that first")
    for move in s.scalars(select(Move).where((Move.source_host_id == host.id)
                                             | (Move.dest_host_id == host.id))):
        s.delete(move)
    s.flush()


def move_views(env: ComputeEnv, ctx: RequestContext, ref: str) -> list[dict[str, Any]]:
    """The server's moves, newest first (``kumo server migration list``)."""
    with env.db.session_scope(readonly=True) as s:
        inst = find_server(s, ctx, ref)
        return [{"id": m.id, "type": m.kind, "status": m.status, "source": m.source_node,
                 "dest": m.dest_node, "old_flavor": m.old_flavor.get("flavor_name"),
                 "new_flavor": m.new_flavor.get("flavor_name"), "error": m.error,
                 "created": m.created_at.isoformat() if m.created_at else None}
                for m in s.scalars(select(Move).where(Move.instance_uuid == inst.uuid)
                                   .order_by(Move.id.desc()))]


# --- the commands ---------------------------------------------------------------------------------

def migrate_server(env: ComputeEnv, ctx: RequestContext, ref: str, *, host: str | None = None,
                   accept_new_tpm: bool = False) -> dict[str, Any]:
    """``kumo server migrate``: moved and VERIFY_RESIZE; the server's view."""
    from kumo.compute.servers import show_server

    started = start(env, ctx, ref, host=host, accept_new_tpm=accept_new_tpm)
    run(env, started)
    return show_server(env, ctx, started.uuid)


def resize_server(env: ComputeEnv, ctx: RequestContext, ref: str, flavor: str, *,
                  host: str | None = None, accept_new_tpm: bool = False) -> dict[str, Any]:
    """``kumo server resize``: on another host with the new flavor, VERIFY_RESIZE."""
    from kumo.compute.servers import show_server

    started = start(env, ctx, ref, host=host, flavor=flavor, accept_new_tpm=accept_new_tpm)
    run(env, started)
    return show_server(env, ctx, started.uuid)


def confirm_server(env: ComputeEnv, ctx: RequestContext, ref: str) -> dict[str, Any]:
    from kumo.compute.servers import show_server

    return show_server(env, ctx, confirm(env, ctx, ref))


def revert_server(env: ComputeEnv, ctx: RequestContext, ref: str) -> dict[str, Any]:
    from kumo.compute.servers import show_server

    return show_server(env, ctx, revert(env, ctx, ref))
