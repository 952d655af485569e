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

import hashlib
import json
import re
import threading
from typing import Any

from kumo.audit.domain_diff import Difference, Facets, compare_facets, facets
from kumo.backends.base import LIBVIRT_DOMAIN_XML
from kumo.backends.libvirt_xml import Domain
from kumo.compute import domain_config
from kumo.compute.env import ComputeEnv
from kumo.compute.instance_request import host_caps
from kumo.db.models import Host, Instance
from kumo.errors import KumoError
from kumo.hosts.capabilities import HostCapabilities


def host_key(host: Host) -> str:
    """What the rules read of a host: its recorded capabilities and virt type (hosts of one
    capability class -- the same QEMU, firmware, CPU -- give their guests the same hardware)."""
    return hashlib.sha1(json.dumps([host.capabilities_json, host.virt_type],
                                   sort_keys=True).encode()).hexdigest()


def key(instance: Instance, host: str, image_properties: dict[str, Any] | None = None
        ) -> tuple:
    """What the rules read of an instance and of its host (``host_key``), identity left
    out."""
    props = instance.image_properties if image_properties is None else image_properties
    return (json.dumps(props or {}, sort_keys=True), instance.vcpus, instance.ram_mib,
            instance.disk_gib, instance.ephemeral_gib, instance.flavor_name,
            json.dumps(instance.flavor_extra_specs or {}, sort_keys=True),
            instance.machine_type, bool(instance.public_key), host)


#: what differs between two domains of one class on a host besides what the audit compares
#: (kumo.audit.domain_diff): the MAC libvirt generates, the root element's attributes (the
#: running domain's id; the domain type is not compared), the console's pseudo-terminal, the
#: graphics port -- and the instance uuid, in name, uuid, paths and mark. Literal prefixes, so
#: the scan is fast.
_VOLATILE = re.compile(r"<mac address=[^>]*>|<domain [^>]*>|/dev/pts/\d+|<graphics [^>]*>")


def _shape(xml: str, uuid: str) -> str:
    """A key for the facets of ``xml``: equal for two domains whose compared facets are equal
    (a different key only costs a parse)."""
    return hashlib.sha1(_VOLATILE.sub("", xml.replace(uuid, "")).encode()).hexdigest()


class Expected:
    """Memoized ``facets(desired(...))`` for the instances of one audit run, and the facets of
    the hosts' domain XML by its shape; thread-safe (a race works a class out twice, never
    wrongly)."""

    def __init__(self, env: ComputeEnv):
        self.env = env
        self._memo: dict[tuple, Facets | KumoError | None] = {}
        self._caps: dict[int, HostCapabilities] = {}
        self._host_keys: dict[int, str] = {}
        self._seen: dict[tuple[str, str], Facets] = {}
        self._lock = threading.Lock()
        self._diffs: dict[tuple[int, int, bool], list[Difference]] = {}
        self.renders = 0
        self.parses = 0

    def compare(self, want: Facets, got: Facets, *, running: bool = False
                ) -> list[Difference]:
        """``compare_facets``, once per pair: both sides are this run's memoized facets, so a
        fleet of one class compares a handful of pairs, not one per instance."""
        k = (id(want), id(got), running)
        found = self._diffs.get(k)
        if found is None:
            found = self._diffs[k] = compare_facets(want, got, running=running)
        return found

    def live_facets(self, host: Host, uuid: str, xml: str) -> Facets:
        """The facets of instance ``uuid``'s domain XML as its host gave it (parsed with the
        renderer's mapping once per shape: the domains of one class differ only in identity
        and runtime details, see _VOLATILE)."""
        k = (self.host_key(host), _shape(xml, uuid))
        found = self._seen.get(k)
        if found is None:
            found = self._seen[k] = facets(Domain.from_xml(xml), self.caps(host))
            self.parses += 1
        return found

    def host_key(self, host: Host) -> str:
        found = self._host_keys.get(host.id)
        if found is None:
            found = self._host_keys.setdefault(host.id, host_key(host))
        return found

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
        k = key(instance, self.host_key(host), image_properties)
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
