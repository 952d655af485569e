"""One set of boot checks for create, rebuild and set-property (kumo.compute.boot_source):

* rebuild refuses an image that does not fit the server's disk, as create refuses one that does
  not fit the flavor's -- before anything changes (no journal entry, no host call);
* every property that names another image (the catalog schema's ``references``) is checked
  where it is set: set-property refuses a kernel_id/ramdisk_id naming nothing, or an image of
  the wrong kind, instead of letting the next hard reboot fail; a name is stored as the id;
* a hard reboot that fails anyway (the kernel image deleted since) records the power state the
  host reports -- the domain is off -- not "running"."""

from __future__ import annotations

import pytest

from kumo.catalog.schema import REFERENCES
from kumo.compute import images, naming, servers
from kumo.errors import InvalidInput, NotFound, StateError
from tests.compute.conftest import make_disk
from tests.compute.fakehost import entries, fake_cloud

MUTATING = ("define", "start", "destroy", "shutdown", "undefine", "upload_volume",
            "create_overlay_volume", "create_volume", "delete_volume")


@pytest.fixture
def web(env, admin, image_file, fake_hosts, tmp_path):
    """ACTIVE server ``web`` (1 GiB root disk) on a fake host, and images to point at:
    ``big`` (2 GiB virtual), ``vmlinuz`` (aki), ``initrd`` (ari)."""
    host = fake_cloud(env, admin, image_file, fake_hosts)
    images.create_image(env, admin, "big", file=make_disk(tmp_path / "big.qcow2", size="2G"),
                        disk_format="qcow2", properties={"os_type": "linux"},
                        visibility="public")
    for name, fmt in (("vmlinuz", "aki"), ("initrd", "ari")):
        f = tmp_path / name
        f.write_bytes(b"\0" * 4096)
        images.create_image(env, admin, name, file=f, disk_format=fmt, container_format=fmt,
                            visibility="public")
    uuid = servers.create_server(env, admin, "web", image="linux", flavor="tiny").server["id"]
    host.calls.clear()
    yield env, host, uuid
    assert host.watch.violations == []


def test_create_refuses_an_image_larger_than_the_flavors_disk(web, admin):
    env, host, _uuid = web
    with pytest.raises(InvalidInput) as e:
        servers.create_server(env, admin, "web2", image="big", flavor="tiny")
    assert str(e.value) == ("flavor 'tiny' has a 1 GiB disk, smaller than image 'big' (2.0 GiB "
                            "virtual)")


def test_rebuild_refuses_an_image_larger_than_the_servers_disk(web, admin):
    env, host, uuid = web
    before = servers.show_server(env, admin, uuid)
    with pytest.raises(InvalidInput) as e:
        servers.rebuild_server(env, admin, "web", image="big")
    assert str(e.value) == ("server 'web' has a 1 GiB disk, smaller than image 'big' (2.0 GiB "
                            "virtual)")
    assert servers.show_server(env, admin, uuid) == before
    assert entries(env, uuid) == [("create", "done", "start")]
    assert host.ops(*MUTATING) == []


@pytest.mark.parametrize("prop", sorted(REFERENCES))
@pytest.mark.parametrize("value, error, message", [
    ("nope", NotFound, "server 'web' has {prop}='nope', but image 'nope' not found"),
    ("linux", InvalidInput, "server 'web' has {prop}='linux', which is not an {fmt} image with "
                            "data (disk_format qcow2, status active)"),
], ids=["missing", "wrong-kind"])
def test_set_property_checks_references(web, admin, prop, value, error, message):
    env, host, uuid = web
    before = servers.show_server(env, admin, uuid)
    with pytest.raises(error) as e:
        servers.set_property(env, admin, "web", {prop: value})
    assert str(e.value) == message.format(prop=prop, fmt=REFERENCES[prop])
    assert servers.show_server(env, admin, uuid) == before
    assert entries(env, uuid) == [("create", "done", "start")]


@pytest.mark.parametrize("prop, target", [("kernel_id", "vmlinuz"), ("ramdisk_id", "initrd")])
def test_set_property_stores_a_reference_by_id(web, admin, prop, target):
    env, _host, uuid = web
    view = servers.set_property(env, admin, "web", {prop: target})
    target_id = images.show_image(env, admin, target)["id"]
    assert view["image_properties"][prop] == target_id


def test_create_refuses_an_image_whose_kernel_is_not_a_kernel(web, admin, image_file):
    env, _host, _uuid = web
    images.create_image(env, admin, "bad-kernel", file=image_file, disk_format="qcow2",
                        properties={"kernel_id": "initrd"}, visibility="public")
    with pytest.raises(InvalidInput) as e:
        servers.create_server(env, admin, "web2", image="bad-kernel", flavor="tiny")
    assert str(e.value) == ("image 'bad-kernel' has kernel_id='initrd', which is not an aki "
                            "image with data (disk_format ari, status active)")


def test_failed_hard_reboot_records_the_domain_off(web, admin):
    """The kernel named by set-property was deleted before the hard reboot: the reboot fails
    after destroying the domain, and the record says so (power shutdown), not running."""
    env, host, uuid = web
    servers.set_property(env, admin, "web", {"kernel_id": "vmlinuz"})
    images.delete_image(env, admin, "vmlinuz")
    with pytest.raises(StateError, match="was deleted and is not on its host"):
        servers.reboot_server(env, admin, "web", hard=True)
    server = servers.show_server(env, admin, uuid)
    assert (server["status"], server["power_state"]) == ("ERROR", "shutdown")
    assert host.domains[naming.domain_name(uuid)].state == "shutoff"
    assert entries(env, uuid)[-1] == ("reboot-hard", "failed", "upload")
