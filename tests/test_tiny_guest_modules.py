"""kumo.tiny_guest.kernel_modules: the modules a tiny guest loads itself, dependencies first, read
from the kernel's modules.dep; compressed modules unpacked; a missing one named."""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path

import pytest

from kumo.errors import NotFound
from kumo.tiny_guest import _extra_entries, insmod_lines, kernel_modules

DEP = """kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci.ko.gz: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    base = tmp_path / "6.1.0-9-cloud-amd64"
    for line in DEP.splitlines():
        rel = line.split(":")[0]
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = f"module {path.name}".encode()
        path.write_bytes(lzma.compress(data) if rel.endswith(".xz")
                         else gzip.compress(data) if rel.endswith(".gz") else data)
    (base / "modules.dep").write_text(DEP)
    return tmp_path


def test_dependencies_first_each_once_unpacked(root):
    kernel = Path("/boot/vmlinuz-6.1.0-9-cloud-amd64")
    mods = kernel_modules(kernel, ("virtio_pci", "virtio_net"), root)
    assert [p for p, _ in mods] == [
        "lib/modules/virtio_ring.ko", "lib/modules/virtio.ko", "lib/modules/virtio_pci.ko",
        "lib/modules/failover.ko", "lib/modules/net_failover.ko", "lib/modules/virtio_net.ko"]
    assert dict(mods)["lib/modules/virtio_net.ko"] == b"module virtio_net.ko.xz"
    assert dict(mods)["lib/modules/virtio_pci.ko"] == b"module virtio_pci.ko.gz"
    assert insmod_lines(mods[:2]) == ("/bin/busybox insmod /lib/modules/virtio_ring.ko\n"
                                      "/bin/busybox insmod /lib/modules/virtio.ko\n")


def test_missing_module_and_missing_release(root):
    with pytest.raises(NotFound, match="kernel 6.1.0-9-cloud-amd64 has no module e1000e"):
        kernel_modules(Path("/boot/vmlinuz-6.1.0-9-cloud-amd64"), ("e1000e",), root)
    with pytest.raises(NotFound, match="no modules for kernel 7.0-cloud-amd64"):
        kernel_modules(Path("/boot/vmlinuz-7.0-cloud-amd64"), ("virtio_net",), root)


def test_extra_files_get_their_directories():
    entries = _extra_entries([("lib/modules/a.ko", b"a"), ("bin/x.sh", b"x")], {"bin"})
    assert [(name, oct(mode)) for name, mode, _, _ in entries] == [
        ("lib", "0o40755"), ("lib/modules", "0o40755"), ("lib/modules/a.ko", "0o100755"),
        ("bin/x.sh", "0o100755")]
