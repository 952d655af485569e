"""Files kumo keeps for itself: its data directory is 0700 and every file in it 0600, whatever
the umask.

The database holds admin-password hashes and SSH keys, the image store holds tenants' disks:
under the usual umask 022 they were created 0644, readable by every local user. Modes are given
explicitly at creation (``os.open(..., 0o600)``, ``mkdir(mode=0o700)``), which a umask can only
narrow, then set with chmod, which a umask does not touch, so a umask of 0 or 002 does not widen
them either. Directories and files that already exist with a looser mode (made by an older
kumo) are narrowed when kumo next writes there.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: str | Path, *, root: str | Path | None = None) -> Path:
    """Make sure ``path`` is a directory only its owner can enter: created 0700 (with any
    missing parents, which kumo makes for itself too), or narrowed to 0700 if it exists with a
    looser mode. With ``root`` (an ancestor of ``path``, e.g. the data directory above the image
    store), every directory from ``root`` down to ``path`` is made private."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=DIR_MODE)
        except FileExistsError:  # made by another process meanwhile
            pass
        _narrow(d, DIR_MODE)
    _narrow(path, DIR_MODE)
    if root is not None:
        root = Path(root)
        for d in path.parents:
            if d == root or root in d.parents:
                _narrow(d, DIR_MODE)
    return path


def private_file(path: str | Path) -> None:
    """Narrow an existing file to 0600 (a file kumo did not create through ``open_private``,
    e.g. one written by qemu-img or SQLite)."""
    _narrow(Path(path), FILE_MODE)


def open_private(path: str | Path, mode: str = "wb"):
    """``open(path, mode)`` for writing, the file created (or truncated) with mode 0600."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
    flags |= os.O_TRUNC if "w" in mode else 0
    flags |= os.O_EXCL if "x" in mode else 0
    flags |= os.O_APPEND if "a" in mode else 0
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, mode.replace("x", "w"))
    except BaseException:
        os.close(fd)
        raise


def _narrow(path: Path, mode: int) -> None:
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if current & stat.S_ISVTX and path.is_dir():
        # a sticky directory is shared by design (/tmp, /var/tmp): narrowing it would lock
        # every other user and service out of it (swtpm_setup, running as tss, could no longer
        # make its temporary files and no vTPM guest started); kumo's files in it are 0600
        return
    if current != mode:
        os.chmod(path, mode)
