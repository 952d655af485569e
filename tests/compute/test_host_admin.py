"""kumo.compute.host_admin: whether a host can run KVM guests (with a fake libvirt host)."""

from __future__ import annotations

import pytest

from kumo.compute.host_admin import is_local, local_kvm_problem, virt_type_problem
from kumo.errors import HostError
from kumo.hosts.capabilities import default_host_caps


class FakeHost:
    """capabilities(virt_type) as libvirt answers: no KVM domain -> an error."""

    def __init__(self, default: str, kvm: bool):
        self.default, self.kvm = default, kvm

    def capabilities(self, virt_type=None):
        wanted = virt_type or self.default
        if wanted == "kvm" and not self.kvm:
            raise HostError("host qemu+ssh://h/system cannot read domain capabilities: "
                            "invalid argument: KVM is not supported by '/usr/bin/qemu-system-"
                            "x86_64' on this host")
        return default_host_caps(wanted)


@pytest.mark.parametrize("uri, virt_type, host, device, problem", [
    ("qemu+ssh://h/system", "kvm", FakeHost("qemu", kvm=False), None,
     "libvirt offers no KVM domain there (host qemu+ssh://h/system cannot read domain "
     "capabilities: invalid argument: KVM is not supported by '/usr/bin/qemu-system-x86_64' "
     "on this host)"),
    ("qemu+ssh://h/system", None, FakeHost("qemu", kvm=False), None, None),
    ("qemu+ssh://h/system", "qemu", FakeHost("qemu", kvm=False), None, None),
    ("qemu+ssh://h/system", None, FakeHost("kvm", kvm=True), None, None),
    ("qemu:///system", None, FakeHost("kvm", kvm=True), "missing",
     "{dev} does not exist (no KVM module loaded, or no hardware virtualisation)"),
    ("qemu:///system", "kvm", FakeHost("kvm", kvm=True), "file",
     "{dev} does not answer as a KVM device: Inappropriate ioctl for device"),
    ("qemu:///system", "qemu", FakeHost("kvm", kvm=True), "missing", None),
], ids=["remote-no-kvm", "remote-default-tcg", "remote-qemu", "remote-kvm", "local-no-dev",
        "local-not-kvm", "local-qemu-asked"])
def test_virt_type_problem(tmp_path, uri, virt_type, host, device, problem):
    dev = tmp_path / "kvm"
    if device == "file":
        dev.write_bytes(b"")
    assert virt_type_problem(host, uri, virt_type, kvm_device=str(dev)) == (
        problem.format(dev=dev) if problem else None)


def test_this_machines_kvm_answers_or_says_why():
    problem = local_kvm_problem()
    assert problem is None or problem.startswith("/dev/kvm ")


@pytest.mark.parametrize("uri, local", [("qemu:///system", True), ("qemu:///session", True),
                                        ("qemu+ssh://kvm1/system", False),
                                        ("qemu+tcp://localhost/system", True)])
def test_is_local(uri, local):
    assert is_local(uri) is local
