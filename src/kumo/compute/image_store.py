"""kumo's image store: image data in a local directory (Settings.image_dir), and the check that a
file is what its disk_format says before anything is stored.

``inspect`` asks ``qemu-img info --output=json`` what the file really is: a raw file uploaded as
qcow2 (or a qcow2 uploaded as raw, which would let a guest read host files through a backing
file -- OSSA-2015-014) is refused, as are qcow2 images that point at a backing or external data
file. ``put`` copies the file in under the image id, computing size, md5 (Glance's legacy
``checksum``) and sha512 (``os_hash_value``) on the way, and renames it into place only when
complete, so a crash never leaves a half-written image under a real name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kumo.config import Settings
from kumo.errors import InvalidInput
from kumo.private_files import open_private, private_dir

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


def inspect(path: str | Path, disk_format: str) -> FileInfo:
    """What ``path`` is, after checking that it is a ``disk_format`` image; InvalidInput if not."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"image file {str(p)!r} does not exist")
    expected = QEMU_FORMAT.get(disk_format)
    if expected is None:
        raise InvalidInput(f"disk_format={disk_format!r} is invalid: allowed "
                           f"{', '.join(sorted(QEMU_FORMAT))}")
    info = _qemu_img_info(p)
    actual = info.get("format", "?")
    if actual != expected:
        suggest = GLANCE_FORMAT.get(actual, actual)
        raise InvalidInput(f"image file {str(p)!r} is not {disk_format}: qemu-img info reads it "
                           f"as {actual}; give disk_format={suggest} or the right file "
                           "(nothing was stored)")
    if info.get("backing-filename") or info.get("format-specific", {}).get("data", {}).get(
            "data-file"):
        raise InvalidInput(f"image file {str(p)!r} refers to another file (backing or data "
                           "file); upload a self-contained image (nothing was stored)")
    if disk_format == "iso" and not _is_iso9660(p):
        raise InvalidInput(f"image file {str(p)!r} is not iso: it has no ISO 9660 volume "
                           "descriptor; give disk_format=raw or the right file (nothing was "
                           "stored)")
    return FileInfo(actual, int(info.get("virtual-size", 0)), p.stat().st_size)


def _qemu_img_info(p: Path) -> dict:
    try:
        out = subprocess.run(["qemu-img", "info", "--output=json", str(p)], capture_output=True,
                             text=True, timeout=QEMU_IMG_TIMEOUT_S)
    except FileNotFoundError:
        raise InvalidInput("qemu-img is not installed (Debian: apt install qemu-utils); it "
                           "checks image files before they are stored") from None
    if out.returncode != 0:
        reason = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise InvalidInput(f"image file {str(p)!r} cannot be read by qemu-img: {reason}")
    return json.loads(out.stdout)


def _is_iso9660(p: Path) -> bool:
    with p.open("rb") as f:
        f.seek(_ISO_MAGIC_OFFSET)
        return f.read(len(_ISO_MAGIC)) == _ISO_MAGIC


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

    def put(self, image_id: str, source: str | Path) -> StoredImage:
        private_dir(self.directory, root=self.data_dir)
        final = self.directory / image_id
        partial = self.directory / f".{image_id}.part"
        md5, sha = hashlib.md5(usedforsecurity=False), hashlib.new(HASH_ALGO)
        size = 0
        try:
            with open(source, "rb") as src, open_private(partial, "wb") as dst:
                while chunk := src.read(1 << 20):
                    md5.update(chunk)
                    sha.update(chunk)
                    dst.write(chunk)
                    size += len(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(partial, final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return StoredImage(image_id, size, md5.hexdigest(), HASH_ALGO, sha.hexdigest())

    def delete(self, store_path: str | None) -> None:
        if store_path:
            self.path(store_path).unlink(missing_ok=True)

    def copy_out(self, store_path: str, dest: str | Path) -> None:
        shutil.copyfile(self.path(store_path), dest)
