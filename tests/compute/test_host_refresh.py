"""``kumo host refresh``: the host probed again and what it offers now stored, so placement
follows the host as it is (swtpm installed after the host was added, a QEMU upgrade)."""

from __future__ import annotations

from dataclasses import replace

from kumo.compute import hosts
from kumo.db.models import Host
from kumo.scheduler import service
from kumo.catalog.flavor import Flavor
from tests.support.hosts import recorded_caps

URI = "fake:///tcg-1"
WIN11 = {"os_type": "windows", "os_distro": "windows", "os_version": "11"}


def stored(env):
    with env.db.session_scope(readonly=True) as s:
        h = s.query(Host).filter_by(name="tcg-1").one()
        return h.capabilities(), h.hypervisor_version, h.vcpus


def test_refresh_stores_what_the_host_offers_now(env, admin, fake_hosts):
    host = fake_hosts[URI]
    host.caps = recorded_caps(swtpm=False)
    hosts.add_host(env, admin, "tcg-1", URI, virt_type="qemu")
    spec = service.request_spec(WIN11, Flavor(2, 4096, 64))
    assert service.explain(env.db, spec).summary == (
        "0/1 hosts: 1 policy: tpm-unavailable (TPM 2.0 (tpm-crb) needs swtpm, which is not "
        "installed on the host)")

    # the operator installs swtpm and upgrades QEMU; the node gained CPUs
    host.caps = replace(recorded_caps(), hypervisor_version=(8, 2, 0))
    host.node = replace(host.node, cpus=16)
    view = hosts.refresh_host(env, admin, "tcg-1")
    assert (view["swtpm"], view["hypervisor_version"], view["vcpus"]) == (True, "8.2.0", 16)
    caps, version, vcpus = stored(env)
    assert caps == replace(recorded_caps(), hypervisor="qemu", hypervisor_version=(8, 2, 0))
    assert service.explain(env.db, spec).chosen == "tcg-1"
    assert [c.args for c in host.ops("capabilities")][-1] == {"virt_type": "qemu"}
