"""On the machine's real libvirtd (qemu:///system, TCG): ``kumo host add`` records what the host
really offers -- Secure Boot on q35 (libvirt's default machine, i440fx, lists no secure firmware)
-- and an image with ``os_secure_boot=required`` is placed there, created, and boots with Secure
Boot on: OVMF's secure code with SMM in the live XML, and the guest's own firmware variable
``SecureBoot`` reading 1.

The guest is the tiny cloud kernel + busybox initramfs (as aki/ari images) with an /init that
prints what the guest's UEFI says, then powers off. Everything lives in a database, image store
and pool of this module's own, removed at the end.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from lxml import etree

from kumo.catalog.flavor import Flavor
from kumo.compute import flavors, hosts, images, naming, servers
from kumo.compute.context import admin_context
from kumo.compute.env import ComputeEnv
from kumo.db import upgrade
from kumo.db.models import Host
from kumo.scheduler import service
from kumo.tiny_guest import build_initramfs
from tests.e2e.probe import probe_dir
from tests.support.e2e_cloud import installation_environ, remove_installation

pytestmark = pytest.mark.e2e

URI = "qemu:///system"
MARK = "KUMO-SB"
CMDLINE = "console=ttyS0 panic=-1 quiet"
#: the guest kernel logs what the UEFI firmware told it: "secureboot: Secure boot enabled"
#: (arch/x86/kernel/setup.c, from the SecureBoot variable); the Debian cloud kernel has no
#: efivarfs to read the variable directly
SB_INIT = f"""#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
efi=no
[ -d /sys/firmware/efi ] && efi=yes
sb=$($B dmesg | $B grep -o 'Secure boot [a-z]*' | $B head -n1 | $B tr ' ' '-')
echo "{MARK} efi=$efi secureboot=${{sb:-unknown}}"
$B poweroff -f
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory, system_libvirt):
    base = tmp_path_factory.mktemp("secureboot")
    environ = installation_environ(base)
    env = ComputeEnv.from_env(environ, stop_timeout_s=2.0)
    upgrade(env.settings.database_url)
    service.forget()
    yield env, base
    try:
        remove_installation(env, system_libvirt)
    finally:
        service.forget()


def _line(env: ComputeEnv, uuid: str, timeout_s: float = 120) -> str:
    log = Path(env.pool_volume_path(naming.volume_name(uuid, naming.CONSOLE)))
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        match = re.search(rf"{MARK} [^\r\n]*\r?\n", text)
        if match:
            return match.group(0).strip()
        time.sleep(0.3)
    pytest.fail(f"guest {uuid} printed no {MARK} line in {timeout_s} s: {text[-500:]}")


def test_host_add_records_secure_boot_on_q35_and_a_required_image_boots_with_it(
        cloud, system_libvirt):
    env, base = cloud
    ctx = admin_context()
    hosts.add_host(env, ctx, "local", URI, virt_type="qemu")
    with env.db.session_scope(readonly=True) as s:
        caps = s.query(Host).filter_by(name="local").one().capabilities()
    assert caps.machines == ("q35", "pc")
    assert caps.secure_boot_on("q35") and not caps.secure_boot_on("pc")
    assert caps.canonical_machine("q35") == caps.machine("q35").name
    assert caps.machine("q35").name.startswith("pc-q35-")
    assert any(p.endswith((".secboot.fd", ".ms.fd")) for p in caps.machine("q35").loaders)

    kernel, initramfs = build_initramfs(SB_INIT, probe_dir(), "secureboot")
    aki = images.create_image(env, ctx, "kernel", file=kernel, disk_format="aki")["id"]
    ari = images.create_image(env, ctx, "ramdisk", file=initramfs, disk_format="ari")["id"]
    root = base / "root.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(root), "1M"], check=True)
    images.create_image(env, ctx, "sb-linux", file=root, disk_format="qcow2", properties={
        "os_distro": "debian", "os_version": "12", "os_secure_boot": "required",
        "kernel_id": aki, "ramdisk_id": ari, "os_command_line": CMDLINE})
    flavors.create_flavor(env, ctx, "tiny", vcpus=1, ram_mib=256, disk_gib=1)

    spec = service.request_spec({"os_distro": "debian", "os_version": "12",
                                 "os_secure_boot": "required"}, Flavor(1, 256, 1))
    assert service.explain(env.db, spec).chosen == "local"

    server = servers.create_server(env, ctx, "sb", image="sb-linux", flavor="tiny").server
    assert (server["host"], server["status"]) == ("local", "ACTIVE")
    uuid = server["id"]
    live = etree.fromstring(system_libvirt.domain_xml(naming.domain_name(uuid)).encode())
    assert live.find("os/type").get("machine").startswith("pc-q35-")
    loader = live.find("os/loader")
    assert (loader.get("secure"), loader.get("type")) == ("yes", "pflash")
    assert loader.text.endswith(".ms.fd")  # OVMF secure code, Microsoft keys enrolled
    assert live.find("features/smm").get("state") == "on"
    assert {f.get("name"): f.get("enabled") for f in live.iterfind("os/firmware/feature")} == {
        "enrolled-keys": "yes", "secure-boot": "yes"}
    assert _line(env, uuid) == f"{MARK} efi=yes secureboot=Secure-boot-enabled"
    # a UEFI guest's variable store goes with it (libvirt refuses to undefine it otherwise)
    servers.delete_server(env, ctx, uuid)
    assert naming.domain_name(uuid) not in system_libvirt.list_domains()

