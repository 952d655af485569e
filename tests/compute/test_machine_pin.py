"""The machine type is pinned: a create resolves the family the policy chose to the host's
versioned machine and records it; every later plan (hard reboot, rebuild, recovery) uses it even
when the host has moved on; only an audited set-property hw_machine_type moves it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from kumo.compute import servers
from kumo.compute.instance_request import guest_request
from kumo.db.models import Host, Instance, JournalEntry
from kumo.guest.build import build_guest
from tests.compute.records import add_instance


def _set_machine_version(env, host_name: str, versioned: str) -> None:
    """The host now records ``versioned`` as its machine (a QEMU upgrade, a refresh)."""
    with env.db.session_scope() as s:
        host = s.scalars(select(Host).where(Host.name == host_name)).one()
        host.set_capabilities(replace(host.capabilities(), machine_versioned=versioned))


def _instance(env, uuid: str) -> Instance:
    with env.db.session_scope(readonly=True) as s:
        row = s.scalars(select(Instance).where(Instance.uuid == uuid)).one()
        s.expunge(row)
        return row


def _plan(env, uuid: str, host_name: str):
    with env.db.session_scope(readonly=True) as s:
        host = s.scalars(select(Host).where(Host.name == host_name)).one()
        row = s.scalars(select(Instance).where(Instance.uuid == uuid)).one()
        return build_guest(guest_request(env, row, host))


@pytest.fixture
def catalog(env, admin, kvm_host, image_file):
    from kumo.compute import flavors, images
    # Ubuntu 22.04's recommended RAM and disk (osinfo-db), so the flavor is no finding
    flavors.create_flavor(env, admin, "tiny", vcpus=1, ram_mib=4096, disk_gib=25)
    for name, props in (("linux", {"os_type": "linux", "os_distro": "ubuntu",
                                   "os_version": "22.04"}),
                        ("xp", {"os_distro": "winxp"})):
        images.create_image(env, admin, name, file=str(image_file), disk_format="qcow2",
                            properties=props)
    return env


@pytest.mark.parametrize("image, recorded, pinned", [
    ("linux", "pc-q35-7.2", "pc-q35-7.2"),
    ("xp", "pc-i440fx-7.2", "pc-i440fx-7.2"),
    # the host recorded only its q35 version: a pc guest stays on the family (not pinned)
    ("xp", "pc-q35-7.2", "pc"),
], ids=["q35", "pc", "pc-no-recorded-version"])
def test_create_pins_the_hosts_versioned_machine(catalog, admin, kvm_host, image, recorded,
                                                 pinned):
    env = catalog
    _set_machine_version(env, kvm_host, recorded)
    instance, host = servers.new_instance(env, admin, "web", image=image, flavor="tiny")
    servers.schedule_and_record(env, admin, instance, host=host)
    assert _instance(env, instance.uuid).machine_type == pinned
    assert servers.show_server(env, admin, "web")["machine_type"] == pinned


def test_later_plans_keep_the_pin_when_the_host_moves_on(catalog, admin, kvm_host):
    env = catalog
    instance, host = servers.new_instance(env, admin, "web", image="linux", flavor="tiny")
    servers.schedule_and_record(env, admin, instance, host=host)
    _set_machine_version(env, kvm_host, "pc-q35-8.2")  # QEMU upgraded on the host
    spec = _plan(env, instance.uuid, kvm_host)  # what hard reboot / rebuild / recovery build
    d = spec.decision("machine")
    assert (spec.machine, d.rule, d.source) == ("pc-q35-7.2", "machine.pinned", "instance")


def test_rebuild_keeps_the_pin(catalog, admin, kvm_host):
    """A rebuild to an image whose OS would choose another family still plans on the pin (the
    test driver cannot take the upload, so the rebuild fails after the plan was checked)."""
    env = catalog
    instance, host = servers.new_instance(env, admin, "web", image="linux", flavor="tiny")
    servers.schedule_and_record(env, admin, instance, host=host)
    with env.db.session_scope() as s:
        row = s.scalars(select(Instance).where(Instance.uuid == instance.uuid)).one()
        row.task_state, row.vm_state = None, "active"
        for entry in s.scalars(select(JournalEntry)):
            entry.state = "done"
    with pytest.raises(Exception, match="virStorageVolUpload"):
        servers.rebuild_server(env, admin, "web", image="xp")
    row = _instance(env, instance.uuid)
    assert (row.machine_type, row.image_properties["os_distro"]) == ("pc-q35-7.2", "winxp")
    assert _plan(env, instance.uuid, kvm_host).machine == "pc-q35-7.2"


def test_only_an_audited_set_property_moves_the_pin(env, admin, kvm_host):
    uuid = add_instance(env, admin, kvm_host, props={"os_type": "linux"})
    with env.db.session_scope() as s:
        s.scalars(select(Instance).where(Instance.uuid == uuid)).one().machine_type = "pc-q35-6.2"
    servers.set_property(env, admin, uuid, {"hw_qemu_guest_agent": "yes"})
    assert _instance(env, uuid).machine_type == "pc-q35-6.2"  # other properties: no move

    view = servers.set_property(env, admin, uuid, {"hw_machine_type": "q35"})
    assert view["machine_type"] == "pc-q35-7.2"  # the family, resolved on the host
    with env.db.session_scope(readonly=True) as s:
        entries = s.scalars(select(JournalEntry).order_by(JournalEntry.id)).all()
        assert "machine_type" not in entries[0].payload
        assert entries[1].payload["machine_type"] == {"before": "pc-q35-6.2",
                                                      "after": "pc-q35-7.2"}
    assert servers.set_property(env, admin, uuid, {"hw_machine_type": "pc-q35-6.2"}
                                )["machine_type"] == "pc-q35-6.2"  # a version is kept as given
    assert _plan(env, uuid, kvm_host).machine == "pc-q35-6.2"
