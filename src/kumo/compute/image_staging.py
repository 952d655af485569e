"""The staging area of Glance's interoperable image import: data staged to an image, then
imported into the store (``openstack image stage`` then ``openstack image import --method
glance-direct``; Image API 2.6, Glance's ``os_glance_staging_store``).

Staged data lives under ``<image store>/staging/`` until its import: bytes as the user sent them,
unchecked, as Glance stages them; the import reads them through the store's one checked write
(``ImageStore.write``: qemu-img on the stored copy, no backing or external data file), so an image
imported this way is checked exactly as one created or uploaded directly.

Crash safety, as in the store (an flock tells a live writer from a dead one):

    stage    .<id>.part created and locked  ->  image queued -> uploading  ->  renamed to <id>
    import   <id> locked  ->  image uploading -> importing  ->  the store's write + commit
             (active, with store_path)  ->  <id> removed

``recover`` (run before every image command, with the store's) removes a ``.part`` nobody holds
(a stage that died) and a staged file whose image is gone or already has its data; an image left
``uploading`` with neither a live ``.part`` nor staged data goes back to ``queued`` (stage again),
and one left ``importing`` by a dead import goes back to ``uploading`` (import again) -- never while
the staged file's lock is held by a live import.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from kumo.config import Settings
from kumo.compute.image_store import locked, sync_dir
from kumo.compute.image_store import names as _names_of
from kumo.errors import InvalidInput
from kumo.files import open_regular
from kumo.private_files import FILE_MODE, private_dir

Progress = Callable[[int], None]
_CHUNK = 1 << 20


@dataclass(frozen=True)
class StagingEvent:
    image_id: str
    outcome: str


class StagingArea:
    def __init__(self, store_directory: Path, data_dir: Path | None = None):
        self.directory = store_directory / "staging"
        self._store_directory = store_directory
        self._data_dir = data_dir

    @classmethod
    def of(cls, settings: Settings) -> "StagingArea":
        """The staging area of the store the settings name (ImageStore.of)."""
        return cls(settings.image_dir, data_dir=settings.data_dir)

    def staged(self, image_id: str) -> Path:
        return self.directory / image_id

    def _partial(self, image_id: str) -> Path:
        return self.directory / f".{image_id}.part"

    @contextlib.contextmanager
    def staging(self, image_id: str) -> Iterator[Callable[[str | Path, str, Progress | None],
                                                          int]]:
        """Create and lock ``.<id>.part``, then yield ``copy(source, what, progress) -> size``;
        on a clean exit the copy becomes the staged data (renamed to ``<id>``), on an error it
        is removed. The caller claims the image (queued -> uploading) inside the block, so the
        lock is held before the claim is visible (``recover`` never resets a live stage)."""
        private_dir(self._store_directory, root=self._data_dir)
        private_dir(self.directory, root=self._data_dir)
        partial = self._partial(image_id)
        fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)
            fcntl.flock(fd, fcntl.LOCK_EX)

            def copy(source: str | Path, what: str, progress: Progress | None) -> int:
                src_fd = open_regular(source, what)
                size = 0
                with os.fdopen(src_fd, "rb") as src:
                    while chunk := _read(src, what):
                        os.write(fd, chunk)
                        size += len(chunk)
                        if progress is not None:
                            progress(len(chunk))
                os.fsync(fd)
                return size

            try:
                yield copy
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            os.replace(partial, self.staged(image_id))
            sync_dir(self.directory)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def importing(self, image_id: str) -> Iterator[Path | None]:
        """The staged file, locked for an import (None: nothing staged, or another import holds
        it); it is removed when the block ends cleanly (its data is in the store then)."""
        path = self.staged(image_id)
        with locked(path) as fd:
            if fd is None:
                yield None
                return
            yield path
            path.unlink(missing_ok=True)

    def remove(self, image_id: str) -> None:
        self.staged(image_id).unlink(missing_ok=True)

    def recover(self, status_of: Callable[[str], tuple[str | None, bool]],
                set_status: Callable[[str, str, str], bool],
                claimed: Callable[[], list[tuple[str, str]]]) -> list[StagingEvent]:
        """Finish what a killed stage or import left (module docstring). ``status_of(id)`` is
        (status or None when the row is gone, whether it has data); ``set_status(id, from, to)``
        a conditional update; ``claimed()`` the (id, status) of images uploading or importing."""
        events: list[StagingEvent] = []
        names = _names_of(self.directory)
        for name in names:
            if name.startswith(".") and name.endswith(".part"):
                image_id = name[1:-len(".part")]
                if _take_lock(self.directory / name):
                    (self.directory / name).unlink(missing_ok=True)
                    events.append(StagingEvent(image_id, "a stage died: partial data removed"))
            elif not name.startswith("."):
                status, has_data = status_of(name)
                if status is None or has_data:
                    if _take_lock(self.directory / name):
                        self.remove(name)
                        events.append(StagingEvent(name, "staged data of an image that is gone "
                                                         "or already imported: removed"))
        for image_id, status in claimed():
            staged, partial = self.staged(image_id), self._partial(image_id)
            if status == "importing":
                if staged.exists():
                    if _take_lock(staged) and set_status(image_id, "importing", "uploading"):
                        events.append(StagingEvent(image_id, "an import died: the image is "
                                                             "uploading again (import again)"))
                elif set_status(image_id, "importing", "queued"):
                    events.append(StagingEvent(image_id, "an import died and its staged data "
                                                         "is gone: the image is queued again"))
            elif status == "uploading":
                # the .part first: a live stage holds it until it is renamed to the staged
                # file, so once it is gone the staged file exists or the stage is over
                if partial.exists() and not _take_lock(partial):
                    continue  # a live stage
                if staged.exists():
                    continue  # staged, waiting for its import
                if set_status(image_id, "uploading", "queued"):
                    partial.unlink(missing_ok=True)
                    events.append(StagingEvent(image_id, "a stage died: the image is queued "
                                                         "again (stage again)"))
        return events


def _read(src: BinaryIO, what: str) -> bytes:
    try:
        return src.read(_CHUNK)
    except OSError as e:  # the user's file failing (EIO), not the staging area
        raise InvalidInput(f"{what} cannot be read: {e.strerror} (nothing was staged)") from None


def _take_lock(path: Path) -> bool:
    """Whether no live process holds ``path``'s lock (True also when it is gone)."""
    with locked(path) as fd:
        return fd is not None or not path.exists()  # gone counts as free, as before
