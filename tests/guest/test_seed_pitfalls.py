"""Lint catches each pitfall of the seed reports: one test each, exact finding."""

from kumo.catalog.properties import ImageProperties
from kumo.guest.build import plan_guest
from kumo.guest.request import GuestRequest


def findings(props: dict, **kw) -> dict[str, tuple[str, str]]:
    plan = plan_guest(GuestRequest(ImageProperties.parse(props), **kw))
    return {f.id: (f.severity, f.message) for f in plan.findings}


def test_seed000_os_distro_windows_without_os_type():
    got = findings({"os_distro": "windows", "os_version": "7"})
    assert got["os-type-missing"] == (
        "warning",
        "os_type is not set although os_distro says Windows; kumo infers os_type=windows, but "
        "Nova and other tools reading this image will not (for them a Windows guest "
        "blue-screens with CLOCK_WATCHDOG_TIMEOUT under load and its clock runs hours off)")


def test_seed001_os_type_contradicts_windows_distro():
    got = findings({"os_type": "linux", "os_distro": "windows", "os_version": "2008R2"})
    assert got["os-type-contradiction"] == (
        "error",
        "os_type=linux contradicts os_distro='windows', which is Windows Server 2008 R2 "
        "(windows); the guest would get linux clock and devices (a Windows guest on "
        "a UTC clock runs hours off)")


def test_seed001_windows_without_guest_agent_is_told():
    got = findings({"os_type": "windows", "os_distro": "windows", "os_version": "2008R2"})
    assert got["guest-agent-off"][0] == "info"


def test_seed002_disk_on_scsi_but_image_carries_virtio_blk():
    got = findings({"os_type": "windows", "os_distro": "windows", "os_version": "2012",
                    "hw_disk_bus": "scsi", "hw_scsi_model": "virtio-scsi",
                    "kumo_guest_drivers": "virtio-blk"})
    assert got["disk-driver-missing"] == (
        "error",
        "hw_disk_bus=scsi with hw_scsi_model=virtio-scsi needs the virtio-scsi driver, but the "
        "image declares only kumo_guest_drivers=virtio-blk and Windows Server 2012 has no inbox "
        "virtio-scsi driver: the guest cannot find its boot disk and blue-screens (INACCESSIBLE_BOOT_DEVICE)")


def test_seed002_virtio_bus_for_windows_without_declared_drivers():
    got = findings({"os_type": "windows", "os_distro": "windows", "os_version": "2012",
                    "hw_disk_bus": "virtio"})
    assert got["disk-driver-unverified"] == (
        "warning",
        "hw_disk_bus=virtio needs the virtio-blk driver, which Windows does not ship; the image "
        "does not declare its drivers (kumo_guest_drivers), so kumo cannot tell whether it "
        "boots")


def test_seed002_matching_driver_is_clean():
    got = findings({"os_type": "windows", "os_distro": "windows", "os_version": "2012",
                    "hw_disk_bus": "scsi", "hw_scsi_model": "virtio-scsi",
                    "kumo_guest_drivers": "virtio-scsi", "hw_qemu_guest_agent": "yes"})
    assert got == {}


def test_seed003_windows_key_is_never_an_ssh_key():
    """An RSA key only encrypts the admin password; any other type is an error, not dropped."""
    props = {"os_type": "windows", "os_distro": "windows", "os_version": "2019"}
    plan = plan_guest(GuestRequest(ImageProperties.parse(props),
                                   ssh_keys=("ssh-rsa AAAA op@example",)))
    assert [f.id for f in plan.findings if f.severity != "info"] == []
    assert (plan.spec.credentials.ssh_keys, plan.spec.credentials.password_key) == (
        (), "ssh-rsa AAAA op@example")
    got = findings(props, ssh_keys=("ssh-ed25519 AAAA op@example",))
    assert got["windows-key-type"][0] == "error"
    assert "this key is ssh-ed25519: allowed ssh-rsa" in got["windows-key-type"][1]


def test_secure_boot_required_on_pc_machine():
    got = findings({"os_type": "linux", "os_distro": "ubuntu", "os_version": "22.04",
                    "os_secure_boot": "required", "hw_machine_type": "pc"})
    assert got["secure-boot-needs-q35-uefi"] == (
        "error",
        "os_secure_boot=required needs q35 and UEFI firmware, but machine type is pc")


def test_tpm_crb_needs_tpm2():
    got = findings({"os_type": "linux", "hw_tpm_version": "1.2", "hw_tpm_model": "tpm-crb"})
    assert got["tpm-crb-needs-2.0"][0] == "error"


def test_ide_on_q35():
    got = findings({"os_type": "linux", "hw_machine_type": "q35", "hw_disk_bus": "ide"})
    assert got["ide-on-q35"] == (
        "error",
        "hw_disk_bus=ide is not available on machine type q35: q35 has no IDE controller")
