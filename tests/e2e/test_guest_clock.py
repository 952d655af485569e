"""Issue 2 end to end: kumo-rendered guests booted on the real libvirtd read the RTC kumo chose.

A Windows-typed and a Linux-typed image, rendered by kumo for this machine's own host
capabilities (domain type qemu: TCG) with a guest time zone of Asia/Shanghai configured, boot
the probe kernel; the probe prints the guest's RTC. Seed 001: the Windows-typed guest must read
local time (UTC+8), the Linux-typed one UTC. The XML booted is kumo's, untouched.
"""

import subprocess
from datetime import datetime, timezone

import pytest

from kumo.backends import get_backend
from kumo.catalog.flavor import Flavor
from kumo.catalog.properties import ImageProperties
from kumo.guest.build import build_guest
from kumo.guest.request import GuestRequest
from kumo.hosts.capabilities import HostConfig
from tests.e2e.probe import boot_and_read

pytestmark = pytest.mark.e2e

IMAGES = {
    "windows": {"os_type": "windows", "os_distro": "windows", "os_version": "2019"},
    "linux": {"os_type": "linux", "os_distro": "debian", "os_version": "12"},
}


@pytest.mark.parametrize("os_type, hours", [("windows", 8), ("linux", 0)],
                         ids=["windows-reads-utc+8", "linux-reads-utc"])
def test_guest_rtc_follows_kumo_clock(system_libvirt, probe_image, tmp_path, os_type, hours):
    host = system_libvirt.capabilities(virt_type="qemu")
    disk = tmp_path / "root.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    log = tmp_path / "console.log"
    props = {**IMAGES[os_type], "os_command_line": probe_image.cmdline}
    spec = build_guest(GuestRequest(
        ImageProperties.parse(props), flavor=Flavor(1, 512, 32), host=host,
        host_config=HostConfig(guest_timezone="Asia/Shanghai"), name=f"kumo-e2e-rtc-{os_type}",
        root_disk=str(disk), kernel=str(probe_image.kernel), initrd=str(probe_image.initramfs),
        console_log=str(log)))
    xml = get_backend(spec.hypervisor).render(spec).text
    assert spec.hypervisor == "qemu"
    expected_clock = ('<clock offset="timezone" timezone="Asia/Shanghai">' if os_type == "windows"
                      else '<clock offset="utc">')
    assert expected_clock in xml
    if os_type == "windows":
        assert "<hyperv mode=\"custom\">" in xml  # the enlightenments start under TCG too

    reading = boot_and_read(xml, log, host=system_libvirt)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    assert abs(reading.rtc_offset_hours(now) - hours) < 0.05, reading.line
    # the probe's Linux kernel takes its RTC as UTC: on the Windows-typed guest it therefore
    # runs 8 h ahead - exactly how a Windows guest is 8 h off when the offsets are swapped
    assert abs((reading.system - now).total_seconds() / 3600 - hours) < 0.05, reading.line
