"""The values the scheduler works on: a frozen ``HostView`` per host and a ``RequestSpec``.

Both are plain values (conventions #4): the controller builds them from its database rows and the
hosts layer's ``HostCapabilities``; nothing here opens a connection.

Small helpers that the per-host (reference) plugins and the columnar engine must compute the same
way -- allocation ratios and weight multipliers from aggregate metadata, resource limits, version
comparison -- live here so both paths call one definition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Callable, Hashable, Mapping

from kumo.catalog.flavor import Flavor, effective_properties
from kumo.catalog.properties import ImageProperties
from kumo.errors import InvalidInput
from kumo.guest.facts import RESOLVED_PROPERTIES, GuestFacts
from kumo.hosts.capabilities import HostCapabilities

#: Hyper-V generation 2 VMs (UEFI) arrived with Windows Server 2012 R2, NT 6.3 (seed 004).
HYPERV_GEN2_MIN_VERSION = (6, 3)
#: how each hypervisor's version is named in reasons: kvm/qemu hosts report QEMU's version
HYPERVISOR_DISPLAY = {"kvm": "QEMU", "qemu": "QEMU", "xen": "Xen", "hyperv": "Hyper-V"}


@dataclass(frozen=True)
class Aggregate:
    """A host aggregate: a name and free-form metadata (Nova's aggregate metadata)."""

    name: str
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "metadata", MappingProxyType(
            {str(k): str(v) for k, v in self.metadata.items()}))


def freeze_counts(counts: Mapping[str, Mapping[str, int]]) -> Mapping[str, Mapping[str, int]]:
    # values lower-cased, as image_value() gives them
    return MappingProxyType({str(p): MappingProxyType({str(v).lower(): int(n)
                                                       for v, n in vals.items()})
                             for p, vals in counts.items()})


@dataclass(frozen=True)
class HostView:
    """Everything the scheduler may know about one host, as of one moment.

    Capacities are physical (vCPUs, RAM MiB, disk GiB); the usable limit is
    ``floor(capacity * allocation ratio)``, where the ratio is the host's own unless an aggregate
    the host is in sets ``cpu_allocation_ratio`` / ``ram_allocation_ratio`` /
    ``disk_allocation_ratio`` (the smallest value wins when several do, as in Nova).
    ``last_heartbeat`` is in seconds since the epoch (None: the compute service never reported).
    ``image_property_counts`` counts the instances on the host by image property value
    (``{"os_type": {"windows": 12}}``), for the LikeImages weigher.
    """

    name: str
    hypervisor_type: str  # kvm | qemu | xen | hyperv
    hypervisor_version: tuple[int, ...] | None = None
    arch: str = "x86_64"
    #: hypervisor_type values the host can run: a KVM host also runs plain QEMU (TCG) guests, as
    #: Nova's libvirt driver reports both domain types in supported_instances. Derived when empty.
    hypervisor_types: tuple[str, ...] = ()
    vm_modes: tuple[str, ...] = ()  # derived when empty: xen -> hvm, xen (PV); others -> hvm
    machines: tuple[str, ...] = ()  # machine type families; derived from the hypervisor when empty
    firmware: tuple[str, ...] = ()  # bios, efi; derived when empty
    secure_boot: bool = False
    tpm_versions: tuple[str, ...] = ()
    availability_zone: str = "nova"
    aggregates: tuple[Aggregate, ...] = ()
    enabled: bool = True
    disabled_reason: str | None = None
    forced_down: bool = False
    last_heartbeat: float | None = None
    vcpus: int = 0
    vcpus_used: int = 0
    ram_mib: int = 0
    ram_mib_used: int = 0
    disk_gib: int = 0
    disk_gib_used: int = 0
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    instances: int = 0
    image_property_counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    #: the host's full capabilities (machine types, firmware, TPM, devices), which the guest
    #: policy checks; derived from the fields above when the view is built without them
    capabilities: HostCapabilities | None = None

    def __post_init__(self) -> None:
        s = object.__setattr__
        hv = self.hypervisor_type
        if self.hypervisor_version is not None:
            s(self, "hypervisor_version", tuple(int(x) for x in self.hypervisor_version))
        if not self.hypervisor_types:
            s(self, "hypervisor_types", ("kvm", "qemu") if hv == "kvm" else (hv,))
        if not self.vm_modes:
            s(self, "vm_modes", ("hvm", "xen") if hv == "xen" else ("hvm",))
        gen2 = hv == "hyperv" and version_at_least(self.hypervisor_version,
                                                   HYPERV_GEN2_MIN_VERSION)
        if not self.machines:
            s(self, "machines", {"xen": ("xenfv", "xenpv"),
                                 "hyperv": ("hyperv-gen1", "hyperv-gen2") if gen2
                                 else ("hyperv-gen1",)}.get(hv, ("pc", "q35")))
        if not self.firmware:
            s(self, "firmware", ("bios", "efi") if gen2 else ("bios",))
        for attr in ("hypervisor_types", "vm_modes", "machines", "firmware", "tpm_versions",
                     "aggregates"):
            s(self, attr, tuple(getattr(self, attr)))
        s(self, "image_property_counts", freeze_counts(self.image_property_counts))
        if self.capabilities is None:
            s(self, "capabilities", _derived_capabilities(
                hv, self.hypervisor_version, self.arch, self.machines, self.firmware,
                self.secure_boot, self.tpm_versions))

    @classmethod
    def from_capabilities(cls, name: str, caps: HostCapabilities, **kw: Any) -> "HostView":
        """A view from the hosts layer's capabilities plus what the controller knows (capacity,
        usage, aggregates, state) as keyword arguments."""
        hv = caps.hypervisor
        machines = caps.machines
        if hv == "hyperv" and not any(m.startswith("hyperv-") for m in machines):
            machines = ()  # derived from the version
        if hv == "xen" and not any(m.startswith("xen") for m in machines):
            machines = ()
        firmware = caps.firmware if hv != "hyperv" else ()
        return cls(name=name, hypervisor_type=hv, hypervisor_version=caps.hypervisor_version,
                   arch=caps.arch, machines=machines, firmware=firmware,
                   secure_boot=caps.secure_boot, tpm_versions=caps.tpm_versions,
                   capabilities=caps, **kw)

    def clone(self, **per_host: Any) -> "HostView":
        """This view with per-host fields replaced -- name, usage, liveness, like-image counts
        (``PER_HOST_FIELDS``) -- without running ``__post_init__`` again: nothing is derived
        from those fields, so it would only redo this view's work. Builds the many hosts of
        one kind (kumo.scheduler.resident) and current-usage views cheaply. The clone keeps
        its ``kind``: the view it was cloned from, first of its kind."""
        bad = set(per_host) - PER_HOST_FIELDS
        if bad:
            raise TypeError(f"HostView.clone: not per-host field(s) {', '.join(sorted(bad))}")
        counts = per_host.get("image_property_counts")
        if counts is not None and not isinstance(counts, MappingProxyType):
            per_host["image_property_counts"] = freeze_counts(counts)
        view = object.__new__(HostView)
        d = view.__dict__
        d.update(self.__dict__)
        d.update(per_host)
        d.setdefault("_kind", self)
        return view

    def with_aggregates(self, aggregates: tuple[Aggregate, ...]) -> "HostView":
        """This view in other aggregates, a kind of its own (``kind`` is itself), without
        running ``__post_init__`` again: nothing in a view is derived from its aggregates (the
        zone is a per-host field). Builds the kinds of a fleet that differ only by their
        aggregates from one view per hypervisor and capabilities."""
        view = object.__new__(HostView)
        d = view.__dict__
        d.update(self.__dict__)
        d.pop("_kind", None)
        d["aggregates"] = tuple(aggregates)
        return view

    @property
    def kind(self) -> "HostView":
        """The view this one was cloned from (itself if not a clone): views of one kind share
        everything but ``PER_HOST_FIELDS`` -- hypervisor, capabilities, aggregates."""
        return self.__dict__.get("_kind", self)

    @property
    def hypervisor_display(self) -> str:
        return HYPERVISOR_DISPLAY.get(self.hypervisor_type, self.hypervisor_type)


#: the fields ``HostView.clone`` may replace: nothing else in a view is derived from them
PER_HOST_FIELDS = frozenset({"name", "vcpus", "ram_mib", "disk_gib", "vcpus_used", "ram_mib_used",
                             "disk_gib_used", "instances", "cpu_allocation_ratio",
                             "ram_allocation_ratio", "disk_allocation_ratio", "availability_zone",
                             "last_heartbeat", "forced_down", "enabled", "disabled_reason",
                             "image_property_counts"})


@lru_cache(maxsize=1024)
def _derived_capabilities(hv: str, version: tuple[int, ...] | None, arch: str,
                          machines: tuple[str, ...], firmware: tuple[str, ...], secure_boot: bool,
                          tpm_versions: tuple[str, ...]) -> HostCapabilities:
    """Capabilities for a view built from its summary fields (tests, benchmarks, hosts stored
    without capabilities): the hypervisor's default host (kumo.hosts.defaults) with the view's
    machines, firmware, Secure Boot and TPM. Cached, so equal views share one value."""
    from kumo.hosts.defaults import host_caps_for  # the embedded default host, parsed once

    base = host_caps_for(hv)
    efi = "efi" in firmware
    return replace(base, hypervisor=hv, hypervisor_version=version, arch=arch,
                   machines=machines, firmware=firmware or ("bios",),
                   uefi_loaders=base.uefi_loaders if efi else (), secure_boot=secure_boot,
                   tpm_versions=tpm_versions,
                   tpm_models=("tpm-tis", "tpm-crb") if tpm_versions else (),
                   tpm_backends=("emulator",) if tpm_versions else (),
                   machine_versioned=base.machine_versioned if "q35" in machines else None)


class _once:
    """``functools.cached_property`` without its lock (Python 3.11's takes one on every
    first read, a third of what the scheduler's static key costs a new request): for values
    that are a pure function of a frozen instance, where two threads computing one at once
    get equal values and either may stay."""

    def __init__(self, func: Callable[[Any], Any]):
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __get__(self, obj: Any, cls: type | None = None) -> Any:
        if obj is None:
            return self
        value = self.func(obj)
        # read as a plain attribute from now on (object.__setattr__: past a frozen
        # dataclass's guard, and without materialising the instance's dict as
        # ``obj.__dict__`` would -- one more object per request for the collector)
        object.__setattr__(obj, self.name, value)
        return value


@dataclass(frozen=True)
class ServerGroup:
    """A server group and where its members already run (one entry per member)."""

    name: str
    policy: str  # affinity | anti-affinity
    member_hosts: tuple[str, ...] = ()
    max_server_per_host: int = 1  # anti-affinity only (Nova's max_server_per_host rule)

    def __post_init__(self) -> None:
        if self.policy not in ("affinity", "anti-affinity"):
            raise InvalidInput(f"server group {self.name!r} policy={self.policy!r} is invalid: "
                               "allowed affinity, anti-affinity")
        if self.max_server_per_host < 1:
            raise InvalidInput(f"server group {self.name!r} max_server_per_host="
                               f"{self.max_server_per_host!r} is invalid: allowed an integer >= 1")
        object.__setattr__(self, "member_hosts", tuple(self.member_hosts))


@dataclass(frozen=True)
class RequestSpec:
    """What to place: a flavor, the image properties to place by, and placement constraints.

    ``image`` should be the effective properties (image + flavor extra specs);
    ``RequestSpec.for_boot`` applies them with ``kumo.catalog.flavor.effective_properties``.
    """

    flavor: Flavor
    image: ImageProperties = field(default_factory=ImageProperties)
    availability_zone: str | None = None
    group: ServerGroup | None = None
    num_instances: int = 1
    #: kumo's create attaches a config drive to every guest (kumo.compute.spawn), so the policy
    #: checks its CD-ROM bus on each host
    config_drive: bool = True
    #: the image's facts, resolved once (kumo.guest.facts); derived from ``image`` when None
    facts: GuestFacts | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.num_instances, int) or self.num_instances < 1:
            raise InvalidInput(f"num_instances={self.num_instances!r} is invalid: allowed an "
                               "integer >= 1")
        if self.facts is None:
            object.__setattr__(self, "facts", GuestFacts.resolve(self.image))

    @_once
    def guest_key(self) -> Hashable:
        """Everything the guest policy reads from the request: the effective image properties
        (custom ones are not policy's), the flavor's sizes, config drive and direct boot."""
        f = self.flavor
        return (tuple(sorted(self.image.values.items())), f.vcpus, f.ram_mib, f.disk_gib,
                f.ephemeral_gib, self.config_drive)

    @classmethod
    def for_boot(cls, flavor: Flavor, image: ImageProperties, **kw: Any) -> "RequestSpec":
        return cls(flavor=flavor, image=effective_properties(image, flavor), **kw)

    @property
    def vcpus(self) -> int:
        return self.flavor.vcpus

    @property
    def ram_mib(self) -> int:
        return self.flavor.ram_mib

    @property
    def disk_gib(self) -> int:
        return self.flavor.disk_gib + self.flavor.ephemeral_gib


# --- helpers shared by the per-host plugins and the columnar engine ------------------------------

def aggregate_floats(host: HostView, key: str) -> list[float]:
    """The numeric values the host's aggregates give ``key``; unparsable values are skipped
    (Nova logs and ignores them too; the Fleet records them in its warnings)."""
    out = []
    for agg in host.aggregates:
        raw = agg.metadata.get(key)
        if raw is None:
            continue
        try:
            value = float(raw)
        except ValueError:
            continue
        if math.isfinite(value):
            out.append(value)
    return out


def effective_ratio(host: HostView, key: str, default: float) -> float:
    """The allocation ratio for ``key`` (e.g. ``ram_allocation_ratio``): the smallest an
    aggregate sets (the conservative choice, as Nova's Aggregate*Filter), else the host's."""
    values = aggregate_floats(host, key)
    return min(values) if values else float(default)


def resource_limit(capacity: int, ratio: float) -> int:
    """Usable units: floor(capacity * ratio). ``used + requested <= limit`` is then an integer
    comparison, identical to Nova's ``capacity * ratio >= used + requested``."""
    return int(math.floor(capacity * ratio))


def weight_multiplier(host: HostView, key: str, default: float) -> float:
    """A weigher's multiplier for this host: the smallest an aggregate sets, else the config's."""
    values = aggregate_floats(host, key)
    return min(values) if values else float(default)


def request_value(request: RequestSpec, prop: str) -> str | None:
    """``image_value`` for a request: resolved properties (os_type) from its facts."""
    if prop in RESOLVED_PROPERTIES:
        assert request.facts is not None
        return request.facts.value(prop)
    return image_value(request.image, prop)


def image_value(image: ImageProperties, prop: str) -> str | None:
    """An image property as a lower-case string (typed or custom), or None when unset.
    os_type is the resolved one (kumo.guest.facts): os_distro=windows alone means Windows."""
    if prop in RESOLVED_PROPERTIES:
        return GuestFacts.resolve(image).value(prop)
    value = image.get(prop)
    if value is None:
        value = image.custom.get(prop)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value).lower()


def _canon(version: tuple[int, ...]) -> tuple[int, ...]:
    """Trailing zeros dropped, so lexicographic comparison equals padded comparison."""
    v = list(version)
    while v and v[-1] == 0:
        v.pop()
    return tuple(v)


def compare_versions(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    ca, cb = _canon(a), _canon(b)
    return (ca > cb) - (ca < cb)


_OPS = {">=": lambda c: c >= 0, ">": lambda c: c > 0, "<=": lambda c: c <= 0,
        "<": lambda c: c < 0, "==": lambda c: c == 0}
#: the relation that holds when a clause fails: ">=6.3" fails as "6.2 < 6.3"
NEGATED = {">=": "<", ">": "<=", "<=": ">", "<": ">=", "==": "!="}


def failed_clause(version: tuple[int, ...],
                  clauses: tuple[tuple[str, tuple[int, ...]], ...]) -> tuple[str, tuple[int, ...]] | None:
    """The first clause ``version`` does not satisfy, or None when it satisfies all."""
    for op, wanted in clauses:
        if not _OPS[op](compare_versions(version, wanted)):
            return op, wanted
    return None


def version_at_least(version: tuple[int, ...] | None, minimum: tuple[int, ...]) -> bool:
    return version is not None and compare_versions(version, minimum) >= 0


def version_str(version: tuple[int, ...]) -> str:
    return ".".join(str(x) for x in version)
