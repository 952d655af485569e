"""The machine type's family and its pinned, versioned name.

A machine type is a family (``q35``, ``pc``) or a versioned machine of that family
(``pc-q35-7.2``, ``pc-i440fx-7.2``). libvirt expands a family to the host's newest version at
define time, so the same family on a newer host (or after a QEMU upgrade) is newer hardware: a
Windows guest sees a chipset change as new hardware, re-detects its devices and may ask for
reactivation (QEMU docs "QEMU machine types are versioned ... to guarantee guest ABI stability";
Nova pins ``hw_machine_type`` per instance for the same reason, nova/virt/libvirt/driver.py
``_get_machine_type`` / ``nova-manage libvirt update_machine_type``).

So at create kumo resolves the family the policy chose to the host's versioned machine and
stores it with the instance (``instances.machine_type``); hard reboot and rebuild plan with it;
only an audited ``kumo server set-property hw_machine_type=...`` moves it.
"""

from __future__ import annotations

import re

from kumo.hosts.capabilities import HostCapabilities

_VERSIONED = re.compile(r"^pc-(q35|i440fx)-[0-9][0-9a-z.]*$")


def family(machine: str) -> str:
    """'pc-q35-7.2' -> 'q35', 'pc-i440fx-7.2' -> 'pc'; a family (or another name) unchanged."""
    m = _VERSIONED.match(machine)
    if m is None:
        return machine
    return "q35" if m.group(1) == "q35" else "pc"


def versioned_machine(host: HostCapabilities, machine: str) -> str:
    """The host's versioned machine for ``machine``: a versioned name is kept; a family becomes
    the version the host recorded for it. When the host recorded no version of that family (its
    capabilities name one machine, libvirt's default), the family is returned unpinned."""
    if machine != family(machine):
        return machine
    recorded = host.machine_versioned
    if recorded and family(recorded) == machine:
        return recorded
    return machine
