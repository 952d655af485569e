"""``kumo render``, ``kumo explain``, ``kumo lint``: the config engine from the command line.

All three build the same GuestRequest from --image / -p / --flavor / --hypervisor / --host-caps
and run the same policy; they differ only in what they print.
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from kumo.backends import get_backend
from kumo.cli.output import (DECISION_COLUMNS, FINDING_COLUMNS, Output, decision_rows,
                             list_options, stderr_table)
from kumo.catalog.flavor import DEFAULT_FLAVOR, Flavor
from kumo.catalog.properties import ImageDocument
from kumo.catalog.schema import is_timezone
from kumo.errors import InvalidInput, UnsupportedGuest
from kumo.files import parse_json, read_json
from kumo.guest.build import GuestPlan, plan_guest
from kumo.guest.request import GuestRequest
from kumo.hosts.capabilities import HostCapabilities, HostConfig
from kumo.hosts.defaults import host_caps_for

HYPERVISORS = ("kvm", "qemu", "xen", "hyperv")


def _image_options(f):
    opts = [
        click.option("--image", "image_file", type=click.Path(dir_okay=False, allow_dash=True),
                     help="Glance v2 image JSON file (as `openstack image show -f json` "
                          "prints); '-' reads it from standard input."),
        click.option("-p", "--property", "props", multiple=True, metavar="KEY=VALUE",
                     help="An image property; repeatable; overrides --image."),
        click.option("--flavor", "flavor", default=None, metavar="VCPUS,RAM_MIB,DISK_GIB",
                     help="Flavor size, e.g. 2,4096,40 or vcpus=2,ram=4096,disk=40 "
                          "(default m1.medium 2,4096,40)."),
        click.option("--hypervisor", type=click.Choice(HYPERVISORS), default=None,
                     help="Hypervisor to render for (default: the host capabilities' own, "
                          "else kvm)."),
        click.option("--host-caps", "host_caps", type=click.Path(dir_okay=False), default=None,
                     help="libvirt domcapabilities XML of the host (default: a modern x86_64 "
                          "Intel KVM host)."),
        click.option("--host", "managed_host", default=None, metavar="NAME",
                     help="A host kumo manages (kumo host add): its probed capabilities and "
                          "virt_type, with the config drive create attaches."),
        click.option("--host-version", default=None, metavar="X.Y",
                     help="The host's hypervisor version (Hyper-V 6.3 = Server 2012 R2)."),
        click.option("--guest-timezone", default=None, metavar="TZ",
                     help="The host's guest time zone for local-time (Windows) guests, "
                          "e.g. Asia/Shanghai."),
        click.option("--cpu-mode", default=None,
                     type=click.Choice(("host-model", "host-passthrough", "custom", "none")),
                     help="The host's guest CPU mode (Nova's [libvirt]cpu_mode)."),
        click.option("--name", default=None, help="Guest name (default: the image's name)."),
        click.option("--disk-path", default=None, help="Root disk path on the host."),
        click.option("--ssh-key", "ssh_keys", multiple=True, help="SSH public key to inject."),
        click.option("--kernel", default=None, help="Host path of the kernel (the image's "
                                                     "kernel_id) for direct kernel boot / Xen PV."),
        click.option("--initrd", default=None, help="Host path of the ramdisk (ramdisk_id)."),
        click.option("--network", default=None, help="libvirt network (Hyper-V: virtual switch) "
                                                      "NICs attach to."),
        click.option("--bridge", default=None, help="Host bridge NICs attach to."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _parse_kv(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise InvalidInput(f"-p {item!r} is invalid: allowed KEY=VALUE, e.g. -p os_type=windows")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out


def _version(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(x) for x in text.split("."))
    except ValueError:
        raise InvalidInput(f"--host-version {text!r} is invalid: allowed a dotted version such "
                           "as 6.3 or 7.2") from None


def build_request(image_file: str | None, props: tuple[str, ...], flavor: str | None,
                  hypervisor: str | None, host_caps: str | None, host_version: str | None,
                  guest_timezone: str | None, cpu_mode: str | None, name: str | None,
                  disk_path: str | None, ssh_keys: tuple[str, ...], kernel: str | None = None,
                  initrd: str | None = None, network: str | None = None,
                  bridge: str | None = None, managed_host: str | None = None,
                  document: dict[str, Any] | None = None) -> GuestRequest:
    """``document``: the Glance image document itself (read from a cloud) instead of
    ``image_file``."""
    if not image_file and not props and document is None:
        raise InvalidInput("nothing to work on: give --image FILE and/or -p KEY=VALUE")
    doc: dict[str, Any] = dict(document or {})
    if image_file and document is None:
        doc = (parse_json(sys.stdin.read(), "--image", "-") if image_file == "-"
               else read_json(image_file, "--image"))
        if not isinstance(doc, dict):
            raise InvalidInput(f"--image {image_file!r} must hold a JSON object (a Glance image)")
    overrides = _parse_kv(props)
    if overrides:
        nested = dict(doc.get("properties") or {}) if isinstance(doc.get("properties"), dict) \
            else None
        if nested is not None:
            nested.update(overrides)
            doc = {**doc, "properties": nested}
        else:
            doc = {**doc, **overrides}
    image = ImageDocument.from_json(doc)
    if managed_host and host_caps:
        raise InvalidInput("--host and --host-caps both name the host: give one")
    config_drive = None
    if managed_host:
        caps = _managed_host_caps(managed_host)
        # as create builds it (kumo.compute.instance_request): a config drive is attached
        config_drive = f"/var/lib/kumo/instances/{name or 'guest'}/disk.config"
    elif host_caps:
        caps = HostCapabilities.load(host_caps)
        if hypervisor:
            caps = caps.with_hypervisor(hypervisor)
    else:
        caps = host_caps_for(hypervisor or "kvm")
    if host_version:
        caps = replace(caps, hypervisor_version=_version(host_version))
    if guest_timezone is not None:
        if not is_timezone(guest_timezone):
            raise InvalidInput(f"--guest-timezone {guest_timezone!r} is invalid: allowed an IANA "
                               "time zone name such as Asia/Shanghai")
    if ssh_keys:
        from kumo.compute.keys import parse_public_key  # hashlib: only when keys are given

        ssh_keys = tuple(parse_public_key(k, "--ssh-key").openssh for k in ssh_keys)
    return GuestRequest(
        image=image.properties,
        flavor=Flavor.parse(flavor) if flavor else DEFAULT_FLAVOR,
        host=caps,
        host_config=HostConfig(guest_timezone=guest_timezone, cpu_mode=cpu_mode,
                               network=network, bridge=bridge),
        name=name or _domain_name(image.name),
        root_disk=disk_path,
        ssh_keys=ssh_keys,
        kernel=kernel,
        initrd=initrd,
        config_drive=config_drive,
        disk_format=image.properties.get("disk_format"),
    )


def _managed_host_caps(name: str) -> HostCapabilities:
    """The stored capabilities of host ``name`` (exact name), its virt_type applied."""
    from kumo.compute.instance_request import host_caps  # the database only for --host
    from kumo.compute.lookup import find_host
    from kumo.config import Settings
    from kumo.db import Database

    db = Database(Settings.from_env().database_url)
    try:
        with db.session_scope(readonly=True) as s:
            return host_caps(find_host(s, name))
    finally:
        db.dispose()


def _domain_name(image_name: str) -> str:
    """A libvirt-safe guest name from an image name."""
    return re.sub(r"[^A-Za-z0-9_.]+", "-", image_name).strip("-")[:60] or "guest"


def _fail_on_errors(plan: GuestPlan) -> None:
    """The guest cannot be built as asked: one error is one line; several are the findings
    table (on stderr), not one long line."""
    if plan.spec is not None:
        return
    if len(plan.errors) == 1:
        f = plan.errors[0]
        raise UnsupportedGuest(f"[{f.id}] {f.message} (fix: {f.fix})")
    click.echo(f"kumo: error: the guest cannot be built as asked: {len(plan.errors)} errors",
               err=True)
    stderr_table("errors", FINDING_COLUMNS, [[f.id, f.severity, f.message, f.fix]
                                             for f in plan.errors])
    raise click.exceptions.Exit(2)


@click.command()
@_image_options
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write to this file instead of standard output.")
@click.option("-f", "--format", "fmt", type=click.Choice(("native", "json")), default="native",
              show_default=True,
              help="native: domain XML (kvm/qemu/xen) or PowerShell (hyperv); json: the Hyper-V "
                   "VM description.")
def render(output: str | None, fmt: str, **kw) -> None:
    """Print the guest's whole native configuration (libvirt domain XML for kvm/qemu/xen, the
    PowerShell that creates the VM for hyperv)."""
    plan = plan_guest(build_request(**kw))
    _fail_on_errors(plan)
    backend = get_backend(plan.spec.hypervisor)
    if fmt == "json":
        if not hasattr(backend, "render_json"):
            raise InvalidInput(f"--format json is invalid for hypervisor "
                               f"{plan.spec.hypervisor}: allowed only with --hypervisor hyperv")
        text = backend.render_json(plan.spec).text
    else:
        text = backend.render(plan.spec).text
    if output:
        Path(output).write_text(text)
    else:
        click.echo(text, nl=not text.endswith("\n"))


@click.command()
@_image_options
@list_options
def explain(out: Output, **kw) -> None:
    """Print every decision with its rule, source property and value, and reason."""
    plan = plan_guest(build_request(**kw))
    rows = decision_rows(plan.spec.decisions if plan.spec else ())
    document = {
        "decisions": [{"field": r["field"], "value": r["value"], "rule": r["rule"],
                       "source": r["source_property"], "source_value": r["source_value"],
                       "reason": r["reason"]} for r in rows],
        "errors": [f.as_dict() for f in plan.errors]}
    out.many(rows, DECISION_COLUMNS, "decisions", document=document)
    _fail_on_errors(plan)


@click.command()
@_image_options
@click.option("--os-cloud", "os_cloud", default=None, metavar="NAME",
              help="Lint the images of this OpenStack cloud (clouds.yaml; 'envvars' for the "
                   "OS_* variables), read through its Image API: --image then names an image "
                   "there (id or name).")
@click.option("--all-images", is_flag=True,
              help="With --os-cloud: every image the credentials see.")
@list_options
def lint(out: Output, os_cloud: str | None, all_images: bool, **kw) -> None:
    """Print findings (id, severity, message, fix); exit 1 when any is an error."""
    if os_cloud is not None or all_images:
        return _lint_cloud(out, os_cloud, all_images, kw)
    plan = plan_guest(build_request(**kw))
    if out.is_table and not plan.findings:
        click.echo("no findings")
    else:
        out.many([f.as_dict() for f in plan.findings], FINDING_COLUMNS, "findings")
    if plan.errors:
        raise click.exceptions.Exit(1)


def _lint_cloud(out: Output, os_cloud: str | None, all_images: bool, kw: dict) -> None:
    """kumo's checks over another cloud's catalog: one row per finding, with its image."""
    from kumo.cli import cloud

    ref = kw.pop("image_file")
    if os_cloud is None:
        raise InvalidInput("--all-images needs --os-cloud NAME (the cloud whose images to lint)")
    if all_images == bool(ref):
        raise InvalidInput("with --os-cloud give exactly one of --image ID|NAME and "
                           "--all-images")
    conn = cloud.connect(os_cloud)
    try:
        docs = list(cloud.all_image_documents(conn)) if all_images else [
            cloud.image_document(conn, ref)]
    finally:
        conn.close()
    rows, failed = [], False
    for doc in docs:
        plan = plan_guest(build_request(image_file=None, document=doc, **kw))
        failed = failed or bool(plan.errors)
        rows += [{"image_id": doc.get("id"), "image": doc.get("name"), **f.as_dict()}
                 for f in plan.findings]
    if out.is_table and not rows:
        click.echo(f"no findings in {len(docs)} image{'s' if len(docs) != 1 else ''}")
    else:
        out.many(rows, ("image_id", "image", *FINDING_COLUMNS), "findings")
    if failed:
        raise click.exceptions.Exit(1)
