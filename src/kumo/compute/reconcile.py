"""kumo reconcile: change the frozen image properties of many instances as one planned operation.

Seed 001: an image gained ``os_type=windows``, but every guest booted from it before kept the
properties frozen at its boot, and its clock stayed 8 hours off. ``kumo reconcile`` selects
instances (kumo.compute.selection: --host, --instance, --all-projects) and gives each new
frozen properties: re-frozen from its image's current properties (``--from-image``), then
``--unset-property K`` and ``--set-property K=V`` on top.

By default it only plans (``plan``): per instance the property change and the unified diff of
its domain configuration -- the one the host has now (the running guest's live XML, a stopped
guest's defined XML) against the one kumo's rules give with the new properties, rendered by
the very function a hard reboot regenerates the domain with (kumo.compute.spawn.render). Both
sides go through the backend's own mapping (kumo.backends.*.parse), so libvirt's expanded
defaults, addresses and aliases -- nothing kumo decides -- are not part of the diff.

``--apply`` carries a plan out as a run (kumo.compute.reconcile_run): journaled, resumable,
revertible. What it will do to each instance is ``action``:

    redefine            a stopped guest: its record changed, its domain defined again
    hard reboot         a running guest with --reboot now: destroyed, regenerated, started
    redefine, restart pending
                        a running guest with --reboot on-next-stop: record and definition
                        change now, the running guest at its owner's next stop or reboot
    skip                a running guest without --reboot: its owner must be told first
                        (seed 001), so nothing changes
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from kumo.catalog.names import check_name, check_pairs, short
from kumo.compute import naming, spawn
from kumo.compute.boot_source import resolve_references
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.images import boot_properties
from kumo.compute.selection import Selection, select_instances
from kumo.db.models import Host, Image, ImageStatus, Instance, PowerState
from kumo.errors import InvalidInput, KumoError
from kumo.hosts.protocol import DomainState

#: --reboot: when a running guest gets its new configuration
REBOOT_NOW, REBOOT_ON_NEXT_STOP = "now", "on-next-stop"
REBOOT_MODES = (REBOOT_NOW, REBOOT_ON_NEXT_STOP)

#: the actions of the module docstring
REDEFINE, HARD_REBOOT, RESTART_PENDING, SKIP, UNCHANGED = (
    "redefine", "hard reboot", "redefine, restart pending", "skip", "unchanged")


@dataclass(frozen=True)
class Request:
    """What ``kumo reconcile`` was asked (without --apply / --revert)."""

    selection: Selection = field(default_factory=Selection)
    set: Mapping[str, str] = field(default_factory=dict)
    unset: tuple[str, ...] = ()
    from_image: bool = False
    sync_time: bool = False
    reboot: str | None = None

    def check(self) -> None:
        """InvalidInput naming what is wrong: a bad key or value, a key both set and unset,
        an unknown --reboot mode, or nothing asked at all."""
        check_pairs("property", self.set)
        for key in self.unset:
            check_name("property", key)
        both = sorted(set(self.set) & set(self.unset))
        if both:
            raise InvalidInput(f"property {', '.join(both)} is both set and unset: give "
                               "each key once")
        check_reboot(self.reboot)
        if not (self.set or self.unset or self.from_image or self.sync_time):
            raise InvalidInput("nothing to reconcile: give --from-image, --set-property "
                               "KEY=VALUE, --unset-property KEY or --sync-time")

    def changes_properties(self) -> bool:
        return bool(self.set or self.unset or self.from_image)

    def spec(self) -> dict[str, Any]:
        """The request as JSON (stored with a run; an equal spec resumes that run)."""
        return {"selection": self.selection.as_dict(), "set": dict(sorted(self.set.items())),
                "unset": sorted(self.unset), "from_image": self.from_image,
                "sync_time": self.sync_time, "reboot": self.reboot}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> "Request":
        sel = spec["selection"]
        return cls(Selection.of(sel["hosts"], sel["instances"], sel["all_projects"]),
                   dict(spec["set"]), tuple(spec["unset"]), spec["from_image"],
                   spec["sync_time"], spec["reboot"])


def check_reboot(reboot: str | None) -> None:
    if reboot is not None and reboot not in REBOOT_MODES:
        raise InvalidInput(f"--reboot {short(reboot)} is invalid: allowed "
                           f"{', '.join(REBOOT_MODES)}")


def refrozen(frozen: Mapping[str, str], image_now: Mapping[str, str] | None,
             unset: Iterable[str] = (), set: Mapping[str, object] | None = None
             ) -> dict[str, str]:
    """The one rule for "from the image" -- what ``kumo reconcile --from-image`` applies and
    what ``kumo audit`` reports it would change (kumo.audit.properties): the image's current
    properties (``image_now``; None: no --from-image, ``frozen`` stays) replace the frozen ones
    *entirely*, keys an operator changed on the instance with set-property included; then
    ``unset`` and ``set`` on top.

    Why replace rather than keep set-property overrides: an operator reads "re-freeze from
    the image" as "as if booted from this image today" -- what a create gives, and what Nova's
    rebuild does to an instance's image metadata (nova/compute/api.py, rebuild:
    _reset_image_metadata drops every old image property and copies the image's); a kept
    override would be a third source of truth, visible neither in the image nor in the
    command. Nothing is lost unseen: the plan lists every key it changes back ("hw_disk_bus:
    sata -> virtio") before --apply, the audit reports each override it would replace with
    the ``--set-property`` that keeps it, and --revert gives the old record back."""
    props = dict(image_now if image_now is not None else frozen)
    for key in unset:
        props.pop(key, None)
    props.update({k: str(v) for k, v in (set or {}).items()})
    return props


def target_properties(s: Session, ctx: RequestContext, request: Request,
                      instance: Instance) -> dict[str, str]:
    """The frozen properties ``request`` gives ``instance`` (``refrozen``): with --from-image
    its image's current ones, as a create of that image would freeze them now, less
    --unset-property, plus --set-property. InvalidInput when --from-image and the image is
    gone."""
    image_now = None
    if request.from_image:
        image = s.get(Image, instance.image_id) if instance.image_id else None
        if image is None or image.status == ImageStatus.DELETED.value:
            raise InvalidInput(f"image {instance.image_id} of server {instance.name!r} no "
                               "longer exists: cannot re-freeze its properties from it")
        image_now = resolve_references(s, ctx, boot_properties(image), f"image {image.id!r}")
    return refrozen(instance.image_properties or {}, image_now, request.unset, request.set)


def running(instance: Instance) -> bool:
    """Whether the instance's guest runs, as its record says (the power-state sync keeps that
    true): a running guest is restarted only when asked."""
    return instance.power_state == PowerState.RUNNING.value


def action_for(instance: Instance, reboot: str | None, changed: bool) -> str:
    """What applying a change does to ``instance`` (module docstring)."""
    if not changed:
        return UNCHANGED
    if not running(instance):
        return REDEFINE
    return {REBOOT_NOW: HARD_REBOOT, REBOOT_ON_NEXT_STOP: RESTART_PENDING}.get(reboot or "",
                                                                              SKIP)


SKIP_REASON = ("running: its owner must be told before its configuration changes; give "
               "--reboot now or --reboot on-next-stop")


@dataclass(frozen=True)
class InstancePlan:
    uuid: str
    name: str
    host: str | None
    #: the frozen properties and pinned machine type now and with the change
    before: dict[str, str]
    after: dict[str, str]
    machine_before: str | None
    machine_after: str | None
    action: str
    #: unified diff of the domain configuration ("" when it does not change)
    diff: str = ""
    #: why the change cannot be made (then action is SKIP)
    error: str | None = None
    #: with --sync-time: the guest clock's offset from the host's, or why it cannot be set
    clock: str | None = None

    def property_lines(self) -> list[str]:
        """One line per changed key: ``os_type: (unset) -> windows``."""
        keys = sorted(set(self.before) | set(self.after))
        lines = [f"{k}: {_shown(self.before.get(k))} -> {_shown(self.after.get(k))}"
                 for k in keys if self.before.get(k) != self.after.get(k)]
        if self.machine_before != self.machine_after:
            lines.append(f"machine type: {_shown(self.machine_before)} -> "
                         f"{_shown(self.machine_after)}")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.uuid, "name": self.name, "host": self.host, "action": self.action,
                "changes": self.property_lines(), "diff": self.diff, "error": self.error,
                "clock": self.clock}


def _shown(value: str | None) -> str:
    return "(unset)" if value is None else repr(value) if value == "" else value


def plan(env: ComputeEnv, ctx: RequestContext, request: Request) -> list[InstancePlan]:
    """Per selected instance, what ``request`` would change (module docstring). Reads the
    database and the hosts; changes nothing."""
    ctx.require_admin("reconciling servers' image properties")
    request.check()
    with env.db.session_scope(readonly=True) as s:
        instances = select_instances(s, ctx, request.selection)
        out = []
        for instance in instances:
            s.expunge(instance)  # planned on a detached copy: nothing here is ever flushed
            clock = clock_plan(env, s, instance) if request.sync_time else None
            planned = plan_instance(env, ctx, s, request, instance) \
                if request.changes_properties() else _unchanged(s, instance)
            out.append(dataclasses.replace(planned, clock=clock))
    return out


def _unchanged(s: Session, instance: Instance) -> InstancePlan:
    host = s.get(Host, instance.host_id) if instance.host_id else None
    props = dict(instance.image_properties or {})
    return InstancePlan(instance.uuid, instance.name, host.name if host else None, props,
                        props, instance.machine_type, instance.machine_type, UNCHANGED)


def clock_plan(env: ComputeEnv, s: Session, instance: Instance) -> str:
    """What --sync-time would do to ``instance``'s guest clock, in words: its offset from the
    host's UTC clock as its guest agent reads it, or why it cannot be set."""
    host = s.get(Host, instance.host_id) if instance.host_id else None
    if host is None or not running(instance):
        return "not set: the guest is not running"
    try:
        offset = guest_offset(env.host(host.uri), naming.domain_name(instance.uuid))
    except KumoError as e:
        return f"not set: {e}"
    return f"{offset:+.0f} s off the host's UTC clock: set from it"


def guest_offset(conn: Any, name: str) -> float:
    """The guest clock minus the host's UTC clock, in seconds, read through the guest agent:
    as the audit reads it (kumo.audit.clock.offset_s: the host's time taken mid-call)."""
    from kumo.audit.clock import offset_s

    return offset_s(conn, name)


def plan_instance(env: ComputeEnv, ctx: RequestContext, s: Session, request: Request,
                  instance: Instance, after: Mapping[str, str] | None = None,
                  machine: object = None) -> InstancePlan:
    """The plan for one detached ``instance`` (changed in place to the planned record): to
    ``request``'s target properties, or to ``after`` (and exactly the pinned ``machine``,
    when given) for a revert."""
    from kumo.compute.servers import REPIN, change_properties  # servers imports much

    host = s.get(Host, instance.host_id) if instance.host_id else None
    before, machine_before = dict(instance.image_properties or {}), instance.machine_type
    common = dict(uuid=instance.uuid, name=instance.name, host=host.name if host else None,
                  before=before, machine_before=machine_before)
    if host is None:
        return InstancePlan(**common, after=before, machine_after=machine_before, action=SKIP,
                            error="on no host (its build failed): delete it")
    try:
        target = dict(after) if after is not None else target_properties(s, ctx, request,
                                                                          instance)
        change = change_properties(
            s, env, ctx, instance, target, f"server {instance.name!r}",
            repin=before.get("hw_machine_type") != target.get("hw_machine_type"),
            machine=machine if after is not None else REPIN)
    except KumoError as e:
        return InstancePlan(**common, after=before, machine_after=machine_before, action=SKIP,
                            error=str(e))
    changed = (change.before != change.after or change.machine_before != change.machine_after)
    action = action_for(instance, request.reboot, changed)
    diff = ""
    if changed:
        try:
            diff = config_diff(env, instance, host)
        except KumoError as e:
            return InstancePlan(**common, after=change.after, machine_after=change.machine_after,
                                action=SKIP, error=f"host {host.name}: {e}")
    return InstancePlan(**common, after=change.after, machine_after=change.machine_after,
                        action=action, diff=diff,
                        error=SKIP_REASON if action == SKIP else None)


def config_diff(env: ComputeEnv, instance: Instance, host: Host) -> str:
    """Unified diff from the domain configuration the host has for ``instance`` (live if it
    runs, else defined; none if the host has no such domain) to the one kumo renders from the
    (changed) record -- both read through the backend's mapping."""
    from kumo.backends import get_backend

    text, _digest, backend_name = spawn.render(env, instance, host)
    backend = get_backend(backend_name)  # a backend's name is one of its hypervisor values
    conn = env.host(host.uri)
    name = naming.domain_name(instance.uuid)
    if conn.domain_exists(name):
        live = conn.domain_state(name) == DomainState.RUNNING
        current = _normalized(backend, conn.domain_xml(name, inactive=not live))
        label = f"{name} ({'live' if live else 'defined'})"
    else:
        current, label = "", f"{name} (not on host {host.name})"
    return "".join(difflib.unified_diff(current.splitlines(keepends=True),
                                        _normalized(backend, text).splitlines(keepends=True),
                                        label, f"{name} (planned)"))


def _normalized(backend: Any, text: str) -> str:
    """``text`` as kumo models it: parsed with the backend's mapping and written again (a
    native configuration that is not a mapped document is compared as it is), with the display
    password hidden: the rendered side carries it, and a plan is printed."""
    from kumo.backends.display import redact_secrets
    from kumo.backends.libvirt_xml import Domain

    parsed = backend.parse(text)
    if isinstance(parsed, Domain):
        return redact_secrets(parsed).to_xml()
    return parsed.to_xml() if hasattr(parsed, "to_xml") else text


def plan_text(plans: Iterable[InstancePlan]) -> str:
    """The plan as ``kumo reconcile`` prints it: per instance a header, the property changes
    and the diff."""
    out = []
    for p in plans:
        out.append(f"server {p.name} ({p.uuid}) on {p.host or 'no host'}: {p.action}"
                   + (f" ({p.error})" if p.error else "") + "\n")
        out.extend(f"  {line}\n" for line in p.property_lines())
        if p.clock is not None:
            out.append(f"  guest clock: {p.clock}\n")
        if p.diff:
            out.append(p.diff)
        elif p.action != UNCHANGED and not p.error:
            out.append("  (the domain configuration does not change)\n")
    return "".join(out)
