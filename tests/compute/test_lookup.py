"""One lookup rule for every kind of record (issue 8, item 12): a reference that is one record's
id and another's name is ambiguous -- never silently the id's record -- and a create that would
make such a pair is refused."""

from __future__ import annotations

import pytest

from kumo.compute import flavors, hosts, images, servers
from kumo.compute.lookup import find_flavor, find_host, find_image, find_server
from kumo.db.models import Flavor, Host, Image, Instance
from kumo.errors import InvalidInput, NotFound
from tests.compute.conftest import count
from tests.compute.records import add_instance
from tests.support.hosts import add_host

A_UUID = "0a6f1c1e-1111-4111-8111-000000000001"


def _flavor_pair(env, admin):
    """Flavor 'small' (id f-1), and a flavor whose id is 'small' (an older row: made before
    create refused it)."""
    flavors.create_flavor(env, admin, "small", vcpus=1, ram_mib=512, flavorid="f-1")
    with env.db.session_scope() as s:
        s.add(Flavor(name="big", flavorid="small", vcpus=4, ram_mib=4096, disk_gib=0))
    return lambda s: find_flavor(s, admin, "small"), (
        "flavor 'small' is ambiguous: it is the id of one flavor and the name of another "
        "(f-1, small); rename the flavor named 'small'")


def _image_pair(env, admin):
    first = images.create_image(env, admin, "first")["id"]
    with env.db.session_scope() as s:
        s.add(Image(id=A_UUID, name=first, project_id="admin", user_id="admin",
                    visibility="public", status="queued", container_format="bare"))
    return lambda s: find_image(s, admin, first), (
        f"image {first!r} is ambiguous: it is the id of one image and the name of another "
        f"({', '.join(sorted([first, A_UUID]))}); rename the image named {first!r}")


def _server_pair(env, admin):
    add_host(env.db, "kvm-1")
    first = add_instance(env, admin, "kvm-1", name="web")
    add_instance(env, admin, "kvm-1", name=first)
    with env.db.session_scope(readonly=True) as s:
        second = s.query(Instance).filter_by(name=first).one().uuid
    return lambda s: find_server(s, admin, first), (
        f"server {first!r} is ambiguous: it is the id of one server and the name of another "
        f"({', '.join(sorted([first, second]))}); rename the server named {first!r}")


def _host_pair(env, admin):
    add_host(env.db, "kvm-1")
    with env.db.session_scope(readonly=True) as s:
        first = s.query(Host).filter_by(name="kvm-1").one().uuid
    add_host(env.db, first)
    with env.db.session_scope(readonly=True) as s:
        second = s.query(Host).filter_by(name=first).one().uuid
    return lambda s: find_host(s, first), (
        f"host {first!r} is ambiguous: it is the id of one host and the name of another "
        f"({', '.join(sorted([first, second]))}); rename the host named {first!r}")


@pytest.mark.parametrize("make", [_flavor_pair, _image_pair, _server_pair, _host_pair],
                         ids=["flavor", "image", "server", "host"])
def test_id_of_one_and_name_of_another_is_ambiguous(env, admin, make):
    find, message = make(env, admin)
    with env.db.session_scope(readonly=True) as s, pytest.raises(InvalidInput) as e:
        find(s)
    assert str(e.value) == message


def test_flavor_id_equal_to_another_flavors_name_is_refused(env, admin):
    flavors.create_flavor(env, admin, "small", vcpus=1, ram_mib=512, flavorid="f-1")
    with pytest.raises(InvalidInput) as e:
        flavors.create_flavor(env, admin, "big", vcpus=4, ram_mib=4096, flavorid="small")
    assert str(e.value) == ("flavor id 'small' is the name of another flavor: allowed an id "
                            "that is no flavor's name")
    with pytest.raises(InvalidInput) as e:
        flavors.create_flavor(env, admin, "f-1", vcpus=4, ram_mib=4096)
    assert str(e.value) == ("flavor name 'f-1' is the id of another flavor: allowed a name "
                            "that is no flavor's id")
    assert count(env.db, Flavor) == 1


def test_names_that_are_another_records_id_are_refused(env, admin, tmp_path):
    image_id = images.create_image(env, admin, "first")["id"]
    with pytest.raises(InvalidInput) as e:
        images.create_image(env, admin, image_id)
    assert str(e.value) == (f"image name {image_id!r} is the id of another image: allowed a "
                            "name that is no image's id")
    with pytest.raises(InvalidInput):
        images.update_image(env, admin, "first", name=image_id)
    assert count(env.db, Image) == 1

    add_host(env.db, "kvm-1")
    uuid = add_instance(env, admin, "kvm-1")
    with pytest.raises(InvalidInput) as e:
        servers.new_instance(env, admin, uuid, image="first", flavor="x")
    assert str(e.value) == (f"server name {uuid!r} is the id of another server: allowed a name "
                            "that is no server's id")
    with env.db.session_scope(readonly=True) as s:
        host_uuid = s.query(Host).filter_by(name="kvm-1").one().uuid
    with pytest.raises(InvalidInput) as e:
        hosts.add_host(env, admin, host_uuid, "test:///default")
    assert str(e.value) == (f"host name {host_uuid!r} is the id of another host: allowed a "
                            "name that is no host's id")


def test_one_record_whose_id_is_its_own_name_is_found(env, admin):
    flavors.create_flavor(env, admin, "m1", vcpus=1, ram_mib=512, flavorid="m1")
    with env.db.session_scope(readonly=True) as s:
        assert find_flavor(s, admin, "m1").name == "m1"


@pytest.mark.parametrize("ref", ["a\x00b", "\x1b[31m", "", "x\u202e"],
                         ids=["nul", "escape", "empty", "bidi-override"])
def test_a_reference_no_name_can_be_is_not_found(env, admin, ref):
    """(and never reaches the database: PostgreSQL refuses a NUL in a query parameter)"""
    with env.db.session_scope(readonly=True) as s, pytest.raises(NotFound) as e:
        find_image(s, admin, ref)
    assert str(e.value) == f"image {ref!r} not found"
