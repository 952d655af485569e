"""Image data after the image exists: upload to a queued image, or stage and import it (Glance's
interoperable import, kumo.compute.image_staging), download an active one.

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

from sqlalchemy import select, update

from kumo.catalog.schema import DISK_FORMATS
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.failpoints import failpoint
from kumo.compute.image_staging import StagingArea, StagingEvent
from kumo.compute.image_store import _check_disk_format
from kumo.compute.images import _owned_image, image_view, store
from kumo.compute.lookup import find_image
from kumo.db.models import Image, ImageStatus
from kumo.errors import InvalidInput, NotFound, StateError

Progress = Callable[[int], None]


def upload_image(env: ComputeEnv, ctx: RequestContext, ref: str, file: str | Path, *,
                 disk_format: str | None = None,
                 progress: Progress | None = None,
                 set_format_hint: str = "give --disk-format",
                 what: str | None = None) -> dict[str, Any]:
    """Store ``file`` as the data of the queued image ``ref`` (its owner or an admin): the one
    upload path of the CLI (``kumo image upload``) and the Image API (``PUT .../file``).
    ``set_format_hint`` and ``what`` say, in the caller's terms, how an image without a
    disk_format gets one (the CLI takes ``--disk-format``; an API client sets it on the image
    first) and what the data is called in errors (the API's is a temporary file the client
    never named: "the uploaded data")."""
    with env.db.session_scope(readonly=True) as s:
        image = _owned_image(s, ctx, ref, "upload data to")
        image_id, status, fmt = image.id, image.status, image.disk_format
    stored_format = fmt
    if status != ImageStatus.QUEUED.value:
        raise StateError(f"image {ref!r} is {status}: data can be uploaded only to a queued "
                         "image (create a new image for new data)")
    fmt = _data_format(ref, fmt, disk_format, set_format_hint)
    with env.db.session_scope() as s:
        claimed = s.execute(update(Image).where(
            Image.id == image_id, Image.status == ImageStatus.QUEUED.value).values(
            status=ImageStatus.SAVING.value, disk_format=fmt)).rowcount
    if not claimed:
        raise StateError(f"image {ref!r} is no longer queued: another upload took it")
    return _store_data(env, image_id, ref, file, fmt, progress, "image-upload-data",
                       busy=ImageStatus.SAVING,
                       back={"status": ImageStatus.QUEUED.value, "disk_format": stored_format},
                       what=what)


def _data_format(ref: str, image_format: str | None, given: str | None, hint: str) -> str:
    """The disk_format data for image ``ref`` is checked against: the image's, or the one given
    with the data when the image has none (it cannot change once set)."""
    if given is not None and image_format is not None and given != image_format:
        raise InvalidInput(f"--disk-format {given} is invalid: image {ref!r} has "
                           f"disk_format={image_format}, which cannot change")
    fmt = image_format or given
    if fmt is None:
        raise InvalidInput(f"image {ref!r} has no disk_format: {hint} (allowed "
                           f"{', '.join(DISK_FORMATS)})")
    _check_disk_format(fmt)
    return fmt


def _store_data(env: ComputeEnv, image_id: str, ref: str, source: str | Path, fmt: str,
                progress: Progress | None, op: str, *, busy: ImageStatus,
                back: dict[str, Any], what: str | None = None) -> dict[str, Any]:
    """The one way data enters an existing image (upload, and import of staged data): the
    store's checked write, the row made active with size and hashes, then the file published;
    on any failure the copy is discarded and the image (still ``busy``) set back to ``back``."""
    pending = None
    try:
        pending = store(env).write(image_id, source, fmt, progress, what)
        failpoint(f"{op}:written")
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
            s.execute(update(Image).where(Image.id == image_id,
                                          Image.status == busy.value).values(**back))
        raise
    pending.publish()  # the row is committed: the data takes its final name
    return view


def staging(env: ComputeEnv) -> StagingArea:
    return StagingArea.of(env.settings)


#: Glance's import methods; kumo runs glance-direct only: web-download would fetch a URL from the
#: controller (a server-side request a tenant controls) and glance-download / copy-image need
#: other Glance regions and stores kumo does not have
IMPORT_METHODS = ("glance-direct",)


def stage_image(env: ComputeEnv, ctx: RequestContext, ref: str, file: str | Path, *,
                disk_format: str | None = None, progress: Progress | None = None,
                set_format_hint: str = "give --disk-format",
                what: str | None = None) -> dict[str, Any]:
    """Stage ``file`` for the queued image ``ref`` (Glance's ``PUT .../stage``): the image goes
    queued -> uploading with its data in the staging area, to be checked and stored by
    ``import_image``. The disk_format is settled here, as for an upload (it cannot change
    afterwards, and the import checks the data against it)."""
    with env.db.session_scope(readonly=True) as s:
        image = _owned_image(s, ctx, ref, "stage data for")
        image_id, status, stored_format = image.id, image.status, image.disk_format
    if status != ImageStatus.QUEUED.value:
        raise StateError(f"image {ref!r} is {status}: data can be staged only for a queued "
                         "image (create a new image for new data)")
    fmt = _data_format(ref, stored_format, disk_format, set_format_hint)
    with staging(env).staging(image_id) as copy:
        with env.db.session_scope() as s:
            claimed = s.execute(update(Image).where(
                Image.id == image_id, Image.status == ImageStatus.QUEUED.value).values(
                status=ImageStatus.UPLOADING.value, disk_format=fmt)).rowcount
        if not claimed:
            raise StateError(f"image {ref!r} is no longer queued: another upload took it")
        try:
            copy(file, what or f"image file {str(file)!r}", progress)
            failpoint("image-stage:copied")
        except BaseException:
            with env.db.session_scope() as s:
                s.execute(update(Image).where(
                    Image.id == image_id, Image.status == ImageStatus.UPLOADING.value).values(
                    status=ImageStatus.QUEUED.value, disk_format=stored_format))
            raise
    with env.db.session_scope(readonly=True) as s:
        return image_view(s.get(Image, image_id))


def import_image(env: ComputeEnv, ctx: RequestContext, ref: str,
                 method: str = "glance-direct") -> dict[str, Any]:
    """Import the staged data of image ``ref`` (Glance's ``POST .../import``, method
    glance-direct): checked and stored exactly as an upload is; the image becomes active. Data
    that is not what the image's disk_format says is dropped and the image queued again (stage
    the right data); any other failure keeps the staged data for another import."""
    if method not in IMPORT_METHODS:
        raise InvalidInput(f"import method {method!r} is not offered: allowed "
                           f"{', '.join(IMPORT_METHODS)}")
    with env.db.session_scope(readonly=True) as s:
        image = _owned_image(s, ctx, ref, "import data into")
        image_id, status, fmt = image.id, image.status, image.disk_format
    if status != ImageStatus.UPLOADING.value or fmt is None:
        hint = ("stage its data first (kumo image stage)" if status == ImageStatus.QUEUED.value
                else "only an image with staged data (status uploading) can be imported")
        raise StateError(f"image {ref!r} is {status}: {hint}")
    area = staging(env)
    with area.importing(image_id) as staged:
        if staged is None:
            raise StateError(f"image {ref!r} has no staged data to import, or another import "
                             "of it is running")
        with env.db.session_scope() as s:
            claimed = s.execute(update(Image).where(
                Image.id == image_id, Image.status == ImageStatus.UPLOADING.value).values(
                status=ImageStatus.IMPORTING.value)).rowcount
        if not claimed:
            raise StateError(f"image {ref!r} is no longer uploading: another import took it")
        try:
            return _store_data(env, image_id, ref, staged, fmt, None, "image-import",
                               busy=ImageStatus.IMPORTING,
                               back={"status": ImageStatus.UPLOADING.value},
                               what=f"the staged data of image {ref!r}")
        except InvalidInput as e:
            with env.db.session_scope() as s:
                s.execute(update(Image).where(
                    Image.id == image_id, Image.status == ImageStatus.UPLOADING.value).values(
                    status=ImageStatus.QUEUED.value))
            area.remove(image_id)
            raise InvalidInput(f"{e}; the image is queued again: stage the right data") \
                from None


def recover_staging(env: ComputeEnv) -> list[StagingEvent]:
    """Finish or undo the stages and imports a killed command left (kumo.compute.image_staging)."""
    def status_of(image_id: str) -> tuple[str | None, bool]:
        with env.db.session_scope(readonly=True) as s:
            image = s.get(Image, image_id)
            return (None, False) if image is None else (image.status,
                                                        image.store_path is not None)

    def set_status(image_id: str, old: str, new: str) -> bool:
        with env.db.session_scope() as s:
            return bool(s.execute(update(Image).where(
                Image.id == image_id, Image.status == old,
                Image.store_path.is_(None)).values(status=new)).rowcount)

    def claimed() -> list[tuple[str, str]]:
        with env.db.session_scope(readonly=True) as s:
            return [(i, st) for i, st in s.execute(select(Image.id, Image.status).where(
                Image.status.in_((ImageStatus.UPLOADING.value,
                                  ImageStatus.IMPORTING.value))))]
    return staging(env).recover(status_of, set_status, claimed)


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
