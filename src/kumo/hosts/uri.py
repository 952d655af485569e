"""What a libvirt URI says about where the host is."""

from __future__ import annotations

from urllib.parse import urlsplit


def is_local(uri: str) -> bool:
    """A libvirt URI of this machine (qemu:///system, qemu:///session: no host part, or
    localhost): its files -- /dev/kvm, QEMU's firmware descriptors, swtpm -- are this machine's."""
    return urlsplit(uri).hostname in (None, "", "localhost")
