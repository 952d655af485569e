"""The image cache on each host: an image's data uploaded once into kumo's pool and shared by the
instances there that boot from it -- complete, or not used at all.

libvirt has no volume rename, so an upload cannot be written under a temporary name and moved
into place; copying a finished temporary volume to the final name (virStorageVolCreateXMLFrom)
would write every image twice on the host, and libvirtd dying mid-copy would again leave a
final-named partial volume. So completion is recorded explicitly instead, in the database every
controller process shares (kumo.db.models.HostImage, one row per host and image):

    no row        not on the host: insert a row ``uploading`` owned by this process (the primary
                  key lets one process win), delete any stale volume of that name, upload from
                  the store (the stored file checked again, and uploaded from that very open
                  file), check libvirt's reading of it, then mark the row ``ready``
    ``uploading`` by a live process: wait for it (poll) -- a concurrent create never boots from
                  an image still being written; by a dead one: take the row over (a conditional
                  UPDATE, so one process wins) and upload again
    ``ready``     use it; if the volume was removed behind kumo's back, upload it again

A failed upload deletes its volume and its row. A SIGKILLed uploader leaves a row ``uploading``
owned by a dead process: ``recover`` (run by journal.recover when a controller starts) deletes
that partial volume and the row, and the next create uploads the image again.

Failpoint (test-only): ``image-upload:mid-stream`` kills the process once the first chunk of an
image has been sent to the host.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from enum import Enum
from datetime import timedelta
from typing import BinaryIO, Callable

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from kumo.compute import naming
from kumo.compute.env import ComputeEnv, owner_gone
from kumo.compute.states import now
from kumo.compute.failpoints import failpoint
from kumo.compute.image_store import ImageStore
from kumo.db.models import Host, HostImage, HostImageState, Image
from kumo.errors import HostError, StateError
from kumo.hosts.protocol import HostConnection

#: Glance disk_format -> the format libvirt reads the image's copy in the pool as
VOLUME_FORMAT = {"qcow2": "qcow2", "raw": "raw", "vhd": "vpc", "vhdx": "vhdx", "vmdk": "vmdk",
                 "vdi": "vdi", "aki": "raw", "ari": "raw", "iso": "iso"}
#: how long a create waits for another process's upload of the same image to the same host
UPLOAD_WAIT_S = 1800.0
POLL_S = 0.2


class _Next(Enum):
    USE = "use"  # ready and on the host
    UPLOAD = "upload"  # the row is ours: upload
    WAIT = "wait"  # another live process is uploading


@dataclass(frozen=True)
class _Claim:
    next: _Next
    owner: str | None = None  # the uploader we wait for


def ensure(env: ComputeEnv, conn: HostConnection, host_id: int, image_id: str, *,
           wait_s: float | None = None, needed_by: str | None = None) -> str:
    """The name of ``image_id``'s complete volume in kumo's pool on the host, uploaded if it is
    not there, waited for if another process is uploading it. ``needed_by``: the server it is
    for (named in errors)."""
    volume = naming.image_volume_name(image_id)
    token = secrets.token_hex(8)
    deadline = time.monotonic() + (UPLOAD_WAIT_S if wait_s is None else wait_s)
    while True:
        claim = _claim(env, host_id, image_id, volume, token)
        if claim.next is _Next.USE:
            if _on_host(env, conn, volume):
                return volume
            if not _reclaim_ready(env, host_id, image_id, token):
                continue  # someone else took it over: look again
            claim = _Claim(_Next.UPLOAD)
        if claim.next is _Next.UPLOAD:
            _upload(env, conn, host_id, image_id, volume, token, needed_by)
            return volume
        if time.monotonic() >= deadline:
            raise StateError(f"image {image_id} is still being uploaded to this host by "
                             f"{claim.owner} after {UPLOAD_WAIT_S if wait_s is None else wait_s:g}"
                             " s; try again later")
        time.sleep(POLL_S)


def ready_on_host(env: ComputeEnv, conn: HostConnection, host_id: int,
                  image_ids: list[str]) -> bool:
    """True when every one of ``image_ids`` is ``ready`` on the host and its volume is in the
    pool -- what ``ensure`` would find for each, answered with one read and one listing of the
    pool instead of a locking transaction and a listing per image (a create's usual case: its
    images are there from an earlier create). False sends the caller to ``ensure``."""
    wanted = set(image_ids)
    if not wanted:
        return True
    with env.db.session_scope(readonly=True) as s:
        ready = set(s.scalars(select(HostImage.image_id).where(
            HostImage.host_id == host_id, HostImage.image_id.in_(wanted),
            HostImage.state == HostImageState.READY.value)))
    if ready != wanted:
        return False
    present = set(conn.list_volumes(env.pool_name))
    return all(naming.image_volume_name(i) in present for i in wanted)


def _claim(env: ComputeEnv, host_id: int, image_id: str, volume: str, token: str) -> _Claim:
    try:
        with env.db.session_scope() as s:  # SQLite: BEGIN IMMEDIATE; PostgreSQL: row lock
            row = s.scalar(select(HostImage).where(HostImage.host_id == host_id,
                                                   HostImage.image_id == image_id)
                           .with_for_update())
            if row is None:
                s.add(HostImage(host_id=host_id, image_id=image_id, volume=volume,
                                state=HostImageState.UPLOADING.value, owner=env.owner,
                                token=token))
                return _Claim(_Next.UPLOAD)
            if row.state == HostImageState.READY.value:
                return _Claim(_Next.USE)
            if not _uploader_gone(env, row):
                return _Claim(_Next.WAIT, row.owner)
            row.owner, row.token = env.owner, token  # its uploader died: ours now
            return _Claim(_Next.UPLOAD)
    except IntegrityError:  # another process inserted the row first (PostgreSQL)
        return _Claim(_Next.WAIT, "another controller")


def _uploader_gone(env: ComputeEnv, row: HostImage) -> bool:
    """True if the process uploading ``row`` is gone: a process of this machine that no longer
    runs (or no owner at all), or another machine's that has not renewed the row for a journal
    lease (the upload renews it as it streams, kumo.compute.lease's rule for journal entries)."""
    gone = owner_gone(row.owner)
    if gone is None:
        return now() - row.updated_at > timedelta(seconds=env.settings.journal_lease)
    return gone


def _reclaim_ready(env: ComputeEnv, host_id: int, image_id: str, token: str) -> bool:
    """A ready row whose volume is gone from the host: take it over to upload again."""
    with env.db.session_scope() as s:
        return s.execute(
            update(HostImage).where(HostImage.host_id == host_id, HostImage.image_id == image_id,
                                    HostImage.state == HostImageState.READY.value)
            .values(state=HostImageState.UPLOADING.value, owner=env.owner, token=token)
            .execution_options(synchronize_session=False)).rowcount == 1


def _upload(env: ComputeEnv, conn: HostConnection, host_id: int, image_id: str, volume: str,
            token: str, needed_by: str | None = None) -> None:
    try:
        if _on_host(env, conn, volume):  # a dead uploader's partial volume
            conn.delete_volume(env.pool_name, volume)
        with env.db.session_scope(readonly=True) as s:
            image = s.get(Image, image_id)
            if image is None or not image.store_path:
                by = f" is needed by server {needed_by} but" if needed_by else ""
                raise StateError(f"image {image_id}{by} was deleted and is not on its host")
            store_path, disk_format = image.store_path, image.disk_format or "raw"
        fmt = VOLUME_FORMAT.get(disk_format, "raw")
        with ImageStore.of(env.settings).open_checked(store_path, disk_format, image_id) as fh:
            reader = _UploadReader(fh, lambda: _renew(env, host_id, image_id, token),
                                   every_s=env.settings.journal_lease / 3)
            info = conn.upload_volume(env.pool_name, volume, reader, fmt)
        if info.backing_path:  # libvirt's own reading of what arrived
            raise StateError(f"image {image_id} as uploaded reads another file on the host "
                             f"(backing file {info.backing_path}): it was removed")
        with env.db.session_scope() as s:
            done = s.execute(
                update(HostImage).where(HostImage.host_id == host_id,
                                        HostImage.image_id == image_id, HostImage.token == token)
                .values(state=HostImageState.READY.value, owner=None, token=None,
                        size=info.capacity_bytes)
                .execution_options(synchronize_session=False)).rowcount
        if not done:
            raise StateError(f"the upload of image {image_id} to this host was taken over by "
                             "another controller (this one was taken for dead)")
    except Exception:
        _give_up(env, conn, host_id, image_id, volume, token)
        raise


def _give_up(env: ComputeEnv, conn: HostConnection, host_id: int, image_id: str, volume: str,
             token: str) -> None:
    """After a failed upload: delete the volume and the row; if the host does not answer, leave
    the row ownerless, so the next process that needs the image (or recovery) deletes the
    volume first."""
    mine = (HostImage.host_id == host_id, HostImage.image_id == image_id,
            HostImage.token == token)
    try:
        if _on_host(env, conn, volume):
            conn.delete_volume(env.pool_name, volume)
    except Exception:
        with env.db.session_scope() as s:
            s.execute(update(HostImage).where(*mine).values(owner=None)
                      .execution_options(synchronize_session=False))
        return
    with env.db.session_scope() as s:
        s.execute(delete(HostImage).where(*mine).execution_options(synchronize_session=False))


def _on_host(env: ComputeEnv, conn: HostConnection, volume: str) -> bool:
    return volume in conn.list_volumes(env.pool_name)


def _renew(env: ComputeEnv, host_id: int, image_id: str, token: str) -> None:
    """Show the upload is alive (see _uploader_gone): touch its row's updated_at."""
    with env.db.session_scope() as s:
        s.execute(update(HostImage).where(HostImage.host_id == host_id,
                                          HostImage.image_id == image_id,
                                          HostImage.token == token)
                  .values(updated_at=now()).execution_options(synchronize_session=False))


class _UploadReader:
    """The open stored file, read by the upload stream: renews the upload's row every third of
    a journal lease, and fires ``image-upload:mid-stream`` after the first chunk (test-only: a
    controller killed while an image is half on the host)."""

    def __init__(self, fh: BinaryIO, renew: Callable[[], None], every_s: float):
        self._fh, self._renew, self._every_s = fh, renew, every_s
        self._chunks = 0
        self._renewed = time.monotonic()
        self.name = getattr(fh, "name", "data")

    def fileno(self) -> int:
        return self._fh.fileno()

    def read(self, size: int = -1) -> bytes:
        if self._chunks == 1:
            failpoint("image-upload:mid-stream")
        self._chunks += 1
        if time.monotonic() - self._renewed >= self._every_s:
            self._renew()
            self._renewed = time.monotonic()
        return self._fh.read(size)


def recover(env: ComputeEnv) -> list[str]:
    """Delete the partial image volumes dead uploaders left on hosts, and their rows; what was
    done, one sentence each. A host that does not answer keeps its row for the next start."""
    with env.db.session_scope(readonly=True) as s:
        stale = [(r.host_id, r.image_id, r.volume, r.owner, r.token, h.name, h.uri)
                 for r, h in s.execute(select(HostImage, Host).join(Host).where(
                     HostImage.state == HostImageState.UPLOADING.value))
                 if r.owner != env.owner and _uploader_gone(env, r)]
    done = []
    for host_id, image_id, volume, owner, token, host_name, uri in stale:
        mine = secrets.token_hex(8)
        with env.db.session_scope() as s:
            owned = HostImage.owner.is_(None) if owner is None else HostImage.owner == owner
            taken = s.execute(
                update(HostImage).where(HostImage.host_id == host_id,
                                        HostImage.image_id == image_id, owned,
                                        HostImage.state == HostImageState.UPLOADING.value)
                .values(owner=env.owner, token=mine)
                .execution_options(synchronize_session=False)).rowcount
        if not taken:
            continue  # another controller got there first
        conn = env.host(uri)
        try:
            if _on_host(env, conn, volume):
                conn.delete_volume(env.pool_name, volume)
        except HostError as e:
            with env.db.session_scope() as s:
                s.execute(update(HostImage).where(HostImage.host_id == host_id,
                                                  HostImage.image_id == image_id,
                                                  HostImage.token == mine).values(owner=None)
                          .execution_options(synchronize_session=False))
            done.append(f"the partial upload of image {image_id} to host {host_name} (volume "
                        f"{volume}) is not removed yet: {e}")
            continue
        with env.db.session_scope() as s:
            s.execute(delete(HostImage).where(HostImage.host_id == host_id,
                                              HostImage.image_id == image_id,
                                              HostImage.token == mine)
                      .execution_options(synchronize_session=False))
        done.append(f"removed the partial upload of image {image_id} to host {host_name} "
                    f"(volume {volume}); the next server that needs it uploads it again")
    return done

