"""Servers (instances): create, list, show, start, stop, reboot, rebuild, delete, set_property.

create, in three phases:

    new_instance          validation: image, flavor and host names, the image's data and disk
                          format, kernel/ramdisk images, disk sizes -- a bad request records
                          nothing; returns the instance to record (not yet in the database)
    schedule_and_record   heartbeats of stale hosts refreshed (kumo.compute.heartbeat), the
                          request spec built (invalid properties and flavor/image conflicts
                          refused here, still recording nothing), the scheduler places it and
                          commits the claim in one transaction with the instance record
                          (BUILDING/spawning, on its host) and its journal entry
                          (kumo.scheduler.service.place(record=...)): no claim is ever held by
                          nothing. Then the guest plan is checked on the chosen host and the
                          host asked whether it answers; a refusal withdraws the record and the
                          claim together: a refused request leaves nothing.
                          No host can take it (NoValidHost): the instance is recorded ERROR
                          with the scheduler's summary -- the line ``kumo placement explain``
                          prints -- as its fault, as Nova records "No valid host was found",
                          and NoValidHost is raised.
    reschedule.build      the host-side steps (spawn.run_create), each journaled before it
                          acts; a host that refuses the guest at define/start is rolled back
                          and the next of the scheduler's alternates is tried

Failpoint (test-only): create:after-claim (claim and record committed, nothing done on the host).

``set_property`` is the audited way to change an instance's frozen image properties (seed 001's
operators UPDATEd nova's database by hand): validated by the catalog and by a guest plan on the
instance's host, journaled with the old and new values; ``reboot(hard=True)`` then regenerates
the domain from the record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo import logs, metrics
from kumo.catalog.names import check_name, check_pairs
from kumo.catalog.properties import ImageProperties
from kumo.compute import (heartbeat, ipam, journal, power, records, reschedule, secgroups,
                          server_reads, spawn, teardown)
from kumo.compute.consoles import new_display_password
from kumo.compute.networks import NicRequest
from kumo.compute.context import FORCED_HOST, RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.failpoints import failpoint
from kumo.compute.boot_source import boot_source, resolve_references
from kumo.compute.instance_request import guest_request, host_caps
from kumo.compute import keypairs
from kumo.compute.keys import parse_public_key
from kumo.compute.passwords import check_password, seal_pending
from kumo.compute.user_data import check_metadata, user_data_from_base64
from kumo.compute.lookup import check_unclaimed, find_host, find_server
from kumo.compute.states import (ACTIVE, BUILDING, DELETING, ERROR, POWERING_OFF, POWERING_ON,
                                 REBOOTING, REBOOTING_HARD, REBUILDING, RESIZED, SCHEDULING, SPAWNING,
                                 STOPPED, VM_STATUS, server_view, set_fault, status)
from kumo.db.base import new_uuid
from kumo.backends import get_backend
from kumo.db.models import (UNFINISHED_STATES, Host, Instance, JournalEntry,
                            JournalState, PowerState, SecurityGroup)
from kumo.errors import InvalidInput, StateError
from kumo.guest.build import build_guest
from kumo.guest.facts import GuestFacts
from kumo.guest.policy.credentials import windows_key_refusal
from kumo.guest.policy.machine import versioned_machine
from kumo.guest.spec import GuestSpec
from kumo.scheduler import service as scheduler
from kumo.scheduler.errors import NoValidHost

log = logs.get(__name__)

GIB = 1 << 30


@dataclass(frozen=True)
class CreateResult:
    server: dict[str, Any]
    #: the Windows admin password, shown once (only its hash is stored); None for Linux
    admin_password: str | None = None


def create_server(env: ComputeEnv, ctx: RequestContext, name: str, *, image: str, flavor: str,
                  host: str | None = None, public_key: str | None = None,
                  key_name: str | None = None, user_data: str | None = None,
                  metadata: Mapping[str, str] | None = None,
                  admin_password: str | None = None,
                  networks: Sequence[NicRequest] | str | None = None,
                  security_groups: Sequence[str] | None = None) -> CreateResult:
    """Create and boot a server; CreateResult with its view (and a Windows admin password).
    NoValidHost after recording the server ERROR when no host can take it. The keyword
    arguments: see ``new_instance``; ``networks``: its NICs (kumo.compute.ipam.plan: --network
    requests, NO_NICS, or None for the default)."""
    instance, host_name = new_instance(env, ctx, name, image=image, flavor=flavor, host=host,
                                       public_key=public_key, key_name=key_name,
                                       user_data=user_data, metadata=metadata,
                                       admin_password=admin_password,
                                       networks=networks, security_groups=security_groups)
    entry_id = schedule_and_record(env, ctx, instance, host=host_name)
    password = reschedule.build(env, ctx, entry_id, instance.uuid)
    return CreateResult(show_server(env, ctx, instance.uuid), password)


def new_instance(env: ComputeEnv, ctx: RequestContext, name: str, *, image: str, flavor: str,
                 host: str | None = None, public_key: str | None = None,
                 key_name: str | None = None, user_data: str | None = None,
                 metadata: Mapping[str, str] | None = None,
                 admin_password: str | None = None,
                 networks: Sequence[NicRequest] | str | None = None,
                 security_groups: Sequence[str] | None = None
                 ) -> tuple[Instance, str | None]:
    """The instance a create would record (BUILDING/scheduling, on no host, not yet in the
    database) and the exact name of the host asked for (None: the scheduler chooses), after
    every check that needs no host. Records nothing (but the project's default security group,
    made once when its first port is planned). The NICs planned (kumo.compute.ipam) ride on
    the instance as ``nic_plans`` until schedule_and_record allocates them.

    The guest's first login, one path for both ways of giving a key: ``public_key`` (a key
    line, e.g. ``--key-file``; ``key_name`` then labels it) or ``key_name`` alone (the creating
    user's key pair, kumo.compute.keypairs). Either is copied onto the instance and reaches
    the guest through its config drive. A Windows guest takes only an RSA key, which encrypts
    its admin password and is never installed (kumo.guest.policy.credentials); any other key
    is refused, with the reason. ``admin_password``: the Windows admin password to set (instead of a generated
    one); a guest that takes none is refused. ``user_data``: base64 (kumo.compute.user_data),
    ``metadata``: key -> value."""
    check_name("server", name)
    if host is not None:
        ctx.require_admin(f"choosing the host a server boots on (--host; Nova policy "
                          f"{FORCED_HOST})")
    if public_key is not None:
        public_key = parse_public_key(public_key).openssh
    if key_name is not None:
        check_name("key pair", key_name)
    if user_data is not None:
        user_data = user_data_from_base64(user_data)
    metadata = check_metadata(metadata)
    if admin_password is not None:
        check_password(admin_password)
    with env.db.session_scope(readonly=True) as s:
        check_unclaimed(s, "server", name=name)
        if key_name is not None and public_key is None:
            public_key = keypairs.key_for_server(s, ctx, key_name).public_key
        instance, host_name = _prepare(s, ctx, name, image, flavor, host, public_key, key_name)
        windows = _os_type(instance.image_properties) == "windows"
        refusal = (windows_key_refusal(instance.public_key)
                   if windows and instance.public_key else None)
        if refusal is not None:
            given = f"key pair {key_name!r}" if key_name else "the SSH key"
            raise InvalidInput(f"server {name!r} boots a Windows image: {given} cannot be "
                               f"used: {refusal}")
        if admin_password is not None and not windows:
            raise InvalidInput(f"server {name!r}: an admin password is set only on Windows "
                               "guests (their config drive's admin_pass); this guest's login "
                               "is its key pair (key_name)")
        plans, instance.nics = ipam.plan(s, ctx, networks)
        if security_groups and not plans:
            raise InvalidInput("--security-group needs a port: the server gets no kumo network "
                               "(give --network)")
        groups = [secgroups.find_group(s, ctx, ref).id for ref in security_groups or ()]
    instance.user_data, instance.server_metadata = user_data, metadata
    instance.pending_admin_password = seal_pending(env, instance.uuid, admin_password)
    instance.nic_plans = plans  # type: ignore[attr-defined]  # transient: not a column
    if plans and not groups:  # a port is in the project's default group unless told
        groups = [secgroups.ensure_default(env, ctx.project_id)]
    instance.nic_groups = groups  # type: ignore[attr-defined]
    return instance, host_name


def takes_admin_password(instance: Instance) -> bool:
    """True when the instance's guest gets an admin password at build (a Windows guest)."""
    return _os_type(instance.image_properties) == "windows"


def password_for_answer(env: ComputeEnv, instance: Instance,
                        given: str | None) -> str | None:
    """For a create whose answer carries the admin password (the Compute API's adminPass,
    Nova's): the password -- ``given`` (already on the instance, from ``new_instance``), or one
    made now for a guest that takes one -- held sealed on the instance for its build, which
    writes it to the config drive; the create's journal entry records that the caller was shown
    it (spawn.PASSWORD_SHOWN), so a recovery that finishes the build does not say nobody saw
    it. None for a guest that takes no admin password."""
    from kumo.compute.passwords import generate

    password = given
    if password is None and takes_admin_password(instance):
        password = generate()
        instance.pending_admin_password = seal_pending(env, instance.uuid, password)
    instance.password_shown = password is not None  # type: ignore[attr-defined]  # transient
    return password


def _os_type(image_properties: Mapping[str, Any] | None) -> str:
    """The guest's os_type as the guest policy resolves it (stated, or from os_distro)."""
    return GuestFacts.resolve(ImageProperties.parse(dict(image_properties or {}))).os_type


def schedule_and_record(env: ComputeEnv, ctx: RequestContext, instance: Instance, *,
                        host: str | None = None) -> int:
    """Place ``instance`` (from ``new_instance``) and record it on its host with its create
    journal entry (step claimed); the entry's id, for spawn.run_create. See the module
    docstring. ``host``: the exact name of the only host to consider.

    The claim and the record commit in one transaction (``scheduler.place(record=...)``): a
    controller killed at any moment leaves either neither or both, and recovery rolls back a
    recorded create -- so no claim is ever held by nothing.

    Safe to call from many threads at once: the claims are atomic in the database and the
    shared scheduler spreads concurrent requests (kumo.scheduler.service)."""
    # InvalidProperty, ConfigConflict; the zone asked for (EC2 Placement.AvailabilityZone)
    spec = scheduler.request_spec_for_instance(instance,
                                               availability_zone=instance.availability_zone)
    config = scheduler.load_config(settings=env.settings)
    names = [host] if host is not None else None
    heartbeat.refresh_stale(env, config, names)
    entry_ids: list[int] = []

    def record(s: Session, claim: Any) -> None:
        entry_ids.append(_record_on(s, env, ctx, instance, claim.host))

    try:
        placement = scheduler.place(env.db, spec, config, hosts=names, record=record)
    except NoValidHost as e:
        metrics.PLACEMENTS.labels("lost_races" if e.note else "no_valid_host").inc()
        log.warning("no valid host for server %s: %s", instance.name, e.summary,
                    extra={"request_id": ctx.request_id, "instance": instance.uuid})
        _record_unplaced(env, ctx, instance, e)
        raise
    metrics.PLACEMENTS.labels("placed").inc()
    log.info("server %s placed on %s", instance.name, placement.host,
             extra={"request_id": ctx.request_id, "instance": instance.uuid,
                    "host": placement.host})
    [entry_id] = entry_ids
    failpoint("create:after-claim")
    if placement.alternates and placement.alternates[0]:  # for kumo.compute.reschedule
        journal.advance(env, entry_id, "claimed", alternates=list(placement.alternates[0]))
    try:
        _check_placed(env, instance)
    except BaseException as e:
        try:
            withdraw_unbuilt(env, instance.uuid, entry_id)
        except Exception as withdraw_error:  # keep the first error; recovery rolls it back
            e.add_note(f"withdrawing the record on {instance.node} failed too: "
                       f"{withdraw_error}")
        raise
    return entry_id


def _record_on(s: Session, env: ComputeEnv, ctx: RequestContext, instance: Instance,
               host_name: str) -> int:
    """Record the instance on ``host_name`` (BUILDING/spawning) with its create journal entry,
    in the claim's transaction; the entry's id."""
    chosen = s.scalars(select(Host).where(Host.name == host_name)).one()
    instance.host_id, instance.node, instance.task_state = chosen.id, chosen.name, SPAWNING
    s.add(instance)
    s.flush()
    plans = getattr(instance, "nic_plans", ())
    if plans:  # NoFreeAddress here rolls the claim and the record back with it
        groups = [s.get_one(SecurityGroup, g) for g in getattr(instance, "nic_groups", ())]
        ipam.allocate(s, instance, plans, groups)
    shown = {spawn.PASSWORD_SHOWN: True} if getattr(instance, "password_shown", False) else {}
    return journal.begin(s, env, ctx, "create", instance.uuid, "claimed", host_id=chosen.id,
                         host=chosen.name, alternates=[], **shown).id


def _check_placed(env: ComputeEnv, instance: Instance) -> None:
    """The guest plan on the chosen host, and that the host answers (its heartbeat then)."""
    with env.db.session_scope(readonly=True) as s:
        chosen = s.get_one(Host, instance.host_id)
        s.expunge(chosen)
    pin_machine(env, instance, chosen)
    env.host(chosen.uri).node_info()  # HostUnreachable before anything is done on it
    with env.db.session_scope() as s:  # the pin is part of the record from here on
        s.query(Instance).filter_by(uuid=instance.uuid).one().machine_type = \
            instance.machine_type
        heartbeat.touch(s, [chosen.id])  # the host just answered: with the pin, one commit


def withdraw_unbuilt(env: ComputeEnv, uuid: str, entry_id: int) -> None:
    """A placed create refused before it touched the host: its claim released, its record and
    journal entry removed, in one unit of work -- a refused request leaves nothing (also
    EC2's RunInstances, which launches all of MinCount or none)."""
    with env.db.session_scope() as s:
        row = s.query(Instance).filter_by(uuid=uuid).one()
        records.release_claim_of(s, row)
        ipam.release_in(s, uuid)
        s.delete(s.get_one(JournalEntry, entry_id))
        s.flush()
        s.delete(row)
    scheduler.released_elsewhere(env.db)


def _record_unplaced(env: ComputeEnv, ctx: RequestContext, instance: Instance,
                     error: NoValidHost) -> None:
    """Record the instance ERROR on no host, its fault the scheduler's summary, with a create
    journal entry that failed at step scheduling."""
    with env.db.session_scope() as s:
        set_fault(instance, error.summary, details=error.note or None)
        s.add(instance)
        s.flush()
        entry = journal.begin(s, env, ctx, "create", instance.uuid, "scheduling")
        journal.finish(s, entry.id, JournalState.FAILED, str(error))


def _prepare(s: Session, ctx: RequestContext, name: str, image_ref: str, flavor_ref: str,
             host_ref: str | None, public_key: str | None,
             key_name: str | None) -> tuple[Instance, str | None]:
    """The instance to record and the exact name of the host asked for, after every check a
    create needs before it is scheduled."""
    source = boot_source(s, ctx, image_ref, flavor_ref=flavor_ref)
    image, props, flavor = source.image, source.properties, source.flavor
    assert flavor is not None
    host_name = find_host(s, host_ref).name if host_ref else None
    disk_gib = flavor.disk_gib or -(-(image.virtual_size or GIB) // GIB)
    instance = Instance(
        uuid=new_uuid(), name=name, project_id=ctx.project_id, user_id=ctx.user_id,
        image_id=image.id, image_properties=props, flavor_id=flavor.flavorid,
        flavor_name=flavor.name, vcpus=flavor.vcpus, ram_mib=flavor.ram_mib, disk_gib=disk_gib,
        ephemeral_gib=flavor.ephemeral_gib, flavor_extra_specs=dict(flavor.extra_specs),
        key_name=key_name, public_key=public_key.strip() if public_key else None,
        display_password=new_display_password(),
        vm_state=BUILDING, task_state=SCHEDULING, power_state=PowerState.NOSTATE.value)
    return instance, host_name


def check_plan(env: ComputeEnv, instance: Instance, host: Host) -> GuestSpec:
    """Raise what building this instance's guest on ``host`` would raise (invalid properties,
    flavor/image conflicts, policy errors, what the backend cannot express); the spec."""
    spec = build_guest(guest_request(env, instance, host))
    get_backend(spec.hypervisor).render(spec)
    return spec


def pin_machine(env: ComputeEnv, instance: Instance, host: Host) -> None:
    """Check the plan on ``host`` with no pinned machine and pin the machine type it chose
    (the family resolved to the host's versioned machine, kumo.guest.policy.machine) on
    ``instance``. Only libvirt QEMU guests have versioned machines."""
    instance.machine_type = None
    spec = check_plan(env, instance, host)
    if spec.hypervisor in ("kvm", "qemu"):
        instance.machine_type = versioned_machine(host_caps(host), spec.machine)
        check_plan(env, instance, host)


# --- reading -------------------------------------------------------------------------------------

def list_servers(env: ComputeEnv, ctx: RequestContext,
                 all_projects: bool = False) -> list[dict[str, Any]]:
    """The project's servers (an admin's ``all_projects`` lists every project's)."""
    project = None if all_projects and ctx.is_admin else ctx.project_id
    with env.db.session_scope(readonly=True) as s:
        return server_reads.list_all(s, ctx, project)


def show_server(env: ComputeEnv, ctx: RequestContext, ref: str) -> dict[str, Any]:
    with env.db.session_scope(readonly=True) as s:
        return server_reads.show(s, ctx, ref)


# --- lifecycle -----------------------------------------------------------------------------------

#: operation -> (vm_states it may start from, task_state while it runs)
_ALLOWED = {
    "start": ((STOPPED, ACTIVE), POWERING_ON),
    "stop": ((ACTIVE,), POWERING_OFF),
    "reboot": ((ACTIVE,), REBOOTING),
    "reboot-hard": ((ACTIVE, STOPPED, ERROR), REBOOTING_HARD),
    "rebuild": ((ACTIVE, STOPPED, ERROR), REBUILDING),
    "delete": ((BUILDING, ACTIVE, STOPPED, ERROR), DELETING),
}


def _begin(env: ComputeEnv, ctx: RequestContext, ref: str, operation: str,
           **payload: Any) -> tuple[int, str]:
    """Mark the server busy with ``operation`` and journal it, in one unit of work. Refused
    while another operation on it is unfinished (a dead controller's work is recovered first,
    by every ``kumo server`` command; a live one's is its own business)."""
    states, task = _ALLOWED[operation]
    if operation == "delete":
        _confirm_before_delete(env, ctx, ref)
    with env.db.session_scope() as s:
        instance = lock_idle(s, ctx, ref, allow_task=operation == "delete")
        if instance.vm_state not in states:
            raise StateError(f"cannot {operation} server {ref!r} while it is "
                             f"{status(instance)}: allowed from "
                             f"{', '.join(VM_STATUS[v] for v in states)}")
        if instance.host_id is None and operation != "delete":
            raise StateError(f"cannot {operation} server {ref!r}: it is on no host (its build "
                             f"failed: {instance.fault_reason}); delete it")
        instance.task_state = task
        entry = journal.begin(s, env, ctx, operation, instance.uuid, "begin", **payload)
        return entry.id, instance.uuid


def _confirm_before_delete(env: ComputeEnv, ctx: RequestContext, ref: str) -> None:
    """A server waiting for its move to be confirmed or reverted (VERIFY_RESIZE) is deleted
    with both its copies, as Nova deletes it: the move is confirmed first (the source's copy
    removed, its claim released; kumo.compute.moves), then the delete removes the rest."""
    with env.db.session_scope(readonly=True) as s:
        instance = find_server(s, ctx, ref)
        undecided = instance.vm_state == RESIZED and instance.task_state is None
    if undecided:
        from kumo.compute import moves

        moves.confirm(env, ctx, ref)


def lock_idle(s: Session, ctx: RequestContext, ref: str, *,
              allow_task: bool = False) -> Instance:
    """The server ``ref``, its row locked for the rest of the unit of work, after checking that
    no other operation on it is unfinished (``allow_task``: a task_state left without a journal
    entry does not count -- delete may clean up after anything).

    The row lock makes two commands racing for one server agree on both backends: the second
    waits for the first's commit, then reads (a new statement, a new snapshot under
    PostgreSQL's READ COMMITTED) the journal entry the first wrote, and is refused with
    ``busy_error``. Without it PostgreSQL let both read "idle" and the loser died on the
    instance's version check (StaleDataError); SQLite, one writer at a time, said busy."""
    instance = find_server(s, ctx, ref)
    s.execute(select(Instance.id).where(Instance.id == instance.id).with_for_update())
    s.refresh(instance)  # as committed by whoever held the lock before us
    busy = s.scalars(select(JournalEntry).where(
        JournalEntry.instance_uuid == instance.uuid,
        JournalEntry.state.in_(UNFINISHED_STATES)).order_by(JournalEntry.id).limit(1)).first()
    if busy is not None or (instance.task_state is not None and not allow_task):
        raise busy_error(ref, busy.operation if busy else instance.task_state,
                         busy.created_at if busy else None)
    return instance


def busy_error(ref: str, operation: str | None, started: datetime | None) -> StateError:
    """The one answer to "another operation holds this server"."""
    when = f", started {started.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC" if started \
        else ""
    return StateError(f"server {ref!r} is busy: another operation ({operation}{when}) is in "
                      "progress; retry when it is done")


def begin_operation(env: ComputeEnv, ctx: RequestContext, ref: str, operation: str,
                    **payload: Any) -> tuple[int, str]:
    """Mark the server busy with ``operation`` and journal it (the journal entry's id and the
    server's uuid), for a caller that has the operation finished elsewhere
    (kumo.compute.background); the same checks as the operations below."""
    timeout = payload.get("timeout_override")
    if timeout is not None and timeout < 0:
        raise InvalidInput(f"timeout {timeout:g} is invalid: allowed 0 or more seconds")
    return _begin(env, ctx, ref, operation, **payload)


def start_server(env: ComputeEnv, ctx: RequestContext, ref: str) -> dict[str, Any]:
    entry_id, uuid = _begin(env, ctx, ref, "start")
    power.run(env, entry_id, uuid, "start")
    return show_server(env, ctx, uuid)


def stop_server(env: ComputeEnv, ctx: RequestContext, ref: str,
                timeout_s: float | None = None) -> dict[str, Any]:
    """Graceful shutdown, powered off after the shutdown timeout (``timeout_s``, else the
    server's os_shutdown_timeout, else 60 s: power.shutdown_timeout)."""
    if timeout_s is not None and timeout_s < 0:
        raise InvalidInput(f"timeout {timeout_s:g} is invalid: allowed 0 or more seconds")
    entry_id, uuid = _begin(env, ctx, ref, "stop")
    power.run(env, entry_id, uuid, "stop", timeout_s)
    return show_server(env, ctx, uuid)


def reboot_server(env: ComputeEnv, ctx: RequestContext, ref: str,
                  hard: bool = False, timeout_s: float | None = None) -> dict[str, Any]:
    """Soft reboot (graceful; hard if the guest does not shut down in time), or hard reboot:
    the domain regenerated from the instance record."""
    if timeout_s is not None and timeout_s < 0:
        raise InvalidInput(f"timeout {timeout_s:g} is invalid: allowed 0 or more seconds")
    operation = "reboot-hard" if hard else "reboot"
    entry_id, uuid = _begin(env, ctx, ref, operation)
    power.run(env, entry_id, uuid, operation, timeout_s)
    return show_server(env, ctx, uuid)


def rebuild_server(env: ComputeEnv, ctx: RequestContext, ref: str,
                   image: str | None = None) -> CreateResult:
    """Re-make the root disk and config drive from ``image`` (default: the server's own) and boot.
    A new image's properties replace the frozen ones (and earlier overrides), as in Nova."""
    with env.db.session_scope(readonly=True) as s:
        instance = find_server(s, ctx, ref)
        host_row = s.get(Host, instance.host_id) if instance.host_id else None
        # every check create makes, against the disk the server has (and holds a claim for)
        source = boot_source(s, ctx, image or instance.image_id or "", server=instance)
        new_image, props = source.image, source.properties
        s.expunge(instance)
    refusal = (windows_key_refusal(instance.public_key)
               if instance.public_key and _os_type(props) == "windows" else None)
    if refusal is not None:
        raise InvalidInput(f"cannot rebuild server {ref!r} from Windows image "
                           f"{new_image.name!r}: it has key pair {instance.key_name!r}, and "
                           f"{refusal}")
    if host_row is not None:
        instance.image_id, instance.image_properties = new_image.id, props
        check_plan(env, instance, host_row)
    entry_id, uuid = _begin(env, ctx, ref, "rebuild", image_id=new_image.id)
    with env.db.session_scope() as s:
        row = s.query(Instance).filter_by(uuid=uuid).one()
        row.image_id, row.image_properties = new_image.id, props
    password = spawn.run_rebuild(env, entry_id, uuid)
    return CreateResult(show_server(env, ctx, uuid), password)


def delete_server(env: ComputeEnv, ctx: RequestContext, ref: str) -> str:
    entry_id, uuid = _begin(env, ctx, ref, "delete")
    teardown.run_delete(env, entry_id, uuid)
    return uuid


# --- audited property overrides ------------------------------------------------------------------

def set_property(env: ComputeEnv, ctx: RequestContext, ref: str,
                 changes: Mapping[str, str] | None = None,
                 unset: Iterable[str] = ()) -> dict[str, Any]:
    """Change the server's frozen image properties; takes effect at the next hard reboot.

    Admin only (an operator's repair, seed 001). Validated by the catalog and by a guest plan on
    the server's host, so a value the guest cannot be built with is refused now, not at the
    reboot; journaled (operation set-property) with the values before and after."""
    ctx.require_admin("changing a server's image properties")
    changes, unset = dict(changes or {}), list(unset)
    check_pairs("property", changes)
    if not changes and not unset:
        raise InvalidInput("nothing to change: give KEY=VALUE or --unset KEY")
    with env.db.session_scope() as s:
        # not under a running operation: a hard reboot rendering from the record meanwhile
        # would build half the old and half the new guest
        instance = lock_idle(s, ctx, ref)
        before = dict(instance.image_properties or {})
        missing = [k for k in unset if k not in before]
        if missing:
            raise InvalidInput(f"server {ref!r} has no image propert"
                               f"{'y' if len(missing) == 1 else 'ies'} {', '.join(missing)}")
        after = {k: v for k, v in before.items() if k not in unset}
        after.update({k: str(v) for k, v in changes.items()})
        change = change_properties(s, env, ctx, instance, after, f"server {ref!r}",
                                   repin="hw_machine_type" in changes or "hw_machine_type" in unset)
        entry = journal.begin(s, env, ctx, "set-property", instance.uuid, "done",
                              **change.audit(ctx, changes, unset))
        journal.finish(s, entry.id, JournalState.DONE)
        s.flush()
        return server_view(instance)


@dataclass(frozen=True)
class PropertyChange:
    """An instance record's frozen image properties and pinned machine type, before and after
    an audited change (set_property, kumo.compute.reconcile)."""

    before: dict[str, str]
    after: dict[str, str]
    machine_before: str | None
    machine_after: str | None

    def audit(self, ctx: RequestContext, changed: Iterable[str],
              unset: Iterable[str]) -> dict[str, Any]:
        """The journal payload that is the change's audit record: who, the keys set (with
        their new values) and unset, their values before, and a moved machine type. (When:
        the entry's created_at.)"""
        changed, unset = list(changed), list(unset)
        machine = ({"machine_type": {"before": self.machine_before, "after": self.machine_after}}
                   if self.machine_before != self.machine_after else {})
        return {"user_id": ctx.user_id, "set": {k: self.after[k] for k in changed},
                "unset": unset, "before": {k: self.before.get(k) for k in [*changed, *unset]},
                **machine}


#: change_properties' ``machine``: pin anew only if the machine family moved
REPIN = object()


def change_properties(s: Session, env: ComputeEnv, ctx: RequestContext, instance: Instance,
                      after: Mapping[str, str], owner: str, *, repin: bool,
                      machine: str | None | object = REPIN) -> PropertyChange:
    """Make ``after`` the instance's frozen image properties, in ``s`` (the caller holds the
    instance's row lock and journals the change): validated by the catalog (InvalidProperty
    naming each bad value), references resolved (a kernel_id naming no aki image is refused
    now, not at the next hard reboot; ``owner`` names the record in that error), and the guest
    planned on the instance's host. ``repin``: pin the machine type afresh (the one audited way
    the pin moves); ``machine``: restore exactly this pin instead (a revert)."""
    before = dict(instance.image_properties or {})
    after = dict(after)
    ImageProperties.parse(after)  # InvalidProperty naming each bad value
    after = resolve_references(s, ctx, after, owner)
    machine_before = instance.machine_type
    instance.image_properties = after
    host_row = s.get(Host, instance.host_id) if instance.host_id else None
    if machine is not REPIN:
        instance.machine_type = machine  # type: ignore[assignment]
    if host_row is not None and repin and machine is REPIN:
        pin_machine(env, instance, host_row)
    elif host_row is not None:
        check_plan(env, instance, host_row)
    return PropertyChange(before, after, machine_before, instance.machine_type)
