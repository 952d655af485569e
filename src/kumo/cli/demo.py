"""``kumo demo``: kumo's main job on its embedded default.

Lints, explains and renders each seed image (src/kumo/data/seed-images, one per field report)
for the embedded default host, so a fresh machine shows what kumo decides and why.
"""

from __future__ import annotations

import json
from importlib import resources

import click

from kumo.backends import get_backend
from kumo.catalog.properties import ImageDocument
from kumo.cli.output import decisions_table, findings_table
from kumo.guest.build import plan_guest
from kumo.guest.request import GuestRequest
from kumo.hosts.capabilities import HostConfig
from kumo.hosts.defaults import host_caps_for


def seed_images() -> list[tuple[str, ImageDocument]]:
    folder = resources.files("kumo.data").joinpath("seed-images")
    return [(f.name, ImageDocument.from_json(json.loads(f.read_text())))
            for f in sorted(folder.iterdir(), key=lambda f: f.name) if f.name.endswith(".json")]


@click.command()
@click.option("--guest-timezone", default=None,
              help="Guest time zone of the demo host (e.g. Asia/Shanghai).")
@click.option("--xml/--no-xml", default=True, help="Print each rendered domain XML.")
def demo(guest_timezone: str | None, xml: bool) -> None:
    """Lint, explain and render every seed image for the embedded default host."""
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
