"""The boot matrix: every Windows release kumo knows (XP to Server 2025 / Windows 11) and a dozen
Linux releases, each rendered by kumo for this machine's libvirtd (qemu:///system, virt_type
qemu: TCG) from the host's own domain capabilities, then defined and started for real until it
has been running for a second, then destroyed and undefined (UEFI variables and TPM state with
it). No OS boots: the root disk is a blank qcow2, so what is proven is that libvirt and QEMU
accept and run exactly the hardware kumo chose - q35 or pc, the USB controller, PCIe root ports,
the TCG CPU model, and for Windows 11 UEFI with Secure Boot (SMM, Microsoft keys enrolled) and a
TPM 2.0 emulated by swtpm.

The host's capabilities are read as ``kumo host add`` reads and records them
(LibvirtHost.capabilities with the host's virt_type: every machine family probed, with its
versioned names and firmware), and each guest is rendered with its machine pinned as a create
pins it (kumo.guest.policy.machine).
"""

from __future__ import annotations

import subprocess
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest

from kumo.backends import get_backend
from kumo.catalog.flavor import Flavor
from kumo.catalog.properties import ImageProperties
from kumo.errors import DomainNotFound, StateError
from kumo.guest.build import build_guest
from kumo.guest.policy.machine import versioned_machine
from kumo.guest.request import GuestRequest
from kumo.hosts.capabilities import HostCapabilities
from kumo.hosts.libvirt_host import DomainState, LibvirtHost
from kumo.osinfo.windows import RELEASES as WINDOWS

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LINUX = ["centos5.2", "centos6.5", "centos7.0", "rhel9.2", "rocky9.0", "almalinux8",
         "ubuntu14.04", "ubuntu22.04", "debian8", "debian12", "fedora38", "opensuse15.4",
         "sle15sp4", "cirros0.5.2"]
MATRIX = [r.short_id for r in WINDOWS] + LINUX
#: large enough for every release's minimum RAM and disk (Windows 11: 4 GiB, 64 GB); QEMU only
#: allocates the RAM a guest touches, and the blank disk is thin
FLAVOR = Flavor(2, 4096, 64, name="boot-matrix")
RUNNING_FOR_S = 1.0
START_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def host_caps(system_libvirt: LibvirtHost) -> HostCapabilities:
    return system_libvirt.capabilities(virt_type="qemu")


@pytest.fixture
def blank_disk(tmp_path: Path) -> Path:
    disk = tmp_path / "root.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "1G"], check=True)
    return disk


@pytest.fixture
def domain_name(request: pytest.FixtureRequest, system_libvirt: LibvirtHost) -> Iterator[str]:
    """A unique name; the domain (with its NVRAM and TPM state) is removed whatever happens."""
    name = f"kumo-bootmx-{request.node.callspec.id}-{uuid.uuid4().hex[:8]}"
    yield name
    try:
        system_libvirt.destroy(name)
    except (DomainNotFound, StateError):  # gone, or never started / already off: undefine it
        pass
    try:
        system_libvirt.undefine(name)
    except DomainNotFound:
        pass


def test_matrix_covers_every_windows_release_and_ten_linux():
    assert [r.short_id for r in WINDOWS][0] == "winxp"
    assert {"win11", "win2k25"} <= set(MATRIX)
    assert len(LINUX) >= 10


@pytest.mark.parametrize("short_id", MATRIX, ids=MATRIX)
def test_release_runs_on_the_real_libvirtd(short_id, host_caps, blank_disk, domain_name,
                                           system_libvirt):
    request = GuestRequest(ImageProperties.parse({"os_distro": short_id}), flavor=FLAVOR,
                           host=host_caps, name=domain_name, uuid=str(uuid.uuid4()),
                           root_disk=str(blank_disk))
    family = build_guest(request).machine
    pinned = versioned_machine(host_caps, family)
    assert pinned != family, f"the host recorded no versioned {family} machine"
    spec = build_guest(replace(request, pinned_machine=pinned))
    assert spec.hypervisor == "qemu" and spec.os_id == short_id
    system_libvirt.define(get_backend("qemu").render(spec).text)
    system_libvirt.start(domain_name)
    deadline = time.monotonic() + START_TIMEOUT_S
    while system_libvirt.domain_state(domain_name) != DomainState.RUNNING:
        assert time.monotonic() < deadline, f"{domain_name} did not reach running"
        time.sleep(0.1)
    time.sleep(RUNNING_FOR_S)
    assert system_libvirt.domain_state(domain_name) == DomainState.RUNNING
    live = system_libvirt.domain_xml(domain_name)
    assert f"<type arch='x86_64' machine='{pinned}'>hvm</type>" in live
    if spec.firmware.secure_boot:
        assert "<smm state='on'/>" in live and "secure='yes'" in live
    if spec.tpm is not None:
        assert f"<backend type='emulator' version='{spec.tpm.version}'" in live
