"""The facets of the configuration kumo's rules give each instance, worked out once per class.

The configuration is ``kumo.compute.domain_config.desired`` -- what a hard reboot defines; the
one answer. Rendering it costs about a millisecond; a fleet of 10,000 instances has a few dozen
classes of them (the same frozen properties, flavor snapshot, pinned machine, host), whose
guest-visible hardware is the same: only the instance's identity (name, uuid, file paths, the
owner mark) differs, and the audit compares no identity (kumo.audit.domain_diff). So the
configuration is rendered for the first instance of each class and its facets are used for the
others. ``key`` lists every field of the record the rules read besides identity.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from kumo.audit.domain_diff import Facets, facets
from kumo.backends.base import LIBVIRT_DOMAIN_XML
from kumo.compute import domain_config
from kumo.compute.env import ComputeEnv
from kumo.compute.instance_request import host_caps
from kumo.db.models import Host, Instance
from kumo.errors import KumoError
from kumo.hosts.capabilities import HostCapabilities


def key(instance: Instance, host: Host, image_properties: dict[str, Any] | None = None
        ) -> tuple:
    """What the rules read of an instance and its host, identity left out."""
    props = instance.image_properties if image_properties is None else image_properties
    return (json.dumps(props or {}, sort_keys=True), instance.vcpus, instance.ram_mib,
            instance.disk_gib, instance.ephemeral_gib, instance.flavor_name,
            json.dumps(instance.flavor_extra_specs or {}, sort_keys=True),
            instance.machine_type, bool(instance.public_key), host.id, host.virt_type)


class Expected:
    """Memoized ``facets(desired(...))`` for the instances of one audit run; thread-safe (a
    race renders a class twice, never wrongly)."""

    def __init__(self, env: ComputeEnv):
        self.env = env
        self._memo: dict[tuple, Facets | KumoError | None] = {}
        self._caps: dict[int, HostCapabilities] = {}
        self._lock = threading.Lock()
        self.renders = 0

    def caps(self, host: Host) -> HostCapabilities:
        caps = self._caps.get(host.id)
        if caps is None:
            caps = self._caps.setdefault(host.id, host_caps(host))
        return caps

    def facets(self, instance: Instance, host: Host,
               image_properties: dict[str, Any] | None = None) -> Facets | None:
        """The facets of the instance's configuration by today's rules (with
        ``image_properties`` instead of its frozen ones, when given); None for a backend that
        is not libvirt (Hyper-V); the KumoError the rules raise when they refuse the guest."""
        k = key(instance, host, image_properties)
        hit = self._memo.get(k, self)
        if hit is self:
            hit = self._render(instance, host, image_properties)
            with self._lock:
                self._memo[k] = hit
                self.renders += 1
        if isinstance(hit, KumoError):
            raise hit
        return hit  # type: ignore[return-value]

    def _render(self, instance: Instance, host: Host,
                image_properties: dict[str, Any] | None) -> Facets | KumoError | None:
        target = instance
        if image_properties is not None:
            target = _with_properties(instance, image_properties)
        try:
            config = domain_config.desired(self.env, target, host)
            if config.media_type != LIBVIRT_DOMAIN_XML:
                return None
            return facets(config.domain(), self.caps(host))
        except KumoError as e:
            return e


def _with_properties(instance: Instance, props: dict[str, Any]) -> Instance:
    """A transient copy of ``instance`` whose frozen properties are ``props`` (never added to
    a session: nothing is written)."""
    columns = {c.key: getattr(instance, c.key) for c in Instance.__table__.columns
               if c.key not in ("id", "version")}
    columns["image_properties"] = dict(props)
    return Instance(**columns)
