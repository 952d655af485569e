"""Tiny real guests: a Debian cloud kernel plus an initramfs of static busybox and an /init.

The demo's guests and the e2e probe both boot this way (a few seconds under TCG), differing only
in their /init script. scripts/setup.sh installs linux-image-cloud-amd64 and busybox-static.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import struct
import subprocess
from pathlib import Path

from kumo.errors import NotFound
from kumo.private_files import open_private


def find_kernel() -> Path:
    """``$KUMO_PROBE_KERNEL``, else the newest /boot/vmlinuz-*-cloud-amd64."""
    if os.environ.get("KUMO_PROBE_KERNEL"):
        return Path(os.environ["KUMO_PROBE_KERNEL"])
    kernels = sorted(Path("/boot").glob("vmlinuz-*-cloud-amd64"), key=_natural_key)
    if not kernels:
        raise NotFound("no /boot/vmlinuz-*-cloud-amd64: install linux-image-cloud-amd64 "
                       "(scripts/setup.sh)")
    return kernels[-1]


def find_busybox() -> Path:
    """``$KUMO_PROBE_BUSYBOX``, else /bin/busybox; it must be statically linked."""
    path = Path(os.environ.get("KUMO_PROBE_BUSYBOX") or "/bin/busybox")
    if not path.is_file():
        raise NotFound(f"no {path}: install busybox-static (scripts/setup.sh)")
    if not _is_static_elf(path.read_bytes()):
        raise NotFound(f"{path} is dynamically linked: install busybox-static "
                       "(scripts/setup.sh)")
    return path


def build_initramfs(init_script: str, directory: Path, stem: str) -> tuple[Path, Path]:
    """(kernel, initramfs) for ``init_script``; the gzipped initramfs is written once into
    ``directory``, named by ``stem``, the kernel release and a key of everything in it."""
    kernel, busybox = find_kernel(), find_busybox()
    release = kernel.name.removeprefix("vmlinuz-")
    key = hashlib.sha256("\0".join([release, _busybox_version(busybox), init_script])
                         .encode()).hexdigest()[:12]
    initramfs = directory / f"{stem}-{release}-{key}.cpio.gz"
    if not initramfs.exists():
        directory.mkdir(parents=True, exist_ok=True)
        tmp = initramfs.with_suffix(f".tmp{os.getpid()}")
        try:
            with open_private(tmp, "wb") as f:
                f.write(gzip.compress(cpio(busybox.read_bytes(), init_script), mtime=0))
            os.replace(tmp, initramfs)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return kernel, initramfs


def cpio(busybox: bytes, init_script: str) -> bytes:
    """The initramfs archive: /bin/busybox, /init and the directories and /dev/console node it
    needs (the kernel opens /dev/console for init's stdio; ship it rather than rely on the
    kernel's built-in initramfs providing it)."""
    entries: list[tuple[str, int, bytes, tuple[int, int]]] = [
        (name, 0o040755, b"", (0, 0)) for name in ("bin", "dev", "proc", "sys")]
    entries.append(("dev/console", 0o020600, b"", (5, 1)))
    entries.append(("bin/busybox", 0o100755, busybox, (0, 0)))
    entries.append(("init", 0o100755, init_script.encode(), (0, 0)))
    out = io.BytesIO()
    for ino, (name, mode, data, rdev) in enumerate(entries, start=1):
        _newc_entry(out, ino, name, mode, data, rdev)
    _newc_entry(out, 0, "TRAILER!!!", 0, b"", (0, 0))
    return out.getvalue()


def _newc_entry(out: io.BytesIO, ino: int, name: str, mode: int, data: bytes,
                rdev: tuple[int, int]) -> None:
    """One record of the cpio "newc" format the kernel unpacks (Documentation/
    driver-api/early-userspace/buffer-format.rst): a 110-byte ASCII header, the name, the data,
    each padded to 4 bytes."""
    encoded = name.encode() + b"\0"
    nlink = 2 if mode & 0o170000 == 0o040000 else 1
    fields = [ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0]
    out.write(b"070701" + b"".join(b"%08X" % f for f in fields) + encoded)
    out.write(b"\0" * (-out.tell() % 4))
    out.write(data)
    out.write(b"\0" * (-out.tell() % 4))


def _is_static_elf(blob: bytes) -> bool:
    """An ELF64 little-endian executable with no PT_INTERP program header."""
    if blob[:4] != b"\x7fELF" or blob[4] != 2:
        return False
    phoff, = struct.unpack_from("<Q", blob, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", blob, 0x36)
    types = (struct.unpack_from("<I", blob, phoff + i * phentsize)[0] for i in range(phnum))
    return 3 not in types  # PT_INTERP


def _busybox_version(busybox: Path) -> str:
    out = subprocess.run([str(busybox)], capture_output=True, text=True, check=False)
    first = (out.stdout or out.stderr).splitlines()[:1]
    if not first or not first[0].startswith("BusyBox"):
        raise NotFound(f"{busybox} does not look like busybox: {first}")
    return first[0]


def _natural_key(path: Path) -> list[object]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path.name)]
