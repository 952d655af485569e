"""GuestRequest: everything policy needs to decide one guest, as values."""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass, field

from kumo.catalog.flavor import DEFAULT_FLAVOR, Flavor
from kumo.catalog.properties import ImageProperties
from kumo.guest.spec import InstanceMark
from kumo.hosts.capabilities import HostCapabilities, HostConfig, default_host_caps

#: root disk path used when the caller has none yet (render/explain before a host is chosen)
PLACEHOLDER_DISK = "/var/lib/kumo/instances/{uuid}/disk"


@dataclass(frozen=True)
class NicAttachment:
    """Where one NIC of the guest plugs in on the host (a kumo port): a libvirt network or a
    host bridge, with its MAC and the nwfilter that enforces its security groups."""

    network: str | None = None
    bridge: str | None = None
    mac: str | None = None
    filter: str | None = None


@dataclass(frozen=True)
class GuestRequest:
    image: ImageProperties
    flavor: Flavor = DEFAULT_FLAVOR
    host: HostCapabilities = field(default_factory=default_host_caps)
    host_config: HostConfig = field(default_factory=HostConfig)
    name: str = "guest"
    #: None: derived from the name (uuid5), so renders of the same request are identical
    uuid: str | None = None
    root_disk: str | None = None
    root_format: str = "qcow2"
    #: path of the flavor's ephemeral disk (None: beside the root disk, named disk.eph0)
    ephemeral_disk: str | None = None
    #: path of the config drive ISO, when one is attached
    config_drive: str | None = None
    ssh_keys: tuple[str, ...] = ()
    #: direct kernel boot (the image's kernel_id/ramdisk_id resolved to host paths)
    kernel: str | None = None
    initrd: str | None = None
    #: log the serial console to this host file
    console_log: str | None = None
    #: the guest's VNC password (kept in its record; None: a display without one)
    display_password: str | None = field(default=None, repr=False)
    #: Hyper-V/Xen: the image's disk format decides what the hypervisor can attach
    disk_format: str | None = None
    #: the versioned machine type the instance was pinned to at create (kumo.guest.policy.machine)
    pinned_machine: str | None = None
    #: the controller's owner mark, passed through to the domain's <metadata>
    mark: InstanceMark | None = None
    #: the guest's NICs, in order (its ports); None: one NIC as the host config says (QEMU
    #: user-mode networking when it names no network or bridge); (): no NIC at all
    nics: tuple[NicAttachment, ...] | None = None

    @property
    def instance_uuid(self) -> str:
        return self.uuid or str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"kumo:{self.name}"))

    @property
    def root_path(self) -> str:
        return self.root_disk or PLACEHOLDER_DISK.format(uuid=self.instance_uuid)
