"""Flavors: the size of a guest, plus extra specs that may override image properties.

Extra specs use Nova's names (``hw:disk_bus``, ``hw:firmware_type``, ``os:secure_boot``,
``hw:machine_type`` ...). When a flavor extra spec and the image property for the same setting
disagree, that is a ConfigConflict naming both sources and both values (Nova does the same for
secure boot and others; kumo does it for every overlapping setting).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from kumo.catalog.properties import ImageProperties
from kumo.errors import ConfigConflict, InvalidInput, InvalidProperty

#: flavor extra spec -> the image property it overlaps
EXTRA_SPEC_TO_PROPERTY = {
    "hw:disk_bus": "hw_disk_bus",
    "os:shutdown_timeout": "os_shutdown_timeout",  # kumo's: a flavor for slow-stopping guests
    "hw:cdrom_bus": "hw_cdrom_bus",
    "hw:scsi_model": "hw_scsi_model",
    "hw:machine_type": "hw_machine_type",
    "hw:firmware_type": "hw_firmware_type",
    "hw:vif_model": "hw_vif_model",
    "hw:video_model": "hw_video_model",
    "hw:tpm_version": "hw_tpm_version",
    "hw:tpm_model": "hw_tpm_model",
    "hw:watchdog_action": "hw_watchdog_action",
    "hw:cpu_sockets": "hw_cpu_sockets",
    "hw:cpu_cores": "hw_cpu_cores",
    "hw:cpu_threads": "hw_cpu_threads",
    "hw:cpu_policy": "hw_cpu_policy",
    "hw:cpu_thread_policy": "hw_cpu_thread_policy",
    "hw:boot_menu": "hw_boot_menu",
    "hw:time_hpet": "hw_time_hpet",
    "hw:hide_hypervisor_id": "img_hide_hypervisor_id",
    "hw_rng:allowed": None,  # a permission, not a setting
    "os:secure_boot": "os_secure_boot",
}


#: the largest vCPU count, RAM (MiB), disk (GiB) or other count kumo stores: the SQL INTEGER
#: range, as Nova bounds a flavor's fields (nova.db.constants.MAX_INT)
MAX_INT = 2**31 - 1


@dataclass(frozen=True)
class Flavor:
    vcpus: int
    ram_mib: int
    disk_gib: int
    name: str = "custom"
    ephemeral_gib: int = 0
    extra_specs: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for attr, minimum in (("vcpus", 1), ("ram_mib", 16), ("disk_gib", 0),
                              ("ephemeral_gib", 0)):
            value = getattr(self, attr)
            if not isinstance(value, int) or not minimum <= value <= MAX_INT:
                raise InvalidInput(f"flavor {attr}={value!r} is invalid: allowed an integer "
                                   f"from {minimum} to {MAX_INT}")
        object.__setattr__(self, "extra_specs", MappingProxyType(dict(self.extra_specs)))

    @classmethod
    def parse(cls, text: str) -> "Flavor":
        """'2,4096,40' (vcpus, RAM MiB, disk GiB) or 'vcpus=2,ram=4096,disk=40[,ephemeral=0]'."""
        parts = [p.strip() for p in text.split(",") if p.strip()]
        try:
            if parts and all("=" in p for p in parts):
                kv = dict(p.split("=", 1) for p in parts)
                unknown = set(kv) - {"vcpus", "ram", "disk", "ephemeral", "name"}
                if unknown:
                    raise InvalidInput(
                        f"flavor {text!r}: unknown field(s) {', '.join(sorted(unknown))}; "
                        "allowed vcpus, ram (MiB), disk (GiB), ephemeral (GiB), name")
                return cls(int(kv["vcpus"]), int(kv["ram"]), int(kv.get("disk", 0)),
                           name=kv.get("name", "custom"),
                           ephemeral_gib=int(kv.get("ephemeral", 0)))
            if len(parts) == 3:
                return cls(int(parts[0]), int(parts[1]), int(parts[2]))
        except (ValueError, KeyError):
            pass
        raise InvalidInput(f"flavor {text!r} is invalid: allowed 'VCPUS,RAM_MIB,DISK_GIB' "
                           "(e.g. 2,4096,40) or 'vcpus=2,ram=4096,disk=40'")

    def overrides(self) -> dict[str, str]:
        """Extra specs as image property names -> values (unknown extra specs ignored)."""
        out = {}
        for key, value in self.extra_specs.items():
            prop = EXTRA_SPEC_TO_PROPERTY.get(key)
            if prop:
                out[prop] = value
        return out


DEFAULT_FLAVOR = Flavor(2, 4096, 40, name="m1.medium")


def effective_properties(image: ImageProperties, flavor: Flavor) -> ImageProperties:
    """The image's properties with the flavor's extra specs applied.

    A setting given by both with different values is a ConfigConflict naming both.
    """
    overrides = flavor.overrides()
    if not overrides:
        return image
    try:
        from_flavor = ImageProperties.parse(overrides)
    except InvalidProperty as e:
        raise InvalidProperty([
            type(p)(_spec_name(p.name), p.value, p.allowed) for p in e.problems]) from None
    conflicts = []
    for name, value in from_flavor.values.items():
        if name in image and image.get(name) != value:
            img_name, img_value = image.source(name)
            conflicts.append(f"image property {img_name}={img_value!r} conflicts with flavor "
                             f"{flavor.name!r} extra spec {_spec_name(name)}={overrides[name]!r}")
    if conflicts:
        raise ConfigConflict("; ".join(conflicts) + ": make them agree or remove one")
    return image.updated({k: v for k, v in overrides.items()})


def _spec_name(prop: str) -> str:
    for spec, p in EXTRA_SPEC_TO_PROPERTY.items():
        if p == prop:
            return spec
    return prop
