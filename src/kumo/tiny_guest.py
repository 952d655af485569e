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
from collections.abc import Sequence
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


def build_initramfs(init_script: str, directory: Path, stem: str,
                    extra: Sequence[tuple[str, bytes]] = ()) -> tuple[Path, Path]:
    """(kernel, initramfs) for ``init_script``; the gzipped initramfs is written once into
    ``directory``, named by ``stem``, the kernel release and a key of everything in it.
    ``extra``: more files (path in the archive, contents), e.g. ``virtio_net_modules``."""
    kernel, busybox = find_kernel(), find_busybox()
    release = kernel.name.removeprefix("vmlinuz-")
    extra_key = hashlib.sha256(b"".join(p.encode() + b"\0" + hashlib.sha256(d).digest()
                                        for p, d in extra)).hexdigest()
    key = hashlib.sha256("\0".join([release, _busybox_version(busybox), init_script, extra_key])
                         .encode()).hexdigest()[:12]
    initramfs = directory / f"{stem}-{release}-{key}.cpio.gz"
    if not initramfs.exists():
        directory.mkdir(parents=True, exist_ok=True)
        tmp = initramfs.with_suffix(f".tmp{os.getpid()}")
        try:
            with open_private(tmp, "wb") as f:
                f.write(gzip.compress(cpio(busybox.read_bytes(), init_script, extra), mtime=0))
            os.replace(tmp, initramfs)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return kernel, initramfs


def cpio(busybox: bytes, init_script: str, extra: Sequence[tuple[str, bytes]] = ()) -> bytes:
    """The initramfs archive: /bin/busybox, /init and the directories and /dev/console node it
    needs (the kernel opens /dev/console for init's stdio; ship it rather than rely on the
    kernel's built-in initramfs providing it), then the ``extra`` files (executable) and the
    directories they are in."""
    entries: list[tuple[str, int, bytes, tuple[int, int]]] = [
        (name, 0o040755, b"", (0, 0)) for name in ("bin", "dev", "proc", "sys")]
    entries.append(("dev/console", 0o020600, b"", (5, 1)))
    entries.append(("bin/busybox", 0o100755, busybox, (0, 0)))
    entries.append(("init", 0o100755, init_script.encode(), (0, 0)))
    entries.extend(_extra_entries(extra, {name for name, *_ in entries}))
    out = io.BytesIO()
    for ino, (name, mode, data, rdev) in enumerate(entries, start=1):
        _newc_entry(out, ino, name, mode, data, rdev)
    _newc_entry(out, 0, "TRAILER!!!", 0, b"", (0, 0))
    return out.getvalue()


def _extra_entries(extra: Sequence[tuple[str, bytes]], present: set[str]
                   ) -> list[tuple[str, int, bytes, tuple[int, int]]]:
    out: list[tuple[str, int, bytes, tuple[int, int]]] = []
    for path, data in extra:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            directory = "/".join(parts[:depth])
            if directory not in present:
                out.append((directory, 0o040755, b"", (0, 0)))
                present.add(directory)
        out.append((path, 0o100755, data, (0, 0)))
        present.add(path)
    return out


# --- kernel modules a tiny guest loads itself (the cloud kernel builds virtio-net as modules) ----

#: what a guest with a virtio NIC needs loaded: the PCI transport and the NIC driver; their
#: dependencies (virtio, virtio_ring, failover, ...) come from the kernel's modules.dep
VIRTIO_NET = ("virtio_pci", "virtio_net")
#: what a guest needs to read its config drive (an ISO 9660 CD-ROM) on the IDE bus of machine
#: type pc: the PIIX IDE controller, the SCSI CD-ROM driver, the ISO 9660 file system (libata,
#: scsi_mod, cdrom from modules.dep). The Debian cloud kernel has no AHCI driver at all
#: (CONFIG_SATA_AHCI unset), so a tiny guest that reads its config drive runs on pc, where
#: kumo puts CD-ROMs on IDE, not on q35's SATA.
CONFIG_DRIVE = ("ata_piix", "sr_mod", "isofs")


def kernel_modules(kernel: Path, names: Sequence[str],
                   modules_root: Path = Path("/lib/modules")) -> list[tuple[str, bytes]]:
    """The modules ``names`` of ``kernel``'s release with everything they depend on, in an order
    ``insmod`` can load them (dependencies first), as initramfs files ``lib/modules/NAME.ko``
    (xz/zst-compressed modules unpacked: busybox insmod takes plain ones). NotFound when the
    release's modules are not installed."""
    release = kernel.name.removeprefix("vmlinuz-")
    base = modules_root / release
    try:
        dep_text = (base / "modules.dep").read_text()
    except OSError as e:
        raise NotFound(f"no modules for kernel {release} ({e.strerror}): install "
                       f"linux-image-{release}") from None
    deps: dict[str, list[str]] = {}
    paths: dict[str, str] = {}
    for line in dep_text.splitlines():
        target, _, rest = line.partition(":")
        name = _module_name(target)
        paths[name] = target
        deps[name] = [_module_name(d) for d in rest.split()]
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        if name not in paths:
            raise NotFound(f"kernel {release} has no module {name} (modules.dep)")
        for d in reversed(deps[name]):  # modules.dep lists the deepest dependency last
            visit(d)
        order.append(name)

    for name in names:
        visit(name)
    return [(f"lib/modules/{name}.ko", _module_bytes(base / paths[name])) for name in order]


def insmod_lines(modules: Sequence[tuple[str, bytes]]) -> str:
    """Shell lines loading ``kernel_modules``' files in order (for an /init script)."""
    return "".join(f"/bin/busybox insmod /{path}\n" for path, _ in modules)


def _module_name(path: str) -> str:
    stem = path.rsplit("/", 1)[-1]
    for suffix in (".ko.xz", ".ko.zst", ".ko.gz", ".ko"):
        if stem.endswith(suffix):
            return stem[: -len(suffix)].replace("-", "_")
    return stem


def _module_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".xz":
        import lzma
        return lzma.decompress(data)
    if path.suffix == ".gz":
        return gzip.decompress(data)
    if path.suffix == ".zst":
        raise NotFound(f"{path} is zstd-compressed: busybox insmod needs it unpacked")
    return data


# --- the QEMU guest agent in a tiny guest (Debian's qemu-ga and its libraries) ---------------

#: Debian's qemu-ga (package qemu-guest-agent, installed by scripts/setup.sh)
QEMU_GA = Path("/usr/sbin/qemu-ga")
#: the virtio-serial port driver the agent's channel needs, and the PCI transport under it
AGENT_MODULES = ("virtio_pci", "virtio_console")
#: the virtio-serial port name libvirt gives the agent channel (kumo.backends.kvm.devices)
AGENT_PORT_NAME = "org.qemu.guest_agent.0"


def guest_agent_files(binary: Path = QEMU_GA) -> list[tuple[str, bytes]]:
    """qemu-ga and every shared library it loads, as ``ldd`` resolves them on this machine
    (the dynamic loader included), at the same paths in the initramfs (symlinks followed), for
    ``build_initramfs(extra=...)``. NotFound when qemu-ga is not installed."""
    if not binary.is_file():
        raise NotFound(f"no {binary}: install qemu-guest-agent (scripts/setup.sh)")
    listed = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
    if listed.returncode != 0:
        raise NotFound(f"ldd cannot list the libraries of {binary}: {listed.stderr.strip()}")
    # "libglib-2.0.so.0 => /lib/x86_64-linux-gnu/libglib-2.0.so.0 (0x...)" and the loader's
    # "/lib64/ld-linux-x86-64.so.2 (0x...)"; linux-vdso has no file
    paths = [binary] + [Path(m) for m in re.findall(r"(/\S+) \(0x[0-9a-f]+\)", listed.stdout)]
    missing = [line.strip() for line in listed.stdout.splitlines() if "not found" in line]
    if missing:
        raise NotFound(f"{binary} needs libraries this machine lacks: {'; '.join(missing)}")
    return [(str(path).lstrip("/"), path.read_bytes()) for path in dict.fromkeys(paths)]


def guest_agent_lines(binary: Path = QEMU_GA) -> str:
    """Shell lines for an /init that already mounted /proc and /sys and loaded AGENT_MODULES:
    devtmpfs on /dev (the port's /dev/vportNpM node), the agent's port found by its name in
    /sys/class/virtio-ports (no udev here to make /dev/virtio-ports/...), /sbin/hwclock (what
    qemu-ga's guest-set-time runs to write the RTC: busybox's), and qemu-ga started in the
    background. Sets ``agent`` to the port, or ``none``."""
    return f"""$B mount -t devtmpfs devtmpfs /dev
$B mkdir -p /run /tmp /sbin
$B ln -sf /bin/busybox /sbin/hwclock
agent=none
i=0
while [ "$agent" = none ] && [ $i -lt 100 ]; do
  for f in /sys/class/virtio-ports/*/name; do
    if [ -r "$f" ] && [ "$($B cat "$f")" = {AGENT_PORT_NAME} ]; then
      agent=/dev/$($B basename "$($B dirname "$f")")
    fi
  done
  [ "$agent" = none ] && $B sleep 0.1
  i=$((i+1))
done
if [ "$agent" != none ]; then
  LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu \
    {binary} -m virtio-serial -p "$agent" -t /run -f /run/qemu-ga.pid &
fi
"""


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
