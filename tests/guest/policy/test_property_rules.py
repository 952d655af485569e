"""The rules behind the newer image properties, beyond the one case each in
test_property_coverage: what is accepted, what is refused and why, exact values."""

import pytest

from kumo.catalog.flavor import Flavor
from kumo.catalog.properties import ImageProperties
from kumo.guest.build import plan_guest
from kumo.guest.policy.topology import Limits, fit, possible
from kumo.guest.request import GuestRequest
from kumo.hosts.capabilities import HostConfig
from kumo.hosts.defaults import host_caps_for

LINUX = {"os_distro": "ubuntu22.04"}
NET = HostConfig(network="default")


def plan(props, flavor=Flavor(4, 4096, 40, name="m4"), **kw):
    return plan_guest(GuestRequest(ImageProperties.parse({**LINUX, **props}), flavor=flavor,
                                   **kw))


def errors(props, **kw):
    return {f.id: f.message for f in plan(props, **kw).findings if f.severity == "error"}


# --- topology ---------------------------------------------------------------------------------

@pytest.mark.parametrize("vcpus, preferred, limits, prefer_cores, shape", [
    (4, (4, 1, 1), Limits(), False, (4, 1, 1)),
    (4, (4, 1, 1), Limits(sockets=2), False, (2, 2, 1)),
    (4, (4, 1, 1), Limits(sockets=1), False, (1, 4, 1)),
    (4, (1, 4, 1), Limits(cores=2), True, (2, 2, 1)),
    (4, (4, 1, 1), Limits(sockets=1, cores=2), False, (1, 2, 2)),
    (4, (4, 1, 1), Limits(sockets=1, cores=1, threads=2), False, None),
    (6, (6, 1, 1), Limits(sockets=4), False, (3, 2, 1)),
], ids=["no-limits", "max-2-sockets", "max-1-socket", "windows-max-2-cores", "threads-last",
        "impossible", "largest-divisor"])
def test_fit(vcpus, preferred, limits, prefer_cores, shape):
    assert fit(vcpus, preferred, limits, prefer_cores) == shape
    if shape is not None:
        assert shape in possible(vcpus, limits)


def test_topology_limits_in_a_plan():
    d = plan({"hw_cpu_max_sockets": 2}).spec.decision("cpu.topology")
    assert (d.value, d.rule) == ("2x2x1", "cpu.topology-max")
    assert errors({"hw_cpu_max_sockets": 1, "hw_cpu_max_cores": 1, "hw_cpu_max_threads": 1}) == {
        "cpu-topology-exceeds-max": "no topology of 4 vCPUs fits hw_cpu_max_sockets/cores/"
                                    "threads"}
    assert errors({"hw_cpu_sockets": 4, "hw_cpu_max_sockets": 2}) == {
        "cpu-topology-exceeds-max": "hw_cpu_sockets/cores/threads give 4x1x1, beyond the "
                                    "image's limits: sockets 4 > hw_cpu_max_sockets 2"}


# --- accepted values that ask for nothing -----------------------------------------------------

@pytest.mark.parametrize("props, field, value", [
    ({"hw_mem_page_size": "small"}, "memory.page_size", "small"),
    ({"hw_mem_page_size": "any"}, "memory.page_size", "small"),
    ({"hw_numa_nodes": 1}, "memory.numa_nodes", 1),
    ({"hw_cpu_policy": "shared"}, "cpu.policy", "shared"),
    ({"hw_pmu": "true"}, "pmu", True),
], ids=["page-small", "page-any", "one-numa-node", "cpu-shared", "pmu-on"])
def test_accepted(props, field, value):
    p = plan(props)
    assert p.errors == ()
    assert p.spec.decision(field).value == value


@pytest.mark.parametrize("props, finding", [
    ({"hw_mem_page_size": "2MB"}, "mem-page-size-unsupported"),
    ({"hw_mem_page_size": "1048576"}, "mem-page-size-unsupported"),
    ({"hw_cpu_policy": "mixed"}, "cpu-policy-unsupported"),
    ({"hw_cpu_policy": "shared", "hw_cpu_thread_policy": "isolate"},
     "cpu-thread-policy-unsupported"),
    ({"vm_mode": "exe"}, "vm-mode-unsupported"),
    ({"container_format": "ova"}, "container-format-unsupported"),
], ids=["page-2mb", "page-size-kib", "cpu-mixed", "thread-policy-with-shared", "vm-mode-exe",
        "ova"])
def test_refused(props, finding):
    assert finding in errors(props)


@pytest.mark.parametrize("hypervisor", ["xen", "hyperv"])
def test_refusals_hold_on_every_hypervisor(hypervisor):
    got = errors({"hw_mem_encryption": "true", "hw_cpu_policy": "dedicated"},
                 host=host_caps_for(hypervisor))
    assert {"mem-encryption-unsupported", "cpu-policy-unsupported"} <= set(got)


# --- virtio multi-queue and packed rings ------------------------------------------------------

def test_multiqueue_one_queue_pair_per_vcpu():
    p = plan({"hw_vif_multiqueue_enabled": "true"}, host_config=NET)
    assert p.spec.nics[0].queues == 4


@pytest.mark.parametrize("props, config, finding, message", [
    ({"hw_vif_multiqueue_enabled": "true", "hw_vif_model": "e1000"}, NET,
     "multiqueue-needs-virtio", "hw_vif_multiqueue_enabled=true needs a virtio NIC, but the NIC "
     "is e1000"),
    ({"hw_vif_multiqueue_enabled": "true"}, HostConfig(), "multiqueue-needs-tap",
     "hw_vif_multiqueue_enabled=true needs a host network or bridge; this host gives guests "
     "QEMU user-mode networking, which has one queue"),
], ids=["not-virtio", "user-networking"])
def test_multiqueue_refused(props, config, finding, message):
    assert errors(props, host_config=config)[finding] == message


def test_multiqueue_false_changes_nothing():
    assert plan({"hw_vif_multiqueue_enabled": "false"}, host_config=NET).spec.nics[0].queues is None


def test_packed_ring_without_virtio_devices_is_a_warning():
    p = plan({"os_distro": "win10", "hw_virtio_packed_ring": "true"})
    assert [(f.id, f.severity) for f in p.findings if f.id.startswith("packed")] == [
        ("packed-ring-no-virtio", "warning")]
    assert not p.spec.nics[0].packed_ring


@pytest.mark.parametrize("hypervisor, finding", [("xen", "xen-property-ignored"),
                                                  ("hyperv", "hyperv-property-ignored")])
def test_kvm_only_properties_are_named_elsewhere(hypervisor, finding):
    p = plan({"hw_pmu": "true", "hw_serial_port_count": 2, "hw_virtio_packed_ring": "true"},
             host=host_caps_for(hypervisor))
    named = " ".join(f.message for f in p.findings if f.id == finding)
    for prop in ("hw_pmu", "hw_serial_port_count", "hw_virtio_packed_ring"):
        assert prop in named
