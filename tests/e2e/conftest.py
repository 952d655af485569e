"""Fixtures for end-to-end tests against the machine's libvirtd (qemu:///system).

``system_libvirt`` fails the test with "run scripts/setup.sh" when libvirtd does not answer;
KUMO_SKIP_E2E=1 skips e2e tests instead. Boot guests with ``tests.e2e.probe``."""

from __future__ import annotations

from typing import Iterator

import pytest

from kumo.hosts.libvirt_host import LibvirtHost
from tests.e2e.probe import ProbeImage, build_agent_probe, build_probe, connect_system_libvirt


@pytest.fixture(scope="session")
def system_libvirt() -> Iterator[LibvirtHost]:
    host = connect_system_libvirt()
    with host:
        yield host


@pytest.fixture(scope="session")
def probe_image(system_libvirt: LibvirtHost) -> ProbeImage:
    """The probe kernel + initramfs (built once, cached under $KUMO_PROBE_DIR or var/probe)."""
    return build_probe()


@pytest.fixture(scope="session")
def agent_probe(system_libvirt: LibvirtHost) -> ProbeImage:
    """The probe with qemu-guest-agent (``build_agent_probe``; its cmdline with the image)."""
    return build_agent_probe()
