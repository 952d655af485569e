"""Flavors: operator-only, sizes and extra specs validated, names unique, tenancy."""

from __future__ import annotations

import pytest

from kumo.compute import flavors
from kumo.db.models import Flavor
from kumo.errors import Forbidden, InvalidInput, InvalidProperty
from tests.compute.conftest import count


def test_create_and_list(env, admin, alice):
    flavors.create_flavor(env, admin, "m1.small", vcpus=1, ram_mib=2048, disk_gib=20,
                          flavorid="2", extra_specs={"hw:disk_bus": "scsi"})
    flavors.create_flavor(env, admin, "m1.tiny", vcpus=1, ram_mib=512, disk_gib=1, flavorid="1")
    flavors.create_flavor(env, admin, "secret", vcpus=4, ram_mib=8192, is_public=False)
    assert [f["name"] for f in flavors.list_flavors(env, admin)] == ["m1.tiny", "m1.small",
                                                                     "secret"]
    assert [f["name"] for f in flavors.list_flavors(env, alice)] == ["m1.tiny", "m1.small"]
    small = flavors.show_flavor(env, alice, "2")
    assert (small["name"], small["ram"], small["extra_specs"]) == ("m1.small", 2048,
                                                                   {"hw:disk_bus": "scsi"})


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(name="m1.x", vcpus=0, ram_mib=512), InvalidInput,
     "flavor vcpus=0 is invalid: allowed an integer from 1 to 2147483647"),
    (dict(name="m1.x", vcpus=1, ram_mib=8), InvalidInput,
     "flavor ram_mib=8 is invalid: allowed an integer from 16 to 2147483647"),
    (dict(name="m1.x", vcpus=1, ram_mib=512, extra_specs={"hw:disk_bus": "floppy"}),
     InvalidProperty, "hw:disk_bus='floppy' is invalid: allowed one of fdc, ide, sata, scsi, "
     "usb, virtio, xen, lxc, uml"),
    (dict(name="taken", vcpus=1, ram_mib=512), InvalidInput,
     "flavor name 'taken' is already taken"),
    (dict(name="", vcpus=1, ram_mib=512), InvalidInput,
     "flavor name '' is invalid (0 characters): allowed 1 to 255 characters, no surrounding spaces, no control characters"),
], ids=["no-vcpus", "tiny-ram", "bad-extra-spec", "duplicate", "empty-name"])
def test_bad_flavors_create_nothing(env, admin, kwargs, error, message):
    flavors.create_flavor(env, admin, "taken", vcpus=1, ram_mib=512)
    with pytest.raises(error) as e:
        flavors.create_flavor(env, admin, **kwargs)
    assert str(e.value) == message
    assert count(env.db, Flavor) == 1


def test_only_admins_make_flavors(env, alice):
    with pytest.raises(Forbidden) as e:
        flavors.create_flavor(env, alice, "m1.x", vcpus=1, ram_mib=512)
    assert str(e.value) == ("creating a flavor needs the 'admin' role; user 'alice' in project "
                            "'p-alice' has roles member")
