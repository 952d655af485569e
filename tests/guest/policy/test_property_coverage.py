"""Every image property the catalog schema accepts has a known effect on a KVM/QEMU guest: it
changes the rendered XML (the diff is a reviewed golden file), decides a field that is not XML,
is checked (an error when it does not fit the host or flavor), is refused with an exact error,
or is consumed outside the guest policy (placement, image store, create). The table must name
every schema property: a new one without an entry fails ``test_table_names_every_property``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from importlib import import_module
from inspect import getsource
from typing import Any

import pytest

from kumo.backends import get_backend
from kumo.catalog.flavor import Flavor
from kumo.catalog.properties import ImageProperties
from kumo.catalog.schema import PROPERTIES
from kumo.guest.build import plan_guest
from kumo.guest.request import GuestRequest
from kumo.hosts.capabilities import HostConfig
from tests.support.golden import assert_golden
from tests.support.libvirt_check import assert_libvirt_accepts

LINUX = {"os_distro": "ubuntu22.04"}
WIN = {"os_distro": "win10"}
FLAVOR = Flavor(2, 4096, 40, name="m1.medium")


@dataclass(frozen=True)
class Case:
    """kind: renders | decides | checked | refused | consumed.

    renders: ``props`` on top of ``base`` changes the XML (golden diff, never empty).
    decides: the XML is unchanged; the decision ``field`` takes ``value``.
    checked / refused: the plan has the error ``finding`` with message ``message``.
    consumed: used by ``module`` (outside the guest policy), which names the property."""

    kind: str
    props: dict[str, Any]
    base: dict[str, Any] = field(default_factory=lambda: dict(LINUX))
    request: dict[str, Any] = field(default_factory=dict)
    field: str | None = None
    value: Any = None
    finding: str | None = None
    message: str | None = None
    module: str | None = None


R, D, C, X, U = "renders", "decides", "checked", "refused", "consumed"
NET = {"host_config": HostConfig(network="default")}
CASES: dict[str, Case] = {
    # -- disks and buses
    "hw_disk_bus": Case(R, {"hw_disk_bus": "sata"}),
    "hw_cdrom_bus": Case(R, {"hw_cdrom_bus": "scsi"},
                         base={**LINUX, "img_config_drive": "mandatory"}),
    "hw_scsi_model": Case(R, {"hw_scsi_model": "lsilogic"}, base={**LINUX, "hw_disk_bus": "scsi"}),
    "img_config_drive": Case(R, {"img_config_drive": "mandatory"}),
    "kumo_guest_drivers": Case(R, {"kumo_guest_drivers": "virtio-blk,virtio-net"}, base=WIN),
    "container_format": Case(X, {"container_format": "docker"}, finding="container-format-"
                             "unsupported", message="container_format=docker: a guest boots a disk "
                             "image (bare, ovf, ami), not a docker container"),
    "disk_format": Case(U, {"disk_format": "raw"}, module="kumo.compute.image_cache"),
    # -- machine and firmware
    "hw_machine_type": Case(R, {"hw_machine_type": "pc"}),
    "hw_firmware_type": Case(R, {"hw_firmware_type": "uefi"}),
    "hw_firmware_stateless": Case(R, {"hw_firmware_stateless": "true"},
                                  base={**LINUX, "hw_firmware_type": "uefi"}),
    "os_secure_boot": Case(R, {"os_secure_boot": "required"}),
    "hw_tpm_version": Case(R, {"hw_tpm_version": "2.0"}),
    "hw_tpm_model": Case(R, {"hw_tpm_model": "tpm-crb"}, base={**LINUX, "hw_tpm_version": "2.0"}),
    "hw_boot_menu": Case(R, {"hw_boot_menu": "true"}),
    # -- CPU
    "hw_cpu_sockets": Case(R, {"hw_cpu_sockets": 1}),
    "hw_cpu_cores": Case(R, {"hw_cpu_cores": 2}),
    "hw_cpu_threads": Case(R, {"hw_cpu_threads": 2}),
    "hw_cpu_max_sockets": Case(R, {"hw_cpu_max_sockets": 1}),
    "hw_cpu_max_cores": Case(R, {"hw_cpu_max_cores": 1}, base=WIN),
    "hw_cpu_max_threads": Case(C, {"hw_cpu_max_threads": 1}, base={**LINUX, "hw_cpu_threads": 2},
                               finding="cpu-topology-exceeds-max", message="hw_cpu_sockets/cores/"
                               "threads give 1x1x2, beyond the image's limits: threads 2 > "
                               "hw_cpu_max_threads 1"),
    "hw_cpu_policy": Case(X, {"hw_cpu_policy": "dedicated"}, finding="cpu-policy-unsupported",
                          message="hw_cpu_policy=dedicated: kumo does not pin vCPUs to dedicated "
                          "host CPUs"),
    "hw_cpu_thread_policy": Case(X, {"hw_cpu_thread_policy": "prefer"},
                                 finding="cpu-thread-policy-unsupported",
                                 message="hw_cpu_thread_policy=prefer applies to dedicated "
                                 "(pinned) vCPUs, which kumo does not offer"),
    "hw_cpu_mode": Case(R, {"hw_cpu_mode": "host-passthrough"}),
    "hw_pmu": Case(R, {"hw_pmu": "false"}),
    # -- memory
    "hw_mem_page_size": Case(X, {"hw_mem_page_size": "large"}, finding="mem-page-size-"
                             "unsupported", message="hw_mem_page_size=large: kumo does not back "
                             "guests with huge pages (it does not track the huge pages hosts "
                             "reserve)"),
    "hw_mem_encryption": Case(X, {"hw_mem_encryption": "true"},
                              finding="mem-encryption-unsupported",
                              message="hw_mem_encryption=true: kumo does not configure memory "
                              "encryption (AMD SEV) and does not place guests on SEV hosts"),
    "hw_numa_nodes": Case(X, {"hw_numa_nodes": 2}, finding="numa-nodes-unsupported",
                          message="hw_numa_nodes=2: kumo gives every guest one NUMA cell (it "
                          "does not place guest NUMA cells on host cells)"),
    "min_ram": Case(C, {"min_ram": 8192}, finding="flavor-below-min-ram",
                    message="flavor 'm1.medium' has 4096 MiB RAM; the image's min_ram is 8192"),
    "min_disk": Case(C, {"min_disk": 80}, finding="flavor-below-min-disk",
                     message="flavor 'm1.medium' has 40 GiB disk; the image's min_disk is 80"),
    # -- devices
    "hw_vif_model": Case(R, {"hw_vif_model": "e1000"}),
    "hw_vif_multiqueue_enabled": Case(R, {"hw_vif_multiqueue_enabled": "true"}, request=NET),
    "hw_virtio_packed_ring": Case(R, {"hw_virtio_packed_ring": "true"}),
    "hw_video_model": Case(R, {"hw_video_model": "qxl"}),
    "hw_video_ram": Case(R, {"hw_video_ram": 16}),
    "hw_pointer_model": Case(D, {"hw_pointer_model": "usbtablet"}, field="input.pointer",
                             value="tablet"),
    "hw_input_bus": Case(R, {"hw_input_bus": "virtio"}),
    "hw_rng_model": Case(R, {"hw_rng_model": "virtio"}),
    "hw_watchdog_action": Case(R, {"hw_watchdog_action": "reset"}),
    "hw_qemu_guest_agent": Case(R, {"hw_qemu_guest_agent": "true"}),
    "hw_serial_port_count": Case(R, {"hw_serial_port_count": 2}),
    "hw_time_hpet": Case(R, {"hw_time_hpet": "true"}),
    "img_hide_hypervisor_id": Case(R, {"img_hide_hypervisor_id": "true"}),
    # -- the operating system
    "os_type": Case(R, {"os_type": "windows"}, base={}),
    "os_distro": Case(R, {"os_distro": "ubuntu22.04"}, base={}),
    "os_version": Case(R, {"os_version": "22.04"}, base={"os_distro": "ubuntu"}),
    "os_admin_user": Case(D, {"os_admin_user": "Operator"}, base=WIN,
                          field="credentials.admin_user", value="Operator"),
    "os_command_line": Case(R, {"os_command_line": "console=ttyS0"},
                            request={"kernel": "/var/lib/kumo/k", "initrd": "/var/lib/kumo/i"}),
    "kumo_guest_timezone": Case(R, {"kumo_guest_timezone": "Asia/Shanghai"}, base=WIN),
    "os_shutdown_timeout": Case(U, {"os_shutdown_timeout": "120"}, module="kumo.compute.power"),
    "kernel_id": Case(U, {"kernel_id": "k"}, module="kumo.compute.instance_request"),
    "ramdisk_id": Case(U, {"ramdisk_id": "r"}, module="kumo.compute.instance_request"),
    # -- which host may run it
    "hypervisor_type": Case(C, {"hypervisor_type": "xen"}, finding="hypervisor-type-mismatch",
                            message="hypervisor_type=xen but the host runs kvm"),
    "vm_mode": Case(C, {"vm_mode": "xen"}, finding="vm-mode-unsupported",
                    message="vm_mode=xen (Xen paravirtual) cannot run on kvm: KVM/QEMU runs HVM "
                    "guests only"),
    "architecture": Case(C, {"architecture": "aarch64"}, finding="arch-mismatch",
                         message="architecture=aarch64 cannot run on this x86_64 host"),
    "hypervisor_version_requires": Case(U, {"hypervisor_version_requires": ">=99"},
                                        module="kumo.scheduler.filters.image"),
}


def _plan(props: dict[str, Any], request: dict[str, Any]):
    return plan_guest(GuestRequest(ImageProperties.parse(props), flavor=FLAVOR, name="props",
                                   **request))


def _xml(props: dict[str, Any], request: dict[str, Any]) -> str:
    plan = _plan(props, request)
    assert plan.spec is not None, [f.message for f in plan.errors]
    return get_backend(plan.spec.hypervisor).render(plan.spec).text


def test_table_names_every_property():
    assert sorted(CASES) == sorted(PROPERTIES)


@pytest.mark.parametrize("name", sorted(CASES), ids=sorted(CASES))
def test_property_effect(name):
    case = CASES[name]
    props = {**case.base, **case.props}
    if case.kind == R:
        before = _xml(case.base, case.request).splitlines()
        after = _xml(props, case.request).splitlines()
        diff = [line for line in difflib.unified_diff(before, after, lineterm="", n=0)
                if line[:1] in "+-" and not line.startswith(("+++", "---"))]
        assert diff, f"{name} changes nothing in the XML"
        assert_golden(f"kvm/properties/{name}.diff", "\n".join(diff) + "\n")
        assert_libvirt_accepts("\n".join(after))
    elif case.kind == D:
        assert _xml(props, case.request) == _xml(case.base, case.request)
        d = _plan(props, case.request).spec.decision(case.field)
        assert (d.value, d.source) == (case.value, name)
    elif case.kind in (C, X):
        errors = {f.id: f.message for f in _plan(props, case.request).errors}
        assert errors.get(case.finding) == case.message, errors
    else:
        assert case.kind == U
        assert name in getsource(import_module(case.module))
        _xml(props, case.request)  # accepted by the guest policy
