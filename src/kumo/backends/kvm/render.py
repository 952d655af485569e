"""GuestSpec -> libvirt domain XML for the QEMU driver (<domain type='kvm'|'qemu'>), and back.

This module only converts; it makes no policy decisions (conventions.md #2, after Nova's
nova/virt/libvirt/config.py). Every value comes from the GuestSpec. The few fixed spellings
(driver name 'qemu', the guest agent's channel name, the rng's /dev/urandom backend, the
i6300esb watchdog) are how QEMU/libvirt express a GuestSpec value, not choices between options.
"""

from __future__ import annotations

from kumo.backends.kvm.devices import check_allowed, devices, unsupported
from kumo.backends.libvirt_xml import (
    Clock,
    Cpu,
    Domain,
    Features,
    FirmwareFeature,
    Hyperv,
    Loader,
    Os,
    Timer,
    Topology,
)
from kumo.backends.libvirt_xml.metadata import mark_node
from kumo.errors import UnsupportedGuest
from kumo.guest.spec import ClockSpec, CpuSpec, GuestSpec, HypervFeature

DOMAIN_TYPES = ("kvm", "qemu")
CPU_MODES = ("host-model", "host-passthrough", "custom", "maximum", "none")
CLOCK_OFFSETS = ("utc", "localtime", "timezone")
#: GuestSpec.features names this backend renders, each as that <features> element turned on
PLATFORM_FEATURES = ("acpi", "apic", "pae", "smm", "vmport")
#: GuestSpec.hyperv names -> Hyperv field (vendor_id also takes the feature's value)
HYPERV_FEATURES = {name: name for name in Hyperv.STATE_FEATURES}
HYPERV_FEATURES["stimer-direct"] = "stimer_direct"
#: libvirt's limit on <vendor_id value>: at most 12 characters (formatdomain, hyperv features)
VENDOR_ID_MAX = 12


def render(spec: GuestSpec) -> str:
    """The domain XML for ``spec``: pretty-printed, deterministic, ends with a newline."""
    return to_domain(spec).to_xml()


def parse(xml: str | bytes) -> Domain:
    """A domain XML (kumo's own or libvirt's expanded ``dumpxml``) as a ``Domain``.

    Elements and attributes kumo does not model are ignored, so ``parse(render(spec)) ==
    to_domain(spec)`` and ``render``-ing a parsed dumpxml gives kumo's modelled subset.
    """
    return Domain.from_xml(xml)


def to_domain(spec: GuestSpec) -> Domain:
    return Domain(
        type=check_allowed("hypervisor", spec.hypervisor, DOMAIN_TYPES),
        name=spec.name,
        uuid=spec.uuid,
        kumo=mark_node(spec.mark),
        memory=spec.memory_mib,
        memory_unit="MiB",
        vcpu=spec.cpu.vcpus,
        os=_os(spec),
        features=_features(spec),
        cpu=_cpu(spec.cpu),
        clock=_clock(spec.clock),
        pm_suspend_to_mem=spec.suspend,
        pm_suspend_to_disk=spec.suspend,
        devices=devices(spec),
    )


def _os(spec: GuestSpec) -> Os:
    check_allowed("virt_mode", spec.virt_mode, ("hvm",))
    if spec.boot.bootloader is not None:
        raise UnsupportedGuest(
            f"KVM/QEMU backend cannot render boot.bootloader={spec.boot.bootloader!r}: a host-side "
            "bootloader (pygrub) is Xen's; use boot.kernel/initrd for direct kernel boot"
        )
    fw = spec.firmware
    check_allowed("firmware.type", fw.type, ("bios", "uefi"))
    os = Os(
        type="hvm",
        arch=spec.arch,
        machine=spec.machine,
        kernel=spec.boot.kernel,
        initrd=spec.boot.initrd,
        cmdline=spec.boot.cmdline,
        bootmenu=True if spec.boot_menu else None,
    )
    if fw.type == "bios":
        if fw.secure_boot or fw.stateless:
            raise UnsupportedGuest(
                "firmware.secure_boot and firmware.stateless need firmware.type='uefi', "
                f"got firmware.type='bios' (secure_boot={fw.secure_boot}, stateless={fw.stateless})"
            )
        if spec.boot.loader:
            os.loader = Loader(path=spec.boot.loader)
        return os
    if spec.boot.loader:
        # An explicit firmware image: libvirt 9.0 refuses <loader> type/readonly/path together
        # with firmware autoselection ("loader attribute 'type' cannot be specified when
        # firmware autoselection is enabled"), so this is the manual form; libvirt finds the
        # NVRAM template for the image in the host's firmware descriptors.
        os.loader = Loader(readonly=True, secure=True if fw.secure_boot else None,
                           type="pflash", stateless=True if fw.stateless else None,
                           path=spec.boot.loader)
        return os
    # UEFI by firmware autoselection (libvirt >= 7.2, formatdomain.html#bios-bootloader): libvirt
    # picks a firmware + NVRAM template from the host's QEMU firmware descriptors that has (or
    # lacks) these features, so no OVMF path is hard-coded. Secure Boot is only enforcing with
    # Microsoft's keys enrolled, hence enrolled-keys follows secure-boot. Listed in the order
    # libvirt writes them back.
    os.firmware = "efi"
    os.firmware_features = [
        FirmwareFeature(enabled=fw.secure_boot, name="enrolled-keys"),
        FirmwareFeature(enabled=fw.secure_boot, name="secure-boot"),
    ]
    if fw.stateless:
        os.loader = Loader(stateless=True)
    return os


def _features(spec: GuestSpec) -> Features | None:
    for i, name in enumerate(spec.features):
        check_allowed(f"features[{i}]", name, PLATFORM_FEATURES)
    names = set(spec.features)
    features = Features(
        acpi="acpi" in names,
        apic="apic" in names,
        pae="pae" in names,
        hyperv=_hyperv(spec.hyperv),
        kvm_hidden=True if spec.hide_hypervisor_id else None,
        pmu=spec.pmu,
        vmport=True if "vmport" in names else None,
        # OVMF's Secure Boot keeps its variable store safe only behind SMM; QEMU's secure
        # firmware images require it (edk2 OvmfPkg README, "SMM support").
        smm=True if "smm" in names or spec.firmware.secure_boot else None,
    )
    return None if features == Features() else features


def _hyperv(specs: tuple[HypervFeature, ...]) -> Hyperv | None:
    if not specs:
        return None
    hv = Hyperv(mode="custom")
    for i, f in enumerate(specs):
        field = HYPERV_FEATURES.get(f.name)
        if field is None:
            raise unsupported(f"hyperv[{i}].name", f.name, HYPERV_FEATURES)
        setattr(hv, field, True)
        if f.name == "vendor_id":
            if not f.value or len(f.value) > VENDOR_ID_MAX:
                raise UnsupportedGuest(f"hyperv[{i}]: vendor_id needs a value of 1 to "
                                       f"{VENDOR_ID_MAX} characters, got {f.value!r}")
            hv.vendor_id_value = f.value
        elif f.value is not None:
            raise UnsupportedGuest(f"hyperv[{i}]: a value applies to vendor_id only, not "
                                   f"{f.name!r}")
        if f.retries is not None:
            if f.name != "spinlocks":
                raise UnsupportedGuest(
                    f"hyperv[{i}]: retries={f.retries} applies to spinlocks only, not {f.name!r}"
                )
            hv.spinlocks_retries = f.retries
    return hv


def _cpu(cpu: CpuSpec) -> Cpu:
    check_allowed("cpu.mode", cpu.mode, CPU_MODES)
    if (cpu.mode == "custom") != (cpu.model is not None):
        raise UnsupportedGuest(f"cpu.model={cpu.model!r} with cpu.mode={cpu.mode!r}: a named "
                               "model goes with mode 'custom' and only with it")
    # fallback='forbid': a host that cannot run the model refuses to start the guest rather
    # than silently giving it a lesser CPU (formatdomain.html#cpu-model-and-topology)
    return Cpu(
        mode=None if cpu.mode == "none" else cpu.mode,
        match="exact" if cpu.model else None,
        model=cpu.model,
        model_fallback="forbid" if cpu.model else None,
        topology=Topology(sockets=cpu.sockets, cores=cpu.cores, threads=cpu.threads),
    )


def _clock(clock: ClockSpec) -> Clock:
    check_allowed("clock.offset", clock.offset, CLOCK_OFFSETS)
    return Clock(
        offset=clock.offset,
        timezone=clock.timezone,
        timers=[Timer(name=t.name, present=t.present, tickpolicy=t.tickpolicy)
                for t in clock.timers],
    )
