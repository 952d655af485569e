"""HostView values: derived defaults and conversion from the hosts layer's capabilities."""

from __future__ import annotations

import pytest

from kumo.errors import InvalidInput
from kumo.hosts.capabilities import HostCapabilities, default_host_caps
from kumo.scheduler import HostView, ServerGroup
from kumo.scheduler.model import compare_versions

DERIVED = [
    ("kvm", (7, 2), ("kvm", "qemu"), ("hvm",), ("pc", "q35"), ("bios",)),
    ("qemu", (7, 2), ("qemu",), ("hvm",), ("pc", "q35"), ("bios",)),
    ("xen", (4, 17), ("xen",), ("hvm", "xen"), ("xenfv", "xenpv"), ("bios",)),
    ("hyperv", (6, 2), ("hyperv",), ("hvm",), ("hyperv-gen1",), ("bios",)),
    ("hyperv", (6, 3), ("hyperv",), ("hvm",), ("hyperv-gen1", "hyperv-gen2"), ("bios", "efi")),
]


@pytest.mark.parametrize("hv,version,types,modes,machines,firmware", DERIVED,
                         ids=[f"{d[0]}-{d[1]}" for d in DERIVED])
def test_derived_defaults(hv, version, types, modes, machines, firmware):
    h = HostView("h", hv, version)
    assert (h.hypervisor_types, h.vm_modes, h.machines, h.firmware) == (
        types, modes, machines, firmware)


def test_from_capabilities():
    h = HostView.from_capabilities("kvm1", default_host_caps(), vcpus=8)
    assert h.hypervisor_type == "kvm" and "efi" in h.firmware and h.secure_boot
    assert h.vcpus == 8
    hv = HostView.from_capabilities("hv1", HostCapabilities("hyperv", hypervisor_version=(10, 0)))
    assert hv.machines == ("hyperv-gen1", "hyperv-gen2") and hv.firmware == ("bios", "efi")


@pytest.mark.parametrize("a,b,cmp", [((6, 3), (6, 3, 0), 0), ((10,), (10, 0, 1), -1),
                                     ((6, 2), (6, 3), -1), ((10, 0), (6, 3), 1)],
                         ids=["trailing-zero", "prefix", "minor", "major"])
def test_compare_versions(a, b, cmp):
    assert compare_versions(a, b) == cmp


def test_server_group_policy_is_validated():
    with pytest.raises(InvalidInput) as err:
        ServerGroup("g", "soft-affinity")
    assert str(err.value) == ("server group 'g' policy='soft-affinity' is invalid: allowed "
                              "affinity, anti-affinity")


def test_unparsable_aggregate_metadata_is_reported_and_ignored():
    from kumo.scheduler import Aggregate, InMemoryClaimStore, Scheduler, SchedulerConfig
    hosts = [HostView("h", "kvm", (7, 2), aggregates=(
        Aggregate("typo", {"ram_allocation_ratio": "lots", "free_ram_weight_multiplier": "x"}),))]
    s = Scheduler(SchedulerConfig(), hosts, InMemoryClaimStore.from_hosts(hosts))
    assert s.warnings == [
        "aggregate typo: ram_allocation_ratio='lots' is not a number; ignored",
        "aggregate typo: free_ram_weight_multiplier='x' is not a number; ignored"]
    assert s.fleet.ratio[0].tolist() == [4.0, 1.0, 1.0]


def test_image_property_counts_are_lower_cased():
    h = HostView("h", "kvm", image_property_counts={"os_type": {"Windows": 2}})
    assert dict(h.image_property_counts["os_type"]) == {"windows": 2}
