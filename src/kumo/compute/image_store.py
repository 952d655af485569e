"""kumo's image store: image data in a local directory (Settings.image_dir), and the check that a
file is what its disk_format says before anything is stored.

``inspect`` asks ``qemu-img info --output=json`` what the file really is: a raw file uploaded as
qcow2 (or a qcow2 uploaded as raw, which would let a guest read host files through a backing
file -- OSSA-2015-014) is refused, as are qcow2 images that point at a backing or external data
file. ``write`` copies the file in under the image id, computing size, md5 (Glance's legacy
``checksum``) and sha512 (``os_hash_value``) on the way, and checks the copy (what was stored,
not the source, which could be swapped in between).

Crash safety. The file names in the store are the journal of its two multi-step changes, and an
advisory lock (flock) on the file tells a live writer from a dead one:

    create   .<id>.part written and locked  ->  row committed  ->  renamed to <id>, unlocked
    upload   the same, into a queued image's row (saving -> active with store_path)
    delete   <id> locked, renamed to .<id>.deleting  ->  row deleted  ->  unlinked

``recover`` looks at every ``.part`` and ``.deleting`` file nobody holds locked and finishes or
undoes the change by whether the image's row was committed with its data (``store_path`` set):
a ``.part`` so committed is renamed into place (the create or upload committed), otherwise it is
removed (the create never happened; an upload into a queued image died half-way: its row keeps
no data); a ``.deleting`` whose row is still there is renamed back (the delete was not
committed), without one it is removed. A file
named ``<id>`` without a row is never deleted by recovery -- the database may be a restored or
another installation's -- only reported (``orphans``; ``kumo image orphans``), as host orphans
are.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

from kumo.config import Settings
from kumo.errors import InvalidInput, StateError
from kumo.private_files import FILE_MODE, private_dir

#: Glance disk_format -> the format qemu-img info reports for such a file
QEMU_FORMAT = {"raw": "raw", "qcow2": "qcow2", "vhd": "vpc", "vhdx": "vhdx", "vmdk": "vmdk",
               "vdi": "vdi", "iso": "raw", "aki": "raw", "ari": "raw", "ami": "raw",
               "ploop": "parallels"}
#: qemu-img format -> the disk_format to suggest
GLANCE_FORMAT = {"vpc": "vhd", "parallels": "ploop"}
#: ISO 9660: the volume descriptor's "CD001" at byte 32769 (ECMA-119 8.1)
_ISO_MAGIC_OFFSET, _ISO_MAGIC = 0x8001, b"CD001"
QEMU_IMG_TIMEOUT_S = 60
HASH_ALGO = "sha512"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
#: a stored image, and the two in-flight names (see the module docstring)
_STORED = re.compile(rf"^({_UUID})$")
_IN_FLIGHT = re.compile(rf"^\.({_UUID})\.(part|deleting)$")


@dataclass(frozen=True)
class FileInfo:
    format: str  # as qemu-img names it
    virtual_size: int
    size: int


@dataclass(frozen=True)
class StoredImage:
    store_path: str  # relative to the store directory
    size: int
    checksum: str  # md5 hex
    os_hash_algo: str
    os_hash_value: str
    format: str  # as qemu-img reads the stored copy
    virtual_size: int


def inspect(path: str | Path, disk_format: str) -> FileInfo:
    """What ``path`` is, after checking that it is a ``disk_format`` image; InvalidInput if not.
    (Image create checks the stored copy instead: ImageStore.put.)"""
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"image file {str(p)!r} does not exist")
    with p.open("rb") as f:
        return _checked(f, disk_format, f"image file {str(p)!r}", InvalidInput,
                        "(nothing was stored)")


@contextlib.contextmanager
def _open_regular(path: str | Path, what: str) -> Iterator[BinaryIO]:
    """``path`` open for reading if it is a regular file; InvalidInput otherwise (opened without
    blocking, so a FIFO or device named as an image file does not hang the command)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InvalidInput(f"{what} does not exist") from None
    except OSError as e:
        raise InvalidInput(f"{what} cannot be read: {e.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InvalidInput(f"{what} is not a regular file")
    with os.fdopen(fd, "rb") as f:
        yield f


def _check_disk_format(disk_format: str) -> str:
    expected = QEMU_FORMAT.get(disk_format)
    if expected is None:
        raise InvalidInput(f"disk_format={disk_format!r} is invalid: allowed "
                           f"{', '.join(sorted(QEMU_FORMAT))}")
    return expected


def _checked(fh: BinaryIO, disk_format: str, what: str, error: type[Exception],
             after: str) -> FileInfo:
    """qemu-img's reading of the open file ``fh``, refused (``error``, naming ``what``) unless it
    is a self-contained ``disk_format`` image. qemu-img reads the very file ``fh`` is open on
    (/dev/fd/N, passed to it), so what is checked is what the caller goes on to read -- a name
    could be pointed at another file in between (the backing-file race)."""
    expected = _check_disk_format(disk_format)
    info = _qemu_img_info(fh, what)
    actual = info.get("format", "?")
    if actual != expected:
        suggest = GLANCE_FORMAT.get(actual, actual)
        raise error(f"{what} is not {disk_format}: qemu-img info reads it as {actual}; give "
                    f"disk_format={suggest} or the right file {after}")
    refers = refers_to(info)
    if refers:
        raise error(f"{what} refers to another file ({refers}); upload a self-contained image "
                    f"{after}")
    if disk_format == "iso" and os.pread(fh.fileno(), len(_ISO_MAGIC),
                                         _ISO_MAGIC_OFFSET) != _ISO_MAGIC:
        raise error(f"{what} is not iso: it has no ISO 9660 volume descriptor; give "
                    f"disk_format=raw or the right file {after}")
    return FileInfo(actual, int(info.get("virtual-size", 0)), os.fstat(fh.fileno()).st_size)


def refers_to(info: dict) -> str | None:
    """The other files a qemu-img info document says the image reads: a backing file (qcow2,
    vmdk, ...) or a qcow2 external data file. A guest booted from such an image opens them on the
    host (e.g. a backing file /etc/shadow: OSSA-2015-014)."""
    found = []
    if info.get("backing-filename"):
        found.append(f"backing file {info['backing-filename']}")
    data_file = info.get("format-specific", {}).get("data", {}).get("data-file")
    if data_file:
        found.append(f"data file {data_file}")
    return ", ".join(found) or None


def _qemu_img_info(fh: BinaryIO, what: str) -> dict:
    fd = fh.fileno()
    fd_path = f"/dev/fd/{fd}"
    try:
        out = subprocess.run(["qemu-img", "info", "--output=json", fd_path], pass_fds=(fd,),
                             capture_output=True, text=True, timeout=QEMU_IMG_TIMEOUT_S)
    except FileNotFoundError:
        raise InvalidInput("qemu-img is not installed (Debian: apt install qemu-utils); it "
                           "checks image files before they are stored") from None
    if out.returncode != 0:
        reason = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise InvalidInput(f"{what} cannot be read by qemu-img: "
                           f"{reason.replace(fd_path, 'it')}")
    return json.loads(out.stdout)


@dataclass(frozen=True)
class StoreEvent:
    """What ``recover`` did with one file, or what ``orphans`` found."""

    kind: str  # part | deleting | file | missing
    name: str  # file name in the store (or image id for "missing")
    image_id: str
    outcome: str  # one sentence


class PendingImage:
    """Image data written to ``.<id>.part`` and locked; ``publish`` once the row is committed,
    ``discard`` if it will not be."""

    def __init__(self, store: "ImageStore", image_id: str, fd: int, stored: StoredImage):
        self._store, self.image_id, self._fd, self.stored = store, image_id, fd, stored

    def publish(self) -> None:
        os.replace(self._store.partial(self.image_id), self._store.directory / self.image_id)
        self._store._sync_dir()
        self._close()

    def discard(self) -> None:
        self._store.partial(self.image_id).unlink(missing_ok=True)
        self._close()

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # releases the lock
            self._fd = -1


def _read_source(src: BinaryIO, what: str) -> bytes:
    """The next chunk of a user's image file: a read error (EIO from a failing disk, a file
    that only looks regular, such as /proc/self/mem) is that file's fault, said in one line,
    unlike a write error in the store."""
    try:
        return src.read(1 << 20)
    except OSError as e:
        raise InvalidInput(f"{what} cannot be read: {e.strerror} (nothing was stored)") from None


class ImageStore:
    """Image data under one directory, one file per image, named by the image id."""

    def __init__(self, directory: str | Path, *, data_dir: str | Path | None = None):
        self.directory = Path(directory)
        #: kumo's data directory when the store is inside it: made private too
        self.data_dir = Path(data_dir) if data_dir is not None else None

    @classmethod
    def of(cls, settings: Settings) -> "ImageStore":
        """The store the settings name (Settings.image_dir, in the data directory by default)."""
        return cls(settings.image_dir, data_dir=settings.data_dir)

    def path(self, store_path: str) -> Path:
        p = Path(store_path)
        return p if p.is_absolute() else self.directory / p

    def partial(self, image_id: str) -> Path:
        return self.directory / f".{image_id}.part"

    def tombstone(self, image_id: str) -> Path:
        return self.directory / f".{image_id}.deleting"

    def write(self, image_id: str, source: str | Path, disk_format: str,
              progress: Callable[[int], None] | None = None,
              what: str | None = None) -> PendingImage:
        """Copy ``source`` into ``.<id>.part`` (locked until published or discarded), then check
        the copy -- what was stored, not the source, which could be swapped for another file
        between a check and the copy. InvalidInput (naming ``source``) if the copy is not a
        self-contained ``disk_format`` image; nothing is left behind then. ``progress`` is told
        each chunk's size as it is copied (a progress bar). The caller commits the image's row
        (with ``store_path``) and then publishes: ``recover`` rolls a ``.part`` forward only
        when its row was committed with data."""
        _check_disk_format(disk_format)
        what = what or f"image file {str(source)!r}"
        private_dir(self.directory, root=self.data_dir)
        partial = self.partial(image_id)
        md5, sha = hashlib.md5(usedforsecurity=False), hashlib.new(HASH_ALGO)
        size = 0
        with _open_regular(source, what) as src:
            fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
            try:
                os.fchmod(fd, FILE_MODE)  # 0600 whatever the umask (kumo.private_files)
                fcntl.flock(fd, fcntl.LOCK_EX)
                while chunk := _read_source(src, what):
                    md5.update(chunk)
                    sha.update(chunk)
                    os.write(fd, chunk)  # all of it or an OSError, for a regular file
                    size += len(chunk)
                    if progress is not None:
                        progress(len(chunk))
                os.fsync(fd)
                with open(partial, "rb") as copy:
                    info = _checked(copy, disk_format, what, InvalidInput,
                                    "(nothing was stored)")
            except BaseException:
                partial.unlink(missing_ok=True)
                os.close(fd)
                raise
        return PendingImage(self, image_id, fd, StoredImage(
            image_id, size, md5.hexdigest(), HASH_ALGO, sha.hexdigest(), info.format,
            info.virtual_size))

    @contextlib.contextmanager
    def open_checked(self, store_path: str, disk_format: str,
                     image_id: str) -> Iterator[BinaryIO]:
        """The stored file, open for reading, checked again to be a self-contained
        ``disk_format`` image before it goes to a host: the caller uploads from this very file
        object, so the bytes checked are the bytes sent. StateError if the check fails (the
        store was changed behind kumo's back, or the image was stored before this check)."""
        what = f"the stored data of image {image_id}"
        after = ("(it was not uploaded to the host: delete the image and create it again from a "
                 "self-contained file)")
        path = self.path(store_path)
        try:
            fh = open(path, "rb")
        except FileNotFoundError:
            raise StateError(f"{what} is missing from the image store ({path})") from None
        with fh:
            try:
                _checked(fh, disk_format, what, StateError, after)
            except InvalidInput as e:  # qemu-img cannot read it
                raise StateError(f"{e} {after}") from None
            fh.seek(0)
            yield fh

    @contextlib.contextmanager
    def deleting(self, store_path: str | None) -> Iterator[None]:
        """Around the row's deletion: the file is locked and set aside as ``.<id>.deleting``
        first, removed when the block ends, and put back if the block raises."""
        if not store_path or Path(store_path).is_absolute():
            yield  # no data (or data kumo does not own): nothing to journal
            return
        final, tomb = self.path(store_path), self.tombstone(store_path)
        try:
            fd = os.open(final, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            yield  # the data was already gone
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.replace(final, tomb)
            self._sync_dir()
            try:
                yield
            except BaseException:
                os.replace(tomb, final)
                raise
            tomb.unlink(missing_ok=True)
        finally:
            os.close(fd)

    def delete(self, store_path: str | None) -> None:
        if store_path:
            self.path(store_path).unlink(missing_ok=True)

    def copy_out(self, store_path: str, dest: str | Path | BinaryIO,
                 progress: Callable[[int], None] | None = None) -> None:
        """Copy the image's data to ``dest`` (a path, or an open binary stream)."""
        if progress is None and not hasattr(dest, "write"):
            shutil.copyfile(self.path(store_path), dest)  # type: ignore[arg-type]
            return
        with open(self.path(store_path), "rb") as src, _writing(dest) as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
                if progress is not None:
                    progress(len(chunk))

    def recover(self, committed: Callable[[str], bool]) -> list[StoreEvent]:
        """Finish or undo the creates and deletes a killed process left (module docstring)."""
        events = []
        for name in self._names():
            m = _IN_FLIGHT.match(name)
            if m is None:
                continue
            image_id, kind = m.groups()
            with self._locked(name) as fd:
                if fd is None:
                    continue  # a live process is at work on it, or it is gone already
                path, final = self.directory / name, self.directory / image_id
                if committed(image_id):
                    if kind == "part":
                        outcome = "the create was committed: data moved into place"
                    else:
                        outcome = "the delete was not committed: data put back"
                    os.replace(path, final)
                else:
                    outcome = ("the create was never committed: partial data removed"
                               if kind == "part" else "the delete was committed: data removed")
                    path.unlink()
                self._sync_dir()
                events.append(StoreEvent(kind, name, image_id, outcome))
        return events

    def orphans(self, image_ids: Callable[[], set[str]],
                stored_paths: Callable[[], dict[str, str]]) -> list[StoreEvent]:
        """Files named as image data with no row (never deleted here), in-flight files a live
        process holds, and rows whose data file is missing."""
        names = self._names()
        known = image_ids()
        found = []
        for name in names:
            m, f = _STORED.match(name), _IN_FLIGHT.match(name)
            if m and m.group(1) not in known:
                found.append(StoreEvent("file", name, m.group(1),
                                        f"no image {m.group(1)} in the database"))
            elif f:
                found.append(StoreEvent(f.group(2), name, f.group(1),
                                        f"a {'create' if f.group(2) == 'part' else 'delete'} "
                                        "in progress (or left by a killed command: recovered "
                                        "by the next kumo image or server command)"))
        present = set(names)
        for image_id, store_path in sorted(stored_paths().items()):
            if not Path(store_path).is_absolute() and store_path not in present:
                found.append(StoreEvent("missing", image_id, image_id,
                                        f"image {image_id} is active but its data file "
                                        f"{store_path} is not in the store"))
        return found

    def _names(self) -> list[str]:
        return names(self.directory)

    def _locked(self, name: str) -> contextlib.AbstractContextManager[int | None]:
        return locked(self.directory / name)

    def _sync_dir(self) -> None:
        sync_dir(self.directory)


@contextlib.contextmanager
def _writing(dest: str | Path | BinaryIO) -> Iterator[BinaryIO]:
    if hasattr(dest, "write"):
        yield dest  # type: ignore[misc]
        dest.flush()  # type: ignore[union-attr]
        return
    with open(dest, "wb") as f:  # type: ignore[arg-type]
        yield f


# --- the file-name journal's primitives, shared with the staging area (image_staging) ---------

def names(directory: Path) -> list[str]:
    """The entries of ``directory``, sorted; none when it does not exist yet."""
    try:
        return sorted(os.listdir(directory))
    except FileNotFoundError:
        return []


@contextlib.contextmanager
def locked(path: Path) -> Iterator[int | None]:
    """An fd holding ``path``'s lock, or None if another process holds it or the name no longer
    names the file that was locked (renamed meanwhile by its owner)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        yield None
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        yield fd if same else None
    finally:
        os.close(fd)


def sync_dir(directory: Path) -> None:
    """Make a rename durable (the directory entry is what changed)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
