"""An image's facts, resolved once: who the guest is and what it needs of a host.

The scheduler places by these, never by the raw property strings: an image that says only
``os_distro=windows`` (seed 000's CERN image) *is* a Windows guest -- the guest policy builds it as
one (localtime clock, Hyper-V enlightenments) -- so aggregate isolation and like-image weighing must
see ``os_type=windows`` too. A Windows 11 image needs UEFI, Secure Boot and TPM 2.0 whether or not
its properties say so (Microsoft's Windows 11 system requirements), so its facts say so.

``GuestFacts.resolve`` is the one place these are derived; ``kumo.guest.policy.identity`` takes
os_type from ``infer_os_type`` here. Whether a particular host can give the guest what it needs
is the guest policy's answer (the GuestPolicy scheduler filter runs it per host class); the facts
are what the request carries and what explain shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kumo.catalog.properties import ImageProperties
from kumo.osinfo import resolve
from kumo.osinfo.identity import OSIdentity

#: image properties whose value the facts decide (the rest are read as the image states them)
RESOLVED_PROPERTIES = ("os_type",)


def infer_os_type(props: ImageProperties, os: OSIdentity) -> str:
    """os_type as stated; else the OS family os_distro identifies (windows, linux); else
    'other'. A contradiction (os_type=linux on a Windows os_distro) is the policy's error; the
    stated value is the one the guest is built with."""
    stated = props.get("os_type")
    if stated is not None:
        return stated
    return os.family if os.family in ("windows", "linux") else "other"


@lru_cache(maxsize=4096)
def os_identity(distro: str | None, version: str | None, os_type: str | None) -> OSIdentity:
    """kumo.osinfo.resolve, remembered: the scheduler and the policy it runs per host class
    ask for the same few OSes again and again (an OSIdentity is a frozen value)."""
    return resolve(distro, version, os_type)


@dataclass(frozen=True)
class GuestFacts:
    os: OSIdentity
    os_type: str  # windows | linux | other ... (stated, or inferred from the OS)
    arch: str | None  # None: runs on the host's architecture
    hypervisor_type: str | None
    vm_mode: str | None
    #: what the guest needs of a host
    machine: str | None  # hw_machine_type as asked: a family (q35) or a versioned name
    firmware: str | None  # uefi | bios when asked or when the OS boots only from UEFI
    secure_boot: bool  # required: asked (os_secure_boot=required) or the OS requires it
    tpm_version: str | None  # asked, or 2.0 when the OS requires it
    hypervisor_version_requires: str | None
    direct_kernel: bool  # boots a kernel image directly (kernel_id)

    @classmethod
    def resolve(cls, props: ImageProperties) -> "GuestFacts":
        os = os_identity(props.get("os_distro"), props.get("os_version"), props.get("os_type"))
        firmware = props.get("hw_firmware_type")
        sb = props.get("os_secure_boot")
        if firmware is None and (os.requires_uefi or sb == "required"):
            firmware = "uefi"
        tpm = props.get("hw_tpm_version")
        if tpm is None and os.requires_tpm2:
            tpm = "2.0"
        return cls(
            os=os, os_type=infer_os_type(props, os), arch=props.get("architecture"),
            hypervisor_type=props.get("hypervisor_type"), vm_mode=props.get("vm_mode"),
            machine=props.get("hw_machine_type"), firmware=firmware,
            secure_boot=sb == "required" or (sb is None and os.requires_secure_boot),
            tpm_version=tpm,
            hypervisor_version_requires=props.get("hypervisor_version_requires"),
            direct_kernel=props.get("kernel_id") is not None)

    def value(self, prop: str) -> str | None:
        """A resolved property as a lower-case string for matching (aggregate metadata,
        like-image counts); None when it is neither stated nor inferred."""
        if prop == "os_type":
            return None if self.os_type == "other" else self.os_type
        return None

    def needs(self) -> dict[str, Any]:
        """What the guest needs of a host, for explain and logs."""
        out: dict[str, Any] = {}
        for key in ("arch", "hypervisor_type", "vm_mode", "machine", "firmware", "tpm_version",
                    "hypervisor_version_requires"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.secure_boot:
            out["secure_boot"] = True
        return out
