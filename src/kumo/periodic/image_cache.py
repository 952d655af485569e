"""Image-cache aging: cached image volumes unused on a host for longer than
``image_cache_max_age`` seconds are removed (Nova's image cache manager and its
remove_unused_original_minimum_age_seconds).

Every ``image_cache_interval`` seconds, for each host that answers, the image volumes in kumo's
pool (``kumo-image-<image id>``, kumo.compute.naming) are sorted into

    in use         an instance on the host boots from it (image, kernel, ramdisk; instances
                   being built included: they are recorded before their upload), or an
                   upload of it is unfinished (kumo.compute.image_cache: its host_images row
                   says uploading)
    unused         anything else: its ``unused_since`` is recorded the first run that sees it
                   unused (kumo.db.models.ImageCacheVolume) and cleared when it is used again

and an unused volume whose ``unused_since`` is older than the max age is deleted, after its use
is checked again in the database. Never touched: volumes outside kumo's naming scheme (an
upload in progress under a temporary name, an operator's own), volumes outside this
installation's pool, and cached image volumes this installation did not upload (no host_images
row of its own: another kumo sharing the daemon and, by default, the pool name ``kumo``, whose
guests may boot from them -- the rule ``kumo host orphans`` follows too). A host that does not
answer is skipped; rows of volumes no longer on a host are forgotten.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from kumo import logs
from kumo.compute import naming
from kumo.compute.env import ComputeEnv
from kumo.compute.spawn import boot_images
from kumo.compute.states import now
from kumo.compute.teardown import pool_volumes
from kumo.db.models import Host, HostImage, HostImageState, ImageCacheVolume, Instance
from kumo.errors import HostError
from kumo.periodic import Outcome

NAME = "image-cache"

log = logs.get(__name__)


def in_use(env: ComputeEnv, host_id: int) -> set[str]:
    """The image volumes on the host that must stay (see the module docstring)."""
    with env.db.session_scope(readonly=True) as s:
        instances = s.scalars(select(Instance).where(Instance.host_id == host_id,
                                                     Instance.deleted.is_(False))).all()
        used = {naming.image_volume_name(i) for inst in instances for i in boot_images(inst)}
        used.update(s.scalars(select(HostImage.volume).where(  # being uploaded (or partial:
            HostImage.host_id == host_id,                      # image_cache.recover's)
            HostImage.state == HostImageState.UPLOADING.value)))
    return used


def uploaded_here(env: ComputeEnv, host_id: int) -> set[str]:
    """The image volumes this installation put on the host (its host_images rows)."""
    with env.db.session_scope(readonly=True) as s:
        return set(s.scalars(select(HostImage.volume).where(HostImage.host_id == host_id)))


def run(env: ComputeEnv, at: datetime | None = None) -> Outcome:
    at = at or now()
    max_age = timedelta(seconds=env.settings.image_cache_max_age)
    with env.db.session_scope(readonly=True) as s:
        hosts = s.execute(select(Host.id, Host.name, Host.uri).order_by(Host.name)).all()
    out = Outcome("")
    cached = removed = 0
    for host_id, name, uri in hosts:
        with logs.log_context(host=name):
            try:
                conn = env.host(uri)
                ours = uploaded_here(env, host_id)
                present = {v for v in pool_volumes(env, conn)
                           if naming.image_of_volume(v) and v in ours}
            except HostError as e:
                env.forget_host(uri)
                log.warning("host %s did not answer; its image cache left as it is: %s", name,
                            e)
                continue
            cached += len(present)
            for volume in _aged(env, host_id, present, at, max_age):
                if volume in in_use(env, host_id):  # checked again: a create may have come
                    continue
                try:
                    conn.delete_volume(env.pool_name, volume)
                except HostError as e:
                    log.warning("removing cached image volume %s failed: %s", volume, e)
                    continue
                with env.db.session_scope() as s:
                    s.execute(delete(ImageCacheVolume).where(
                        ImageCacheVolume.host_id == host_id, ImageCacheVolume.volume == volume))
                    s.execute(delete(HostImage).where(  # no longer on the host
                        HostImage.host_id == host_id, HostImage.volume == volume,
                        HostImage.state == HostImageState.READY.value))
                removed += 1
                out.count("image-removed")
                log.info("removed cached image volume %s from host %s: unused for more than "
                         "%g s", volume, name, max_age.total_seconds())
    out.summary = f"{cached} cached image volume(s) on {len(hosts)} host(s): {removed} removed"
    return out


def _aged(env: ComputeEnv, host_id: int, present: set[str], at: datetime,
          max_age: timedelta) -> list[str]:
    """Update the host's unused_since marks from what is present and in use; the volumes
    unused for longer than ``max_age``."""
    used = in_use(env, host_id)
    aged = []
    with env.db.session_scope() as s:
        rows = {r.volume: r for r in s.scalars(select(ImageCacheVolume).where(
            ImageCacheVolume.host_id == host_id))}
        for volume, row in rows.items():
            if volume not in present:
                s.delete(row)
        for volume in sorted(present):
            row = rows.get(volume)
            if row is None:
                row = ImageCacheVolume(host_id=host_id, volume=volume, first_seen_at=at)
                s.add(row)
            if volume in used:
                row.unused_since = None
            elif row.unused_since is None:
                row.unused_since = at
            elif at - row.unused_since > max_age:
                aged.append(volume)
    return aged
