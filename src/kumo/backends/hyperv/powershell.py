"""Hyper-V VM description -> the PowerShell that creates the VM on a Hyper-V host.

Only the Hyper-V module's documented cmdlets are used (New-VM, Set-VM, Set-VMMemory,
Set-VMProcessor, Set-VMFirmware / Set-VMBios, Get-/Add-VMScsiController, New-VHD,
Add-VMHardDiskDrive, Get-/Add-/Remove-VMDvdDrive, Add-/Remove-VMNetworkAdapter,
Enable-/Disable-VMIntegrationService). Every value comes from the description; the script is
deterministic, so golden files review it line by line.

New-VM gives a generation 1 VM a DVD drive and every VM a network adapter; the script removes
them first, so the VM has exactly the drives and adapters of the description.

Generation 1 boot order: Hyper-V's BIOS default is CD, IDE, LegacyNetworkAdapter, Floppy, which
would try the config drive ISO first; the root disk's IDE is put first instead.
"""

from __future__ import annotations

from kumo.backends.hyperv.model import HardDrive, VmDescription

#: Set-VMBios -StartupOrder for a VM booting from its IDE root disk
GEN1_STARTUP_ORDER = ("IDE", "CD", "LegacyNetworkAdapter", "Floppy")
#: the integration service's name as Enable-VMIntegrationService takes it (English host)
TIME_SYNC_SERVICE = "Time Synchronization"


def quote(text: str) -> str:
    """A PowerShell single-quoted (verbatim) string: only ' needs escaping, by doubling it."""
    return "'" + text.replace("'", "''") + "'"


def _size(n: int) -> str:
    """Bytes as the PowerShell numeric literal a reader recognises: 4096MB, 20GB."""
    for unit, factor in (("GB", 2**30), ("MB", 2**20)):
        if n % factor == 0:
            return f"{n // factor}{unit}"
    return str(n)


def _bool(value: bool) -> str:
    return "$true" if value else "$false"


def render(vm: VmDescription) -> str:
    out: list[str] = [
        f"# Hyper-V virtual machine {quote(vm.name)}, generation {vm.generation}: rendered by "
        "kumo from its GuestSpec.",
        f"# {vm.notes}. Run on the Hyper-V host as an administrator.",
        "$ErrorActionPreference = 'Stop'",
        "",
        f"$vm = New-VM -Name {quote(vm.name)} -Generation {vm.generation} "
        f"-MemoryStartupBytes {_size(vm.memory_startup_bytes)} -NoVHD",
        f"Set-VM -VM $vm -Notes {quote(vm.notes)}",
        f"Set-VMMemory -VM $vm -DynamicMemoryEnabled {_bool(vm.dynamic_memory)} "
        f"-StartupBytes {_size(vm.memory_startup_bytes)}",
        f"Set-VMProcessor -VM $vm -Count {vm.processor_count}",
    ]
    if vm.firmware is not None:
        fw = vm.firmware
        line = f"Set-VMFirmware -VM $vm -EnableSecureBoot {'On' if fw.secure_boot else 'Off'}"
        if fw.secure_boot_template:
            line += f" -SecureBootTemplate {quote(fw.secure_boot_template)}"
        out.append(line)
    out += ["", "# Storage (New-VM's default DVD drive is replaced by the spec's drives)",
            "Get-VMDvdDrive -VM $vm | Remove-VMDvdDrive"]
    for n in range(vm.scsi_controllers):
        out.append(f"if (-not (Get-VMScsiController -VM $vm -ControllerNumber {n} "
                   f"-ErrorAction SilentlyContinue)) {{ Add-VMScsiController -VM $vm }}")
    for d in vm.hard_drives:
        if d.create_size_bytes is not None:
            out.append(f"New-VHD -Path {quote(d.path)} -SizeBytes {_size(d.create_size_bytes)} "
                       "-Dynamic | Out-Null")
        out.append(f"Add-VMHardDiskDrive -VM $vm {_slot(d)} -Path {quote(d.path)}")
    for c in vm.dvd_drives:
        out.append(f"Add-VMDvdDrive -VM $vm -ControllerNumber {c.controller_number} "
                   f"-ControllerLocation {c.controller_location} -Path {quote(c.path)}")
    boot = next(d for d in vm.hard_drives if d.role == vm.boot_role)
    if vm.generation == 2:
        out.append(f"Set-VMFirmware -VM $vm -FirstBootDevice (Get-VMHardDiskDrive -VM $vm "
                   f"{_slot(boot)})")
    else:
        order = ", ".join(quote(x) for x in GEN1_STARTUP_ORDER)
        out.append(f"Set-VMBios -VM $vm -StartupOrder @({order})")
    out += ["", "# Network (New-VM's default adapter is replaced by the spec's)",
            "Get-VMNetworkAdapter -VM $vm | Remove-VMNetworkAdapter"]
    for a in vm.network_adapters:
        line = f"Add-VMNetworkAdapter -VM $vm -Name {quote(a.name)}"
        if a.legacy:
            line += " -IsLegacy $true"
        if a.switch:
            line += f" -SwitchName {quote(a.switch)}"
        if a.static_mac:
            line += f" -StaticMacAddress {quote(a.static_mac)}"
        out.append(line)
        if not a.switch:
            out.append(f"# {a.name} is not connected: no virtual switch was given "
                       f"(Connect-VMNetworkAdapter -VMName {quote(vm.name)} -Name "
                       f"{quote(a.name)} -SwitchName <switch>)")
    verb = "Enable" if vm.time_sync else "Disable"
    out += ["", "# Time: the guest takes the host's time through this integration service",
            f"{verb}-VMIntegrationService -VM $vm -Name {quote(TIME_SYNC_SERVICE)}"]
    return "\n".join(out) + "\n"


def _slot(d: HardDrive) -> str:
    return (f"-ControllerType {d.controller_type} -ControllerNumber {d.controller_number} "
            f"-ControllerLocation {d.controller_location}")
