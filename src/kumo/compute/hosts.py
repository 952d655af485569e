"""Hosts: add (capacity and capabilities read from libvirt), list, show, enable, disable, and
the orphans kumo's naming scheme finds on a host.

A host is named exactly and found by that name only (a name never matches another by
its prefix). ``add_host`` asks the host
before recording it: a URI that does not answer is HostUnreachable and nothing is stored.
Capabilities are read for the host's virt_type override (``qemu`` on a machine whose KVM is
unusable, e.g. nested) and stored as values; capacity is the node's CPUs and memory and the size
of kumo's storage pool there. Adding a host records its first heartbeat; the controller keeps it
fresh from then on (kumo.compute.heartbeat).

Orphans are domains and volumes whose names kumo makes (kumo.compute.naming) with no live
instance on that host behind them, and cached image volumes of images no longer in the catalog
that no instance there boots from. They are reported, never deleted unasked. A domain counts as
this installation's only when its libvirt metadata carries this installation's mark
(kumo.backends.libvirt_xml.metadata): another kumo, with another database, may share the daemon,
and an operator's domain may happen to use kumo's names; neither is reported, nor are the
volumes of such a domain. An image volume is this installation's when its image cache record
(kumo.db.models.HostImage) says it uploaded it there.

One daemon is one host: ``add_host`` refuses an empty URI and a URI reaching a daemon another
record already names (compared by the daemon's host UUID, LibvirtHost.daemon_id), which would
count its capacity twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from lxml import etree
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError

from kumo.backends.libvirt_xml.domain import Domain
from kumo.backends.libvirt_xml.metadata import KumoInstance
from kumo.catalog.names import check_name, check_text
from kumo.compute import heartbeat, naming
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.host_admin import refuse_unusable
from kumo.compute.installation import installation_id
from kumo.compute.lookup import check_unclaimed, find_host
from kumo.compute.spawn import boot_images
from kumo.compute.states import now
from kumo.compute.teardown import pool_volumes
from kumo.db.models import Host, HostImage, Image, Instance, VirtType
from kumo.errors import ConfigConflict, DomainNotFound, HostError, InvalidInput

GiB = 1 << 30
UNKNOWN = "unknown"
#: probe intervals without a probe after which a host's state is unknown
STALE_PROBES = 3


@dataclass(frozen=True)
class Orphan:
    kind: str  # domain | volume | image-cache
    name: str
    reason: str


def add_host(env: ComputeEnv, ctx: RequestContext, name: str, uri: str, *,
             virt_type: str | None = None,
             availability_zone: str | None = None) -> dict[str, Any]:
    ctx.require_admin("adding a host")
    check_name("host", name)
    check_text("host URI", uri)
    if availability_zone is not None:
        check_name("availability zone", availability_zone)
    allowed = [v.value for v in VirtType]
    if virt_type is not None and virt_type not in allowed:
        raise InvalidInput(f"virt_type={virt_type!r} is invalid: allowed {', '.join(allowed)}")
    check_uri(uri)
    with env.db.session_scope(readonly=True) as s:
        taken = s.scalar(select(Host.uri).where(Host.name == name))
        check_unclaimed(s, "host", name=name)
    if taken is not None:
        raise InvalidInput(f"host name {name!r} is already taken (by {taken})")
    conn = env.host(uri)
    try:
        daemon = conn.daemon_id()
        refuse_registered(env, uri, daemon)
        refuse_unusable(name, conn, uri, virt_type)  # KVM asked for (or libvirt's default)
        caps = conn.capabilities(virt_type=virt_type)
        node = conn.node_info()
        conn.ensure_pool(env.pool_name, env.pool_path)
        disk_gib = conn.pool_info(env.pool_name).capacity_bytes // GiB
    except HostError:
        env.forget_host(uri)
        raise
    try:
        with env.db.session_scope() as s:
            host = Host(name=name, uri=uri, daemon_id=daemon, virt_type=virt_type,
                        availability_zone=availability_zone, vcpus=node.cpus,
                        ram_mib=node.memory_mib, disk_gib=disk_gib, last_heartbeat=now())
            host.set_capabilities(caps)
            s.add(host)
            s.flush()
            return host_view(host, instances=0)
    except IntegrityError:  # another controller registered the daemon (or the name) meanwhile
        refuse_registered(env, uri, daemon)
        raise InvalidInput(f"host name {name!r} is already taken") from None


def check_uri(uri: str) -> None:
    """InvalidInput for an empty or padded URI: libvirt resolves an empty one to whichever daemon
    it picks by default, which may be one another record already names."""
    if not uri.strip() or uri != uri.strip():
        raise InvalidInput(f"host URI {uri!r} is invalid: allowed a libvirt URI naming one "
                           "daemon, such as qemu:///system or qemu+ssh://HOST/system (an empty "
                           "URI is whichever daemon libvirt picks by default)")


def refuse_registered(env: ComputeEnv, uri: str, daemon: str, *,
                       other_than: int | None = None) -> None:
    """ConfigConflict when a host record already names the daemon ``uri`` reaches (by its
    daemon id, or by the same URI for records made before daemon ids were kept): its capacity
    would be counted twice, and each record would take the other's guests for orphans."""
    with env.db.session_scope(readonly=True) as s:
        stmt = select(Host).where(or_(Host.daemon_id == daemon,
                                      and_(Host.daemon_id.is_(None), Host.uri == uri)))
        if other_than is not None:
            stmt = stmt.where(Host.id != other_than)
        same = s.scalars(stmt).first()
        if same is None:
            return
        what = (f"host UUID {daemon.removeprefix('uuid:')}" if daemon.startswith("uuid:")
                else f"libvirt URI {daemon.removeprefix('uri:')}")
        raise ConfigConflict(
            f"host URI {uri!r} reaches the libvirt daemon already registered as host "
            f"{same.name!r} (URI {same.uri!r}; same {what}): one daemon is one host -- its "
            "capacity would be counted twice")


def refresh_host(env: ComputeEnv, ctx: RequestContext, ref: str) -> dict[str, Any]:
    """Probe the host again (after a QEMU, libvirt, OVMF or swtpm upgrade) and store what it
    offers now: capabilities per machine family, firmware, TPM, CPU and device models, its
    capacity. The scheduler sees the change at its next placement (the capabilities are part of
    the inventory's key). HostUnreachable leaves the stored capabilities as they were."""
    ctx.require_admin("refreshing a host")
    with env.db.session_scope(readonly=True) as s:
        host = find_host(s, ref)
        uri, virt_type = host.uri, host.virt_type
    conn = env.host(uri)
    try:
        daemon = conn.daemon_id()
        caps = conn.capabilities(virt_type=virt_type)
        node = conn.node_info()
    except HostError:
        env.forget_host(uri)
        raise
    with env.db.session_scope(readonly=True) as s:
        host_id = find_host(s, ref).id
    refuse_registered(env, uri, daemon, other_than=host_id)
    with env.db.session_scope() as s:
        host = find_host(s, ref)
        host.daemon_id = daemon  # kept from now on (older records have none)
        host.set_capabilities(caps)
        host.vcpus, host.ram_mib = node.cpus, node.memory_mib
        heartbeat.touch(s, [host.id])
        s.flush()
        return host_view(host, None)


def host_state(host: Host, probe_interval: float, at: datetime | None = None) -> str:
    """up or down as the last liveness probe found it (kumo.periodic.host_liveness), or
    unknown: never probed, or not within three probe intervals (no kumo serve is watching)."""
    if host.liveness is None or host.liveness_checked_at is None or probe_interval <= 0:
        return UNKNOWN
    age = ((at or now()) - host.liveness_checked_at).total_seconds()
    return host.liveness if age <= STALE_PROBES * probe_interval else UNKNOWN


def list_hosts(env: ComputeEnv, ctx: RequestContext) -> list[dict[str, Any]]:
    ctx.require_admin("listing hosts")
    probe = env.settings.host_probe_interval
    with env.db.session_scope(readonly=True) as s:
        counts = dict(s.execute(select(Instance.host_id, func.count()).where(
            Instance.deleted.is_(False), Instance.host_id.is_not(None))
            .group_by(Instance.host_id)).all())
        return [host_view(h, counts.get(h.id, 0), host_state(h, probe))
                for h in s.scalars(select(Host).order_by(Host.name))]


def show_host(env: ComputeEnv, ctx: RequestContext, ref: str,
              check_orphans: bool = True) -> dict[str, Any]:
    """The host, its usage, and (asking the host) the orphans found there."""
    ctx.require_admin("showing a host")
    with env.db.session_scope(readonly=True) as s:
        host = find_host(s, ref)
        count = s.scalar(select(func.count()).select_from(Instance).where(
            Instance.host_id == host.id, Instance.deleted.is_(False)))
        view = host_view(host, count or 0, host_state(host, env.settings.host_probe_interval))
    if check_orphans:
        try:
            view["orphans"] = [asdict(o) for o in find_orphans(env, ctx, ref)]
        except HostError as e:
            view["orphans"] = f"not checked: {e}"
    return view


def set_enabled(env: ComputeEnv, ctx: RequestContext, ref: str, enabled: bool,
                reason: str | None = None) -> dict[str, Any]:
    """Enable or disable a host for new instances (running ones are not touched)."""
    ctx.require_admin("enabling or disabling a host")
    with env.db.session_scope() as s:
        host = find_host(s, ref)
        host.enabled = enabled
        host.disabled_reason = None if enabled else reason
        s.flush()
        return host_view(host, None)


def find_orphans(env: ComputeEnv, ctx: RequestContext, ref: str) -> list[Orphan]:
    """What kumo's names mark as its own on the host with nothing in the database behind it."""
    ctx.require_admin("looking for orphans on a host")
    with env.db.session_scope(readonly=True) as s:
        host = find_host(s, ref)
        uri, host_id = host.uri, host.id
        live = list(s.scalars(select(Instance).where(Instance.host_id == host_id,
                                                     Instance.deleted.is_(False))))
        # a move's copies (the source's kept until confirm, the target's being made) are not
        # orphans (kumo.compute.moves)
        from kumo.compute.moves import kept_on
        live_uuids = {i.uuid for i in live} | kept_on(s, host_id)
        in_use = {image_id for i in live for image_id in boot_images(i)}
        known_images = set(s.scalars(select(Image.id)))
        # the image volumes this installation put there (another's may share the pool)
        cached_here = set(s.scalars(select(HostImage.image_id).where(
            HostImage.host_id == host_id)))
    conn = env.host(uri)
    ours = installation_id(env.db)
    orphans, theirs, their_volumes = [], set(), set()
    for name in conn.list_domains():
        uuid = naming.instance_of_domain(name)
        if not uuid or uuid in live_uuids:
            continue
        try:
            xml = conn.domain_xml(name, inactive=True)
        except DomainNotFound:  # undefined since it was listed: nothing left to report
            continue
        mark = Domain.from_xml(xml).kumo
        if mark is not None and mark.installation == ours:
            orphans.append(Orphan("domain", name, f"no live instance {uuid} on this host"))
        else:  # another installation's, or not kumo's at all: neither it nor what it uses
            theirs.add(uuid)
            their_volumes |= _volumes_used(xml, mark)
    for name in sorted(pool_volumes(env, conn) - their_volumes):
        uuid, image_id = naming.instance_of_volume(name), naming.image_of_volume(name)
        if uuid and uuid not in live_uuids and uuid not in theirs:
            orphans.append(Orphan("volume", name, f"no live instance {uuid} on this host"))
        elif (image_id and image_id not in in_use and image_id not in known_images
              and image_id in cached_here):
            orphans.append(Orphan("image-cache", name, f"image {image_id} is not in the "
                                  "catalog (deleted) and no instance on this host boots from it"))
    heartbeat.beat(env, host_id)  # it answered
    return orphans


def _volumes_used(domain_xml: str, mark: KumoInstance | None) -> set[str]:
    """The volume names a domain uses: its disks, kernel and initrd, and the image its mark
    names (whose cached volume backs its root disk)."""
    root = etree.fromstring(domain_xml.encode())
    paths = root.xpath("devices/disk/source/@file | os/kernel/text() | os/initrd/text()")
    used = {str(p).rsplit("/", 1)[-1] for p in paths}
    if mark is not None and mark.image:
        used.add(naming.image_volume_name(mark.image))
    return used


def host_view(host: Host, instances: int | None, state: str | None = None) -> dict[str, Any]:
    caps = host.capabilities_json or {}
    return {
        "id": host.uuid, "name": host.name, "uri": host.uri, "state": state,
        "state_reason": host.liveness_reason if state == "down" else None,
        "hypervisor_type": host.hypervisor_type, "hypervisor_version": host.hypervisor_version,
        "virt_type": host.virt_type, "enabled": host.enabled,
        "disabled_reason": host.disabled_reason, "forced_down": host.forced_down,
        "fence_command": host.fence_command, "reserved": host.reserved,
        "availability_zone": host.availability_zone,
        "vcpus": host.vcpus, "vcpus_used": host.used_vcpus,
        "ram": host.ram_mib, "ram_used": host.used_ram_mib,
        "disk": host.disk_gib, "disk_used": host.used_disk_gib,
        "instances": instances, "arch": caps.get("arch"), "cpu_vendor": caps.get("cpu_vendor"),
        "machines": caps.get("machines"), "firmware": caps.get("firmware"),
        "machine_aliases": {a: n for a, n in caps.get("machine_aliases") or ()},
        "secure_boot": caps.get("secure_boot"), "tpm_versions": caps.get("tpm_versions"),
        "swtpm": caps.get("swtpm"),
        "last_heartbeat": host.last_heartbeat.isoformat() if host.last_heartbeat else None,
        "last_contact": host.last_heartbeat.isoformat(timespec="seconds")
        if host.last_heartbeat else None,
    }
