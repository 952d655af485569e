"""Host rows for service tests: a host that needs no daemon (libvirt's test driver by default)
with the embedded default KVM host's capabilities."""

from __future__ import annotations

from kumo.db.models import Host
from kumo.hosts.capabilities import default_host_caps


def add_host(db, name: str, uri: str = "test:///default", **kw) -> str:
    """Record host ``name`` (8 vCPU, 16 GiB RAM, 100 GiB disk unless ``kw`` says otherwise)."""
    values = dict(vcpus=8, ram_mib=16384, disk_gib=100)
    values.update(kw)
    with db.session_scope() as s:
        host = Host(name=name, uri=uri, **values)
        host.set_capabilities(default_host_caps())
        s.add(host)
    return name
