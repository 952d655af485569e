"""The one way a stored instance becomes a GuestRequest.

Create, hard reboot, rebuild and recovery all call ``guest_request(env, instance, host)``, so a
guest's configuration is always made from the instance record alone (seed 001's cure: change the
record through ``kumo server set-property``, hard-reboot, and the domain XML is regenerated):

* the image properties frozen at boot (plus audited overrides) -- not the image as it is now,
* the flavor snapshot (size and extra specs),
* the host's capabilities as stored when it was added, with its virt_type override applied
  (a QEMU host whose KVM is unusable runs guests as ``qemu``, i.e. TCG),
* the machine type pinned at create (kept by hard reboot and rebuild),
* the host-side paths of the instance's volumes in kumo's pool (kumo.compute.naming), and of the
  kernel/ramdisk images when the image boots a kernel directly (kernel_id / ramdisk_id),
* the guest's VNC display password, generated at create and kept in the record,
* the owner mark written into the domain's <metadata>: this installation, the instance, its
  project, flavor and image (kumo.backends.libvirt_xml.metadata),
* its NICs: one per port (kumo.compute.ipam), each on its network's libvirt network or host
  bridge with its MAC and filter -- or none (``--nic none``), or QEMU's user-mode NIC for an
  instance made without networks.
"""

from __future__ import annotations

from sqlalchemy.orm import object_session

from kumo.catalog.flavor import Flavor as FlavorValue
from kumo.catalog.properties import ImageProperties
from kumo.compute import naming
from kumo.compute.env import ComputeEnv
from kumo.compute.installation import installation_id
from kumo.db.models import Host, Instance
from kumo.errors import InvalidInput
from kumo.guest.request import GuestRequest, NicAttachment
from kumo.guest.spec import InstanceMark
from kumo.hosts.capabilities import HostCapabilities, HostConfig


def host_caps(host: Host) -> HostCapabilities:
    """The host's stored capabilities with its virt_type override applied."""
    caps = host.capabilities()
    if caps is None:
        raise InvalidInput(f"host {host.name!r} has no stored capabilities: refresh it "
                           "(kumo host add again)")
    if host.virt_type and caps.is_libvirt_qemu and caps.hypervisor != host.virt_type:
        caps = caps.with_hypervisor(host.virt_type)
    return caps


def flavor_snapshot(instance: Instance) -> FlavorValue:
    return FlavorValue(instance.vcpus, instance.ram_mib, instance.disk_gib,
                       name=instance.flavor_name or "custom",
                       ephemeral_gib=instance.ephemeral_gib,
                       extra_specs=dict(instance.flavor_extra_specs or {}))


def guest_request(env: ComputeEnv, instance: Instance, host: Host) -> GuestRequest:
    props = ImageProperties.parse(dict(instance.image_properties or {}))
    uuid = instance.uuid
    kernel_id, ramdisk_id = props.get("kernel_id"), props.get("ramdisk_id")
    return GuestRequest(
        image=props,
        flavor=flavor_snapshot(instance),
        host=host_caps(host),
        host_config=HostConfig(guest_timezone=env.settings.guest_timezone,
                               pcie_root_ports=env.settings.pcie_root_ports,
                               vnc_listen=env.settings.vnc_listen),
        name=naming.domain_name(uuid),
        uuid=uuid,
        root_disk=env.pool_volume_path(naming.volume_name(uuid, naming.ROOT)),
        root_format="qcow2",
        ephemeral_disk=env.pool_volume_path(naming.volume_name(uuid, naming.EPHEMERAL)),
        config_drive=env.pool_volume_path(naming.volume_name(uuid, naming.CONFIG)),
        ssh_keys=(instance.public_key,) if instance.public_key else (),
        kernel=env.pool_volume_path(naming.image_volume_name(kernel_id)) if kernel_id else None,
        initrd=(env.pool_volume_path(naming.image_volume_name(ramdisk_id))
                if ramdisk_id else None),
        console_log=env.pool_volume_path(naming.volume_name(uuid, naming.CONSOLE)),
        display_password=instance.display_password,
        disk_format=props.get("disk_format"),
        pinned_machine=instance.machine_type,
        mark=InstanceMark(installation=installation_id(env.db, object_session(instance)),
                          instance_uuid=uuid,
                          project=instance.project_id, flavor=instance.flavor_name,
                          image=instance.image_id),
        nics=nic_attachments(env, instance),
    )


def nic_attachments(env: ComputeEnv, instance: Instance) -> tuple[NicAttachment, ...] | None:
    """The instance's NICs as the guest request takes them (see the module docstring)."""
    from kumo.backends.libvirt_xml.network import port_filter_name
    from kumo.compute.ipam import NICS_NONE, NICS_PORTS, ports_of

    if instance.nics == NICS_NONE:
        return ()
    if instance.nics != NICS_PORTS:
        return None
    return tuple(NicAttachment(network=p.network.libvirt_name if p.network.mode != "bridge"
                               else None,
                               bridge=p.network.bridge if p.network.mode == "bridge" else None,
                               mac=p.mac_address, filter=port_filter_name(p.uuid))
                 for p in ports_of(env, instance.uuid))
