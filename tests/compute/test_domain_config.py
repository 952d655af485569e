"""One answer to "the domain kumo's rules give this instance today": what create and hard reboot
define is ``domain_config.desired`` of the record (audit compares against it, reconcile defines
it), and ``domain_config.live`` reads the host's copy back with the renderer's mapping."""

from __future__ import annotations

from kumo.compute import domain_config, naming, records, servers
from tests.compute.fakehost import fake_cloud


def test_hard_reboot_defines_the_desired_config(env, admin, image_file, fake_hosts):
    host = fake_cloud(env, admin, image_file, fake_hosts)
    uuid = servers.create_server(env, admin, "web", image="linux", flavor="tiny").server["id"]
    servers.set_property(env, admin, "web", {"os_type": "windows", "hw_disk_bus": "sata"})
    instance, row = records.load(env, uuid)
    want = domain_config.desired(env, instance, row)
    assert host.domains[naming.domain_name(uuid)].xml != want.text  # not rebooted yet
    host.calls.clear()
    servers.reboot_server(env, admin, "web", hard=True)
    assert [c.args["xml"] for c in host.ops("define")] == [want.text]
    assert records.load(env, uuid)[0].config_digest == want.digest
    live = domain_config.live(host, uuid)
    assert live == want.domain()
    assert (live.clock.offset, live.devices.disks[0].target_bus) == ("localtime", "sata")
