"""``kumo demo``: kumo's main job on its embedded default.

1. The config engine: lints, explains and renders each seed image (src/kumo/data/seed-images,
   one per field report) for a host of its own hypervisor.
2. The controller (unless ``--no-boot``), idempotent on re-run: the SQLite database under the
   data directory migrated (``kumo db upgrade``), unfinished work recovered, the local libvirtd
   (qemu:///system; virt_type qemu, i.e. TCG, since nested KVM hangs) added as host ``local``,
   the seed images registered (their metadata, each with a small blank disk of its disk_format:
   their real data is not ours to ship), and two tiny guests booted from demo images -- a
   Debian cloud kernel and a busybox initramfs registered as aki/ari images, plus a 1 MiB qcow2
   root: ``demo-windows`` (os_type=windows, its RTC kept in Asia/Shanghai as seed 001's fleet
   wanted) and ``demo-linux``. Their state is shown, with the clock each domain got and the line
   each guest printed (its RTC: local time for Windows, UTC for Linux).

The demo guest prints one ``KUMO-GUEST rtc=... sys=...`` line on its serial console and then
idles (it stays running, unlike the e2e probe that powers off).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from importlib import resources
from pathlib import Path

import click

from kumo.backends import get_backend
from kumo.catalog.properties import ImageDocument
from kumo.cli.output import decisions_table, findings_table, table
from kumo.compute import flavors, hosts, images, journal, naming, servers
from kumo.compute.context import RequestContext, admin_context
from kumo.compute.env import ComputeEnv
from kumo.db import migrate
from kumo.errors import HostError, NotFound
from kumo.guest.build import plan_guest
from kumo.guest.request import GuestRequest
from kumo.hosts.capabilities import HostConfig
from kumo.hosts.defaults import host_caps_for
from kumo.private_files import private_dir, private_file
from kumo.tiny_guest import build_initramfs

LOCAL_URI = "qemu:///system"
GUEST_MARK = "KUMO-GUEST"
GUEST_CMDLINE = "console=ttyS0 panic=-1 quiet"
GUEST_INIT = f"""#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sysfs /sys
rtc=none
if [ -r /sys/class/rtc/rtc0/date ]; then
  rtc="$($B cat /sys/class/rtc/rtc0/date)T$($B cat /sys/class/rtc/rtc0/time)"
fi
echo "{GUEST_MARK} rtc=$rtc sys=$($B date -u +%Y-%m-%dT%H:%M:%S)"
while :; do $B sleep 3600; done
"""
#: name, vCPUs, RAM MiB, disk GiB: Windows Server 2019's minimum (osinfo-db: 512 MiB, 32 GB;
#: kumo refuses a flavor below it). The disk is a thin overlay and the tiny guest touches only
#: a few MiB of its RAM, so the demo stays small on the host.
DEMO_FLAVOR = ("demo.small", 1, 512, 32)
#: server name -> image name, the image's own properties
DEMO_GUESTS = {
    "demo-windows": ("kumo-demo-windows", {
        "os_type": "windows", "os_distro": "windows", "os_version": "2019",
        "kumo_guest_timezone": "Asia/Shanghai"}),
    "demo-linux": ("kumo-demo-linux", {"os_type": "linux", "os_distro": "debian",
                                       "os_version": "12"}),
}


def seed_images() -> list[tuple[str, ImageDocument]]:
    folder = resources.files("kumo.data").joinpath("seed-images")
    return [(f.name, ImageDocument.from_json(json.loads(f.read_text())))
            for f in sorted(folder.iterdir(), key=lambda f: f.name) if f.name.endswith(".json")]


@click.command()
@click.option("--guest-timezone", default=None,
              help="Guest time zone of the demo host (e.g. Asia/Shanghai).")
@click.option("--xml/--no-xml", default=True, help="Print each rendered domain XML.")
@click.option("--boot/--no-boot", default=True,
              help="Also run the controller on the local libvirtd and boot two demo guests.")
def demo(guest_timezone: str | None, xml: bool, boot: bool) -> None:
    """Lint, explain and render every bundled sample image, then boot a Windows and a Linux
    guest."""
    show_seeds(guest_timezone, xml)
    if boot:
        run_controller()


def show_seeds(guest_timezone: str | None, xml: bool) -> None:
    for filename, image in seed_images():
        hypervisor = image.properties.get("hypervisor_type") or "kvm"
        if hypervisor == "qemu":  # Nova's name for libvirt KVM hosts (CERN's images say qemu)
            hypervisor = "kvm"
        click.secho(f"\n=== {image.name}  ({filename}, for a {hypervisor} host)", bold=True)
        plan = plan_guest(GuestRequest(image=image.properties, host=host_caps_for(hypervisor),
                                       host_config=HostConfig(guest_timezone=guest_timezone),
                                       name=filename.removesuffix(".json"),
                                       disk_format=image.properties.get("disk_format")))
        findings_table(plan.findings)
        if plan.spec is None:
            continue
        decisions_table(plan.spec.decisions)
        if xml:
            click.echo(get_backend(plan.spec.hypervisor).render(plan.spec).text)


# --- the controller on its embedded default ------------------------------------------------------

def run_controller() -> None:
    started = time.monotonic()
    env = ComputeEnv.from_env()
    ctx = admin_context()
    try:
        click.secho(f"\n=== kumo on its embedded default ({_shown(env)})", bold=True)
        migrate.upgrade(env.settings.database_url)
        for e in images.recover_store(env):
            click.echo(f"recovered image store file {e.name}: {e.outcome}")
        for r in journal.recover(env):
            of = f" of {r.instance_uuid}" if r.instance_uuid else ""
            click.echo(f"recovered {r.operation}{of}: {r.outcome}")
        try:
            _ensure_host(env, ctx)
        except HostError as e:
            click.echo(f"the local libvirtd does not answer ({e}): run scripts/setup.sh; "
                       "no guests booted")
            return
        _ensure_flavor(env, ctx)
        _register_seeds(env, ctx)
        boot_ids = _register_guest_images(env, ctx)
        for server, (image, _props) in DEMO_GUESTS.items():
            _ensure_server(env, ctx, server, image)
        _show_state(env, ctx, boot_ids)
        click.echo(f"\ndemo controller part took {time.monotonic() - started:.1f} s; re-run "
                   "`kumo demo` any time (it is idempotent); `kumo server list` shows the "
                   "servers, `kumo server delete demo-windows demo-linux` removes them")
    finally:
        env.close()


def _shown(env: ComputeEnv) -> str:
    from sqlalchemy.engine import make_url

    return make_url(env.settings.database_url).render_as_string(hide_password=True)


def _ensure_host(env: ComputeEnv, ctx: RequestContext) -> None:
    try:
        hosts.show_host(env, ctx, "local", check_orphans=False)
        env.host(LOCAL_URI).node_info()
    except NotFound:
        hosts.add_host(env, ctx, "local", LOCAL_URI, virt_type="qemu")
        click.echo(f"added host local ({LOCAL_URI}, virt_type qemu)")


def _ensure_flavor(env: ComputeEnv, ctx: RequestContext) -> None:
    name, vcpus, ram, disk = DEMO_FLAVOR
    try:
        flavors.show_flavor(env, ctx, name)
    except NotFound:
        flavors.create_flavor(env, ctx, name, vcpus=vcpus, ram_mib=ram, disk_gib=disk)


def _exists(env: ComputeEnv, ctx: RequestContext, name: str) -> dict | None:
    found = images.list_images(env, ctx, {"name": name}, limit=1)
    return found[0] if found else None


#: seed disk_format -> the qemu-img format of the blank disk registered with it
_BLANK_FORMAT = {"qcow2": "qcow2", "raw": "raw", "vhd": "vpc", "vhdx": "vhdx", "vmdk": "vmdk"}


def _register_seeds(env: ComputeEnv, ctx: RequestContext) -> None:
    made = []
    for _filename, doc in seed_images():
        if _exists(env, ctx, doc.name):
            continue
        props = doc.properties.to_glance()
        fmt = props.get("disk_format", "qcow2")
        blank = _blank_disk(env, _BLANK_FORMAT.get(fmt, "raw"))
        images.create_image(env, ctx, doc.name, file=blank, properties=props,
                            visibility="public")
        made.append(doc.name)
    if made:
        click.echo(f"registered {len(made)} seed images (metadata + a blank disk each)")


def _blank_disk(env: ComputeEnv, fmt: str) -> Path:
    path = _demo_dir(env) / f"blank.{fmt}"
    if not path.exists():
        subprocess.run(["qemu-img", "create", "-q", "-f", fmt, str(path), "1M"], check=True)
        private_file(path)
    return path


def _demo_dir(env: ComputeEnv) -> Path:
    """Where the demo keeps its files: in the (private) data directory, private itself."""
    return private_dir(env.settings.data_dir / "demo", root=env.settings.data_dir)


def _register_guest_images(env: ComputeEnv, ctx: RequestContext) -> dict[str, str]:
    """The demo kernel (aki), ramdisk (ari) and the two bootable images; their ids."""
    kernel, initramfs = build_guest_files(_demo_dir(env))
    ids = {}
    for name, path, fmt in (("kumo-demo-kernel", kernel, "aki"),
                            ("kumo-demo-ramdisk", initramfs, "ari")):
        existing = _exists(env, ctx, name)
        ids[fmt] = existing["id"] if existing else images.create_image(
            env, ctx, name, file=path, disk_format=fmt, container_format=fmt,
            visibility="public")["id"]
    for image_name, props in DEMO_GUESTS.values():
        if not _exists(env, ctx, image_name):
            images.create_image(env, ctx, image_name, file=_blank_disk(env, "qcow2"),
                                disk_format="qcow2", visibility="public", properties={
                                    **props, "kernel_id": ids["aki"], "ramdisk_id": ids["ari"],
                                    "os_command_line": GUEST_CMDLINE})
    return ids


def _ensure_server(env: ComputeEnv, ctx: RequestContext, name: str, image: str) -> None:
    try:
        view = servers.show_server(env, ctx, name)
    except NotFound:
        click.echo(f"creating server {name} from {image} ...")
        result = servers.create_server(env, ctx, name, image=image, flavor=DEMO_FLAVOR[0],
                                       host="local")
        if result.admin_password:
            click.echo(f"  {name}: admin password (shown once) {result.admin_password}")
        return
    if view["status"] == "SHUTOFF":
        servers.start_server(env, ctx, name)
    elif view["status"] == "ERROR":
        click.echo(f"server {name} is in ERROR ({view['fault']['message']}): hard reboot")
        servers.reboot_server(env, ctx, name, hard=True)


def _show_state(env: ComputeEnv, ctx: RequestContext, _ids: dict[str, str]) -> None:
    views = [servers.show_server(env, ctx, name) for name in DEMO_GUESTS]
    conn = env.host(LOCAL_URI)
    rows = []
    for v in views:
        domain = naming.domain_name(v["id"])
        state = conn.domain_state(domain) if conn.domain_exists(domain) else "missing"
        clock = re.search(r"<clock[^>]*>", conn.domain_xml(domain)) if state != "missing" \
            else None
        line = _guest_line(env.pool_volume_path(naming.volume_name(v["id"], naming.CONSOLE)))
        rows.append((v["name"], v["status"], v["power_state"], str(state),
                     clock.group(0) if clock else "", line))
    table("demo servers", ("server", "status", "power", "domain", "clock", "guest says"), rows)
    orphans = hosts.find_orphans(env, ctx, "local")
    click.echo(f"orphans on host local: {len(orphans)}"
               + "".join(f"\n  {o.kind} {o.name}: {o.reason}" for o in orphans))


def _guest_line(log: str, timeout_s: float = 60.0) -> str:
    """The KUMO-GUEST line from a guest's console log, waiting for it to boot (TCG, ~5 s)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            text = Path(log).read_text(errors="replace")
        except OSError:
            text = ""
        m = re.search(rf"{GUEST_MARK} ([^\r\n]*)\r?\n", text)
        if m or time.monotonic() > deadline:
            return m.group(1) if m else "(no line yet)"
        time.sleep(0.5)


# --- the demo guest: a cloud kernel and a busybox initramfs --------------------------------------

def build_guest_files(directory: Path) -> tuple[Path, Path]:
    """(kernel, initramfs) of the demo guest (GUEST_INIT), the initramfs written once into
    ``directory``."""
    return build_initramfs(GUEST_INIT, directory, "guest-initramfs")
