"""The probe guest: a Debian cloud kernel plus a busybox initramfs that prints one line and
powers off, so an e2e test can see what a real QEMU guest sees (its RTC first) in ~5 s of TCG.

    probe = build_probe()                      # kernel + cached initramfs
    xml = adapt_for_probe(rendered_xml, probe, log)   # or hand-written XML using probe.kernel
    reading = boot_and_read(xml, log)          # define, start, read the line, destroy, undefine
    reading.rtc, reading.fields["clocksource"]

The line the guest prints on its serial console (ttyS0), space-separated key=value, no spaces
inside values:

    KUMO-PROBE rtc=2026-11-22T03:56:45 sys=2026-11-22T03:56:46 clocksource=tsc-early clocksources=tsc-early,hpet,acpi_pm

``rtc`` is /sys/class/rtc/rtc0/{date,time} (the CMOS clock as the guest reads it; the cloud
kernel has CONFIG_RTC_DRV_CMOS=y), ``sys`` is ``date -u`` (the kernel's clock, set from the RTC
at boot by hctosys, which assumes the RTC holds UTC - so it follows the RTC, not the host).

The serial console logged to a file that works under TCG (libvirt 9.0 / QEMU 7.2):

    <serial type='file'><source path='/abs/console.log' append='off'/><target port='0'/></serial>

(or, keeping a pty, ``<serial type='pty'><log file='/abs/console.log' append='off'/>...``), with
``console=ttyS0`` on the kernel command line. ``<features><acpi/></features>`` lets
``poweroff -f`` end the domain; without it the guest only halts (the harness destroys it anyway).

The initramfs is cached in ``$KUMO_PROBE_DIR`` (default ``<repo>/var/probe``), keyed by the
kernel release, busybox's version and the init script, and written atomically.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Iterator

import pytest
from lxml import etree

from kumo.errors import (DomainNotFound, GuestAgentUnresponsive, HostUnreachable, NotFound,
                         StateError)
from kumo.hosts.libvirt_host import DomainState, LibvirtHost
from kumo.tiny_guest import (
    AGENT_MODULES,
    build_initramfs,
    find_kernel,
    guest_agent_files,
    guest_agent_lines,
    insmod_lines,
    kernel_modules,
)

SYSTEM_URI = "qemu:///system"
PROBE_MARK = "KUMO-PROBE"
KERNEL_CMDLINE = "console=ttyS0 panic=-1 quiet"
REPO_ROOT = Path(__file__).resolve().parents[2]

_MOUNTS = """#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
"""
_REPORT = """rtc=none
if [ -r /sys/class/rtc/rtc0/date ]; then
  rtc="$($B cat /sys/class/rtc/rtc0/date)T$($B cat /sys/class/rtc/rtc0/time)"
fi
cs=/sys/devices/system/clocksource/clocksource0
cur=$($B cat $cs/current_clocksource 2>/dev/null || echo none)
avail=$($B cat $cs/available_clocksource 2>/dev/null | $B tr -s ' ' ',' | $B sed 's/,$//')
echo "KUMO-PROBE rtc=$rtc sys=$($B date -u +%Y-%m-%dT%H:%M:%S) clocksource=$cur clocksources=${avail:-none}"
"""
INIT_SCRIPT = _MOUNTS + _REPORT + "$B poweroff -f\n"


#: the agent probe: the probe's line, then qemu-guest-agent on its virtio-serial port, and the
#: guest stays up (until destroyed) so the host can talk to the agent
AGENT_PROBE_MARK = "KUMO-AGENT"


def agent_init_script(modules: str) -> str:
    """The probe's /init with qemu-guest-agent: ``modules`` (insmod lines of AGENT_MODULES) and
    the agent started before the KUMO-PROBE line, then a KUMO-AGENT line naming its port, and
    the guest stays up until destroyed."""
    return (_MOUNTS + modules + guest_agent_lines() + _REPORT
            + f'echo "{AGENT_PROBE_MARK} port=$agent"\n' + "while :; do $B sleep 3600; done\n")


class ProbeError(RuntimeError):
    """The probe could not be built, booted or read; the message says what and shows the log."""


@dataclass(frozen=True)
class ProbeImage:
    kernel: Path
    initramfs: Path
    cmdline: str = KERNEL_CMDLINE


@dataclass(frozen=True)
class ProbeReading:
    #: the guest's RTC (naive: the RTC has no zone; compare it with UTC to see the offset)
    rtc: datetime
    #: the guest kernel's clock (``date -u``)
    system: datetime
    line: str
    fields: dict[str, str] = field(default_factory=dict)
    #: from start() to the line appearing in the log
    boot_seconds: float = 0.0

    def rtc_offset_hours(self, utc_now: datetime) -> float:
        """RTC minus ``utc_now`` (naive UTC), in hours."""
        return (self.rtc - utc_now).total_seconds() / 3600


# --- building the probe ----------------------------------------------------------------------

def probe_dir() -> Path:
    return Path(os.environ.get("KUMO_PROBE_DIR") or REPO_ROOT / "var" / "probe")


def build_probe(cache_dir: Path | None = None) -> ProbeImage:
    """The kernel and the (cached) probe initramfs (kumo.tiny_guest with the probe's /init)."""
    try:
        kernel, initramfs = build_initramfs(INIT_SCRIPT, cache_dir or probe_dir(), "probe")
    except NotFound as e:
        raise ProbeError(str(e)) from None
    return ProbeImage(kernel=kernel, initramfs=initramfs)


def build_agent_probe(cache_dir: Path | None = None) -> ProbeImage:
    """The probe with qemu-guest-agent (``agent_init_script``): qemu-ga, its libraries and the
    virtio-serial modules in the initramfs. Boot it with the agent channel
    (hw_qemu_guest_agent=yes) and read it with ``running_probe``."""
    try:
        modules = kernel_modules(find_kernel(), AGENT_MODULES)
        kernel, initramfs = build_initramfs(agent_init_script(insmod_lines(modules)),
                                            cache_dir or probe_dir(), "agent-probe",
                                            extra=modules + guest_agent_files())
    except NotFound as e:
        raise ProbeError(str(e)) from None
    # no_timer_check: the guest lives for minutes, booted on a loaded TCG host, where the
    # kernel's IO-APIC timer check can miss its ticks and panic ("IO-APIC + timer doesn't
    # work"); the check is for broken real boards (as cloud images boot, e.g. Fedora's)
    return ProbeImage(kernel=kernel, initramfs=initramfs,
                      cmdline=f"{KERNEL_CMDLINE} no_timer_check")


# --- domain XML ------------------------------------------------------------------------------

def attach_serial_log(xml: str, log_path: str | Path) -> str:
    """``xml`` with its first serial port logged to ``log_path`` (truncated at start): a
    ``type='file'`` port is pointed at it, any other type (pty...) gets ``<log file=.../>``; a
    domain with no serial port gets a ``type='file'`` one."""
    root = etree.fromstring(xml.encode())
    devices = root.find("devices")
    if devices is None:
        devices = etree.SubElement(root, "devices")
    serial = devices.find("serial")
    log = str(Path(log_path).absolute())
    if serial is None:
        serial = etree.SubElement(devices, "serial", type="file")
        etree.SubElement(serial, "source", path=log, append="off")
        etree.SubElement(serial, "target", port="0")
    elif serial.get("type") == "file":
        source = serial.find("source")
        if source is None:
            source = etree.Element("source")
            serial.insert(0, source)
        source.set("path", log)
        source.set("append", "off")
    else:
        for old in serial.findall("log"):
            serial.remove(old)
        source = serial.find("source")
        at = serial.index(source) + 1 if source is not None else 0
        serial.insert(at, etree.Element("log", file=log, append="off"))
    return etree.tostring(root, encoding="unicode")


def adapt_for_probe(xml: str, probe: ProbeImage, log_path: str | Path, *,
                    tcg: bool = True, keep_disks: bool = False,
                    keep_interfaces: bool = False) -> str:
    """A rendered domain XML made bootable as the probe on this machine, changing only what
    the probe needs: direct kernel boot of ``probe``, the serial port logged to ``log_path``,
    ``type='qemu'`` (TCG; nested KVM hangs here) unless ``tcg=False``, and no disks or NICs
    (their images and networks do not exist) unless kept. Clock, timers, features, CPU and
    machine are left exactly as rendered - they are what the e2e tests are about."""
    root = etree.fromstring(attach_serial_log(xml, log_path).encode())
    if tcg:
        root.set("type", "qemu")
    os_el = root.find("os")
    if os_el is None:
        raise ProbeError("domain XML has no <os> element")
    for tag in ("boot", "kernel", "initrd", "cmdline"):
        for old in os_el.findall(tag):
            os_el.remove(old)
    for tag, text in (("kernel", str(probe.kernel)), ("initrd", str(probe.initramfs)),
                      ("cmdline", probe.cmdline)):
        etree.SubElement(os_el, tag).text = text
    devices = root.find("devices")
    for tag, keep in (("disk", keep_disks), ("controller", keep_disks),
                      ("interface", keep_interfaces)):
        if devices is not None and not keep:
            for old in devices.findall(tag):
                devices.remove(old)
    for disk_boot in root.iterfind(".//devices/*/boot"):
        disk_boot.getparent().remove(disk_boot)
    return etree.tostring(root, encoding="unicode")


# --- booting ---------------------------------------------------------------------------------

def parse_probe_line(text: str) -> ProbeReading | None:
    """The first KUMO-PROBE line in ``text``, parsed; None when there is none yet."""
    # only a complete line: the log is read while the guest may still be writing it
    match = re.search(rf"({PROBE_MARK} [^\r\n]*)\r?\n", text)
    if match is None:
        return None
    line = match.group(1).strip()
    fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
    try:
        rtc = datetime.fromisoformat(fields["rtc"])
        system = datetime.fromisoformat(fields["sys"])
    except (KeyError, ValueError) as e:
        raise ProbeError(f"probe line is malformed ({e}): {line!r}") from None
    return ProbeReading(rtc=rtc, system=system, line=line, fields=fields)


def boot_and_read(xml_or_domain_name: str, log_path: str | Path, timeout_s: float = 90, *,
                  host: LibvirtHost | None = None) -> ProbeReading:
    """Define (when given XML) and start the domain, wait for the KUMO-PROBE line in
    ``log_path`` (the domain's serial log: see ``attach_serial_log``/``adapt_for_probe``), then
    destroy and undefine it - always, even on failure. ProbeError on timeout, or when the guest
    stops without printing the line; the message carries the log's tail."""
    owned = host is None
    host = host or LibvirtHost(SYSTEM_URI)
    try:
        started = time.monotonic()
        with running_probe(xml_or_domain_name, log_path, timeout_s, host=host) as (_, reading):
            return replace(reading, boot_seconds=round(time.monotonic() - started, 2))
    finally:
        if owned:
            host.close()


@contextlib.contextmanager
def running_probe(xml_or_domain_name: str, log_path: str | Path, timeout_s: float = 90, *,
                  host: LibvirtHost) -> Iterator[tuple[str, ProbeReading]]:
    """As ``boot_and_read``, but the guest keeps running inside the ``with`` block (the agent
    probe answers there): yields (domain name, reading); destroyed and undefined on leaving."""
    log = Path(log_path).absolute()
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    name = xml_or_domain_name
    if xml_or_domain_name.lstrip().startswith("<"):
        name = host.define(xml_or_domain_name)
    try:
        host.start(name)
        yield name, _wait_for_line(host, name, log, time.monotonic() + timeout_s)
    finally:
        _remove_domain(host, name)


def _wait_for_line(host: LibvirtHost, name: str, log: Path, deadline: float) -> ProbeReading:
    while True:
        stopped = host.domain_state(name) is DomainState.SHUTOFF
        text = log.read_text(errors="replace") if log.exists() else ""
        reading = parse_probe_line(text)
        if reading is not None:
            return reading
        if stopped or time.monotonic() >= deadline:
            why = "stopped without printing" if stopped else "timed out waiting for"
            tail = "\n".join(text.splitlines()[-20:]) or "(empty)"
            raise ProbeError(f"domain {name!r} {why} the {PROBE_MARK} line; {log} ends:\n{tail}")
        time.sleep(0.2)


def wait_for_agent(host: LibvirtHost, name: str, timeout_s: float = 60) -> datetime:
    """The guest's clock through its agent, once the agent answers (it starts a moment after
    the probe line; TCG on a loaded machine is slow): GuestAgentUnresponsive after
    ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return host.guest_time(name)
        except GuestAgentUnresponsive:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _remove_domain(host: LibvirtHost, name: str) -> None:
    try:
        host.destroy(name)
    except (StateError, DomainNotFound):
        pass  # already off (the probe powers itself off) or never defined
    try:
        host.undefine(name)
    except DomainNotFound:
        pass


# --- the system libvirtd, for fixtures -------------------------------------------------------

def e2e_skipped() -> bool:
    return os.environ.get("KUMO_SKIP_E2E") == "1"


def connect_system_libvirt(uri: str = SYSTEM_URI) -> LibvirtHost:
    """An open LibvirtHost on the machine's libvirtd. When it does not answer the calling test
    fails ("run scripts/setup.sh"), or is skipped if KUMO_SKIP_E2E=1."""
    host = LibvirtHost(uri)
    try:
        host.open()
    except HostUnreachable as e:
        if e2e_skipped():
            pytest.skip(f"KUMO_SKIP_E2E=1 and {e}")
        pytest.fail(f"{e}\nrun scripts/setup.sh to install and start libvirtd "
                    f"(or set KUMO_SKIP_E2E=1 to skip e2e tests)", pytrace=False)
    return host
