"""Rules: which OS type, architecture and hypervisor the guest is for.

Seed 000 (CERN): setting os_distro=windows does not set os_type, and Nova only applies its
Windows handling (localtime clock, Hyper-V enlightenments) when os_type=windows. kumo infers
os_type from the OS identity when os_type is absent, and calls a contradiction an error.
"""

from __future__ import annotations

from kumo.guest.facts import infer_os_type
from kumo.guest.policy.context import Context

#: libvirt reports a KVM host's hypervisor_type as QEMU (Nova's libvirt driver does the same),
#: so images tagged qemu or kvm run on either.
_COMPATIBLE_HV = {"kvm": {"kvm", "qemu"}, "qemu": {"kvm", "qemu"}, "xen": {"xen"},
                  "hyperv": {"hyperv"}}


def decide_os_type(c: Context) -> str:
    """os_type from kumo.guest.facts.infer_os_type (the scheduler reads the same answer), with
    the decision, the contradiction error and the warnings it deserves."""
    d, os = c.d, c.os
    value = infer_os_type(c.props, os)
    if "os_type" in c.props:
        name, given = c.prop("os_type")
        d.decide("os_type", value, "os-type.explicit", name, given,
                 "os_type is set on the image; an explicit os_type always wins")
        if os.family in ("windows", "linux") and os.family != value:
            d.error("os-type-contradiction",
                    f"os_type={value} contradicts os_distro={c.props.get('os_distro')!r}, "
                    f"which is {os.name} ({os.family}); the guest would get {value} clock and "
                    f"devices (a Windows guest on a UTC clock runs hours off)",
                    f"set os_type={os.family}, or correct os_distro")
        return value
    if value != "other":
        d.decide("os_type", value, "os-type.inferred", "os_distro",
                 c.props.get("os_distro"),
                 f"os_type is not set; os_distro identifies {os.name}, so the guest is treated "
                 f"as {os.family} (os_distro=windows alone is enough)")
        if os.family == "windows":
            d.warn("os-type-missing",
                   "os_type is not set although os_distro says Windows; kumo infers "
                   "os_type=windows, but Nova and other tools reading this image will not "
                   "(for them a Windows guest blue-screens with CLOCK_WATCHDOG_TIMEOUT under "
                   "load and its clock runs hours off)",
                   "glance image-update --property os_type=windows <image>")
        return value
    d.decide("os_type", value, "os-type.unknown", "default", None,
             "neither os_type nor a recognised os_distro is set; the guest gets UTC clock "
             "and generic devices")
    if "os_distro" in c.props:
        d.warn("os-distro-unknown",
               f"os_distro={c.props.get('os_distro')!r} is not a known distribution or "
               "libosinfo short id; OS-specific defaults cannot be applied",
               "use Glance's os_distro vocabulary (windows, centos, ubuntu, ...) or a "
               "libosinfo short id (win2k19, rhel9.2, ...)")
    else:
        d.info("os-unidentified", "the image says nothing about its operating system",
               "set os_distro and os_version (and os_type)")
    return value


def decide_release_known(c: Context) -> None:
    if c.os.family == "windows" and not c.os.release_known:
        version = c.props.get("os_version")
        c.d.warn("os-version-unknown",
                 (f"os_version={version!r} does not identify" if version else
                  "os_version is not set, so nothing identifies") + " a Windows "
                 "release; kumo assumes Windows 7 / Server 2008 R2 or later (q35, SATA, "
                 "e1000e) and cannot apply release-specific rules such as Windows 11's TPM",
                 "set os_version (e.g. 10, 2019, 2012R2) or os_distro to a libosinfo id "
                 "such as win10")


def arch_runs_on(arch: str | None, host_arch: str) -> bool:
    """An image of ``arch`` (None: unstated) runs on a ``host_arch`` host (i686 on x86_64 too)."""
    return arch is None or arch == host_arch or (arch == "i686" and host_arch == "x86_64")


def hypervisor_runs(wanted: str | None, host_hypervisor: str) -> bool:
    """An image tagged hypervisor_type=``wanted`` (None: untagged) runs on this hypervisor."""
    return wanted is None or wanted in _COMPATIBLE_HV.get(host_hypervisor, {host_hypervisor})


def decide_arch(c: Context) -> str:
    host_arch = c.req.host.arch
    if "architecture" in c.props:
        arch = c.props.get("architecture")
        name, given = c.prop("architecture")
        c.d.decide("arch", arch, "arch.explicit", name, given,
                   "the image states its architecture")
        if not arch_runs_on(arch, host_arch):
            c.d.error("arch-mismatch",
                      f"architecture={arch} cannot run on this {host_arch} host",
                      f"place the image on an {arch} host, or correct architecture")
        return arch
    return c.d.decide("arch", host_arch, "arch.host", "host", host_arch,
                      "the image does not state its architecture; the host's is used")


def check_hypervisor_type(c: Context) -> None:
    if "hypervisor_type" not in c.props:
        return
    wanted = c.props.get("hypervisor_type")
    if not hypervisor_runs(wanted, c.hypervisor):
        c.d.error("hypervisor-type-mismatch",
                  f"hypervisor_type={wanted} but the host runs {c.hypervisor}",
                  f"render for --hypervisor {wanted}, or remove hypervisor_type")
