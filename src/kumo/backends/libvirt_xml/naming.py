"""libvirt's disk target names: <target dev='vda'/>, 'sdb', 'hdc', 'xvda'.

The prefix follows the bus (formatdomain.html#hard-drives-floppy-disks-cdroms: "the dev
attribute indicates the 'logical' device name ... a hint"), the suffix is libvirt's
virIndexToDiskName: a..z, aa..az, ba.. (bijective base 26). Buses sharing a prefix (scsi, sata
and usb all name 'sd') share one sequence, so names stay unique.
"""

from __future__ import annotations

from collections.abc import Iterable
from string import ascii_lowercase

#: disk bus -> libvirt/Linux device-name prefix
DISK_PREFIX = {
    "virtio": "vd",
    "scsi": "sd",
    "sata": "sd",
    "usb": "sd",
    "ide": "hd",
    "xen": "xvd",
    "fdc": "fd",
}


def disk_suffix(index: int) -> str:
    """0 -> 'a', 25 -> 'z', 26 -> 'aa', 701 -> 'zz', 702 -> 'aaa'."""
    if index < 0:
        raise ValueError(f"disk index must be >= 0, got {index}")
    letters = ""
    n = index
    while True:
        letters = ascii_lowercase[n % 26] + letters
        n = n // 26 - 1
        if n < 0:
            return letters


def disk_target_name(bus: str, index: int) -> str:
    """The ``index``-th (0-based) target name on ``bus``'s prefix: ('virtio', 1) -> 'vdb'."""
    return DISK_PREFIX[bus] + disk_suffix(index)


def target_names(buses: Iterable[str]) -> list[str]:
    """Target names for disks attached in order to ``buses``, numbered per prefix.

    ['virtio', 'sata', 'virtio', 'scsi'] -> ['vda', 'sda', 'vdb', 'sdb'].
    Raises KeyError for a bus without a naming prefix.
    """
    used: dict[str, int] = {}
    names = []
    for bus in buses:
        prefix = DISK_PREFIX[bus]
        names.append(prefix + disk_suffix(used.get(prefix, 0)))
        used[prefix] = used.get(prefix, 0) + 1
    return names
