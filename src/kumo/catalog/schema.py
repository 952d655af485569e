"""The typed schema of Glance image properties kumo understands.

Names are Glance's own: the metadefs namespaces for compute images (glance/etc/metadefs/
compute-*.json) plus the properties Nova's ImageMetaProps accepts that metadefs miss
(os_secure_boot, hw_time_hpet, hw_input_bus, hypervisor_version_requires). Enumerations follow
Nova's nova/objects/fields.py. Legacy aliases (Nova's ImageMetaProps._legacy_property_map) map to
one canonical name. kumo's own extensions are prefixed ``kumo_`` and documented in README.md.

This module only declares; parsing lives in ``kumo.catalog.properties``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

# --- value kinds -----------------------------------------------------------------------------------

#: strutils.bool_from_string's vocabulary, which is what Nova accepts for boolean properties.
TRUE_WORDS = frozenset({"1", "t", "true", "on", "y", "yes"})
FALSE_WORDS = frozenset({"0", "f", "false", "off", "n", "no"})


@dataclass(frozen=True)
class PropertyDef:
    """One image property: its canonical name, kind and what is allowed.

    kind: "enum" (one of ``choices``), "list" (comma-separated, each one of ``choices``),
    "bool", "int", "str", "version_spec", "timezone", "pattern" (matches ``pattern``).
    """

    name: str
    kind: str
    description: str
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    #: spellings operators use, mapped to the canonical choice (``amd64`` -> ``x86_64``)
    synonyms: dict[str, str] = field(default_factory=dict)
    pattern: str | None = None
    minimum: int | None = None
    #: where the property comes from, cited in explain output
    origin: str = "glance-metadefs"
    #: the value names another record: the disk_format of the image it must be (kernel_id: an
    #: ``aki`` image with data). Checked against the catalog wherever properties reach a server.
    references: str | None = None

    def allowed(self) -> str:
        """What is allowed, in words, for error messages."""
        if self.kind == "enum":
            return "one of " + ", ".join(self.choices)
        if self.kind == "list":
            return "a comma-separated list of " + ", ".join(self.choices)
        if self.kind == "bool":
            return "a boolean (yes/no, true/false, 1/0, on/off)"
        if self.kind == "int":
            return f"an integer >= {self.minimum}" if self.minimum is not None else "an integer"
        if self.kind == "version_spec":
            return "version constraints like '>=6.3' or '>=6.3,<10.0' (operators >=, >, <=, <, ==)"
        if self.kind == "timezone":
            return "an IANA time zone name such as Asia/Shanghai or Europe/Zurich"
        if self.kind == "pattern":
            return f"a value matching {self.pattern}"
        return "a string"


# --- enumerations (nova/objects/fields.py) --------------------------------------------------------

ARCHITECTURES = (
    "alpha", "armv6", "armv7l", "armv7b", "aarch64", "cris", "i686", "ia64", "lm32", "m68k",
    "microblaze", "microblazeel", "mips", "mipsel", "mips64", "mips64el", "openrisc", "parisc",
    "parisc64", "ppc", "ppcle", "ppc64", "ppc64le", "ppcemb", "s390", "s390x", "sh4", "sh4eb",
    "sparc", "sparc64", "unicore32", "x86_64", "xtensa", "xtensaeb",
)
#: nova.objects.fields.Architecture.canonicalize
ARCH_SYNONYMS = {"amd64": "x86_64", "x64": "x86_64", "x86-64": "x86_64", "i386": "i686",
                 "i486": "i686", "i586": "i686", "x86": "i686", "x86_32": "i686", "ia32": "i686",
                 "arm64": "aarch64", "armhf": "armv7l"}
DISK_BUSES = ("fdc", "ide", "sata", "scsi", "usb", "virtio", "xen", "lxc", "uml")
SCSI_MODELS = ("buslogic", "ibmvscsi", "lsilogic", "lsisas1068", "lsisas1078", "virtio-scsi",
               "vmpvscsi")
VIF_MODELS = ("virtio", "ne2k_pci", "pcnet", "rtl8139", "e1000", "e1000e", "netfront",
              "spapr-vlan", "lan9118", "igb", "vmxnet", "vmxnet3")
VIDEO_MODELS = ("vga", "cirrus", "vmvga", "xen", "qxl", "virtio", "gop", "none", "bochs")
HV_TYPES = ("baremetal", "bhyve", "docker", "fake", "hyperv", "ironic", "kvm", "lxc", "qemu",
            "uml", "vmware", "xen", "zvm", "parallels", "virtuozzo", "phyp", "hmc")
VM_MODES = ("hvm", "xen", "exe", "uml", "baremetal")
#: nova.objects.fields.VMMode.canonicalize: 'pv' is Xen paravirt, 'hv' is HVM
VM_MODE_SYNONYMS = {"pv": "xen", "hv": "hvm"}
DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
#: Paravirtual/extra guest drivers an image can declare it carries (kumo_guest_drivers).
GUEST_DRIVERS = ("virtio-blk", "virtio-scsi", "virtio-net", "virtio-serial", "virtio-balloon",
                 "virtio-rng", "virtio-gpu", "virtio-input", "qxl", "xen-pv")
#: Nova's hw_mem_page_size: small | large | any | a page size (2048, 2MB, 1GiB, ...)
MEM_PAGE_SIZE_PATTERN = r"^(small|large|any|[0-9]+(k|kb|kib|m|mb|mib|g|gb|gib)?)$"
MACHINE_TYPE_PATTERN = (r"^(pc|q35|pc-i440fx-[0-9][0-9a-z.]*|pc-q35-[0-9][0-9a-z.]*|"
                        r"hyperv-gen1|hyperv-gen2|xenfv|xenpv|microvm|virt(-[0-9.]+)?)$")


def _defs() -> list[PropertyDef]:
    E = "enum"
    return [
        # -- libvirt driver / hardware (compute-libvirt-image, compute-hypervisor metadefs)
        PropertyDef("hw_disk_bus", E, "Bus the root disk is attached to.", DISK_BUSES),
        PropertyDef("hw_cdrom_bus", E, "Bus CD-ROM drives (config drive, ISO images) attach to.",
                    DISK_BUSES),
        PropertyDef("hw_scsi_model", E, "SCSI controller model when hw_disk_bus=scsi.",
                    SCSI_MODELS, synonyms={"virtio_scsi": "virtio-scsi"}),
        PropertyDef("hw_machine_type", "pattern", "Machine type (q35, pc, hyperv-gen2, ...).",
                    pattern=MACHINE_TYPE_PATTERN),
        PropertyDef("hw_firmware_type", E, "Guest firmware.", ("bios", "uefi")),
        PropertyDef("hw_firmware_stateless", "bool", "UEFI firmware without a persistent NVRAM."),
        PropertyDef("hw_qemu_guest_agent", "bool", "The image runs the QEMU guest agent."),
        PropertyDef("hw_vif_model", E, "NIC model.", VIF_MODELS),
        PropertyDef("hw_vif_multiqueue_enabled", "bool", "Multi-queue virtio-net."),
        PropertyDef("hw_video_model", E, "Video device model.", VIDEO_MODELS),
        PropertyDef("hw_video_ram", "int", "Video RAM in MiB.", minimum=1),
        PropertyDef("hw_pointer_model", E, "Pointer device (absolute-position tablet).",
                    ("usbtablet",)),
        PropertyDef("hw_input_bus", E, "Bus for input devices.", ("usb", "virtio"),
                    origin="nova-imagemetaprops"),
        PropertyDef("hw_rng_model", E, "Random number generator device.", ("virtio",)),
        PropertyDef("hw_tpm_version", E, "Emulated TPM version.", ("1.2", "2.0")),
        PropertyDef("hw_tpm_model", E, "Emulated TPM model.", ("tpm-tis", "tpm-crb")),
        PropertyDef("hw_watchdog_action", E, "Action when the i6300esb watchdog fires.",
                    ("disabled", "pause", "poweroff", "reset", "none")),
        PropertyDef("hw_boot_menu", "bool", "Show the firmware boot menu."),
        PropertyDef("hw_time_hpet", "bool", "Expose an HPET timer to the guest.",
                    origin="nova-imagemetaprops"),
        PropertyDef("hw_cpu_sockets", "int", "Preferred vCPU sockets.", minimum=1),
        PropertyDef("hw_cpu_cores", "int", "Preferred cores per socket.", minimum=1),
        PropertyDef("hw_cpu_threads", "int", "Preferred threads per core.", minimum=1),
        PropertyDef("hw_cpu_max_sockets", "int", "Maximum vCPU sockets.", minimum=1),
        PropertyDef("hw_cpu_max_cores", "int", "Maximum cores per socket.", minimum=1),
        PropertyDef("hw_cpu_max_threads", "int", "Maximum threads per core.", minimum=1),
        PropertyDef("hw_cpu_mode", E, "Guest CPU mode (libvirt <cpu mode>); overrides the "
                    "host's configured mode.", ("host-model", "host-passthrough", "maximum"),
                    origin="kumo"),
        PropertyDef("hw_cpu_policy", E, "vCPU pinning policy.", ("shared", "dedicated", "mixed")),
        PropertyDef("hw_cpu_thread_policy", E, "SMT placement policy.",
                    ("prefer", "isolate", "require")),
        # -- Nova ImageMetaProps beyond the metadefs (nova/objects/image_meta.py)
        PropertyDef("hw_pmu", "bool", "Virtual performance monitoring unit (PMU) for the guest.",
                    origin="nova-imagemetaprops"),
        PropertyDef("hw_serial_port_count", "int", "Number of serial ports.", minimum=1,
                    origin="nova-imagemetaprops"),
        PropertyDef("hw_mem_page_size", "pattern", "Guest memory page size (small, large, any "
                    "or a size).", pattern=MEM_PAGE_SIZE_PATTERN, origin="nova-imagemetaprops"),
        PropertyDef("hw_mem_encryption", "bool", "Encrypted guest memory (AMD SEV).",
                    origin="nova-imagemetaprops"),
        PropertyDef("hw_virtio_packed_ring", "bool", "Packed virtqueues on virtio devices.",
                    origin="nova-imagemetaprops"),
        PropertyDef("hw_numa_nodes", "int", "Number of guest NUMA nodes.", minimum=1,
                    origin="nova-imagemetaprops"),
        PropertyDef("img_config_drive", E, "Whether a config drive is required.",
                    ("optional", "mandatory")),
        PropertyDef("img_hide_hypervisor_id", "bool", "Hide the KVM signature from the guest."),
        PropertyDef("os_secure_boot", E, "UEFI Secure Boot.", ("required", "disabled", "optional"),
                    origin="nova-imagemetaprops"),
        # -- operating system (compute-guest-... / operating-system metadefs)
        PropertyDef("os_type", E, "Operating system type.", ("linux", "windows")),
        PropertyDef("os_distro", "str", "Distribution (Glance vocabulary or a libosinfo short id)."),
        PropertyDef("os_version", "str", "Distribution version."),
        PropertyDef("os_admin_user", "str", "Administrator account for the admin password."),
        PropertyDef("os_command_line", "str", "Kernel command line for direct kernel boot."),
        PropertyDef("os_shutdown_timeout", "int", "Seconds the guest gets to shut down "
                    "gracefully before it is powered off (default 60).", minimum=0,
                    origin="nova-imagemetaprops"),
        PropertyDef("kernel_id", "str", "Image id of the kernel (direct kernel boot, Xen PV).",
                    references="aki"),
        PropertyDef("ramdisk_id", "str", "Image id of the ramdisk (direct kernel boot, Xen PV).",
                    references="ari"),
        # -- hypervisor selection (compute-hypervisor metadefs)
        PropertyDef("hypervisor_type", E, "Hypervisor the image needs.", HV_TYPES,
                    aliases=("img_hv_type",)),
        PropertyDef("vm_mode", E, "Virtualisation mode (hvm, xen = paravirtual).", VM_MODES,
                    aliases=("hw_vm_mode",), synonyms=VM_MODE_SYNONYMS),
        PropertyDef("architecture", E, "CPU architecture the image needs.", ARCHITECTURES,
                    aliases=("hw_architecture",), synonyms=ARCH_SYNONYMS),
        PropertyDef("hypervisor_version_requires", "version_spec",
                    "Hypervisor version constraints (e.g. '>=6.3' for Hyper-V generation 2).",
                    aliases=("img_hv_requested_version",), origin="nova-imagemetaprops"),
        # -- Glance core image attributes that arrive alongside the properties
        PropertyDef("disk_format", E, "Disk image format.", DISK_FORMATS, origin="glance-core"),
        PropertyDef("container_format", E, "Container format.", CONTAINER_FORMATS,
                    origin="glance-core"),
        PropertyDef("min_ram", "int", "Minimum RAM in MiB.", minimum=0, origin="glance-core"),
        PropertyDef("min_disk", "int", "Minimum disk in GiB.", minimum=0, origin="glance-core"),
        # -- kumo extensions (README.md, "Image properties kumo adds")
        PropertyDef("kumo_guest_timezone", "timezone",
                    "Time zone a local-time guest (Windows) keeps its RTC in. Overrides the "
                    "host's guest_timezone, e.g. Asia/Shanghai for guests on UTC hosts.",
                    origin="kumo"),
        PropertyDef("kumo_guest_drivers", "list",
                    "Paravirtual drivers installed in the image (decides disk bus and NIC when "
                    "hw_disk_bus/hw_vif_model are unset, and lets lint catch a missing driver).", GUEST_DRIVERS,
                    origin="kumo"),
    ]


PROPERTIES: dict[str, PropertyDef] = {d.name: d for d in _defs()}
#: legacy or alternative name -> canonical name
ALIASES: dict[str, str] = {a: d.name for d in PROPERTIES.values() for a in d.aliases}
#: properties naming another image -> the disk_format that image must have
REFERENCES: dict[str, str] = {d.name: d.references for d in PROPERTIES.values() if d.references}

# --- value checkers --------------------------------------------------------------------------------

_VERSION_CLAUSE = re.compile(r"^\s*(>=|<=|==|>|<)\s*(\d+(?:\.\d+)*)\s*$")


def parse_version_spec(text: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """'>=6.3,<10.0' -> (('>=', (6, 3)), ('<', (10, 0))). Raises ValueError when malformed."""
    clauses = []
    for part in text.split(","):
        m = _VERSION_CLAUSE.match(part)
        if not m:
            raise ValueError(part)
        clauses.append((m.group(1), tuple(int(x) for x in m.group(2).split("."))))
    if not clauses:
        raise ValueError(text)
    return tuple(clauses)


def is_timezone(name: str) -> bool:
    import zoneinfo  # ~4 ms: only when a time zone is given (kumo render of most images is not)

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return "/" in name or name == "UTC"


CHECKERS: dict[str, Callable[[str], bool]] = {"timezone": is_timezone}
