"""Host rows for service tests: a host that needs no daemon (libvirt's test driver by default)
with the embedded default KVM host's capabilities."""

from __future__ import annotations

from pathlib import Path

from kumo.db.models import Host
from kumo.hosts import probe
from kumo.hosts.capabilities import HostCapabilities, default_host_caps
from kumo.hosts.firmware import read_descriptors


def add_host(db, name: str, uri: str = "test:///default", *,
             caps: HostCapabilities | None = None, **kw) -> str:
    """Record host ``name`` (8 vCPU, 16 GiB RAM, 100 GiB disk unless ``kw`` says otherwise)
    with ``caps`` (default: the embedded default KVM host's)."""
    values = dict(vcpus=8, ram_mib=16384, disk_gib=100)
    values.update(kw)
    with db.session_scope() as s:
        host = Host(name=name, uri=uri, **values)
        host.set_capabilities(caps or default_host_caps())
        s.add(host)
    return name


DATA = Path(__file__).resolve().parent.parent / "hosts" / "data"


def recorded_caps(*, swtpm: bool = True) -> HostCapabilities:
    """This machine's libvirtd as probed (libvirt 9.0, QEMU 7.2, TCG, Debian 12 OVMF and
    swtpm), from the documents recorded in tests/hosts/data: q35 and pc domain capabilities,
    the host capabilities and the firmware descriptors. ``swtpm=False``: the same host without
    swtpm installed (QEMU still lists the TPM models, but no guest with a TPM starts)."""
    return probe.assemble(
        {"q35": (DATA / "qemu-7.2-tcg-q35.xml").read_text(),
         "pc": (DATA / "qemu-7.2-tcg-pc.xml").read_text()},
        (DATA / "capabilities-qemu-7.2.xml").read_text(), hypervisor_version=(7, 2, 22),
        descriptors=read_descriptors([DATA / "firmware"]), swtpm=swtpm)
