"""The probe harness itself: the guest's RTC follows libvirt's <clock> on a real QEMU (TCG).

Hand-written XML only, so a failure here is the harness's, not a renderer's."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from kumo.hosts.libvirt_host import LibvirtHost
from tests.e2e.probe import (
    INIT_SCRIPT,
    ProbeError,
    ProbeImage,
    adapt_for_probe,
    attach_serial_log,
    boot_and_read,
    build_agent_probe,
    build_probe,
    connect_system_libvirt,
    parse_probe_line,
)

MINIMAL_XML = """\
<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>{cmdline}</cmdline>
  </os>
  <features><acpi/></features>
  {clock}
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <serial type='file'>
      <source path='{log}' append='off'/>
      <target port='0'/>
    </serial>
  </devices>
</domain>
"""


def minimal_xml(probe: ProbeImage, log: Path, clock: str) -> str:
    return MINIMAL_XML.format(name=f"kumo-probe-{uuid.uuid4().hex[:8]}", kernel=probe.kernel,
                              initrd=probe.initramfs, cmdline=probe.cmdline, log=log,
                              clock=clock)


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@pytest.mark.e2e
@pytest.mark.parametrize("clock, offset_hours", [
    ("<clock offset='timezone' timezone='Asia/Shanghai'/>", 8),
    ("<clock offset='utc'/>", 0),
], ids=["timezone-shanghai", "utc"])
def test_guest_rtc_follows_clock_offset(system_libvirt: LibvirtHost, probe_image: ProbeImage,
                                        tmp_path: Path, clock: str, offset_hours: int) -> None:
    log = tmp_path / "console.log"
    before = utcnow()
    reading = boot_and_read(minimal_xml(probe_image, log, clock), log, timeout_s=90,
                            host=system_libvirt)
    after = utcnow()
    shift = timedelta(hours=offset_hours)
    assert before + shift - timedelta(seconds=60) <= reading.rtc <= after + shift, reading.line
    assert reading.fields["clocksource"] != "none", reading.line
    # every domain the harness made is gone again
    assert not any(n.startswith("kumo-probe-") for n in system_libvirt.list_domains())


@pytest.mark.e2e
def test_boot_and_read_cleans_up_after_a_guest_that_never_prints(
        system_libvirt: LibvirtHost, probe_image: ProbeImage, tmp_path: Path) -> None:
    """No initramfs line: the kernel panics (no init) and the harness times out, yet the
    domain is destroyed and undefined."""
    log = tmp_path / "console.log"
    silent = ProbeImage(kernel=probe_image.kernel, initramfs=probe_image.initramfs,
                        cmdline="console=ttyS0 quiet rdinit=/nonexistent panic=0")
    xml = minimal_xml(silent, log, "<clock offset='utc'/>")
    name = etree.fromstring(xml.encode()).findtext("name")
    with pytest.raises(ProbeError, match=f"domain '{name}' timed out waiting for the "
                                         "KUMO-PROBE line"):
        boot_and_read(xml, log, timeout_s=1, host=system_libvirt)
    assert not system_libvirt.domain_exists(name)


@pytest.mark.e2e
def test_adapted_rendered_xml_boots_with_its_clock_kept(
        system_libvirt: LibvirtHost, probe_image: ProbeImage, tmp_path: Path) -> None:
    """What other e2e tests do with kumo-rendered XML: a kvm/q35 domain with a disk, a NIC and a
    pty serial port, adapted (TCG, kernel boot, pty serial logged via <log>) - its clock kept."""
    rendered = f"""<domain type='kvm'><name>kumo-probe-{uuid.uuid4().hex[:8]}</name>
      <memory unit='MiB'>256</memory><vcpu>1</vcpu>
      <os><type arch='x86_64' machine='q35'>hvm</type><boot dev='hd'/></os>
      <features><acpi/><apic/></features>
      <clock offset='variable' adjustment='3600' basis='utc'><timer name='hpet' present='no'/></clock>
      <devices>
        <disk type='file' device='disk'><source file='/nonexistent.qcow2'/><target dev='vda' bus='virtio'/></disk>
        <interface type='network'><source network='nonexistent'/></interface>
        <serial type='pty'><target port='0'/></serial>
      </devices></domain>"""
    log = tmp_path / "console.log"
    before = utcnow()
    reading = boot_and_read(adapt_for_probe(rendered, probe_image, log), log,
                            host=system_libvirt)
    after = utcnow()
    hour = timedelta(hours=1)
    assert before + hour - timedelta(seconds=60) <= reading.rtc <= after + hour, reading.line
    assert "hpet" not in reading.fields["clocksources"].split(","), reading.line


# --- the pieces, without a hypervisor ----------------------------------------------------------

@pytest.mark.parametrize("text, rtc, fields", [
    ("[    1.4] x\nKUMO-PROBE rtc=2026-11-22T03:56:45 sys=2026-11-22T03:56:46 "
     "clocksource=tsc clocksources=tsc,acpi_pm\r\n[    2.0] reboot: Power down\n",
     datetime(2026, 11, 22, 3, 56, 45),
     {"rtc": "2026-11-22T03:56:45", "sys": "2026-11-22T03:56:46", "clocksource": "tsc",
      "clocksources": "tsc,acpi_pm"}),
    ("KUMO-PROBE rtc=2026-01-01T00:00:00 sys=2026-01-01T00:00:01\n",
     datetime(2026, 1, 1), {"rtc": "2026-01-01T00:00:00", "sys": "2026-01-01T00:00:01"}),
], ids=["full-console", "bare-line"])
def test_parse_probe_line(text: str, rtc: datetime, fields: dict[str, str]) -> None:
    reading = parse_probe_line(text)
    assert reading is not None
    assert (reading.rtc, reading.fields) == (rtc, fields)
    assert reading.line.startswith("KUMO-PROBE ") and "\r" not in reading.line


@pytest.mark.parametrize("text", ["", "booting...\n", "KUMO-PROBE rtc=2026-01-01T00:00:00 sy"],
                         ids=["empty", "no-line", "line-still-being-written"])
def test_parse_probe_line_none_until_a_whole_line(text: str) -> None:
    assert parse_probe_line(text) is None


def test_parse_probe_line_without_rtc_says_so() -> None:
    with pytest.raises(ProbeError, match=r"probe line is malformed \(Invalid isoformat string: "
                                         r"'none'\): 'KUMO-PROBE rtc=none sys=2026-01-01T00:00:00'"):
        parse_probe_line("KUMO-PROBE rtc=none sys=2026-01-01T00:00:00\n")


SERIAL_CASES = [
    ("<domain><devices/></domain>",
     "<serial type=\"file\"><source path=\"{log}\" append=\"off\"/><target port=\"0\"/></serial>"),
    ("<domain><devices><serial type='file'><source path='/old'/><target port='0'/></serial>"
     "</devices></domain>",
     "<serial type=\"file\"><source path=\"{log}\" append=\"off\"/><target port=\"0\"/></serial>"),
    ("<domain><devices><serial type='pty'><target port='0'/></serial></devices></domain>",
     "<serial type=\"pty\"><log file=\"{log}\" append=\"off\"/><target port=\"0\"/></serial>"),
    ("<domain><devices><serial type='pty'><log file='/old'/><target port='0'/></serial>"
     "</devices></domain>",
     "<serial type=\"pty\"><log file=\"{log}\" append=\"off\"/><target port=\"0\"/></serial>"),
]


@pytest.mark.parametrize("xml, serial", SERIAL_CASES,
                         ids=["no-serial", "file-serial", "pty-serial", "pty-with-old-log"])
def test_attach_serial_log(tmp_path: Path, xml: str, serial: str) -> None:
    log = tmp_path / "c.log"
    out = etree.fromstring(attach_serial_log(xml, log).encode())
    assert etree.tostring(out.find("devices/serial"), encoding="unicode") == serial.format(log=log)


def test_adapt_for_probe_changes_boot_devices_only(tmp_path: Path) -> None:
    rendered = """<domain type='kvm'><name>web1</name>
      <os><type machine='q35'>hvm</type><boot dev='hd'/></os>
      <clock offset='localtime'><timer name='hpet' present='no'/></clock>
      <devices>
        <disk type='file' device='disk'><source file='/nope.qcow2'/><target dev='vda'/><boot order='1'/></disk>
        <controller type='scsi' model='virtio-scsi'/>
        <interface type='network'><source network='default'/></interface>
        <serial type='pty'><target port='0'/></serial>
      </devices></domain>"""
    probe = ProbeImage(kernel=Path("/k"), initramfs=Path("/i"))
    out = etree.fromstring(adapt_for_probe(rendered, probe, tmp_path / "c.log").encode())
    assert out.get("type") == "qemu"
    assert [(e.tag, e.text) for e in out.find("os")][1:] == [
        ("kernel", "/k"), ("initrd", "/i"), ("cmdline", "console=ttyS0 panic=-1 quiet")]
    assert [e.tag for e in out.find("devices")] == ["serial"]
    assert etree.tostring(out.find("clock"), encoding="unicode").startswith(
        '<clock offset="localtime"><timer name="hpet" present="no"/></clock>')


@pytest.mark.skipif(shutil.which("cpio") is None, reason="needs GNU cpio to read the archive")
def test_initramfs_is_a_cpio_the_tools_read(tmp_path: Path) -> None:
    probe = build_probe(cache_dir=tmp_path)
    assert probe.initramfs.parent == tmp_path
    assert build_probe(cache_dir=tmp_path) == probe  # cached
    listing = subprocess.run(["cpio", "-itv"], input=gzip.decompress(probe.initramfs.read_bytes()),
                             capture_output=True, check=True).stdout.decode()
    names = [line.split()[-1] for line in listing.splitlines()]
    assert names == ["bin", "dev", "proc", "sys", "dev/console", "bin/busybox", "init"]
    console = next(line for line in listing.splitlines() if line.endswith("dev/console"))
    assert console.startswith("crw-------") and "5,   1" in console
    extracted = subprocess.run(["cpio", "-i", "--to-stdout", "init"],
                               input=gzip.decompress(probe.initramfs.read_bytes()),
                               capture_output=True, check=True).stdout.decode()
    assert extracted == INIT_SCRIPT


def test_unreachable_libvirtd_fails_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUMO_SKIP_E2E", raising=False)
    with pytest.raises(pytest.fail.Exception) as failed:
        connect_system_libvirt("qemu+unix:///system?socket=/nonexistent/libvirt-sock")
    assert str(failed.value) == (
        "host qemu+unix:///system?socket=/nonexistent/libvirt-sock does not answer: Failed to "
        "connect socket to '/nonexistent/libvirt-sock': No such file or directory\n"
        "run scripts/setup.sh to install and start libvirtd (or set KUMO_SKIP_E2E=1 to skip "
        "e2e tests)")


def test_unreachable_libvirtd_skips_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUMO_SKIP_E2E", "1")
    with pytest.raises(pytest.skip.Exception, match="^KUMO_SKIP_E2E=1 and host qemu\\+unix"):
        connect_system_libvirt("qemu+unix:///system?socket=/nonexistent/libvirt-sock")


@pytest.mark.skipif(shutil.which("cpio") is None, reason="needs GNU cpio to read the archive")
def test_agent_probe_carries_qemu_ga_its_libraries_and_modules(tmp_path: Path) -> None:
    """Everything qemu-ga loads (ldd) is in the archive at its path, byte for byte, with the
    virtio-serial modules (dependencies first) and an /init that starts the agent."""
    probe = build_agent_probe(cache_dir=tmp_path)
    assert "no_timer_check" in probe.cmdline
    data = gzip.decompress(probe.initramfs.read_bytes())
    names = [line.split()[-1] for line in subprocess.run(
        ["cpio", "-it"], input=data, capture_output=True, check=True).stdout.decode().splitlines()]
    libs = re.findall(r"(/\S+) \(0x", subprocess.run(["ldd", "/usr/sbin/qemu-ga"],
                                                      capture_output=True, text=True).stdout)
    for path in ["/usr/sbin/qemu-ga", *libs]:
        assert path.lstrip("/") in names, path
    modules = [n for n in names if n.startswith("lib/modules/")]
    assert modules == ["lib/modules/virtio_ring.ko", "lib/modules/virtio.ko",
                       "lib/modules/virtio_pci_modern_dev.ko",
                       "lib/modules/virtio_pci_legacy_dev.ko", "lib/modules/virtio_pci.ko",
                       "lib/modules/virtio_console.ko"]
    init = subprocess.run(["cpio", "-i", "--to-stdout", "init"], input=data,
                          capture_output=True, check=True).stdout.decode()
    assert "/usr/sbin/qemu-ga -m virtio-serial -p \"$agent\"" in init
    assert init.index("insmod /lib/modules/virtio_console.ko") < init.index("qemu-ga -m")
    assert init.index("qemu-ga -m") < init.index('echo "KUMO-PROBE')
    ga = subprocess.run(["cpio", "-i", "--to-stdout", "usr/sbin/qemu-ga"], input=data,
                        capture_output=True, check=True).stdout
    assert ga == Path("/usr/sbin/qemu-ga").read_bytes()
