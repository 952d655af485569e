"""Rules: virtio-net multi-queue and virtio packed virtqueues.

hw_vif_multiqueue_enabled (Nova ``_get_virtio_mq_settings``): one queue pair per vCPU, so
network processing spreads over the guest's CPUs (libvirt formatdomain.html, interface
``<driver queues=N>``). It needs a virtio NIC and a tap-backed interface (a host network or
bridge); QEMU's user-mode networking has a single queue, so without one it is an error.

hw_virtio_packed_ring (Nova, libvirt ``<driver packed='on'>``, virtio 1.1): the packed
virtqueue layout on every virtio device kumo renders with a driver element (virtio NICs and
virtio-blk disks).
"""

from __future__ import annotations

from dataclasses import replace

from kumo.guest.policy.context import Context
from kumo.guest.spec import DiskSpec, NicSpec


def decide_multiqueue(c: Context, nic: NicSpec) -> NicSpec:
    if not c.props.get("hw_vif_multiqueue_enabled"):
        return nic
    d, vcpus = c.d, c.req.flavor.vcpus
    name, given = c.prop("hw_vif_multiqueue_enabled")
    if nic.model != "virtio":
        d.error("multiqueue-needs-virtio", f"{name}={given} needs a virtio NIC, but the NIC is "
                f"{nic.model}", "set hw_vif_model=virtio (and carry its driver) or remove "
                "hw_vif_multiqueue_enabled")
        return nic
    if not (nic.network or nic.bridge):
        d.error("multiqueue-needs-tap", f"{name}={given} needs a host network or bridge; this "
                "host gives guests QEMU user-mode networking, which has one queue",
                "configure a network or bridge for the host, or remove "
                "hw_vif_multiqueue_enabled")
        return nic
    d.decide("nics.0.queues", vcpus, "nic.multiqueue", name, given,
             f"one queue pair per vCPU ({vcpus})")
    return replace(nic, queues=vcpus)


def decide_packed_ring(c: Context, nic: NicSpec,
                       disks: tuple[DiskSpec, ...]) -> tuple[NicSpec, tuple[DiskSpec, ...]]:
    if not c.props.get("hw_virtio_packed_ring"):
        return nic, disks
    d = c.d
    name, given = c.prop("hw_virtio_packed_ring")
    devices = ([f"nic ({nic.model})"] if nic.model == "virtio" else []) + [
        f"disk {x.role}" for x in disks if x.bus == "virtio"]
    if not devices:
        d.warn("packed-ring-no-virtio", f"{name}={given} has no effect: the guest has no virtio "
               "NIC or virtio-blk disk", "remove hw_virtio_packed_ring")
        return nic, disks
    d.decide("virtio.packed_ring", True, "virtio.packed-ring", name, given,
             f"packed virtqueues on {', '.join(devices)}")
    if nic.model == "virtio":
        nic = replace(nic, packed_ring=True)
    return nic, tuple(replace(x, packed_ring=True) if x.bus == "virtio" else x for x in disks)
