"""Helpers for the unit tests that run compute against kumo.hosts.fake.FakeHost.

``JournalWatch`` is the promise "every lifecycle operation is journaled before it acts" checked
where it is kept: hooked into the fake host, it looks at the journal at the moment each call
that changes the host arrives, and records a violation unless the instance's unfinished entry
is at a step that covers that call (and, for volumes, names the volume in its payload, so a
crash right then leaves recovery what it needs to clean up).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from kumo.compute import naming
from kumo.compute.env import ComputeEnv
from kumo.db.models import (UNFINISHED_STATES, Host, HostImage, HostImageState, Instance,
                            JournalEntry)
from kumo.hosts.fake import Call, FakeHost

#: host call -> journal steps under which it may happen
MUTATING_STEPS: dict[str, frozenset[str]] = {
    "upload_volume": frozenset({"upload", "volumes"}),
    "create_overlay_volume": frozenset({"volumes"}),
    "create_volume": frozenset({"volumes"}),
    "define": frozenset({"define"}),
    # a build's define step covers its start too: recovery from define starts a defined guest
    # that is not running (kumo.compute.spawn.define_and_start); power operations use start
    "start": frozenset({"start", "define"}),
    "destroy": frozenset({"destroy", "shutdown", "rollback"}),
    "shutdown": frozenset({"shutdown"}),
    "undefine": frozenset({"undefine", "rollback"}),
    "delete_volume": frozenset({"volumes", "rollback"}),
    "set_user_password": frozenset({"set-password"}),
}


@dataclass
class JournalWatch:
    env: ComputeEnv
    violations: list[str] = field(default_factory=list)
    #: (op, step) for every mutating call seen
    seen: list[tuple[str, str | None]] = field(default_factory=list)

    def attach(self, host: FakeHost) -> "JournalWatch":
        host.hooks.append(self)
        return self

    def __call__(self, call: Call) -> None:
        allowed = MUTATING_STEPS.get(call.op)
        if allowed is None:
            return
        with self.env.db.session_scope(readonly=True) as s:
            # a fleet operation's own entry (a reconcile run: no instance) changes no host
            entries = list(s.scalars(select(JournalEntry).where(
                JournalEntry.state.in_(UNFINISHED_STATES),
                JournalEntry.instance_uuid.is_not(None))))
            snapshot = [(e.operation, e.step, dict(e.payload)) for e in entries]
        if len(snapshot) != 1:
            self.violations.append(f"{call.op} {call.args.get('name')}: {len(snapshot)} "
                                   "unfinished journal entries")
            return
        operation, step, payload = snapshot[0]
        name = call.args.get("name", "")
        if call.op == "delete_volume" and naming.image_of_volume(name):
            allowed = allowed | {"upload"}  # a failed or stale image-cache upload's volume
        self.seen.append((call.op, step))
        if step not in allowed:
            self.violations.append(f"{call.op} {call.args.get('name')} during {operation} at "
                                   f"step {step} (allowed {sorted(allowed)})")
        if naming.image_of_volume(name):
            # the shared image cache: its volume is written and removed only while its
            # host_images row says uploading (kumo.compute.image_cache), whoever asked
            if call.op in ("upload_volume", "delete_volume") and not self._uploading(name):
                self.violations.append(f"{call.op} {name}: no host_images row says uploading")
        elif call.op in ("upload_volume", "create_overlay_volume", "create_volume") and (
                name not in payload.get("uploading", []) + payload.get("volumes", [])):
            self.violations.append(f"{call.op} {name}: the journal does not name it")

    def _uploading(self, volume: str) -> bool:
        with self.env.db.session_scope(readonly=True) as s:
            return s.scalar(select(HostImage).where(
                HostImage.volume == volume,
                HostImage.state == HostImageState.UPLOADING.value)) is not None


def counters(env: ComputeEnv) -> dict[str, tuple[int, int, int, int]]:
    with env.db.session_scope(readonly=True) as s:
        return {h.name: (h.used_vcpus, h.used_ram_mib, h.used_disk_gib, h.instance_count)
                for h in s.scalars(select(Host))}


def entries(env: ComputeEnv, uuid: str | None = None) -> list[tuple[str, str, str | None]]:
    """(operation, state, step) of the journal, oldest first (of one instance if ``uuid``)."""
    stmt = select(JournalEntry).order_by(JournalEntry.id)
    if uuid is not None:
        stmt = stmt.where(JournalEntry.instance_uuid == uuid)
    with env.db.session_scope(readonly=True) as s:
        return [(e.operation, e.state, e.step) for e in s.scalars(stmt)]


def instance_volumes(host: FakeHost, pool: str) -> set[str]:
    """The per-instance volumes on the host (image caches are shared and kept)."""
    return {v for v in host.volumes(pool) if naming.instance_of_volume(v)}


def live_instances(env: ComputeEnv) -> list[Instance]:
    with env.db.session_scope(readonly=True) as s:
        rows = list(s.scalars(select(Instance).where(Instance.deleted.is_(False))))
        s.expunge_all()
    return rows


FAKE_URI = "fake:///kvm-1"


def fake_cloud(env: ComputeEnv, admin, image_file, fake_hosts) -> FakeHost:
    """The catalog the fake-host tests share: public image ``linux`` (qcow2, 1 MiB), flavor
    ``tiny`` (1 vCPU, 256 MiB, 1 GiB root + 1 GiB ephemeral) and host ``kvm-1`` on a FakeHost
    that answered a moment ago; the FakeHost, its JournalWatch attached (``host.watch``)."""
    from datetime import datetime, timezone

    from kumo.compute import flavors, images
    from tests.support.hosts import add_host

    images.create_image(env, admin, "linux", file=image_file, disk_format="qcow2",
                        properties={"os_type": "linux", "hw_disk_bus": "virtio"},
                        visibility="public")
    flavors.create_flavor(env, admin, "tiny", vcpus=1, ram_mib=256, disk_gib=1, ephemeral_gib=1)
    add_host(env.db, "kvm-1", FAKE_URI, last_heartbeat=datetime.now(timezone.utc))
    host = fake_hosts[FAKE_URI]
    host.watch = JournalWatch(env).attach(host)  # type: ignore[attr-defined]
    return host


def config_drive_file(host: FakeHost, uuid: str, path: str) -> bytes | None:
    """The file at ``path`` (e.g. openstack/latest/meta_data.json) of the config drive the
    instance's build uploaded to ``host`` (read with pycdlib, by its Joliet name); None when
    the drive has no such file."""
    import io

    import pycdlib
    from pycdlib.pycdlibexception import PyCdlibInvalidInput

    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(host.uploaded[naming.volume_name(uuid, naming.CONFIG)]))
    out = io.BytesIO()
    try:
        iso.get_file_from_iso_fp(out, joliet_path=f"/{path}")
    except PyCdlibInvalidInput:
        return None
    finally:
        iso.close()
    return out.getvalue()
