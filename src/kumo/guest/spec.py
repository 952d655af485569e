"""GuestSpec: a hypervisor-neutral description of one guest, every decision with its reason.

Policy rules (``kumo.guest.policy``) fill it; backends (``kumo.backends.*``) translate it into
native configuration and make no decisions of their own. Values here use neutral vocabulary:
bus names are Nova's (ide, sata, scsi, virtio, xen), models are QEMU/libvirt device models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Decision:
    """Why one field of the GuestSpec has its value.

    field:   dotted path in the spec ("clock.offset", "disks.root.bus", "hyperv.stimer")
    value:   what was decided
    rule:    the policy rule's stable id ("clock.windows-localtime")
    source:  where the input came from: a property name, "flavor", "host", "os", "default"
    source_value: the input value the rule acted on (None when the rule used a default)
    reason:  one operator-readable sentence, citing the seed report / doc behind the rule
    """

    field: str
    value: Any
    rule: str
    source: str
    source_value: Any
    reason: str


@dataclass(frozen=True)
class Timer:
    name: str  # rtc, pit, hpet, hypervclock, kvmclock, tsc
    present: bool | None = None
    tickpolicy: str | None = None  # catchup, delay, merge, discard


@dataclass(frozen=True)
class ClockSpec:
    offset: str  # utc | localtime | timezone
    timezone: str | None = None
    timers: tuple[Timer, ...] = ()
    #: host-time integration (Hyper-V's time synchronisation service); explained, not a timer
    host_time_sync: bool = False


@dataclass(frozen=True)
class HypervFeature:
    name: str  # relaxed, vapic, spinlocks, vpindex, runtime, synic, stimer, reset, frequencies, ...
    retries: int | None = None  # spinlocks only
    value: str | None = None  # vendor_id only: the 12-character vendor string the guest sees


@dataclass(frozen=True)
class FirmwareSpec:
    type: str  # bios | uefi | none (a Xen PV guest: Xen starts its kernel, no firmware)
    secure_boot: bool = False
    stateless: bool = False
    #: Hyper-V: which Secure Boot template a gen2 guest uses ("MicrosoftWindows", "MicrosoftUEFICertificateAuthority")
    secure_boot_template: str | None = None


@dataclass(frozen=True)
class CpuSpec:
    vcpus: int
    sockets: int
    cores: int
    threads: int
    mode: str = "host-model"  # host-model | host-passthrough | custom | none
    #: the named CPU model of mode 'custom' (Nehalem, ...); None for the other modes
    model: str | None = None
    vendor: str | None = None  # host CPU vendor the decisions assumed (Intel, AMD)


@dataclass(frozen=True)
class DiskSpec:
    """One disk. role: root | ephemeral | config (config drive) | cdrom."""

    role: str
    device: str  # disk | cdrom
    bus: str  # ide | sata | scsi | virtio | xen | usb
    source: str  # path (file) on the host
    format: str = "qcow2"  # driver type: raw | qcow2 | vhdx | vhd
    readonly: bool = False
    size_gib: int | None = None
    #: what the disk does with the guest's TRIM/UNMAP: unmap (passed to the volume) | ignore
    discard: str | None = None
    #: virtio 1.1 packed virtqueues (hw_virtio_packed_ring; virtio-blk disks only)
    packed_ring: bool = False


@dataclass(frozen=True)
class ControllerSpec:
    type: str  # scsi | virtio-serial | usb
    model: str | None = None  # virtio-scsi, lsilogic, ...


@dataclass(frozen=True)
class NicSpec:
    model: str  # virtio | e1000 | e1000e | rtl8139 | netfront | hyperv-synthetic | ...
    network: str | None = None  # libvirt network name
    bridge: str | None = None  # host bridge
    mac: str | None = None
    queues: int | None = None
    #: virtio 1.1 packed virtqueues (hw_virtio_packed_ring)
    packed_ring: bool = False
    #: the libvirt nwfilter guarding it (security groups: kumo.compute.host_networks)
    filter: str | None = None


@dataclass(frozen=True)
class TpmSpec:
    model: str  # tpm-tis | tpm-crb
    version: str  # 1.2 | 2.0


@dataclass(frozen=True)
class BootSpec:
    """Direct kernel boot (image kernel_id/ramdisk_id/os_command_line, or a probe kernel)."""

    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None
    #: Xen PV without a kernel: boot through pygrub
    bootloader: str | None = None
    #: Xen HVM: hvmloader; UEFI: firmware loader path chosen by the backend from host caps
    loader: str | None = None


@dataclass(frozen=True)
class InstanceMark:
    """Who a domain belongs to, written into its libvirt metadata: this kumo installation (one
    id per database) and the instance's uuid, project, flavor and image. Not policy: it decides
    nothing about the guest, it lets an installation recognise its own domains on a shared
    daemon (kumo host orphans)."""

    installation: str
    instance_uuid: str
    project: str | None = None
    flavor: str | None = None
    image: str | None = None


@dataclass(frozen=True)
class CredentialSpec:
    """How the guest gets its first login (seed 003: no SSH key injection into Windows)."""

    ssh_keys: tuple[str, ...] = ()
    admin_user: str | None = None
    admin_password: bool = False  # an admin password is generated/delivered via config drive
    #: the RSA key (OpenSSH line) the admin password is encrypted with for its holder (a
    #: Windows guest's key pair: nova get-password, EC2 GetPasswordData); never installed
    password_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class DisplaySpec:
    """The guest's graphical console: a VNC server on its host, at ``listen``, behind
    ``password`` (the guest's own, kept in its record; never in a decision or a log)."""

    type: str = "vnc"
    listen: str = "127.0.0.1"
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class GuestSpec:
    name: str
    uuid: str
    hypervisor: str  # kvm | qemu | xen | hyperv
    arch: str
    os_type: str  # windows | linux | other
    os_id: str | None  # libosinfo-style short id when known (win2k8r2, centos7.0)
    virt_mode: str  # hvm | xen (paravirtual) | hyperv-gen1 | hyperv-gen2
    machine: str  # q35 | pc | xenfv | xenpv | hyperv-gen1 | hyperv-gen2
    memory_mib: int
    cpu: CpuSpec
    firmware: FirmwareSpec
    clock: ClockSpec
    boot: BootSpec = field(default_factory=BootSpec)
    #: ACPI/APIC/PAE/SMM etc. platform features, by neutral name
    features: tuple[str, ...] = ()
    hyperv: tuple[HypervFeature, ...] = ()
    disks: tuple[DiskSpec, ...] = ()
    controllers: tuple[ControllerSpec, ...] = ()
    nics: tuple[NicSpec, ...] = ()
    video: str | None = None
    video_ram_mib: int | None = None
    #: the graphical console (None: none -- a paravirtual Xen or a Hyper-V guest)
    display: DisplaySpec | None = None
    pointer: str | None = None  # usbtablet | virtio-tablet
    input_bus: str | None = None
    rng: str | None = None
    watchdog_action: str | None = None
    tpm: TpmSpec | None = None
    guest_agent: bool = False
    hide_hypervisor_id: bool = False
    boot_menu: bool = False
    #: USB host controller model (qemu-xhci, ich9-ehci1 with its UHCI companions, piix3-uhci);
    #: None: the hypervisor's own default
    usb_controller: str | None = None
    #: False: the guest cannot suspend itself to RAM or disk (<pm>); None: not stated
    suspend: bool | None = None
    #: spare PCIe root ports of a q35 guest, for devices hot-plugged later
    pcie_root_ports: int = 0
    #: serial ports: port 0 carries the console, the others are extra ptys
    serial_ports: int = 1
    #: the guest's virtual PMU (hw_pmu); None: the hypervisor's default
    pmu: bool | None = None
    credentials: CredentialSpec = field(default_factory=CredentialSpec)
    #: serial console logged to this file on the host (None: a pty console)
    console_log: str | None = None
    #: device model binary (Xen HVM: the host's qemu-dm / qemu-system-i386, from its
    #: capabilities); None: the hypervisor's own default
    emulator: str | None = None
    #: the owner mark for the domain's <metadata> (None: a render outside the controller)
    mark: InstanceMark | None = None
    decisions: tuple[Decision, ...] = ()

    def decision(self, field_name: str) -> Decision:
        """The decision for ``field_name`` (KeyError when no rule decided it)."""
        for d in self.decisions:
            if d.field == field_name:
                return d
        raise KeyError(field_name)

    def disk(self, role: str) -> DiskSpec:
        for d in self.disks:
            if d.role == role:
                return d
        raise KeyError(role)
