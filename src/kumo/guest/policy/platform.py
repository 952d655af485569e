"""Rules: machine type, firmware and Secure Boot, TPM, CPU topology and mode.

Machine type: hw_machine_type wins; otherwise q35 (PCIe, AHCI, secure-boot capable) for OSes
that support it — Windows 7 / 2008 R2 and later, modern Linux — and the i440fx ``pc`` machine for
older ones (libosinfo and virt-manager make the same split).

Firmware (Nova: hw_firmware_type, os_secure_boot): Secure Boot needs UEFI with SMM on q35
(libvirt formatdomain "BIOS bootloader"; OVMF's secure-boot builds require SMM, which i440fx
lacks). Windows 11 requires UEFI, Secure Boot and TPM 2.0 (Microsoft's Windows 11 system
requirements), so it gets them by default.
TPM (Nova hw_tpm_version/hw_tpm_model): the CRB interface exists only for TPM 2.0.
RAM: a flavor with more RAM than the hypervisor can give one guest is an error (``check_ram``),
as more vCPUs than the host allows is; each platform states its limit and where it is written.
"""

from __future__ import annotations

from kumo.guest.policy.context import Context
from kumo.guest.policy.cpu_model import decide_tcg_cpu
from kumo.guest.policy.storage import has_cdrom
from kumo.guest.policy.topology import Limits, fit
from kumo.guest.spec import CpuSpec, FirmwareSpec, TpmSpec
from kumo.hosts.capabilities import machine_family


def decide_machine(c: Context) -> str:
    d, host = c.d, c.req.host
    pinned = c.req.pinned_machine
    if pinned:
        d.decide("machine", pinned, "machine.pinned", "instance", pinned,
                 "the machine type pinned when the server was created; only an audited "
                 "set-property hw_machine_type moves it (a chipset change is new hardware to "
                 "the guest)")
        if not host.offers_machine(pinned):
            d.error("machine-type-unavailable",
                    f"the server's pinned machine type {pinned}: the host offers "
                    f"{', '.join(host.machine_versions(machine_family(pinned)) or host.machines)}", "move the server to a host with that machine "
                    "type, or change it with set-property hw_machine_type")
        return pinned
    if "hw_machine_type" in c.props:
        name, given = c.prop("hw_machine_type")
        value = c.props.get("hw_machine_type")
        d.decide("machine", value, "machine.explicit", name, given,
                 "hw_machine_type is set on the image")
        fam = machine_family(value)
        if fam.startswith("hyperv-") or fam.startswith("xen"):
            d.error("machine-type-wrong-hypervisor",
                    f"hw_machine_type={value} is for "
                    f"{'Hyper-V' if fam.startswith('hyperv') else 'Xen'}, but the host runs "
                    f"{c.hypervisor}", "remove hw_machine_type or place the image on such a host")
        elif fam not in host.machines:
            d.error("machine-type-unavailable",
                    f"hw_machine_type={value}: the host offers {', '.join(host.machines)}",
                    "choose a machine type the host offers")
        return value
    # a CD-ROM bus only matters to a guest that has a CD-ROM (the config drive)
    ide = [p for p in ("hw_disk_bus", "hw_cdrom_bus") if c.props.get(p) == "ide"
           and (p == "hw_disk_bus" or has_cdrom(c))]
    if ide:
        name, given = c.prop(ide[0])
        what = "disk" if ide[0] == "hw_disk_bus" else "CD-ROM"
        return d.decide("machine", "pc", "machine.ide-needs-pc", name, given,
                        f"q35 has no IDE controller; {name}=ide puts the {what} on IDE, so the "
                        "i440fx pc machine is used")
    if c.props.get("os_secure_boot") == "required" and "q35" in host.machines:
        # OVMF's Secure Boot builds need SMM, which only q35 has (QEMU's firmware descriptors
        # target them to pc-q35-* only; libvirt formatdomain "BIOS bootloader")
        name, given = c.prop("os_secure_boot")
        return d.decide("machine", "q35", "machine.secure-boot-needs-q35", name, given,
                        "Secure Boot is required and works only on q35 (SMM)")
    if c.os.q35 and "q35" in host.machines:
        return d.decide("machine", "q35", "machine.os-default", "os", c.os.name,
                        f"{c.os.name} supports q35 (PCIe, AHCI, Secure Boot capable)")
    why = (f"{c.os.name} predates q35 support" if not c.os.q35
           else "the host does not offer q35")
    return d.decide("machine", "pc", "machine.os-default", "os", c.os.name,
                    f"{why}; the i440fx pc machine is used")


def is_q35(machine: str) -> bool:
    return "q35" in machine


def decide_firmware(c: Context) -> FirmwareSpec:
    d, host, os = c.d, c.req.host, c.os
    machine = c.chosen["machine"]
    sb = c.props.get("os_secure_boot")
    if "hw_firmware_type" in c.props:
        name, given = c.prop("hw_firmware_type")
        fw = d.decide("firmware.type", c.props.get("hw_firmware_type"), "firmware.explicit",
                      name, given, "hw_firmware_type is set on the image")
    elif os.requires_uefi:
        fw = d.decide("firmware.type", "uefi", "firmware.os-requires-uefi", "os", os.name,
                      f"{os.name} boots only from UEFI")
    elif sb == "required":
        name, given = c.prop("os_secure_boot")
        fw = d.decide("firmware.type", "uefi", "firmware.secure-boot-needs-uefi", name, given,
                      "Secure Boot is required and exists only with UEFI firmware")
    else:
        fw = d.decide("firmware.type", "bios", "firmware.default-bios", "default", None,
                      "no firmware requested; BIOS boots every x86 image")
    if fw == "uefi" and "efi" not in host.firmware:
        d.error("uefi-unavailable", "the image needs UEFI firmware but the host offers none "
                "(no OVMF firmware in its domain capabilities)",
                "install ovmf on the host or place the image elsewhere")
    if fw == "uefi" and not os.uefi and os.release_known and "hw_firmware_type" in c.props:
        d.warn("uefi-unsupported-by-os", f"{os.name} cannot boot from UEFI firmware",
               "remove hw_firmware_type=uefi")

    secure = False
    if sb == "required":
        name, given = c.prop("os_secure_boot")
        problems = []
        if fw != "uefi":
            problems.append(f"firmware is {fw}")
        if not is_q35(machine):
            problems.append(f"machine type is {machine}")
        if problems:
            d.error("secure-boot-needs-q35-uefi",
                    f"os_secure_boot=required needs q35 and UEFI firmware, but "
                    f"{' and '.join(problems)}",
                    "set hw_machine_type=q35 and hw_firmware_type=uefi, or os_secure_boot="
                    "optional")
        elif not host.secure_boot_on(machine):
            d.error("secure-boot-unavailable", "os_secure_boot=required but the host's "
                    "firmware offers no Secure Boot", "place the image on a host with a "
                    "secure-boot OVMF")
        if os.release_known and not os.secure_boot:
            # Secure Boot arrived with Windows 8 / Server 2012 and, for Linux, a signed shim
            # (kumo.osinfo tables); an older release's boot loader is unsigned and is refused
            d.error("secure-boot-unsupported-by-os", f"os_secure_boot=required but {os.name} "
                    "cannot boot with Secure Boot (its boot loader is not signed for it)",
                    "set os_secure_boot=disabled, or use a release that supports Secure Boot")
        secure = d.decide("firmware.secure_boot", True, "firmware.secure-boot-required", name,
                          given, "os_secure_boot=required")
    elif sb == "optional":
        name, given = c.prop("os_secure_boot")
        secure = (fw == "uefi" and is_q35(machine) and host.secure_boot_on(machine)
                  and os.secure_boot)
        d.decide("firmware.secure_boot", secure, "firmware.secure-boot-optional", name, given,
                 "os_secure_boot=optional: enabled because UEFI on q35 with a secure-boot host "
                 "and an OS that supports it" if secure else
                 "os_secure_boot=optional: not enabled (needs UEFI on q35, a secure-boot host "
                 "and an OS that supports it)")
    elif sb is None and os.requires_secure_boot and fw == "uefi" and is_q35(machine):
        secure = d.decide("firmware.secure_boot", True, "firmware.os-requires-secure-boot",
                          "os", os.name, f"{os.name} requires Secure Boot")
        # the OS's own requirement is checked against the host like an explicit request
        if not host.secure_boot_on(machine):
            d.error("secure-boot-unavailable", f"{os.name} requires Secure Boot but the host's "
                    "firmware offers no Secure Boot", "place the image on a host with a "
                    "secure-boot OVMF")
    else:
        d.decide("firmware.secure_boot", False, "firmware.secure-boot-default", "os_secure_boot",
                 sb, "Secure Boot is off unless os_secure_boot asks for it")
    if os.requires_secure_boot and not secure:
        d.error("os-requires-secure-boot", f"{os.name} requires Secure Boot, which this guest "
                "would not have", "remove os_secure_boot=disabled / hw_firmware_type=bios")
    stateless = bool(c.props.get("hw_firmware_stateless"))
    if stateless:
        name, given = c.prop("hw_firmware_stateless")
        d.decide("firmware.stateless", True, "firmware.stateless", name, given,
                 "UEFI variables are not kept between boots")
        if fw != "uefi":
            d.error("stateless-needs-uefi", "hw_firmware_stateless=true needs UEFI firmware",
                    "set hw_firmware_type=uefi or remove hw_firmware_stateless")
    return FirmwareSpec(type=fw, secure_boot=secure, stateless=stateless)


def decide_tpm(c: Context) -> TpmSpec | None:
    d, host, os = c.d, c.req.host, c.os
    version = c.props.get("hw_tpm_version")
    model = c.props.get("hw_tpm_model")
    if version is None and os.requires_tpm2:
        version = d.decide("tpm.version", "2.0", "tpm.os-requires-tpm2", "os", os.name,
                           f"{os.name} requires TPM 2.0")
        if model is None:
            model = d.decide("tpm.model", "tpm-crb", "tpm.os-requires-tpm2", "os", os.name,
                             "TPM 2.0 through the CRB interface, which Windows 11 prefers")
    elif version is not None:
        name, given = c.prop("hw_tpm_version")
        d.decide("tpm.version", version, "tpm.explicit", name, given,
                 "hw_tpm_version is set on the image")
    if version is None:
        if model is not None:
            d.error("tpm-model-without-version", f"hw_tpm_model={model} is set without "
                    "hw_tpm_version", "set hw_tpm_version=2.0 (or 1.2 with tpm-tis)")
        return None
    if model is None:
        model = d.decide("tpm.model", "tpm-tis", "tpm.default-model", "default", None,
                         "TIS is the TPM interface every TPM-aware OS supports")
    elif "hw_tpm_model" in c.props:  # (not the OS rule's tpm-crb, decided above)
        name, given = c.prop("hw_tpm_model")
        d.decide("tpm.model", model, "tpm.explicit", name, given, "hw_tpm_model is set")
    if model == "tpm-crb" and version != "2.0":
        d.error("tpm-crb-needs-2.0", f"hw_tpm_model=tpm-crb needs hw_tpm_version=2.0, not "
                f"{version} (the CRB interface exists only for TPM 2.0)",
                "set hw_tpm_version=2.0 or hw_tpm_model=tpm-tis")
    if version not in host.tpm_versions or model not in host.tpm_models:
        d.error("tpm-unavailable", f"TPM {version} ({model}) is not offered by the host "
                f"(offers versions {', '.join(host.tpm_versions) or 'none'}, models "
                f"{', '.join(host.tpm_models) or 'none'})", "install swtpm on the host")
    elif not host.tpm_emulated:
        # libvirt emulates the TPM with swtpm (formatdomain "TPM device", backend emulator);
        # QEMU offers the device model without it, and the guest then fails to start
        d.error("tpm-unavailable", f"TPM {version} ({model}) needs swtpm, which is not "
                "installed on the host", "install swtpm on the host (apt install swtpm)")
    return TpmSpec(model=model, version=version)


#: hypervisors whose guest configuration takes a vCPU count and nothing more, and why
COUNT_ONLY_CPU = {
    "xen": "libvirt's libxl driver builds a Xen guest's CPUs from <vcpu> alone (it applies no "
           "<cpu><topology>)",
    "hyperv": "Hyper-V takes a vCPU count only (Set-VMProcessor -Count)",
}


def _windows_sockets(c: Context) -> str:
    """Why a Windows guest's vCPUs are cores of one socket, for its edition: client editions
    use at most 2 sockets (Windows 10/11 Pro); Windows Server is licensed by processor socket
    (2012 R2 and earlier per pair of sockets; 2016 and later per core with a minimum per
    socket), so more sockets cost more licenses."""
    if not c.os.release_known:
        return ("Windows client editions use at most 2 sockets and Windows Server is licensed "
                "by socket")
    if "Server" in c.os.name:
        return f"{c.os.name} is licensed by processor socket"
    return f"{c.os.name} (a client edition) uses at most 2 sockets"


def decide_cpu(c: Context) -> CpuSpec:
    if c.hypervisor in COUNT_ONLY_CPU:
        return _decide_cpu_count(c)
    d, flavor, host = c.d, c.req.flavor, c.req.host
    vcpus = flavor.vcpus
    given = {k: c.props.get(f"hw_cpu_{k}") for k in ("sockets", "cores", "threads")}
    limits = Limits(*(c.props.get(f"hw_cpu_max_{k}") for k in ("sockets", "cores", "threads")))
    if any(v is not None for v in given.values()):
        threads = given["threads"] or 1
        cores = given["cores"] or max(1, vcpus // ((given["sockets"] or 1) * threads))
        sockets = given["sockets"] or max(1, vcpus // (cores * threads))
        stated = {f"hw_cpu_{k}": v for k, v in given.items() if v is not None}
        rule, src, value, why = ("cpu.topology-explicit", ",".join(stated),
                                 ",".join(str(v) for v in stated.values()),
                                 "the image states a CPU topology")
        if sockets * cores * threads != vcpus:
            d.error("cpu-topology-mismatch",
                    f"hw_cpu_sockets/cores/threads give {sockets}x{cores}x{threads}="
                    f"{sockets * cores * threads} vCPUs but the flavor has {vcpus}",
                    "make sockets*cores*threads equal the flavor's vCPUs")
        elif not limits.admit((sockets, cores, threads)):
            # Nova refuses a preference beyond the limits (ImageVCPUTopologyRangeExceeded)
            d.error("cpu-topology-exceeds-max",
                    f"hw_cpu_sockets/cores/threads give {sockets}x{cores}x{threads}, beyond the "
                    f"image's limits: {', '.join(limits.exceeded((sockets, cores, threads)))}",
                    "make hw_cpu_sockets/cores/threads fit hw_cpu_max_sockets/cores/threads")
    else:
        if c.windows:
            preferred = (1, vcpus, 1)
            rule, src, value, why = ("cpu.windows-cores", "os_type", "windows",
                                     f"{_windows_sockets(c)}, so the flavor's {vcpus} vCPUs "
                                     "are given as cores of one socket")
        else:
            preferred = (vcpus, 1, 1)
            rule, src, value, why = ("cpu.default", "flavor vcpus", vcpus,
                                     "one socket per vCPU (Nova's default)")
        shape = fit(vcpus, preferred, limits, prefer_cores=c.windows)
        if shape is None:
            d.error("cpu-topology-exceeds-max", f"no topology of {vcpus} vCPUs fits "
                    "hw_cpu_max_sockets/cores/threads", "raise the hw_cpu_max_* limits or use "
                    "a flavor with fewer vCPUs")
            shape = preferred
        elif shape != preferred:
            given_max = {f"hw_cpu_max_{k}": c.props.get(f"hw_cpu_max_{k}")
                         for k in ("sockets", "cores", "threads")}
            given_max = {k: v for k, v in given_max.items() if v is not None}
            rule, src, value, why = ("cpu.topology-max", ",".join(given_max),
                                     ",".join(str(v) for v in given_max.values()),
                                     "the preferred topology is beyond the image's hw_cpu_max_* "
                                     "limits; the closest one within them")
        sockets, cores, threads = shape
    d.decide("cpu.topology", f"{sockets}x{cores}x{threads}", rule, src, value, why)
    model = None
    if "hw_cpu_mode" in c.props:
        name, given = c.prop("hw_cpu_mode")
        mode = d.decide("cpu.mode", c.props.get("hw_cpu_mode"), "cpu.mode-explicit", name,
                        given, "hw_cpu_mode is set on the image (checked against the host's "
                        "CPU modes)")
    elif c.req.host_config.cpu_mode:
        mode = d.decide("cpu.mode", c.req.host_config.cpu_mode, "cpu.mode-host-config",
                        "host cpu_mode", c.req.host_config.cpu_mode,
                        "the operator configured this host's guest CPU mode")
    elif c.hypervisor == "kvm":
        mode = d.decide("cpu.mode", "host-model", "cpu.mode-default", "hypervisor", "kvm",
                        "host-model exposes the host's CPU features and stays migratable "
                        "(Nova's default for kvm)")
    else:
        mode, model = decide_tcg_cpu(c)
    if host.max_vcpus and vcpus > host.max_vcpus:
        d.error("too-many-vcpus", f"the flavor has {vcpus} vCPUs; the host allows at most "
                f"{host.max_vcpus}", "use a smaller flavor")
    return CpuSpec(vcpus=vcpus, sockets=sockets, cores=cores, threads=threads, mode=mode,
                   model=model, vendor=host.cpu_vendor)


#: MiB in a TiB
TIB_MIB = 1 << 20


def check_ram(c: Context, limit_mib: int, why: str) -> None:
    """Error ``too-much-ram`` when the flavor's RAM exceeds ``limit_mib`` (``why``: the
    hypervisor's limit and its source)."""
    ram = c.req.flavor.ram_mib
    if ram > limit_mib:
        c.d.error("too-much-ram", f"the flavor has {ram} MiB of RAM; a {c.hypervisor} guest "
                  f"can have at most {limit_mib} MiB ({why})", "use a smaller flavor")


def _decide_cpu_count(c: Context) -> CpuSpec:
    """Xen and Hyper-V: the flavor's vCPU count; the hypervisor picks topology and CPU model.

    The spec records the count as one socket of ``vcpus`` cores (it needs a shape); backends for
    these hypervisors render the count only."""
    d, host, vcpus = c.d, c.req.host, c.req.flavor.vcpus
    how = COUNT_ONLY_CPU[c.hypervisor]
    d.decide("cpu.topology", f"{vcpus} vCPUs", "cpu.count-only", "flavor", vcpus,
             f"{how}; the hypervisor presents them in its own topology")
    given = [f"hw_cpu_{k}" for k in ("sockets", "cores", "threads")
             if c.props.get(f"hw_cpu_{k}") is not None]
    if given:
        d.warn("cpu-topology-ignored", f"{', '.join(given)} cannot be applied on "
               f"{c.hypervisor}: {how}", f"remove {', '.join(given)} for {c.hypervisor} hosts")
    d.decide("cpu.mode", "none", "cpu.count-only", "hypervisor", c.hypervisor,
             f"{how}; the guest sees the hypervisor's own CPU model")
    if host.max_vcpus and vcpus > host.max_vcpus:
        d.error("too-many-vcpus", f"the flavor has {vcpus} vCPUs; the host allows at most "
                f"{host.max_vcpus}", "use a smaller flavor")
    return CpuSpec(vcpus=vcpus, sockets=1, cores=vcpus, threads=1, mode="none",
                   vendor=host.cpu_vendor)
