"""Server create checks everything before recording anything: each bad request is one clear error
(exact message) and leaves no instance, no claim, no journal entry, no volume. A request no host
can take is not a bad request: the server is recorded ERROR with the scheduler's summary as its
fault (as Nova does), holding no claim (tests/compute/test_servers_scheduling.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from kumo.compute import flavors, images, servers
from kumo.db.models import Host, Instance, JournalEntry
from kumo.errors import ConfigConflict, HostUnreachable, InvalidInput, NotFound
from kumo.scheduler.errors import NoValidHost
from tests.compute.conftest import count

UNREACHABLE = "qemu:///system?socket=/nonexistent/kumo.sock"


@pytest.fixture
def catalog(env, admin, image_file, kvm_host):
    images.create_image(env, admin, "linux", file=image_file, disk_format="qcow2",
                        properties={"os_type": "linux", "hw_disk_bus": "virtio"},
                        visibility="public")
    images.create_image(env, admin, "meta-only", properties={"os_type": "linux"},
                        visibility="public")
    images.create_image(env, admin, "kernel-missing", file=image_file, disk_format="qcow2",
                        properties={"kernel_id": "0b6f3c56-0000-4000-8000-000000000000"},
                        visibility="public")
    images.create_image(env, admin, "ide-on-q35", file=image_file, disk_format="qcow2",
                        properties={"hw_disk_bus": "ide", "hw_machine_type": "q35"},
                        visibility="public")
    flavors.create_flavor(env, admin, "tiny", vcpus=1, ram_mib=256, disk_gib=1)
    flavors.create_flavor(env, admin, "huge", vcpus=1, ram_mib=65536, disk_gib=1)
    flavors.create_flavor(env, admin, "scsi", vcpus=1, ram_mib=256, disk_gib=1,
                          extra_specs={"hw:disk_bus": "scsi"})
    with env.db.session_scope() as s:
        # it answered a moment ago (fresh heartbeat), so the scheduler takes it; then it does not
        gone = Host(name="gone", uri=UNREACHABLE, vcpus=8, ram_mib=16384, disk_gib=100,
                    last_heartbeat=datetime.now(timezone.utc))
        gone.set_capabilities(s.query(Host).filter_by(name="kvm-1").one().capabilities())
        s.add(gone)
        off = Host(name="off", uri="test:///default", vcpus=8, ram_mib=16384, disk_gib=100,
                   enabled=False, disabled_reason="maintenance")
        off.set_capabilities(gone.capabilities())
        s.add(off)
    return env


CASES = [
    pytest.param(dict(image="nope", flavor="tiny"), NotFound, "image 'nope' not found",
                 id="unknown-image"),
    pytest.param(dict(image="linux", flavor="nope"), NotFound, "flavor 'nope' not found",
                 id="unknown-flavor"),
    pytest.param(dict(image="linux", flavor="tiny", host="kvm"), NotFound,
                 "host 'kvm' not found (hosts are named exactly); nearest: kvm-1",
                 id="host-name-is-exact"),
    pytest.param(dict(image="meta-only", flavor="tiny"), InvalidInput,
                 "image 'meta-only' has no data (status queued): create it with a file to boot "
                 "from it", id="image-without-data"),
    pytest.param(dict(image="kernel-missing", flavor="tiny"), NotFound,
                 "image 'kernel-missing' has kernel_id='0b6f3c56-0000-4000-8000-000000000000', "
                 "but image '0b6f3c56-0000-4000-8000-000000000000' not found",
                 id="kernel-image-missing"),
    pytest.param(dict(image="linux", flavor="scsi"), ConfigConflict,
                 "image property hw_disk_bus='virtio' conflicts with flavor 'scsi' extra spec "
                 "hw:disk_bus='scsi': make them agree or remove one", id="flavor-conflict"),
    # placed (the claim committed), then refused on the chosen host: the claim is given back
    pytest.param(dict(image="linux", flavor="tiny", host="gone"), HostUnreachable,
                 f"host {UNREACHABLE} does not answer: Failed to connect socket to "
                 "'/nonexistent/kumo.sock': No such file or directory", id="host-unreachable"),
]


@pytest.mark.parametrize("kwargs, error, message", CASES)
def test_bad_create_records_nothing(catalog, admin, kwargs, error, message):
    env = catalog
    with pytest.raises(error) as e:
        servers.create_server(env, admin, "web", **kwargs)
    assert str(e.value) == message
    assert count(env.db, Instance) == 0 and count(env.db, JournalEntry) == 0
    with env.db.session_scope(readonly=True) as s:
        assert [(h.used_vcpus, h.used_ram_mib, h.used_disk_gib, h.instance_count)
                for h in s.query(Host)] == [(0, 0, 0, 0)] * 3


def test_guest_no_host_can_build_is_no_valid_host_naming_the_policy_finding(catalog, admin):
    """The guest policy is a scheduler filter: a guest impossible on every host is refused by
    placement (recorded ERROR like any NoValidHost, no claim held), its fault naming the lint
    finding -- not built on a chosen host and refused there."""
    with pytest.raises(NoValidHost) as e:
        servers.create_server(catalog, admin, "web", image="ide-on-q35", flavor="tiny")
    assert e.value.summary == (
        "0/3 hosts: 2 policy: ide-on-q35 (hw_disk_bus=ide is not available on machine type "
        "q35: q35 has no IDE controller), 1 host disabled")
    server = servers.show_server(catalog, admin, "web")
    assert (server["status"], server["fault"]["message"]) == ("ERROR", e.value.summary)
    with catalog.db.session_scope(readonly=True) as s:
        assert [(h.used_vcpus, h.used_ram_mib, h.used_disk_gib, h.instance_count)
                for h in s.query(Host)] == [(0, 0, 0, 0)] * 3


def test_other_projects_images_are_not_found(catalog, admin, alice):
    images.create_image(catalog, admin, "private-one", visibility="private")
    with pytest.raises(NotFound, match="^image 'private-one' not found$"):
        servers.create_server(catalog, alice, "web", image="private-one", flavor="tiny")
