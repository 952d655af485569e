"""The catalog the real-guest tests boot from (kumo.tiny_guest under TCG): host ``local`` on
qemu:///system (virt type qemu), flavor ``tiny`` (1 vCPU, 256 MiB, 1 GiB), the kernel and
ramdisk images, and images ``windows`` and ``linux`` (os_type set, a 1 MiB qcow2 root disk, the
tiny guest's kernel command line)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from kumo.cli.demo import GUEST_CMDLINE, build_guest_files
from kumo.compute import flavors, hosts, images
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv

URI = "qemu:///system"


def seed(env: ComputeEnv, ctx: RequestContext, base: Path,
         files: tuple[Path, Path] | None = None) -> None:
    """Record the catalog in ``env``'s database; ``files``: the guest's (kernel, initramfs),
    built under ``base`` when not given."""
    hosts.add_host(env, ctx, "local", URI, virt_type="qemu")
    flavors.create_flavor(env, ctx, "tiny", vcpus=1, ram_mib=256, disk_gib=1)
    kernel, initramfs = files or build_guest_files(base / "guest")
    aki = images.create_image(env, ctx, "kernel", file=kernel, disk_format="aki")["id"]
    ari = images.create_image(env, ctx, "ramdisk", file=initramfs, disk_format="ari")["id"]
    root = base / "root.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(root), "1M"], check=True)
    for name, os_type in (("windows", "windows"), ("linux", "linux")):
        images.create_image(env, ctx, name, file=root, disk_format="qcow2", properties={
            "os_type": os_type, "kernel_id": aki, "ramdisk_id": ari,
            "os_command_line": GUEST_CMDLINE})
