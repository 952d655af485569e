"""Fixtures for the hosts layer: libvirt's in-memory test driver (fast, fresh per test) and,
for storage through streams, the machine's libvirtd with a scratch pool."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator

import pytest

from kumo.hosts.libvirt_host import LibvirtHost
from tests.e2e.probe import connect_system_libvirt

#: libvirt's test driver with a private, in-memory state per connection (test:///default would
#: share one state with every other open test:///default connection in the process)
TEST_NODE = Path(__file__).with_name("testnode.xml")
TEST_URI = f"test://{TEST_NODE}"


@pytest.fixture
def test_host() -> Iterator[LibvirtHost]:
    """A fresh test-driver host: one running domain "test", one active dir pool "default-pool"
    at /default-pool (nothing on disk: the test driver keeps it all in memory)."""
    with LibvirtHost(TEST_URI) as host:
        yield host


@pytest.fixture(scope="session")
def system_libvirt() -> Iterator[LibvirtHost]:
    with connect_system_libvirt() as host:
        yield host


@pytest.fixture
def scratch_pool(system_libvirt: LibvirtHost, tmp_path: Path) -> Iterator[str]:
    """A dir pool under tmp_path on qemu:///system, removed with its volumes afterwards."""
    name = f"kumo-test-{uuid.uuid4().hex[:8]}"
    system_libvirt.ensure_pool(name, tmp_path / "pool", autostart=False)
    try:
        yield name
    finally:
        system_libvirt.refresh_pool(name)
        for vol in system_libvirt.list_volumes(name):
            system_libvirt.delete_volume(name, vol)
        system_libvirt.delete_pool(name, delete_dir=True)
