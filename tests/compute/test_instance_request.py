"""The one GuestRequest builder: everything from the instance record and its host."""

from __future__ import annotations

from kumo.compute import records
from kumo.compute.instance_request import guest_request
from kumo.db.models import Host, Instance
from tests.compute.records import add_instance

KERNEL = "aaaaaaaa-0000-4000-8000-000000000001"
RAMDISK = "aaaaaaaa-0000-4000-8000-000000000002"


def test_request_from_the_record(env, admin, kvm_host):
    with env.db.session_scope() as s:
        s.query(Host).filter_by(name=kvm_host).one().virt_type = "qemu"
    uuid = add_instance(env, admin, kvm_host, public_key="ssh-ed25519 AAAA op",
                        props={"os_type": "windows", "kernel_id": KERNEL, "ramdisk_id": RAMDISK,
                               "disk_format": "qcow2"})
    instance, host = records.load(env, uuid)
    req = guest_request(env, instance, host)
    pool = env.pool_path
    assert req.host.hypervisor == "qemu"  # the virt_type override (nested KVM hangs: TCG)
    assert (req.name, req.uuid) == (f"kumo-{uuid}", uuid)
    assert req.image.get("os_type") == "windows"
    assert (req.flavor.vcpus, req.flavor.ram_mib, req.flavor.name) == (1, 256, "tiny")
    assert req.root_disk == f"{pool}/kumo-{uuid}-disk"
    assert req.config_drive == f"{pool}/kumo-{uuid}-config"
    assert req.console_log == f"{pool}/kumo-{uuid}-console.log"
    assert (req.kernel, req.initrd) == (f"{pool}/kumo-image-{KERNEL}",
                                        f"{pool}/kumo-image-{RAMDISK}")
    assert req.ssh_keys == ("ssh-ed25519 AAAA op",)
    assert req.disk_format == "qcow2"
    assert (req.pinned_machine, req.host_config.pcie_root_ports) == (None, 16)


def test_request_carries_the_pin_and_the_configured_pcie_ports(env, admin, kvm_host):
    uuid = add_instance(env, admin, kvm_host)
    with env.db.session_scope() as s:
        s.query(Instance).filter_by(uuid=uuid).one().machine_type = "pc-q35-6.2"
    env.settings = env.settings.model_copy(update={"pcie_root_ports": 4})
    instance, host = records.load(env, uuid)
    req = guest_request(env, instance, host)
    assert (req.pinned_machine, req.host_config.pcie_root_ports) == ("pc-q35-6.2", 4)
