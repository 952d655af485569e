"""The image cache on a host (kumo.compute.image_cache), against the in-memory host: a create
never boots from an image volume still being written -- a concurrent create of the same image on
the same host waits for the upload; a dead uploader's partial volume is never used, and recovery
removes it; the stored file is checked again before it goes to a host."""

from __future__ import annotations

import subprocess
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from kumo.compute import flavors, image_cache, images, journal, naming, servers
from kumo.compute.env import ComputeEnv
from kumo.db.models import Host, HostImage
from kumo.errors import StateError
from kumo.hosts import fake
from kumo.hosts.fake import Fault
from tests.support.hosts import add_host

URI = "fake:///kvm-1"


@pytest.fixture
def cloud(env, admin, image_file, fake_hosts):
    image = images.create_image(env, admin, "linux", file=image_file, disk_format="qcow2",
                                properties={"os_type": "linux"}, visibility="public")
    flavors.create_flavor(env, admin, "tiny", vcpus=1, ram_mib=256, disk_gib=1)
    add_host(env.db, "kvm-1", URI, last_heartbeat=datetime.now(timezone.utc))
    with env.db.session_scope(readonly=True) as s:
        host_id = s.scalar(select(Host.id).where(Host.name == "kvm-1"))
    host = fake_hosts[URI]
    host.ensure_pool(env.pool_name, env.pool_path)
    return env, host, host_id, image["id"], image_file.read_bytes()


def rows(env) -> list[tuple[str, str, str | None]]:
    with env.db.session_scope(readonly=True) as s:
        return [(r.image_id, r.state, r.owner) for r in s.scalars(select(HostImage))]


def dead_owner() -> str:
    import socket

    return f"{socket.gethostname()}:999999999:0"


def half_uploaded(env, host, host_id, image_id, owner) -> str:
    """What a SIGKILLed uploader leaves: the volume half written, its row uploading."""
    volume = naming.image_volume_name(image_id)
    host.pools[env.pool_name].volumes[volume] = fake.VolumeInfo(
        volume, f"{env.pool_path}/{volume}", "raw", 1 << 20, 4096)
    host.uploaded[volume] = b"QFI\xfb" + b"\0" * 60  # the first bytes only
    with env.db.session_scope() as s:
        s.add(HostImage(host_id=host_id, image_id=image_id, volume=volume, state="uploading",
                        owner=owner, token="dead"))
    return volume


def test_second_create_waits_for_the_first_upload(cloud, admin, monkeypatch):
    """The first create's image upload is held mid-stream; a second create of the same image on
    the same host must not create its root disk over the half-written volume (it used to: the
    volume existed, so it was taken for complete)."""
    env, host, _host_id, image_id, data = cloud
    streaming, release, events = threading.Event(), threading.Event(), []
    real_read = fake._read_all

    def held_stream(fh):
        if not streaming.is_set():
            streaming.set()
            assert release.wait(30)
        out = real_read(fh)
        events.append("image upload complete")
        return out

    monkeypatch.setattr(fake, "_read_all", held_stream)
    host.hooks.append(lambda call: events.append(f"root disk {call.args['name']}")
                      if call.op == "create_overlay_volume" else None)
    results: dict[str, object] = {}

    def create(name: str) -> None:
        try:
            results[name] = servers.create_server(env, admin, name, image="linux",
                                                  flavor="tiny").server["status"]
        except Exception as e:  # reported by the assertions below
            results[name] = e

    first = threading.Thread(target=create, args=("first",))
    first.start()
    assert streaming.wait(30)
    second = threading.Thread(target=create, args=("second",))
    second.start()
    second.join(1.5)  # time enough to go past the upload, had it not waited
    assert events == []  # nothing built on the half-written image
    release.set()
    first.join(30)
    second.join(30)
    assert results == {"first": "ACTIVE", "second": "ACTIVE"}
    assert events[0] == "image upload complete" and len(events) == 3
    assert [c.args["name"] for c in host.ops("upload_volume")
            if naming.image_of_volume(c.args["name"])] == [naming.image_volume_name(image_id)]
    assert host.uploaded[naming.image_volume_name(image_id)] == data
    assert rows(env) == [(image_id, "ready", None)]


def test_a_dead_uploaders_partial_volume_is_replaced_not_used(cloud):
    env, host, host_id, image_id, data = cloud
    volume = half_uploaded(env, host, host_id, image_id, dead_owner())
    assert image_cache.ensure(env, host, host_id, image_id) == volume
    assert host.uploaded[volume] == data  # uploaded again, complete
    assert [c.op for c in host.ops("delete_volume", "upload_volume")] == [
        "delete_volume", "upload_volume"]
    assert rows(env) == [(image_id, "ready", None)]


def test_recovery_removes_a_dead_uploaders_partial_volume(cloud):
    env, host, host_id, image_id, data = cloud
    volume = half_uploaded(env, host, host_id, image_id, dead_owner())
    [done] = journal.recover(env)
    assert (done.operation, done.instance_uuid, done.outcome) == (
        "image-upload", None,
        f"removed the partial upload of image {image_id} to host kvm-1 (volume {volume}); the "
        "next server that needs it uploads it again")
    assert host.volumes(env.pool_name) == set() and rows(env) == []
    assert journal.recover(env) == []


def test_recovery_keeps_the_row_of_a_host_that_does_not_answer(cloud):
    env, host, host_id, image_id, data = cloud
    volume = half_uploaded(env, host, host_id, image_id, dead_owner())
    host.fail("list_volumes", Fault.CONNECTION_LOST)
    [done] = journal.recover(env)
    assert done.outcome.startswith(f"the partial upload of image {image_id} to host kvm-1 "
                                   f"(volume {volume}) is not removed yet: cannot ")
    assert rows(env) == [(image_id, "uploading", None)]  # ownerless: the next one cleans it
    host.heal()
    env.forget_host(URI)
    [done] = journal.recover(env)
    assert done.outcome.startswith("removed the partial upload")
    assert host.volumes(env.pool_name) == set() and rows(env) == []


def test_a_live_uploader_is_waited_for_then_given_up_on(cloud):
    env, host, host_id, image_id, _data = cloud
    half_uploaded(env, host, host_id, image_id, env.owner)  # this process: alive
    other = ComputeEnv(db=env.db, settings=env.settings, pool_name=env.pool_name,
                       pool_path=env.pool_path, connect=env.connect)
    other.owner = env.owner
    with pytest.raises(StateError) as e:
        image_cache.ensure(other, host, host_id, image_id, wait_s=0.5)
    assert str(e.value) == (f"image {image_id} is still being uploaded to this host by "
                            f"{env.owner} after 0.5 s; try again later")
    assert host.ops("upload_volume", "delete_volume") == []
    assert journal.recover(env) == []  # a live uploader's volume is not recovery's


def test_a_ready_image_whose_volume_vanished_is_uploaded_again(cloud):
    env, host, host_id, image_id, data = cloud
    volume = image_cache.ensure(env, host, host_id, image_id)
    host.delete_volume(env.pool_name, volume)  # an operator removed it behind kumo's back
    assert image_cache.ensure(env, host, host_id, image_id) == volume
    assert host.uploaded[volume] == data and rows(env) == [(image_id, "ready", None)]
    assert len([c for c in host.ops("upload_volume")]) == 2


def test_a_failed_upload_leaves_no_volume_and_no_row(cloud):
    env, host, host_id, image_id, _data = cloud
    host.fail("upload_volume", Fault.STORAGE, after=True)
    with pytest.raises(Exception, match="No space left on device"):
        image_cache.ensure(env, host, host_id, image_id)
    assert host.volumes(env.pool_name) == set() and rows(env) == []


@pytest.mark.parametrize("kind, refers", [
    ("backing", "backing file /etc/shadow"), ("data", "data file {tmp_path}/data.raw")],
    ids=["backing-file", "external-data-file"])
def test_stored_image_reading_another_file_is_not_uploaded(cloud, tmp_path, kind, refers):
    """The image store was changed behind kumo's back (or holds an image stored before the
    check): checked again before any byte goes to the host."""
    env, host, host_id, image_id, _data = cloud
    stored = env.settings.image_dir / image_id
    # (qemu-img create makes the data file: never point it at a real file)
    opt = (["-F", "raw", "-b", "/etc/shadow"] if kind == "backing"
           else ["-o", f"data_file={tmp_path}/data.raw"])
    refers = refers.format(tmp_path=tmp_path)
    stored.unlink()
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", *opt, str(stored), "1M"],
                   check=True, capture_output=True)
    with pytest.raises(StateError) as e:
        image_cache.ensure(env, host, host_id, image_id)
    assert str(e.value) == (
        f"the stored data of image {image_id} refers to another file ({refers}); upload a "
        "self-contained image (it was not uploaded to the host: delete the image and create it "
        "again from a self-contained file)")
    assert host.ops("upload_volume") == [] and host.volumes(env.pool_name) == set()
    assert rows(env) == []
