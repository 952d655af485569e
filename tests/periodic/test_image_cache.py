"""Image-cache aging with a fake clock: exactly the unused volumes older than the max age go."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from kumo.compute import naming
from kumo.db.models import Host, HostImage, ImageCacheVolume, Instance
from kumo.periodic import image_cache
from tests.compute.records import add_instance
from tests.periodic.fakes import deleted, fake_host

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=timezone.utc)
USED_IMAGE = "11111111-2222-4333-8444-555555555555"  # what add_instance boots from
OLD = "aaaaaaaa-2222-4333-8444-555555555555"
UPLOADING = "bbbbbbbb-2222-4333-8444-555555555555"
LATE = "cccccccc-2222-4333-8444-555555555555"
THEIRS = "dddddddd-2222-4333-8444-555555555555"  # another installation's, same daemon and pool


def uploaded(env, host_name: str, *image_ids: str) -> None:
    """host_images rows saying this installation uploaded these images to the host."""
    with env.db.session_scope() as s:
        host_id = s.query(Host).filter_by(name=host_name).one().id
        for image_id in image_ids:
            s.add(HostImage(host_id=host_id, image_id=image_id, state="ready",
                            volume=naming.image_volume_name(image_id), owner=env.owner))


def test_only_unused_volumes_older_than_the_max_age_are_removed(env, admin, kvm_host):
    env.settings = env.settings.model_copy(update={"image_cache_max_age": 3600.0})
    add_instance(env, admin, kvm_host)  # boots from USED_IMAGE
    with env.db.session_scope() as s:  # UPLOADING being uploaded (kumo.compute.image_cache)
        host_id = s.query(Host).filter_by(name=kvm_host).one().id
        s.add(HostImage(host_id=host_id, image_id=UPLOADING, state="uploading",
                        volume=naming.image_volume_name(UPLOADING), owner=env.owner))
    uploaded(env, kvm_host, USED_IMAGE, OLD, LATE)
    names = {i: naming.image_volume_name(i) for i in (USED_IMAGE, OLD, UPLOADING, LATE, THEIRS)}
    host = fake_host(env, volumes=[names[USED_IMAGE], names[OLD], names[UPLOADING],
                                   names[THEIRS],
                                   "kumo-image-not-a-uuid.part", "someone-elses-volume",
                                   "kumo-0f0f0f0f-2222-4333-8444-555555555555-disk"])

    image_cache.run(env, T0)  # first sight: OLD is marked unused since T0
    host.create_volume(env.pool_name, names[LATE], 1)
    image_cache.run(env, T0 + timedelta(seconds=1800))  # LATE unused since T0+30 min
    assert deleted(host) == []
    out = image_cache.run(env, T0 + timedelta(seconds=3601))  # OLD is past the age, LATE not
    assert deleted(host) == [names[OLD]]
    assert out.corrections == {"image-removed": 1}
    image_cache.run(env, T0 + timedelta(seconds=1800 + 3601))
    assert deleted(host) == [names[OLD], names[LATE]]
    assert host.volumes(env.pool_name) == {names[USED_IMAGE], names[UPLOADING], names[THEIRS],
                                           "kumo-image-not-a-uuid.part",
                            "someone-elses-volume",
                            "kumo-0f0f0f0f-2222-4333-8444-555555555555-disk"}
    with env.db.session_scope() as s:  # the upload finished; the create failed: now unused
        s.query(HostImage).filter_by(image_id=UPLOADING).one().state = "ready"
    image_cache.run(env, T0 + timedelta(days=1))
    image_cache.run(env, T0 + timedelta(days=1, seconds=3601))
    assert deleted(host)[-1] == names[UPLOADING]
    with env.db.session_scope(readonly=True) as s:
        assert {r.volume: r.unused_since for r in s.query(ImageCacheVolume)} == {
            names[USED_IMAGE]: None}
        # removed from the host: not there any more; USED_IMAGE's stays
        assert [r.image_id for r in s.query(HostImage)] == [USED_IMAGE]
    assert names[THEIRS] not in deleted(host)  # never this installation's to age


def test_a_volume_used_again_starts_its_age_afresh(env, admin, kvm_host):
    env.settings = env.settings.model_copy(update={"image_cache_max_age": 3600.0})
    uploaded(env, kvm_host, USED_IMAGE)
    host = fake_host(env, volumes=[naming.image_volume_name(USED_IMAGE)])
    image_cache.run(env, T0)  # unused since T0
    uuid = add_instance(env, admin, kvm_host)
    image_cache.run(env, T0 + timedelta(seconds=3000))  # in use: mark cleared
    with env.db.session_scope() as s:
        s.query(Instance).filter_by(uuid=uuid).one().deleted = True
    image_cache.run(env, T0 + timedelta(seconds=4000))  # unused again since here
    image_cache.run(env, T0 + timedelta(seconds=7000))
    assert deleted(host) == []
    image_cache.run(env, T0 + timedelta(seconds=7601))
    assert deleted(host) == [naming.image_volume_name(USED_IMAGE)]


def test_a_host_that_does_not_answer_is_skipped(env, admin, kvm_host):
    fake_host(env).down = True
    out = image_cache.run(env, T0)
    assert out.summary == "0 cached image volume(s) on 1 host(s): 0 removed"
