"""Hypervisor backends: GuestSpec -> native configuration, one package per hypervisor.

``get_backend(hypervisor)`` is the one registry. Entries name the backend class by import path
and are imported on first use, so dropping a backend is deleting its package and its lines here.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module

from kumo.backends.base import Backend, RenderedConfig
from kumo.errors import UnsupportedGuest

#: GuestSpec.hypervisor -> "module:Class" of the backend that renders it
_REGISTRY: dict[str, str] = {
    "kvm": "kumo.backends.kvm:KvmBackend",
    "qemu": "kumo.backends.kvm:KvmBackend",
    "xen": "kumo.backends.xen:XenBackend",
    "hyperv": "kumo.backends.hyperv:HypervBackend",
}


def hypervisors() -> tuple[str, ...]:
    """The hypervisor values a backend is registered for, sorted."""
    return tuple(sorted(_REGISTRY))


def get_backend(hypervisor: str) -> Backend:
    """The backend for ``hypervisor``; UnsupportedGuest naming the value and the allowed."""
    target = _REGISTRY.get(hypervisor)
    if target is None:
        raise UnsupportedGuest(
            f"no backend for hypervisor {hypervisor!r}: allowed {', '.join(hypervisors())}"
        )
    return _instantiate(target)


@cache
def _instantiate(target: str) -> Backend:
    module, _, cls = target.partition(":")
    return getattr(import_module(module), cls)()


__all__ = ["Backend", "RenderedConfig", "get_backend", "hypervisors"]
