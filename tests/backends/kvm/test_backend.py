"""The backend registry and the KVM backend behind the Backend interface."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kumo.backends import Backend, RenderedConfig, get_backend, hypervisors
from kumo.backends.kvm import KvmBackend, render
from kumo.errors import UnsupportedGuest
from tests.backends.kvm.specs import linux_virtio


@pytest.mark.parametrize("hypervisor", ["kvm", "qemu"])
def test_kvm_and_qemu_map_to_the_kvm_backend(hypervisor):
    backend = get_backend(hypervisor)
    assert isinstance(backend, KvmBackend) and isinstance(backend, Backend)
    assert backend.name == "kvm"
    assert hypervisor in backend.hypervisors


def test_registry_returns_one_instance_per_backend():
    assert get_backend("kvm") is get_backend("qemu")


@pytest.mark.parametrize(
    ("hypervisor", "message"),
    [("vmware", "no backend for hypervisor 'vmware': allowed kvm, qemu"),
     ("KVM", "no backend for hypervisor 'KVM': allowed kvm, qemu"),
     ("", "no backend for hypervisor '': allowed kvm, qemu")],
    ids=["vmware", "wrong-case", "empty"],
)
def test_unknown_hypervisor_names_value_and_allowed(hypervisor, message):
    assert set(hypervisors()) >= {"kvm", "qemu"}
    with pytest.raises(UnsupportedGuest) as err:
        get_backend(hypervisor)
    assert str(err.value) == message.replace("kvm, qemu", ", ".join(hypervisors()))


@pytest.mark.parametrize("hypervisor", ["kvm", "qemu"])
def test_backend_render_wraps_the_xml(hypervisor):
    spec = replace(linux_virtio(), hypervisor=hypervisor)
    assert get_backend(hypervisor).render(spec) == RenderedConfig(
        text=render(spec), media_type="application/xml", backend="kvm", hypervisor=hypervisor,
        guest_name="ubuntu-virtio")


def test_backend_parse_reads_its_own_output():
    backend = get_backend("kvm")
    spec = linux_virtio()
    assert backend.parse(backend.render(spec).text).name == "ubuntu-virtio"
