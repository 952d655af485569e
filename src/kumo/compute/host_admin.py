"""Changing and removing hosts, and checking that a host can run the virt type it is given.

``update_host`` changes what an operator may get wrong when adding a host (virt type, URI,
allocation ratios, availability zone) without losing its instances; ``delete_host`` removes a
host that runs none. Both bump the host's ``generation`` so a scheduler holding its inventory
in memory sees the change (kumo.db.claims).

``virt_type_problem`` is why a host cannot run KVM guests, if it cannot: libvirt's domain
capabilities for virt type kvm (a host without KVM has none: virConnectGetDomainCapabilities
fails) and, for a local URI, /dev/kvm itself (present, openable, KVM_GET_API_VERSION answering
12, the only stable KVM API version: Linux Documentation/virt/kvm/api.rst). A host added with
kvm where KVM is unusable otherwise takes the add and fails at its first boot with QEMU's own
assertion; with this check ``kumo host add`` refuses and names ``--virt-type qemu``.
"""

from __future__ import annotations

import fcntl
import os
from typing import Any

from sqlalchemy import func, select

from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.lookup import find_host
from kumo.db.models import Instance, VirtType
from kumo.errors import HostError, InvalidInput, StateError
from kumo.hosts.uri import is_local  # noqa: F401  (also this module's API)

KVM_GET_API_VERSION = 0xAE00  # _IO(KVMIO=0xAE, 0x00), linux/kvm.h
KVM_API_VERSION = 12


def local_kvm_problem(device: str = "/dev/kvm") -> str | None:
    """Why this machine's KVM device cannot be used, or None when it answers as KVM does."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return f"{device} does not exist (no KVM module loaded, or no hardware virtualisation)"
    except PermissionError:
        return f"{device} cannot be opened: permission denied"
    except OSError as e:
        return f"{device} cannot be opened: {e.strerror}"
    try:
        version = fcntl.ioctl(fd, KVM_GET_API_VERSION)
    except OSError as e:
        return f"{device} does not answer as a KVM device: {e.strerror}"
    finally:
        os.close(fd)
    if version != KVM_API_VERSION:
        return f"{device} reports KVM API version {version}, not {KVM_API_VERSION}"
    return None


def virt_type_problem(conn: Any, uri: str, virt_type: str | None,
                      kvm_device: str = "/dev/kvm") -> str | None:
    """Why the libvirt QEMU host at ``uri`` cannot run guests with ``virt_type`` (None: the
    default libvirt picks), or None when it can. Only kvm can be unusable: qemu (TCG) runs
    anywhere QEMU does."""
    if virt_type == VirtType.QEMU.value:
        return None
    try:
        caps = conn.capabilities(virt_type=virt_type)
    except HostError as e:
        if virt_type != VirtType.KVM.value:
            raise
        return f"libvirt offers no KVM domain there ({e})"
    if not caps.is_libvirt_qemu or caps.hypervisor != VirtType.KVM.value:
        return None  # not QEMU (Xen, test driver), or libvirt's default is already TCG
    if is_local(uri):
        return local_kvm_problem(kvm_device)
    return None


def refuse_unusable(name: str, conn: Any, uri: str, virt_type: str | None) -> None:
    problem = virt_type_problem(conn, uri, virt_type)
    if problem:
        raise InvalidInput(f"host {name!r} cannot run KVM guests: {problem}; add it with "
                           "--virt-type qemu (TCG emulation, slower) or fix KVM there")


def update_host(env: ComputeEnv, ctx: RequestContext, ref: str, *,
                virt_type: str | None = None, uri: str | None = None,
                availability_zone: str | None = None,
                ratios: dict[str, float] | None = None) -> dict[str, Any]:
    """Change a host's virt type or URI (the host is asked again, and refused as at add when
    it cannot run that virt type), its allocation ratios or its availability zone."""
    # (hosts imports spawn; keep this module light)
    from kumo.compute.hosts import check_uri, host_view, refuse_registered

    ctx.require_admin("changing a host")
    ratios = {k: v for k, v in (ratios or {}).items() if v is not None}
    if virt_type is None and uri is None and availability_zone is None and not ratios:
        raise InvalidInput("nothing to change: give --virt-type, --uri, --availability-zone "
                           "or an allocation ratio")
    allowed = [v.value for v in VirtType]
    if virt_type is not None and virt_type not in allowed:
        raise InvalidInput(f"virt_type={virt_type!r} is invalid: allowed {', '.join(allowed)}")
    for key, value in ratios.items():
        if not value > 0:
            raise InvalidInput(f"{key}={value!r} is invalid: allowed a number above 0")
    if uri is not None:
        check_uri(uri)
    with env.db.session_scope(readonly=True) as s:
        host = find_host(s, ref)
        name, old_uri, old_virt, host_id = host.name, host.uri, host.virt_type, host.id
        old_daemon = host.daemon_id
        running = s.scalar(select(func.count()).select_from(Instance).where(
            Instance.host_id == host.id, Instance.deleted.is_(False))) or 0
    daemon = None
    if virt_type is not None or uri is not None:
        # the host is asked now: a new URI must answer, and KVM must work there if it is (or
        # stays) the virt type. The stored capabilities stay: a virt_type override is applied
        # to them where they are used (kumo.compute.instance_request, scheduler inventory).
        new_uri, new_virt = uri or old_uri, virt_type or old_virt
        conn = env.host(new_uri)
        try:
            conn.node_info()
            if uri is not None:
                # one daemon is one host, as at add (kumo.compute.hosts.refuse_registered); and
                # a host with servers keeps its daemon: a URI reaching another one would leave
                # their records naming guests that are not there
                daemon = conn.daemon_id()
                refuse_registered(env, uri, daemon, other_than=host_id)
                if running and old_daemon is not None and daemon != old_daemon:
                    raise StateError(
                        f"cannot point host {name!r} at {uri!r}: it reaches another libvirt "
                        f"daemon than the one its {running} server{'s' if running != 1 else ''}"
                        " run on; evacuate or delete them first, or add the new daemon as a "
                        "host of its own")
            refuse_unusable(name, conn, new_uri, new_virt)
        except HostError:
            env.forget_host(new_uri)
            raise
    with env.db.session_scope() as s:
        host = find_host(s, ref)
        if virt_type is not None:
            host.virt_type = virt_type
        if uri is not None:
            host.uri, host.daemon_id = uri, daemon
        if availability_zone is not None:
            host.availability_zone = availability_zone or None
        for key, value in ratios.items():
            setattr(host, key, float(value))
        host.generation += 1
        s.flush()
        count = s.scalar(select(func.count()).select_from(Instance).where(
            Instance.host_id == host.id, Instance.deleted.is_(False)))
        return host_view(host, count or 0)


def delete_host(env: ComputeEnv, ctx: RequestContext, ref: str) -> str:
    """Remove a host that runs no instance (Nova refuses to delete a compute service with
    instances too: they would be left with no host)."""
    ctx.require_admin("deleting a host")
    with env.db.session_scope() as s:
        host = find_host(s, ref)
        names = list(s.scalars(select(Instance.name).where(
            Instance.host_id == host.id, Instance.deleted.is_(False)).order_by(Instance.name)))
        if names:
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5
                                            else "")
            raise StateError(f"cannot delete host {host.name!r}: {len(names)} server"
                             f"{'s' if len(names) != 1 else ''} on it ({shown}); delete or "
                             "evacuate them first, or disable the host")
        from kumo.compute import moves

        moves.forget_host(s, host)  # refused while a move holds a claim there
        name, uri = host.name, host.uri
        host.aggregates.clear()
        s.delete(host)
    env.forget_host(uri)
    return name
