"""LibvirtHost against the machine's libvirtd (qemu:///system): domain capabilities, the errors
only the QEMU driver raises, NVRAM removal, and storage through streams. No guest boots here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest
from lxml import etree

from kumo.errors import HostError, InvalidInput, NotFound, UnsupportedGuest
from kumo.hosts.libvirt_host import GiB, LibvirtHost, VolumeInfo

pytestmark = pytest.mark.e2e

URI = "qemu:///system"


def qemu_img(*args: str) -> str:
    return subprocess.run(["qemu-img", *args], capture_output=True, text=True,
                          check=True).stdout


# --- host ------------------------------------------------------------------------------------

def test_capabilities_of_tcg_q35(system_libvirt: LibvirtHost) -> None:
    caps = system_libvirt.capabilities(virt_type="qemu", machine="q35")
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True,
                          check=True).stdout
    version = tuple(int(p) for p in re.search(r"version (\d+)\.(\d+)\.(\d+)", qemu).groups())
    vendor_id = re.search(r"^vendor_id\s*:\s*(\S+)", Path("/proc/cpuinfo").read_text(), re.M)
    assert caps.hypervisor == "qemu"
    assert caps.hypervisor_version == version
    assert caps.cpu_vendor == {"GenuineIntel": "Intel", "AuthenticAMD": "AMD"}[vendor_id[1]]
    assert caps.machine_versioned.startswith("pc-q35-")
    assert caps.arch == "x86_64"


def test_capabilities_for_a_virt_type_the_host_lacks(system_libvirt: LibvirtHost) -> None:
    with pytest.raises(HostError) as caught:
        system_libvirt.capabilities(virt_type="xen")
    assert (type(caught.value), str(caught.value)) == (HostError, (
        "cannot read domain capabilities on qemu:///system: invalid argument: Emulator "
        "'/usr/bin/qemu-system-x86_64' does not support virt type 'xen'"))


def test_node_info_matches_the_machine(system_libvirt: LibvirtHost) -> None:
    info = system_libvirt.node_info()
    assert (info.arch, info.cpus) == ("x86_64", os.cpu_count())


# --- domains ---------------------------------------------------------------------------------

def domain_xml(name: str, extra: str = "", os_extra: str = "") -> str:
    return f"""<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>
      <os><type arch='x86_64' machine='q35'>hvm</type>{os_extra}</os>{extra}</domain>"""


def test_config_unsupported_is_an_unsupported_guest(system_libvirt: LibvirtHost) -> None:
    name = f"kumo-test-{uuid.uuid4().hex[:8]}"
    system_libvirt.define(domain_xml(name, "<cpu mode='host-passthrough'/>"))
    try:
        with pytest.raises(UnsupportedGuest) as caught:
            system_libvirt.start(name)
    finally:
        system_libvirt.undefine(name)
    assert str(caught.value) == (
        f"cannot start domain {name!r} on qemu:///system: unsupported configuration: CPU mode "
        "'host-passthrough' for x86_64 qemu domain on x86_64 host is not supported by "
        "hypervisor")


@pytest.mark.parametrize("keep_nvram", [False, True], ids=["nvram-removed", "nvram-kept"])
def test_undefine_and_nvram(system_libvirt: LibvirtHost, tmp_path: Path,
                            keep_nvram: bool) -> None:
    name = f"kumo-test-{uuid.uuid4().hex[:8]}"
    nvram = tmp_path / f"{name}_VARS.fd"
    nvram.write_bytes(Path("/usr/share/OVMF/OVMF_VARS_4M.fd").read_bytes())
    system_libvirt.define(domain_xml(name, os_extra=(
        "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>"
        f"<nvram>{nvram}</nvram>"), extra="<features><acpi/></features>"))
    system_libvirt.undefine(name, keep_nvram=keep_nvram)
    assert not system_libvirt.domain_exists(name)
    assert nvram.exists() is keep_nvram


def test_undefine_removes_the_nvram_of_autoselected_firmware(system_libvirt: LibvirtHost) -> None:
    """UEFI by firmware autoselection: libvirt makes the variable store at first start but does
    not write <nvram> into the inactive definition, and refuses a plain undefine."""
    name = f"kumo-test-{uuid.uuid4().hex[:8]}"
    system_libvirt.define(domain_xml(name, extra="<features><acpi/></features>").replace(
        "<os>", "<os firmware='efi'>"))
    try:
        system_libvirt.start(name)
        nvram = etree.fromstring(system_libvirt.domain_xml(name).encode()).findtext("os/nvram")
        system_libvirt.destroy(name)
        assert nvram and Path(nvram).exists()
    finally:
        system_libvirt.undefine(name)
    assert not system_libvirt.domain_exists(name)
    assert not Path(nvram).exists()


# --- storage ---------------------------------------------------------------------------------

def test_upload_raw_through_a_stream(system_libvirt: LibvirtHost, scratch_pool: str,
                                     tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # not a multiple of any chunk size
    local = tmp_path / "disk.raw"
    local.write_bytes(data)
    info = system_libvirt.upload_volume(scratch_pool, "disk.raw", local, "raw")
    path = system_libvirt.volume_path(scratch_pool, "disk.raw")
    assert info == VolumeInfo(name="disk.raw", path=path, format="raw",
                              capacity_bytes=len(data), allocation_bytes=info.allocation_bytes)
    assert Path(path).read_bytes() == data
    assert system_libvirt.list_volumes(scratch_pool) == ["disk.raw"]
    pool = system_libvirt.pool_info(scratch_pool)
    fs = os.statvfs(Path(path).parent)
    assert (pool.path, pool.active) == (str(Path(path).parent), True)
    assert pool.capacity_bytes == fs.f_blocks * fs.f_frsize


def test_upload_iso(system_libvirt: LibvirtHost, scratch_pool: str, tmp_path: Path) -> None:
    (tmp_path / "cd").mkdir()
    (tmp_path / "cd" / "meta_data.json").write_text("{}")
    iso = tmp_path / "config.iso"
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-V", "config-2", "-o", str(iso),
                    str(tmp_path / "cd")], check=True, capture_output=True)
    info = system_libvirt.upload_volume(scratch_pool, "config.iso", iso, "iso")
    assert (info.format, info.capacity_bytes) == ("iso", iso.stat().st_size)


def test_upload_bytes_built_in_memory(system_libvirt: LibvirtHost, scratch_pool: str) -> None:
    from kumo.compute import config_drive

    data = config_drive.iso_bytes(config_drive.InstanceMetadata(
        uuid="0b6f3c56-9a1d-4a7c-8a53-0d2c5a2b9e01", name="w", os_type="windows",
        admin_pass="in-memory-only"))
    info = system_libvirt.upload_volume(scratch_pool, "config.iso", data, "iso")
    assert (info.format, info.capacity_bytes) == ("iso", len(data))
    assert Path(info.path).read_bytes() == data


def test_upload_qcow2_then_overlay_and_copy(system_libvirt: LibvirtHost, scratch_pool: str,
                                            tmp_path: Path) -> None:
    local = tmp_path / "base.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", str(local), "1G")
    base = system_libvirt.upload_volume(scratch_pool, "base.qcow2", local, "qcow2")
    assert (base.format, base.capacity_bytes) == ("qcow2", GiB)
    assert Path(base.path).read_bytes() == local.read_bytes()

    overlay = system_libvirt.create_overlay_volume(scratch_pool, "web1.qcow2", "base.qcow2",
                                                   size_gib=2)
    assert (overlay.format, overlay.capacity_bytes, overlay.backing_path) == (
        "qcow2", 2 * GiB, base.path)
    img = json.loads(qemu_img("info", "--output=json", overlay.path))
    assert (img["format"], img["virtual-size"], img["backing-filename"],
            img["backing-filename-format"]) == ("qcow2", 2 * GiB, base.path, "qcow2")
    same_size = system_libvirt.create_overlay_volume(scratch_pool, "web2.qcow2", "base.qcow2")
    assert same_size.capacity_bytes == GiB

    copy = system_libvirt.create_volume_from_file(scratch_pool, "copy.raw", base.path, "raw")
    assert (copy.format, copy.capacity_bytes, copy.backing_path) == ("raw", GiB, None)
    assert system_libvirt.list_volumes(scratch_pool) == [
        "base.qcow2", "copy.raw", "web1.qcow2", "web2.qcow2"]
    system_libvirt.delete_volume(scratch_pool, "web2.qcow2")
    assert not system_libvirt.volume_exists(scratch_pool, "web2.qcow2")


def test_upload_refuses_a_format_the_bytes_contradict(system_libvirt: LibvirtHost,
                                                      scratch_pool: str, tmp_path: Path) -> None:
    local = tmp_path / "sneaky.img"
    qemu_img("create", "-q", "-f", "qcow2", "-b", "/etc/shadow", "-F", "raw", str(local), "1G")
    with pytest.raises(InvalidInput) as caught:
        system_libvirt.upload_volume(scratch_pool, "sneaky.img", local, "raw")
    assert str(caught.value) == (f"cannot upload {str(local)!r} on qemu:///system: it was "
                                 "declared raw but libvirt reads it as qcow2")
    assert system_libvirt.list_volumes(scratch_pool) == []


@pytest.mark.parametrize("call, cls, message", [
    (lambda h, pool, tmp: h.upload_volume(pool, "x.raw", tmp / "missing.raw", "raw"),
     InvalidInput, "cannot upload '{tmp}/missing.raw' on qemu:///system: no such file"),
    (lambda h, pool, tmp: h.create_overlay_volume(pool, "x.qcow2", "missing.qcow2"), NotFound,
     "cannot look up volume 'missing.qcow2' in pool '{pool}' on qemu:///system: Storage "
     "volume not found: no storage vol with matching name 'missing.qcow2'"),
    (lambda h, pool, tmp: h.create_volume_from_file(pool, "x.raw", "/nonexistent.raw"),
     NotFound, "cannot look up volume '/nonexistent.raw' on qemu:///system: Storage volume not "
               "found: no storage vol with matching path '/nonexistent.raw'"),
], ids=["upload-missing-file", "overlay-missing-backing", "copy-unknown-path"])
def test_storage_errors(system_libvirt: LibvirtHost, scratch_pool: str, tmp_path: Path,
                        call, cls, message) -> None:
    with pytest.raises(cls) as caught:
        call(system_libvirt, scratch_pool, tmp_path)
    assert str(caught.value) == message.format(tmp=tmp_path, pool=scratch_pool)


# --- reading a file the host writes into the pool (a console log) ----------------------------

def test_read_volume_finds_a_file_written_behind_libvirts_back_and_reads_its_tail(
        system_libvirt: LibvirtHost, scratch_pool: str, tmp_path: Path) -> None:
    log = tmp_path / "pool" / "guest-console.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(1000)))
    assert system_libvirt.read_volume(scratch_pool, "guest-console.log", 13) == (
        b"998\nline 999\n")
    with log.open("ab") as f:  # still being written: the size is read at each call
        f.write(b"line 1000\n")
    assert system_libvirt.read_volume(scratch_pool, "guest-console.log", 19) == (
        b"line 999\nline 1000\n")
    assert system_libvirt.read_volume(scratch_pool, "guest-console.log", 1 << 20) == (
        log.read_bytes())
    log.write_bytes(b"")
    assert system_libvirt.read_volume(scratch_pool, "guest-console.log", 100) == b""


def test_read_volume_of_no_such_file(system_libvirt: LibvirtHost, scratch_pool: str) -> None:
    with pytest.raises(NotFound, match="no storage vol with matching name 'nothing.log'"):
        system_libvirt.read_volume(scratch_pool, "nothing.log", 100)
