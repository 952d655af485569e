"""The audited way to change an instance's frozen image properties (seed 001's operators UPDATEd
nova's database by hand): validated, checked against a guest plan on the instance's host,
journaled with the values before and after."""

from __future__ import annotations

import pytest

from kumo.compute import servers
from kumo.db.models import Instance, JournalEntry
from kumo.errors import Forbidden, InvalidInput, InvalidProperty, UnsupportedGuest
from tests.compute.records import add_instance


def _props(env, uuid):
    with env.db.session_scope(readonly=True) as s:
        return dict(s.query(Instance).filter_by(uuid=uuid).one().image_properties)


def test_set_and_unset_are_journaled(env, admin, kvm_host):
    uuid = add_instance(env, admin, kvm_host, props={"os_type": "linux", "hw_qemu_guest_agent":
                                                     "no", "note": "x"})
    view = servers.set_property(env, admin, uuid, {"os_type": "windows",
                                                   "hw_qemu_guest_agent": "yes"}, ["note"])
    assert view["image_properties"] == {"hw_qemu_guest_agent": "yes", "os_type": "windows"}
    assert _props(env, uuid) == view["image_properties"]
    with env.db.session_scope(readonly=True) as s:
        entry = s.query(JournalEntry).one()
        assert (entry.operation, entry.instance_uuid, entry.state) == ("set-property", uuid,
                                                                       "done")
        assert entry.payload == {"user_id": "admin",
                                 "set": {"os_type": "windows", "hw_qemu_guest_agent": "yes"},
                                 "unset": ["note"],
                                 "before": {"os_type": "linux", "hw_qemu_guest_agent": "no",
                                            "note": "x"}}
        assert entry.request_id == admin.request_id


@pytest.mark.parametrize("changes, unset, error, message", [
    ({"os_type": "dos"}, [], InvalidProperty,
     "os_type='dos' is invalid: allowed one of linux, windows"),
    ({"hw_disk_bus": "ide", "hw_machine_type": "q35"}, [], UnsupportedGuest,
     "hw_disk_bus=ide is not available on machine type q35: q35 has no IDE controller (fix: use "
     "hw_disk_bus=sata, or hw_machine_type=pc)"),
    ({}, ["hw_cdrom_bus"], InvalidInput, "server 'web' has no image property hw_cdrom_bus"),
    ({}, [], InvalidInput, "nothing to change: give KEY=VALUE or --unset KEY"),
], ids=["invalid-value", "impossible-guest", "unset-missing", "nothing"])
def test_refused_changes_leave_the_record(env, admin, kvm_host, changes, unset, error, message):
    uuid = add_instance(env, admin, kvm_host)
    with pytest.raises(error) as e:
        servers.set_property(env, admin, "web", changes, unset)
    assert str(e.value) == message
    assert _props(env, uuid) == {"os_type": "linux"}
    with env.db.session_scope(readonly=True) as s:
        assert s.query(JournalEntry).count() == 0


def test_only_admins_override(env, admin, alice, kvm_host):
    add_instance(env, alice, kvm_host)
    with pytest.raises(Forbidden, match="^changing a server's image properties needs the "
                                        "'admin' role"):
        servers.set_property(env, alice, "web", {"os_type": "windows"})
