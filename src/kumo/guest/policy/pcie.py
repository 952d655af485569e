"""Rule: q35 guests get PCIe root ports to hot-plug into later.

On q35 every PCIe device sits on a root port of its own, and root ports cannot be hot-plugged:
a port must exist when the guest starts (QEMU docs/pcie.txt, "Hot-plug"; libvirt's PCI topology
and hotplug page). libvirt adds only the ports the defined devices need, so a q35 guest without
spare ports cannot take a hot-plugged volume or NIC. Nova's ``[libvirt]num_pcie_ports`` sets the
guest's total number of root ports; kumo does the same with the host's ``pcie_root_ports``
(``KUMO_PCIE_ROOT_PORTS``; default 16).

Why 16: a guest's own devices take about five ports (disk, NIC, USB, balloon, serial; SATA sits
on the root complex), which leaves about ten for hot-plugged volumes and NICs - more than a cloud
guest usually attaches - while each port reserves bus numbers and IO/memory windows from the
guest's limited PCI address space, so the count stays well below Nova's ceiling of 28.
The pc (i440fx) machine has a hot-pluggable PCI bus and needs none.
"""

from __future__ import annotations

from kumo.guest.policy.context import Context


def decide_pcie_root_ports(c: Context) -> int:
    machine, wanted = c.chosen["machine"], c.req.host_config.pcie_root_ports
    if "q35" not in machine:
        return c.d.decide("pcie_root_ports", 0, "pcie.root-ports", "machine", machine,
                          f"{machine} has a hot-pluggable PCI bus; no PCIe root ports needed")
    return c.d.decide("pcie_root_ports", wanted, "pcie.root-ports", "host pcie_root_ports",
                      wanted, f"{wanted} PCIe root ports so volumes and NICs can be hot-plugged "
                      "later (libvirt adds only the ports the defined devices need; as Nova's "
                      "num_pcie_ports)")
