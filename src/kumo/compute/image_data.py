"""Image data after the image exists: upload to a queued image, download an active one.

As in Glance v2 (``PUT /v2/images/{id}/file``), data goes to an image that has none yet (status
queued), once: the image is marked ``saving`` in one conditional UPDATE, so two uploads to the
same image cannot both proceed; the stored copy is checked by qemu-img against the image's
disk_format before it gets its name (ImageStore.put, as at create), and the image becomes
``active`` with size and checksums, or goes back to ``queued`` if anything fails. ``progress`` callbacks are
told each chunk's size, for a progress bar.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import update

from kumo.catalog.schema import DISK_FORMATS
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.failpoints import failpoint
from kumo.compute.image_store import _check_disk_format
from kumo.compute.images import _owned_image, image_view, store
from kumo.compute.lookup import find_image
from kumo.db.models import Image, ImageStatus
from kumo.errors import InvalidInput, NotFound, StateError

Progress = Callable[[int], None]


def upload_image(env: ComputeEnv, ctx: RequestContext, ref: str, file: str | Path, *,
                 disk_format: str | None = None,
                 progress: Progress | None = None,
                 set_format_hint: str = "give --disk-format") -> dict[str, Any]:
    """Store ``file`` as the data of the queued image ``ref`` (its owner or an admin): the one
    upload path of the CLI (``kumo image upload``) and the Image API (``PUT .../file``).
    ``set_format_hint`` says, in the caller's terms, how an image without a disk_format gets
    one (the CLI takes ``--disk-format``; an API client sets it on the image first)."""
    with env.db.session_scope(readonly=True) as s:
        image = _owned_image(s, ctx, ref, "upload data to")
        image_id, status, fmt = image.id, image.status, image.disk_format
    stored_format = fmt
    if status != ImageStatus.QUEUED.value:
        raise StateError(f"image {ref!r} is {status}: data can be uploaded only to a queued "
                         "image (create a new image for new data)")
    if disk_format is not None and fmt is not None and disk_format != fmt:
        raise InvalidInput(f"--disk-format {disk_format} is invalid: image {ref!r} has "
                           f"disk_format={fmt}, which cannot change")
    fmt = fmt or disk_format
    if fmt is None:
        raise InvalidInput(f"image {ref!r} has no disk_format: {set_format_hint} (allowed "
                           f"{', '.join(DISK_FORMATS)})")
    _check_disk_format(fmt)
    with env.db.session_scope() as s:
        claimed = s.execute(update(Image).where(
            Image.id == image_id, Image.status == ImageStatus.QUEUED.value).values(
            status=ImageStatus.SAVING.value, disk_format=fmt)).rowcount
    if not claimed:
        raise StateError(f"image {ref!r} is no longer queued: another upload took it")
    pending = None
    try:
        pending = store(env).write(image_id, file, fmt, progress)
        failpoint("image-upload-data:written")
        stored = pending.stored
        with env.db.session_scope() as s:
            image = s.get(Image, image_id)
            if image is None:  # deleted while its data was being stored
                raise NotFound(f"image {ref!r} was deleted during the upload")
            image.store_path, image.size = stored.store_path, stored.size
            image.checksum, image.virtual_size = stored.checksum, stored.virtual_size
            image.os_hash_algo, image.os_hash_value = stored.os_hash_algo, stored.os_hash_value
            image.status = ImageStatus.ACTIVE.value
            s.flush()
            view = image_view(image)
    except BaseException:
        if pending is not None:
            pending.discard()
        with env.db.session_scope() as s:
            s.execute(update(Image).where(Image.id == image_id).values(
                status=ImageStatus.QUEUED.value, disk_format=stored_format))
        raise
    pending.publish()  # the row is committed: the data takes its final name
    return view


def download_image(env: ComputeEnv, ctx: RequestContext, ref: str,
                   dest: str | Path | BinaryIO, progress: Progress | None = None) -> int:
    """Write the data of image ``ref`` to ``dest``; returns its size. Any image the caller may
    see (Glance lets every user who sees an image download it)."""
    with env.db.session_scope(readonly=True) as s:
        image = find_image(s, ctx, ref)
        status, path, size = image.status, image.store_path, image.size
    if status != ImageStatus.ACTIVE.value or not path:
        raise StateError(f"image {ref!r} is {status}: it has no data to download")
    store(env).copy_out(path, dest, progress)
    return size or 0


def data_size(env: ComputeEnv, ctx: RequestContext, ref: str) -> int | None:
    with env.db.session_scope(readonly=True) as s:
        return find_image(s, ctx, ref).size
