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

from kumo.hosts.capabilities import HostCapabilities, machine_family


def versioned_machine(host: HostCapabilities, machine: str) -> str:
    """The host's versioned machine for ``machine``: a versioned name is kept; a family becomes
    the version its alias stands for on the host (HostCapabilities.canonical_machine), or the
    one machine an older record names when it is of that family. With neither, the family is
    returned unpinned."""
    if machine != machine_family(machine):
        return machine
    resolved = host.canonical_machine(machine)
    if resolved is None and host.machine_versioned \
            and machine_family(host.machine_versioned) == machine:
        resolved = host.machine_versioned
    return resolved or machine
